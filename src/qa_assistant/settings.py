"""Typed settings, read from ``QA_*`` environment variables (and an optional ``.env``).

Only the edges (CLI, app) construct :class:`Settings`; everything below receives it or the
values it needs as arguments.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_MODEL = "multilingual-e5-small"

__all__ = [
    "DEFAULT_MODEL",
    "RETRIEVER_NAMES",
    "AnswerSettings",
    "AnswererName",
    "EmbedderSettings",
    "FeedbackSettings",
    "IngestSettings",
    "LLMSettings",
    "RelevanceSettings",
    "ReplicaSettings",
    "RetrievalSettings",
    "RetrieverName",
    "ScoringSettings",
    "ServingSettings",
    "Settings",
    "SpanSettings",
    "StaffSettings",
    "default_cache_dir",
]

RetrieverName = Literal["hybrid", "dense", "bm25"]
RETRIEVER_NAMES: tuple[RetrieverName, ...] = get_args(RetrieverName)
AnswererName = Literal["extractive", "openai", "ollama"]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "qa-assistant"


class RetrievalSettings(BaseModel):
    """How the legs' candidates become one ranking (``QA_RETRIEVAL__…``). The fusion and the
    evidence step's depth and weights, with the embedder, were chosen together by
    leave-one-corpus-out over four corpora (eval/fusion_loco.py; eval/README.md): the setting
    whose worst corpus is best."""

    fusion: Literal["weighted", "rrf"] = Field(
        "weighted",
        description="weighted: min-max scaled scores added (keeps how far ahead a passage is); "
        "rrf: reciprocal ranks only.",
    )
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense leg in the fusion.")
    lexical_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the BM25 leg in the fusion (equal: neither leg wins alone).",
    )
    rrf_k: int = Field(
        60, ge=1, description="RRF's rank offset: larger flattens the gap between top ranks."
    )
    syllable_weight: float = Field(
        0.5,
        ge=0,
        description="Syllable matches beside whole words: forgiving of another word "
        "segmentation, but half as precise.",
    )
    evidence_depth: int = Field(
        20,
        ge=0,
        le=100,
        description="Hybrid hits the evidence step re-scores by sentence evidence (0 or 1: off).",
    )
    evidence_weight: float = Field(
        0.5,
        ge=0,
        description="Weight of the best sentence's coverage of the question, beside the "
        "fused score.",
    )
    phrase_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of a sentence writing the question's words side by side, in its "
        "order: it tells apart sections that share the words.",
    )
    diversity_threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="Share of word trigrams above which a hit repeats a better one and is dropped.",
    )
    diversity_depth: int = Field(
        10,
        ge=1,
        description="Near-repeats are dropped among at least this many top hits (k when larger): "
        "the relevance model and the page's passage list read past k.",
    )
    boilerplate_demotion: int = Field(
        5,
        ge=0,
        description="Places an official document's header, preamble (“Căn cứ …”) or signature "
        "(“Nơi nhận”) moves down the ranking: it matches a question's words but states no rule "
        "(0: off).",
    )


class ScoringSettings(BaseModel):
    """How a sentence's features add up to its score (``QA_SCORING__…``; coverage of the
    question's terms counts 1). Shared by the second retrieval stage and the extractive
    answerer, which read the same scores."""

    phrase: float = Field(
        0.15, description="Weight of the question's adjacent words written adjacent too."
    )
    number: float = Field(
        0.10, description="Bonus for a sentence holding the kind of number the question asks."
    )
    number_missing: float = Field(
        0.30, description="Penalty when the question asks a number and the sentence has none."
    )
    quoted: float = Field(
        0.05, description="Bonus for a quoted name in the sentence sharing the question's words."
    )
    rank: float = Field(0.08, description="Bonus times 1/rank of the sentence's passage.")
    name_boost: float = Field(
        1.5, description="Term weight factor for names (capitalised in the question or text)."
    )
    tone_mismatch: float = Field(
        0.5, description="Credit for a term matched only without its marks (hộ / hỗ)."
    )
    context_title: float = Field(
        0.5, description="Credit for a term found only in the passage's title or heading."
    )
    context_name: float = Field(
        0.3, description="Credit for a name found only elsewhere in the passage."
    )
    long_sentence_words: int = Field(
        45, ge=1, description="Words beyond which a long sentence loses a little."
    )
    long_sentence: float = Field(
        0.002, description="What a long sentence loses per word beyond that limit."
    )


class AnswerSettings(BaseModel):
    """The extractive answerer's rules (``QA_ANSWER__…``): how much of the question a sentence
    must cover to be quoted, how many sentences are quoted, and the related passage offered
    where it abstains. Chosen by leave-one-corpus-out, wrong answers first (eval/README.md)."""

    min_coverage: float = Field(
        0.7, ge=0, description="Weighted share of the question's terms a quoted sentence covers."
    )
    min_sentence_coverage: float = Field(
        0.4, ge=0, description="Share the sentence alone covers (its passage's title aside)."
    )
    top_coverage: float = Field(
        0.35, ge=0, description="Lower coverage enough for the top passage's best sentence."
    )
    top_sentence_coverage: float = Field(
        0.25, ge=0, description="Lower sentence-alone coverage for that sentence."
    )
    top_rank: int = Field(1, ge=1, description="Passages that count as the top one.")
    max_sentences: int = Field(3, ge=1, description="Sentences quoted at most.")
    max_passages: int = Field(5, ge=1, description="Passages whose sentences are scored.")
    secondary_ratio: float = Field(
        0.8, ge=0, le=1, description="A further sentence scores at least this share of the best."
    )
    secondary_coverage_share: float = Field(
        0.6,
        ge=0,
        le=1,
        description="A further sentence covers at least this share of min_coverage: weaker "
        "ones add words but not the asked fact.",
    )
    min_gain: float = Field(
        0.1, ge=0, description="Share of the question's terms a further sentence must add."
    )
    list_items: int = Field(
        8, ge=0, description="List items quoted after a sentence that opens a list."
    )
    related_coverage: float = Field(
        0.35,
        ge=0,
        description="Where it abstains, the top passage's best sentence is offered as related "
        "information (not as the answer) when it covers this share of the question's terms.",
    )
    statement_coverage: float = Field(
        0.4,
        ge=0,
        le=1,
        description='A statement to check ("…, đúng hay sai?") is answered with the top '
        "passage's best sentence as the provision that decides it when that sentence covers "
        "this share of the statement's terms (the case's names and sums need not be there); "
        "calibrated on ALQAC 2024's statements against the laws with and without their own "
        "law (eval/README.md).",
    )


class RelevanceSettings(BaseModel):
    """The relevance model (``QA_RELEVANCE__…``): where the answerer's word rules abstain, a
    cross-encoder re-scores the top passages and a passage it is confident about is quoted all
    the same; with ``every_question`` it re-orders every question's top passages too. On by default;
    ``enabled=false`` is the fast path (docs/MODEL.md has the figures of both). Depth and weight
    chosen on the dev sets, the threshold calibrated on held-out training questions."""

    enabled: bool = Field(
        True, description="On: the relevance model; off: the fast path (fusion and word rules)."
    )
    weights: Path | None = Field(
        None, description="Trained layers to load instead of the packaged ones."
    )
    every_question: bool = Field(
        False,
        description="Re-order every question's top passages by the model (several hundred ms "
        "a question on 2 cores); off: the model reads them only for a question the word rules "
        "would abstain on, to answer it all the same when it is sure.",
    )
    depth: int = Field(5, ge=1, le=50, description="Top passages the model re-scores.")
    max_tokens: int = Field(
        128, ge=32, le=510, description="Question and passage tokens read per pair."
    )
    fusion_weight: float = Field(
        2.0,
        ge=0,
        description="Weight of retrieval's own score beside the probability: the model alone "
        "ranks worse than fusion, so it mostly breaks near ties.",
    )
    threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Quote the most likely passage from this probability on, though the word "
        "rules abstain; unset: the threshold calibrated on held-out questions when the model "
        "was trained.",
    )

    @property
    def mode(self) -> str:
        """Which path runs, in words, for eval's and bench's reports."""
        if not self.enabled:
            return "off (fast path)"
        return (
            "on, ordering every question" if self.every_question else "on, where the rules abstain"
        )


class AnswerabilitySettings(BaseModel):
    """The answerability model (``QA_ANSWERABILITY__…``): a cross-encoder trained on answers
    and their near misses gives the probability that a quoted sentence answers the question
    (docs/MODEL.md). Where the rules would quote the top passage's weaker evidence, the
    sentence must reach ``threshold``. On by default; off: the rules alone decide."""

    enabled: bool = Field(
        True, description="On: the model checks the top passage's weaker evidence; off: not."
    )
    threshold: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Probability the top passage's weaker evidence must reach to be quoted "
        "(chosen by leave-one-corpus-out, eval/README.md).",
    )
    weights: Path | None = Field(
        None,
        description="Trained layers to load instead of the packaged ones "
        "(`qa-assistant train-answerability --output`).",
    )
    max_tokens: int = Field(
        128, ge=32, le=510, description="Question and sentence tokens read per pair."
    )


class SpanSettings(BaseModel):
    """The span model (``QA_SPAN__…``): a model trained on answer spans reads the top passage
    of a question the rules answer and says where in it the answer lies; the answerer quotes
    the sentence holding it beside the rules' choice and, where the span model is sure, shows
    the span as the short answer. On by default (docs/MODEL.md); off: the word rules alone
    choose what to quote. The margins are the span model's span score over its "no answer"
    score; each default was chosen by leave-one-corpus-out (eval/README.md)."""

    enabled: bool = Field(
        True, description="On: the span model adds to what is quoted; off: the rules."
    )
    weights: Path | None = Field(
        None,
        description="A trained span model to load instead of the packaged one "
        "(`qa-assistant train-span-model --output`).",
    )
    passages: int = Field(1, ge=1, le=10, description="Top passages the span model reads.")
    select_margin: float = Field(
        -4.0,
        description="Quote the span model's sentence from this margin on: beside the rules' "
        "choice, or instead of it with add_sentence off.",
    )
    add_sentence: bool = Field(
        True,
        description="Quote the span model's sentence beside the rules' choice rather than "
        "instead of it (instead lost on every corpus).",
    )
    span_margin: float = Field(
        0.0, description="Show the span model's span as the short answer from this margin on."
    )
    max_tokens: int = Field(384, ge=64, le=512, description="Tokens of a window read at once.")
    max_question_tokens: int = Field(48, ge=8, le=128, description="Question tokens read.")
    max_answer_tokens: int = Field(64, ge=1, le=256, description="Longest span, in tokens.")


class EmbedderSettings(BaseModel):
    """The bundled default model's weights for the dense leg (``QA_EMBEDDER__…``): e5-small with
    its encoder layers fine-tuned on public Vietnamese QA (docs/MODEL.md), or the plain e5 base.
    Only used with the default ``QA_MODEL``. An index embedded by the other one is re-embedded
    by the next ``qa-assistant ingest``."""

    tuned: bool = Field(
        True,
        description="On: the fine-tuned encoder (built once into the cache at first use; "
        "trained partly on research-only data, docs/MODEL.md); off: the plain "
        "multilingual-e5-small.",
    )
    weights: Path | None = Field(
        None,
        description="A trained change to load instead of the packaged one "
        "(`qa-assistant train-embedder --output`).",
    )


class ReplicaSettings(BaseModel):
    """Several processes or machines on one store (``QA_REPLICAS__…``): the ingest lease kept
    in a Chroma server, and how each process follows what the others commit."""

    lease_s: float = Field(
        60.0,
        gt=0,
        description="Length of the ingest lease: a killed ingest blocks others this long at most.",
    )
    lease_renew_s: float = Field(
        15.0,
        gt=0,
        description="The holder renews this often: a quarter of the lease leaves three misses.",
    )
    lease_wait_s: float = Field(
        120.0,
        ge=0,
        description="How long an ingest waits for another's lease before it is refused.",
    )
    lease_poll_s: float = Field(
        1.0, gt=0, description="How often a waiting ingest looks at the lease again."
    )
    clock_skew_s: float = Field(
        5.0,
        ge=0,
        description="Largest clock difference between machines (and time for one write to "
        "land) the lease allows for.",
    )
    check_s: float = Field(
        1.0,
        ge=0,
        description="A serving process looks for committed changes at most this often "
        "(one small read of the store's generation).",
    )
    lexical_merge_share: float = Field(
        0.25,
        gt=0,
        description="The lexical index folds its delta segments into one when added and "
        "deleted rows pass this share of it: updates stay small, searches few segments.",
    )

    @model_validator(mode="after")
    def _renew_within_lease(self) -> ReplicaSettings:
        if self.lease_renew_s >= self.lease_s - 2 * self.clock_skew_s:
            raise ValueError(
                "QA_REPLICAS__LEASE_RENEW_S must be below QA_REPLICAS__LEASE_S minus twice "
                "QA_REPLICAS__CLOCK_SKEW_S, or the lease ends before it is renewed."
            )
        return self


class ServingSettings(BaseModel):
    """How one page serves many citizens at once (``QA_SERVING__…``). Defaults fit 2 cores:
    measured with ``qa-assistant deploy-check`` (eval/README.md, "Many citizens at once")."""

    ask_concurrency: int = Field(
        4,
        ge=1,
        description="Questions a replica answers at once; the rest wait in its queue. Above "
        "the cores, so that one question's wait on the store overlaps another's work.",
    )
    queue_size: int = Field(
        64,
        ge=1,
        description="Events that may wait in a replica's queue; past that a citizen is told "
        "the page is busy instead of waiting without end.",
    )
    status_interval_s: float = Field(
        1.0,
        ge=0,
        description="How often waiting citizens are told their place in the queue; 0: after "
        "every event, which costs the page one message per waiting citizen each time.",
    )
    onnx_threads: int = Field(
        0,
        ge=0,
        description="Threads each ONNX model (the embedder, the relevance model) runs one "
        "batch on; 0: every core this process may use. 1 gives a busy replica more questions "
        "a second, at the cost of slower ingests.",
    )


class IngestSettings(BaseModel):
    """Reading scans, photos and old Word files (``QA_INGEST__…``): OCR with Tesseract and the
    limits that keep a hostile or huge file from holding the ingest. A file past a limit is
    reported under ``failed``; the rest of the folder is indexed."""

    ocr_languages: str = Field(
        "vie", description="Tesseract models for OCR, '+'-joined (vie also reads Latin text)."
    )
    ocr_dpi: int = Field(
        300, ge=72, le=600, description="Resolution a PDF page without text is OCR'd at."
    )
    ocr_threads: int = Field(
        1,
        ge=1,
        description="Threads Tesseract uses for a page: one read a page in 1.0 s on the 2 "
        "shared cores where its default of all cores took 2.3 s, and leaves a core to the "
        "page and the other files' embedding.",
    )
    max_pages: int = Field(
        300,
        ge=1,
        description="Scanned pages (PDF pages without text, image frames) OCR may read in one "
        "file; a file with more is refused before the first (300 pages take about 6 minutes).",
    )
    max_image_pixels: int = Field(
        80_000_000,
        ge=1_000_000,
        description="Pixels of one image or rendered page (A4 at 600 dpi is 35 million): a "
        "decompression bomb is refused before it is decoded.",
    )
    ocr_timeout_s: float = Field(
        900.0,
        gt=0,
        description="OCR time one file may take, all its pages together (about 1.3 s a page "
        "on 2 cores).",
    )
    converter_timeout_s: float = Field(
        30.0, gt=0, description="Time the .doc converter (catdoc) may take on one file."
    )


class LLMSettings(BaseModel):
    """The LLM answerer's server (``QA_LLM__…``), used with ``QA_ANSWERER=openai`` or
    ``ollama``."""

    model: str = Field("qwen2.5:7b-instruct", description="Chat model name for the LLM.")
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL (…/v1) or the Ollama URL."
    )
    api_key: SecretStr | None = Field(None, description="API key for the LLM server.")
    # A small model served on CPU reads the passages (about 2,000 tokens) in tens of seconds
    # before its first word: the defaults leave it that time and bound what it may write.
    timeout_s: float = Field(
        120.0,
        gt=0,
        description="Seconds one answer may take, from the request to the reply's last word "
        "(no retry); past it the extractive answer is shown.",
    )
    max_tokens: int = Field(512, ge=16, description="Most tokens the model may write in one reply.")
    min_claim_overlap: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of a reply sentence's content words its cited passage must hold "
        "(besides every figure, name and group it states) for the sentence to be shown.",
    )


class StaffSettings(BaseModel):
    """How long staff logins last and how many wrong passwords they may try
    (``QA_STAFF__…``); ``QA_ADMIN_PASSWORD`` turns the login on."""

    login_max_failures: int = Field(
        5, ge=1, description="Wrong staff passwords a client may enter per login window."
    )
    login_window_minutes: float = Field(
        15.0, gt=0, description="Window over which wrong staff passwords are counted."
    )
    session_idle_minutes: float = Field(
        30.0, gt=0, description="A staff login ends after this long without a staff action."
    )


class FeedbackSettings(BaseModel):
    """The state database that feedback and the audit log share (``QA_FEEDBACK__…``):
    SQLite beside the index, or one PostgreSQL database for every replica."""

    url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:5432/database holding feedback and the "
        "audit log for every replica (a secret: masked in summary.json, never printed); "
        "unset = feedback.sqlite3 beside the index.",
    )
    connect_timeout_s: int = Field(
        5,
        ge=1,
        description="Seconds to wait for that database: a page action must not hang for "
        "minutes on an unreachable server.",
    )


# Old names of settings that moved into a group or were renamed in theirs, mapped to (group,
# field): still read, with a warning, for one release (CHANGELOG.md); the new name wins when
# both are set.
_RENAMED: dict[str, tuple[str, str]] = {
    "llm_model": ("llm", "model"),
    "llm_base_url": ("llm", "base_url"),
    "llm_api_key": ("llm", "api_key"),
    "llm_timeout_s": ("llm", "timeout_s"),
    "login_max_failures": ("staff", "login_max_failures"),
    "login_window_minutes": ("staff", "login_window_minutes"),
    "staff_session_idle_minutes": ("staff", "session_idle_minutes"),
    "feedback_url": ("feedback", "url"),
    "feedback_connect_timeout_s": ("feedback", "connect_timeout_s"),
    # The sentence-evidence step is not a re-ranking, nor is the relevance model's order.
    "retrieval__rerank_depth": ("retrieval", "evidence_depth"),
    "retrieval__rerank_weight": ("retrieval", "evidence_weight"),
    "relevance__rerank": ("relevance", "every_question"),
    # The model trained on answer spans is the span model, not a reader beside the file readers.
    **{
        f"reader__{name}": ("span", name)
        for name in (
            "enabled",
            "weights",
            "passages",
            "select_margin",
            "add_sentence",
            "span_margin",
            "max_tokens",
            "max_question_tokens",
            "max_answer_tokens",
        )
    },
}


class _RenamedSettingsSource(PydanticBaseSettingsSource):
    """Reads the old names of ``_RENAMED`` from the environment and the ``.env`` file that the
    other sources loaded, into their groups, with a warning for each one set."""

    def __init__(
        self, settings_cls: type[BaseSettings], sources: tuple[PydanticBaseSettingsSource, ...]
    ) -> None:
        super().__init__(settings_cls)
        # The .env file first, the environment after it: the environment wins, as it does for
        # every other setting.
        self._loaded = [s for s in reversed(sources) if isinstance(s, EnvSettingsSource)]

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # every value comes from __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, str] = {}
        for source in self._loaded:
            for old in _RENAMED:
                value = source.env_vars.get(f"qa_{old}")
                if value is not None:
                    values[old] = value
        found: dict[str, dict[str, str]] = {}
        for old, value in values.items():
            group, name = _RENAMED[old]
            new = f"QA_{group.upper()}__{name.upper()}"
            warnings.warn(
                f"QA_{old.upper()} is renamed {new}; the old name is read until the next "
                f"release: set {new} instead.",
                FutureWarning,
                stacklevel=_caller_level(),
            )
            found.setdefault(group, {})[name] = value
        return found


def _caller_level() -> int:
    """The ``stacklevel`` of the code that built the settings, past pydantic's frames: the
    warning then names that line."""
    level, frame = 1, sys._getframe(1)
    while frame.f_back is not None and frame.f_globals["__name__"].startswith(
        ("pydantic", __name__)
    ):
        level, frame = level + 1, frame.f_back
    return level


class Settings(BaseSettings):
    """Every setting (docs/SETTINGS.md lists them): the plain ones, and a group per stage."""

    model_config = SettingsConfigDict(
        env_prefix="QA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_nested_delimiter="__",
    )

    documents_dir: Path = Field(Path("documents"), description="Folder ingested by default.")
    index_dir: Path = Field(
        Path("index"),
        description="Chroma store, lexical index, manifest; feedback and the audit log "
        "(feedback.sqlite3) too, unless QA_FEEDBACK__URL is set.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir, description="Where built models are kept."
    )
    chroma_url: str | None = Field(
        None, description="http://host:port of a Chroma server; unset = embedded store."
    )
    collection: str = Field("qa_assistant", description="Chroma collection name.")
    feedback: FeedbackSettings = Field(
        default_factory=lambda: FeedbackSettings.model_validate({}),
        description="Where feedback and the audit log are kept (QA_FEEDBACK__URL, ...).",
    )

    model: str = Field(
        DEFAULT_MODEL,
        description="Embedding model: the bundled default, a sentence-transformers name or "
        "path. Changing it needs `qa-assistant ingest --rebuild`.",
    )
    device: str = Field("cpu", description="torch device for the embedding model.")
    precision: Literal["int8", "fp32"] = Field(
        "int8",
        description="On CPU: int8 runs the default model's int8 ONNX export on ONNX Runtime "
        "(about 1.2x faster to embed, loads in 2-3 s without torch); fp32 runs the original "
        "weights in sentence-transformers. Both read the same index.",
    )
    embedder: EmbedderSettings = Field(
        default_factory=lambda: EmbedderSettings.model_validate({}),
        description="The default model's weights (QA_EMBEDDER__TUNED, __WEIGHTS).",
    )
    max_chunk_tokens: int = Field(
        400, ge=32, le=510, description="Largest passage, in the embedding model's tokens."
    )

    retriever: RetrieverName = Field(
        "hybrid", description="hybrid: the dense and BM25 legs fused; dense or bm25: one leg."
    )
    k: int = Field(5, ge=1, le=50, description="Passages given to the answerer.")
    candidates: int = Field(40, ge=5, le=500, description="Candidates per leg before fusion.")

    retrieval: RetrievalSettings = Field(
        default_factory=lambda: RetrievalSettings.model_validate({}),
        description="Fusion and the evidence step (QA_RETRIEVAL__FUSION, __EVIDENCE_DEPTH, ...).",
    )
    scoring: ScoringSettings = Field(
        default_factory=lambda: ScoringSettings.model_validate({}),
        description="How sentences are scored (QA_SCORING__PHRASE, __NAME_BOOST, ...).",
    )
    answer: AnswerSettings = Field(
        default_factory=lambda: AnswerSettings.model_validate({}),
        description="The extractive answerer's rules (QA_ANSWER__MIN_COVERAGE, ...).",
    )
    relevance: RelevanceSettings = Field(
        default_factory=lambda: RelevanceSettings.model_validate({}),
        description="The relevance model (QA_RELEVANCE__ENABLED, __DEPTH, ...).",
    )
    span: SpanSettings = Field(
        default_factory=lambda: SpanSettings.model_validate({}),
        description="The span model (QA_SPAN__ENABLED, __PASSAGES, ...).",
    )
    answerability: AnswerabilitySettings = Field(
        default_factory=lambda: AnswerabilitySettings.model_validate({}),
        description="The answerability model (QA_ANSWERABILITY__ENABLED, __WEIGHTS, ...).",
    )
    replicas: ReplicaSettings = Field(
        default_factory=lambda: ReplicaSettings.model_validate({}),
        description="Ingest lease and following the store (QA_REPLICAS__LEASE_S, __CHECK_S, ...).",
    )
    serving: ServingSettings = Field(
        default_factory=lambda: ServingSettings.model_validate({}),
        description="Many citizens at once (QA_SERVING__ASK_CONCURRENCY, __ONNX_THREADS, ...).",
    )

    ingest: IngestSettings = Field(
        default_factory=lambda: IngestSettings.model_validate({}),
        description="OCR and file limits (QA_INGEST__MAX_PAGES, __OCR_TIMEOUT_S, ...).",
    )

    answerer: AnswererName = Field(
        "extractive",
        description="extractive: quotes the passages' sentences; openai (any OpenAI-compatible "
        "server) or ollama: an LLM writes the answer.",
    )
    llm: LLMSettings = Field(
        default_factory=lambda: LLMSettings.model_validate({}),
        description="The LLM server (QA_LLM__BASE_URL, __MODEL, __API_KEY, __TIMEOUT_S).",
    )

    host: str = Field("127.0.0.1", description="Address the UI binds to.")
    port: int = Field(7860, ge=1, le=65535, description="Port the UI listens on.")
    admin_password: SecretStr | None = Field(
        None,
        description="Enables the staff Documents tab behind a login; unset: the tab opens only "
        "to local requests that no proxy forwarded.",
    )
    max_upload_mb: int = Field(20, ge=1, description="Largest file staff may upload, in MB.")
    staff: StaffSettings = Field(
        default_factory=lambda: StaffSettings.model_validate({}),
        description="Staff logins (QA_STAFF__LOGIN_MAX_FAILURES, __SESSION_IDLE_MINUTES, ...).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        renamed = _RenamedSettingsSource(settings_cls, (env_settings, dotenv_settings))
        return init_settings, env_settings, dotenv_settings, renamed, file_secret_settings

    @property
    def model_is_default(self) -> bool:
        return self.model == DEFAULT_MODEL
