"""Training groups for the relevance model, built from the public QA data in ``shared/training``.

Each question becomes a :class:`Group` of (question, passage, label) pairs: its gold passage
and the passages the project's own lexical retrieval ranks highest that are not gold (the hard
negatives a reranker meets at run time). Law and Wikipedia questions are chunked and searched
exactly as ``qa-assistant ingest`` and ``ask`` would; Zalo pairs carry their own paragraph, and
its 2,328 unanswerable pairs teach when a passage on the topic does *not* answer.

A fixed share of every set (by a hash of the question id) is held out of training for
validation; the benchmark dev sets are never read here.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._chunking import chunk_document
from ._lexical import LexicalIndex
from ._loading import load_document
from ._vietnamese import normalize_text, restore_diacritics, strip_diacritics, word_tokens
from .errors import QAError
from .evaluation import relevant_to_any
from .types import Chunk

__all__ = [
    "HELDOUT_SHARE",
    "Group",
    "Pair",
    "TrainingData",
    "build_training_data",
    "is_heldout",
    "passage_text",
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
# Law question sets and the folder of their documents, relative to shared/.
_LAW_SETS = (
    ("training/alqac2024/questions.jsonl", "benchmarks/alqac2023/documents"),
    ("training/alqac_synthetic/questions.jsonl", "benchmarks/alqac2023/documents"),
    ("training/alqac2022/questions.jsonl", "training/alqac2022/documents"),
    ("training/uitwiki/questions.jsonl", "training/uitwiki/documents"),
)
_ZALO = "training/zalo2019/pairs.jsonl"
_MAX_CHUNK_TOKENS = 400  # the default chunk size of ingest


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str
    label: float  # 1.0: the passage answers the question


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


def passage_text(chunk: Chunk) -> str:
    """What the relevance model reads of a passage: its heading path, then its text."""
    return chunk.indexed_text


def _rows(path: Path) -> Iterator[dict[str, object]]:
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


def _asked(question_id: str, question: str) -> str:
    """The question as the model sees it; a share of them typed bare and restored by pyvi."""
    question = normalize_text(question).strip()
    if _digest("restored:" + question_id) % 100 < RESTORED_SHARE:
        return restore_diacritics(strip_diacritics(question))
    return question


class _Corpus:
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

    def group(self, set_name: str, row: dict[str, object], rng: random.Random) -> Group | None:
        question = normalize_text(str(row["question"])).strip()
        evidence = _strings(row.get("evidence"))
        if not question or not evidence:
            return None
        hits = self.index.search(word_tokens(question), SEARCH_DEPTH)
        ranked = [c for c in (self.index.chunk(cid) for cid, _ in hits) if c is not None]
        relevant = [relevant_to_any(c.text, evidence) for c in ranked]
        gold = [c for c, r in zip(ranked, relevant, strict=True) if r]
        if not gold:  # retrieval missed it: the gold passage is still the positive
            sources = _strings(row.get("sources"))
            pool = [c for s in sources for c in self.by_source.get(s, [])]
            gold = [c for c in pool if relevant_to_any(c.text, evidence)]
        if not gold:
            return None
        negatives = [c for c, r in zip(ranked, relevant, strict=True) if not r][:NEGATIVES]
        while len(negatives) < NEGATIVES:
            c = rng.choice(self.chunks)
            if c not in negatives and not relevant_to_any(c.text, evidence):
                negatives.append(c)
        asked = _asked(str(row["id"]), question)
        pairs = [Pair(asked, passage_text(gold[0]), 1.0)]
        pairs += [Pair(asked, passage_text(c), 0.0) for c in negatives]
        return Group(set_name, tuple(pairs), ranked=True)


def _zalo_groups(rows: Sequence[dict[str, object]], size: int) -> list[Group]:
    pairs = [
        Pair(
            _asked(str(r["id"]), str(r["question"])),
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


def build_training_data(
    shared: Path,
    count_tokens: Callable[[str], int],
    *,
    seed: int,
    log: Callable[[str], None] = print,
) -> TrainingData:
    """Every training group, split into training and held-out by question id."""
    rng = random.Random(seed)
    train: list[Group] = []
    heldout: list[Group] = []
    corpora: dict[str, _Corpus] = {}
    for questions, documents in _LAW_SETS:
        if documents not in corpora:
            corpora[documents] = _Corpus(shared / documents, count_tokens)
        corpus = corpora[documents]
        set_name = Path(questions).parent.name
        kept = 0
        for row in _rows(shared / questions):
            group = corpus.group(set_name, row, rng)
            if group is None:
                continue
            kept += 1
            (heldout if is_heldout(str(row["id"])) else train).append(group)
        log(f"{set_name}: {kept} questions with a gold passage")
    zalo = list(_rows(shared / _ZALO))
    size = NEGATIVES + 1
    train += _zalo_groups([r for r in zalo if not is_heldout(str(r["id"]))], size)
    heldout += _zalo_groups([r for r in zalo if is_heldout(str(r["id"]))], size)
    log(f"zalo2019: {len(zalo)} pairs")
    rng.shuffle(train)
    return TrainingData(tuple(train), tuple(heldout))
