"""Training windows for the span model, built from the answer spans of ``shared/training``.

A question with a span in its article becomes one window of the chunk holding the span (the
chunk as ``qa-assistant ingest`` cuts it, read as the span model reads it: heading path, then
text), the window placed by seed around the span, its targets the span's first and last
tokens. Half of them also give a window with no answer: the best passage of the project's
lexical leg that is not gold, or another chunk of the gold article without the span. Zalo's
paragraphs give both kinds, its 2,328 unanswerable questions among them. Target (0, 0), the
first token, says "no answer here".

Held-out shares are the relevance model's (:func:`.data.is_heldout`); ViRHE4QA's test split
and the benchmark dev sets are never read.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._models.onnx_runtime import pair_row
from .._vietnamese import normalize_text
from ..errors import QAError
from ..types import Chunk
from .data import Corpus, asked, check_leave_out, is_heldout, passage_text, rows, sets_with_corpora

__all__ = [
    "SPAN_MODEL_SET_NAMES",
    "HeldoutSpan",
    "SpanData",
    "SpanExample",
    "build_span_data",
    "find_span",
]

# The sets with answer spans inside their documents (ALQAC 2024 and the synthetic questions
# have none), then Zalo's paragraphs.
_SPAN_SETS = ("virhe4qa", "uitwiki", "alqac2022")
_ZALO = "training/zalo2019/pairs.jsonl"
SPAN_MODEL_SET_NAMES = (*_SPAN_SETS, "zalo2019")


@dataclass(frozen=True)
class SpanExample:
    """One window as the span model reads it, and the tokens the answer starts and ends at
    (0 and 0: no answer in this window)."""

    set_name: str
    ids: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class HeldoutSpan:
    """A held-out question with its passage (the chunk holding the span; for Zalo, its
    paragraph) and gold answers; no answers: the passage does not answer it."""

    set_name: str
    question: str
    passage: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class SpanData:
    train: tuple[SpanExample, ...]
    heldout: tuple[HeldoutSpan, ...]


def find_span(text: str, answer: str) -> tuple[int, int] | None:
    """Where ``answer`` occurs in ``text`` (case and spacing aside), as character offsets."""
    words = answer.split()
    if not words:
        return None
    found = re.search(r"\s+".join(re.escape(w) for w in words), text, re.IGNORECASE)
    return (found.start(), found.end()) if found else None


class _Windows:
    """Lays out windows of ``max_tokens`` as the span model reads them, placed by ``rng``."""

    def __init__(self, tokenizer: Any, max_tokens: int, max_question: int, rng: random.Random):
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.max_question = max_question
        self.rng = rng

    def window(
        self, set_name: str, question: str, passage: str, span: tuple[int, int] | None
    ) -> SpanExample | None:
        q = self.tokenizer(question, add_special_tokens=False)["input_ids"][: self.max_question]
        p = self.tokenizer(passage, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = p["input_ids"], p["offset_mapping"]
        room = self.max_tokens - len(q) - 4
        lead = len(q) + 3
        if span is None:
            start = self.rng.randint(0, max(0, len(ids) - room))
            return SpanExample(set_name, tuple(pair_row(q, ids[start : start + room])), 0, 0)
        first = next((i for i, (_, b) in enumerate(offsets) if b > span[0]), None)
        last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < span[1]), None)
        if first is None or last is None or last < first or last - first + 1 > room:
            return None
        low, high = max(0, last - room + 1), min(first, max(0, len(ids) - room))
        start = self.rng.randint(low, max(low, high))
        row = pair_row(q, ids[start : start + room])
        return SpanExample(set_name, tuple(row), first - start + lead, last - start + lead)


def _answers(row: dict[str, object]) -> list[str]:
    value = row.get("answers")
    return [str(a) for a in value if str(a).strip()] if isinstance(value, list) else []


def _negative(
    corpus: Corpus, row: dict[str, object], gold: Chunk, answer: str, rng: random.Random
) -> Chunk | None:
    """A passage without the answer: one of the lexical leg's two best non-gold passages, or
    a chunk of the gold article that does not hold the span."""
    found = corpus.retrieve(row)
    pool = list(found.negatives[:2]) if found else []
    pool += [
        c
        for c in corpus.by_source.get(gold.source, [])
        if c is not gold and find_span(passage_text(c), answer) is None
    ][:1]
    return rng.choice(pool) if pool else None


def build_span_data(
    shared: Path,
    count_tokens: Callable[[str], int],
    tokenizer: Any,
    *,
    seed: int,
    max_tokens: int,
    max_question: int,
    max_per_set: int,
    negative_share: float,
    leave_out: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> SpanData:
    """Training windows and held-out questions of every span set not left out."""
    check_leave_out(leave_out, SPAN_MODEL_SET_NAMES)
    rng = random.Random(seed)
    layout = _Windows(tokenizer, max_tokens, max_question, rng)
    train: list[SpanExample] = []
    heldout: list[HeldoutSpan] = []
    for spec, corpus in sets_with_corpora(shared, count_tokens, _SPAN_SETS, leave_out):
        data = [r for r in rows(shared / spec.questions) if spec.admits(r)]
        rng.shuffle(data)
        kept = 0
        for row in data:
            answers = _answers(row)
            chunks = corpus.answer_chunks(row) if answers else []
            if not chunks:
                continue
            gold = chunks[0]
            passage = passage_text(gold)
            answer = normalize_text(answers[0])
            span = find_span(passage, answer)
            if span is None:
                continue
            if is_heldout(str(row["id"])):
                heldout.append(HeldoutSpan(spec.name, str(row["question"]), passage, (answer,)))
                continue
            if kept >= max_per_set:
                continue
            question = asked(str(row["id"]), str(row["question"]))
            example = layout.window(spec.name, question, passage, span)
            if example is None:
                continue
            train.append(example)
            kept += 1
            if rng.random() < negative_share:
                other = _negative(corpus, row, gold, answer, rng)
                if other is not None:
                    empty = layout.window(spec.name, question, passage_text(other), None)
                    train.append(empty)  # type: ignore[arg-type]  # None only with a span
        log(f"{spec.name}: {kept} training questions with a span")
    if "zalo2019" not in leave_out:
        kept = 0
        for row in rows(shared / _ZALO):
            context = normalize_text(str(row.get("context", "")))
            answers = [normalize_text(a) for a in _answers(row)]
            if not context.strip() or (row.get("answerable") and not answers):
                continue
            span = find_span(context, answers[0]) if answers else None
            if answers and span is None:
                continue
            if is_heldout(str(row["id"])):
                heldout.append(
                    HeldoutSpan("zalo2019", str(row["question"]), context, tuple(answers))
                )
                continue
            question = asked(str(row["id"]), str(row["question"]))
            example = layout.window("zalo2019", question, context, span)
            if example is not None:
                train.append(example)
                kept += 1
        log(f"zalo2019: {kept} training windows")
    if not train:
        raise QAError("Every training set was left out: leave at least one in.")
    rng.shuffle(train)
    return SpanData(tuple(train), tuple(heldout))
