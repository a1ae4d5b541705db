"""Training groups for the relevance model, built from the public QA data in ``shared/training``.

Each question becomes a :class:`Group` of (question, passage, label) pairs: its gold passage
and the passages the project's own lexical retrieval ranks highest that are not gold (the hard
negatives the relevance model meets at run time). Law and Wikipedia questions are chunked and
searched exactly as ``qa-assistant ingest`` and ``ask`` would; Zalo pairs carry their own
paragraph, and its 2,328 unanswerable pairs teach when a passage on the topic does *not* answer.

A fixed share of every set (by a hash of the question id) is held out of training for
validation; the benchmark dev sets are never read here.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._chunking.chunker import chunk_document
from .._loading import load_document
from .._models.build import PASSAGE_PREFIX
from .._store.lexical import LexicalIndex
from .._vietnamese import normalize_text, restore_diacritics, strip_diacritics, word_tokens
from ..errors import QAError
from ..evaluation import matches_any_gold, normalize_for_match
from ..types import Chunk

__all__ = [
    "HELDOUT_SHARE",
    "RELEVANCE_SET_NAMES",
    "SET_NAMES",
    "TRAINING_SETS",
    "Corpus",
    "Group",
    "Pair",
    "Retrieved",
    "TrainingData",
    "TrainingSet",
    "asked",
    "build_training_data",
    "check_leave_out",
    "is_heldout",
    "passage_text",
    "passage_tokens",
    "rows",
    "sets_with_corpora",
]

# One question in ten is kept out of training, chosen by its id so the split never moves.
HELDOUT_SHARE = 10
# Hard negatives per question: the lexical leg's best non-gold passages.
NEGATIVES = 3
# The lexical depth searched for positives and negatives.
SEARCH_DEPTH = 30
# Share of questions (in percent, by id) also trained as typed without marks and restored by
# pyvi, as the assistant does before scoring such a question.
RESTORED_SHARE = 25
_ZALO = "training/zalo2019/pairs.jsonl"
_MAX_CHUNK_TOKENS = 400  # the default chunk size of ingest


@dataclass(frozen=True)
class TrainingSet:
    """A question set of ``shared/training`` with the folder of its documents (relative to
    ``shared/``), and the dataset's own splits that may be trained on (empty: all rows)."""

    name: str
    questions: str
    documents: str
    splits: tuple[str, ...] = ()

    def admits(self, row: dict[str, object]) -> bool:
        return not self.splits or str(row.get("split", "")) in self.splits


# Every set with documents to search. ALQAC 2024 and the synthetic questions ask about the
# ALQAC 2023 laws, whose files are the benchmark's documents (only its questions are held back).
# ViRHE4QA's test split is never trained on: it is reported as untouched.
TRAINING_SETS = (
    TrainingSet(
        "alqac2024", "training/alqac2024/questions.jsonl", "benchmarks/alqac2023/documents"
    ),
    TrainingSet(
        "alqac_synthetic",
        "training/alqac_synthetic/questions.jsonl",
        "benchmarks/alqac2023/documents",
    ),
    TrainingSet("alqac2022", "training/alqac2022/questions.jsonl", "training/alqac2022/documents"),
    TrainingSet("uitwiki", "training/uitwiki/questions.jsonl", "training/uitwiki/documents"),
    TrainingSet(
        "virhe4qa",
        "training/virhe4qa/questions.jsonl",
        "training/virhe4qa/documents",
        splits=("train", "val"),
    ),
    TrainingSet(
        "pubhealth_faq",
        "training/pubhealth_faq/questions.jsonl",
        "training/pubhealth_faq/documents",
    ),
)
# The relevance model's sets (the regulation and public-service sets came later).
_RELEVANCE_SETS = ("alqac2024", "alqac_synthetic", "alqac2022", "uitwiki")


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str
    label: float  # 1.0: the passage answers the question
    weight: float = 1.0  # the pair's weight in the pointwise loss


@dataclass(frozen=True)
class Group:
    """Pairs of one question (``ranked``: the first is gold, the others are not) or, for Zalo,
    of several questions with their own labels (only the pointwise loss applies)."""

    set_name: str
    pairs: tuple[Pair, ...]
    ranked: bool


@dataclass(frozen=True)
class TrainingData:
    train: tuple[Group, ...]
    heldout: tuple[Group, ...]


def _digest(text: str) -> int:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16)


def is_heldout(question_id: str) -> bool:
    return _digest(question_id) % HELDOUT_SHARE == 0


def passage_tokens(tokenizer: Any) -> Callable[[str], int]:
    """A passage's length in the model's tokens, counted as ingest counts it when chunking
    (with e5's passage prefix), so training cuts documents into the chunks ingest stores."""
    return lambda text: len(tokenizer(PASSAGE_PREFIX + text)["input_ids"])


def passage_text(chunk: Chunk) -> str:
    """What the relevance model reads of a passage: its heading path, then its text."""
    return chunk.indexed_text


def rows(path: Path) -> Iterator[dict[str, object]]:
    if not path.is_file():
        raise QAError(
            f"{path} is missing: point --data at the shared folder that holds training/ and "
            "benchmarks/ (see docs/MODEL.md)."
        )
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def asked(question_id: str, question: str) -> str:
    """The question as the model sees it; a share of them typed bare and restored by pyvi."""
    question = normalize_text(question).strip()
    if _digest("restored:" + question_id) % 100 < RESTORED_SHARE:
        return restore_diacritics(strip_diacritics(question))
    return question


@dataclass(frozen=True)
class Retrieved:
    """A question's passages in one corpus: the gold ones (best lexical rank first, then the
    gold passages retrieval missed) and the non-gold ones the lexical leg ranks highest."""

    question: str
    gold: tuple[Chunk, ...]
    negatives: tuple[Chunk, ...]


class Corpus:
    """The documents of one folder, chunked and indexed as ingest would."""

    def __init__(self, folder: Path, count_tokens: Callable[[str], int]) -> None:
        chunks: list[Chunk] = []
        for path in sorted(folder.iterdir()):
            doc = load_document(path, path.name)
            chunks.extend(
                chunk_document(doc, max_tokens=_MAX_CHUNK_TOKENS, count_tokens=count_tokens)
            )
        self.chunks = chunks
        self.by_source: dict[str, list[Chunk]] = {}
        for c in chunks:
            self.by_source.setdefault(c.source, []).append(c)
        words = [word_tokens(c.indexed_text) for c in chunks]
        self.index = LexicalIndex(chunks, words)

    def retrieve(self, row: dict[str, object]) -> Retrieved | None:
        question = normalize_text(str(row["question"])).strip()
        evidence = _strings(row.get("evidence"))
        if not question or not evidence:
            return None
        hits = self.index.search(word_tokens(question), SEARCH_DEPTH)
        ranked = [c for c in (self.index.chunk(cid) for cid, _ in hits) if c is not None]
        matched = [matches_any_gold(c.text, evidence) for c in ranked]
        gold = [c for c, r in zip(ranked, matched, strict=True) if r]
        if not gold:  # retrieval missed it: the gold passage is still the positive
            gold = [c for c in self._pool(row) if matches_any_gold(c.text, evidence)]
        if not gold:
            return None
        negatives = [c for c, r in zip(ranked, matched, strict=True) if not r]
        return Retrieved(question, tuple(gold), tuple(negatives))

    def _pool(self, row: dict[str, object]) -> list[Chunk]:
        return [c for s in _strings(row.get("sources")) for c in self.by_source.get(s, [])]

    def answer_chunks(self, row: dict[str, object]) -> list[Chunk]:
        """The gold documents' chunks that hold one of the row's answer spans (a long
        article's gold passage is the chunk with the span, not the whole article)."""
        spans = [normalize_for_match(a) for a in _strings(row.get("answers")) if a.strip()]
        if not spans:
            return []
        evidence = _strings(row.get("evidence"))
        return [
            c
            for c in self._pool(row)
            if any(span in normalize_for_match(c.text) for span in spans)
            and matches_any_gold(c.text, evidence)
        ]

    def group(self, set_name: str, row: dict[str, object], rng: random.Random) -> Group | None:
        found = self.retrieve(row)
        if found is None:
            return None
        evidence = _strings(row.get("evidence"))
        gold = found.gold
        negatives = list(found.negatives[:NEGATIVES])
        while len(negatives) < NEGATIVES:
            c = rng.choice(self.chunks)
            if c not in negatives and not matches_any_gold(c.text, evidence):
                negatives.append(c)
        question = asked(str(row["id"]), found.question)
        pairs = [Pair(question, passage_text(gold[0]), 1.0)]
        pairs += [Pair(question, passage_text(c), 0.0) for c in negatives]
        return Group(set_name, tuple(pairs), ranked=True)


def _zalo_groups(rows: Sequence[dict[str, object]], size: int) -> list[Group]:
    pairs = [
        Pair(
            asked(str(r["id"]), str(r["question"])),
            normalize_text(str(r["context"])),
            1.0 if r.get("answerable") else 0.0,
        )
        for r in rows
        if str(r.get("question", "")).strip() and str(r.get("context", "")).strip()
    ]
    return [
        Group("zalo2019", tuple(pairs[i : i + size]), ranked=False)
        for i in range(0, len(pairs), size)
    ]


def sets_with_corpora(
    shared: Path,
    count_tokens: Callable[[str], int],
    names: Collection[str],
    leave_out: Sequence[str],
) -> Iterator[tuple[TrainingSet, Corpus]]:
    """The sets of :data:`TRAINING_SETS` named in ``names`` and not in ``leave_out``, in that
    order, each with the corpus of its documents (read once for the sets that share them)."""
    corpora: dict[str, Corpus] = {}
    for spec in TRAINING_SETS:
        if spec.name not in names or spec.name in leave_out:
            continue
        if spec.documents not in corpora:
            corpora[spec.documents] = Corpus(shared / spec.documents, count_tokens)
        yield spec, corpora[spec.documents]


def check_leave_out(names: Sequence[str], known: Sequence[str]) -> None:
    """A set named to leave out must be one the command trains on: a typo would otherwise
    train on the very set a licence rules out."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise QAError(
            f"Unknown training set(s) {', '.join(unknown)} for --leave-out: "
            f"use one of {', '.join(sorted(known))}."
        )


# The sets the relevance model trains on, by name; any set of shared/training may be named to
# leave out (one it does not read is left out already).
RELEVANCE_SET_NAMES = (*_RELEVANCE_SETS, "zalo2019")
SET_NAMES = (*(spec.name for spec in TRAINING_SETS), "zalo2019")


def build_training_data(
    shared: Path,
    count_tokens: Callable[[str], int],
    *,
    seed: int,
    log: Callable[[str], None] = print,
    leave_out: Sequence[str] = (),
) -> TrainingData:
    """Every training group, split into training and held-out by question id; the sets named
    in ``leave_out`` are not read at all."""
    check_leave_out(leave_out, SET_NAMES)
    rng = random.Random(seed)
    train: list[Group] = []
    heldout: list[Group] = []
    for spec, corpus in sets_with_corpora(shared, count_tokens, _RELEVANCE_SETS, leave_out):
        set_name = spec.name
        kept = 0
        for row in rows(shared / spec.questions):
            group = corpus.group(set_name, row, rng)
            if group is None:
                continue
            kept += 1
            (heldout if is_heldout(str(row["id"])) else train).append(group)
        log(f"{set_name}: {kept} questions with a gold passage")
    if "zalo2019" not in leave_out:
        zalo = list(rows(shared / _ZALO))
        size = NEGATIVES + 1
        train += _zalo_groups([r for r in zalo if not is_heldout(str(r["id"]))], size)
        heldout += _zalo_groups([r for r in zalo if is_heldout(str(r["id"]))], size)
        log(f"zalo2019: {len(zalo)} pairs")
    rng.shuffle(train)
    return TrainingData(tuple(train), tuple(heldout))
