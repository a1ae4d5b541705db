"""A run's records and their aggregation: each question's result, the figures of a group of
questions, and the summary the runner returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Answer
from .metrics import ALL_METRICS, PER_QUESTION_METRICS, RETRIEVAL_DEPTH, format_value
from .questions import Question


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    answer: Answer
    latency_ms: float
    metrics: Mapping[str, float | None]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """One line of results.jsonl: the ``ask --json`` shape plus gold facts and metrics."""
        shown = self.answer.to_dict(retrieved=RETRIEVAL_DEPTH)
        q = self.question
        return {
            "id": q.id,
            "question": q.question,
            "kind": q.kind,
            "split": q.split,
            "answerable": q.answerable,
            "gold_answers": list(q.answers),
            "answer": shown["answer"],
            "abstained": shown["abstained"],
            "answer_span": shown["answer_span"],
            "citations": shown["citations"],
            "retrieved": shown["retrieved"],
            "warnings": shown["warnings"],
            "reason": shown["reason"],
            "latency_ms": round(self.latency_ms, 2),
            "metrics": dict(self.metrics),
            "error": self.error,
        }


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that apply (None = not applicable); None when none apply."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]; None when empty."""
    return float(np.percentile(values, q)) if len(values) else None


def abstention_metrics(
    answerable: Sequence[bool], abstained: Sequence[bool]
) -> dict[str, float | None]:
    """Precision and recall of abstaining on unanswerable questions, and the rate of
    abstaining on answerable ones. None when the denominator is empty."""
    pairs = list(zip(answerable, abstained, strict=True))
    right = sum(1 for a, x in pairs if not a and x)
    abstentions = sum(1 for _, x in pairs if x)
    unanswerable = sum(1 for a, _ in pairs if not a)
    answerable_n = sum(1 for a, _ in pairs if a)
    wrong = sum(1 for a, x in pairs if a and x)
    return {
        "abstention_precision": right / abstentions if abstentions else None,
        "abstention_recall": right / unanswerable if unanswerable else None,
        "false_abstention_rate": wrong / answerable_n if answerable_n else None,
    }


@dataclass(frozen=True)
class Figures:
    """The metrics of a group of questions and how many questions each was averaged over."""

    questions: int
    metrics: Mapping[str, float | None]
    counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "metrics": dict(self.metrics),
            "counts": dict(self.counts),
        }


def aggregate(results: Sequence[QuestionResult]) -> Figures:
    metrics: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    for name in PER_QUESTION_METRICS:
        column = [r.metrics.get(name) for r in results]
        metrics[name] = mean(column)
        counts[name] = sum(1 for v in column if v is not None)
    answerable = [r.question.answerable for r in results]
    abstained = [r.answer.abstained for r in results]
    metrics.update(abstention_metrics(answerable, abstained))
    counts["abstention_precision"] = sum(abstained)
    counts["abstention_recall"] = answerable.count(False)
    counts["false_abstention_rate"] = answerable.count(True)
    latencies = [r.latency_ms for r in results]
    metrics["latency_p50_ms"] = percentile(latencies, 50)
    metrics["latency_p95_ms"] = percentile(latencies, 95)
    counts["latency_p50_ms"] = counts["latency_p95_ms"] = len(latencies)
    return Figures(questions=len(results), metrics=metrics, counts=counts)


@dataclass(frozen=True)
class EvalSummary:
    overall: Figures
    by_split: Mapping[str, Figures]
    by_kind: Mapping[str, Figures]
    results: tuple[QuestionResult, ...]
    config: Mapping[str, Any]
    version: str
    date: str
    skipped_lines: tuple[tuple[int, str], ...] = ()
    errors: int = 0  # questions whose `ask` raised a QAError (scored as failures)
    files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def metrics(self) -> Mapping[str, float | None]:
        return self.overall.metrics

    def format_table(self) -> str:
        """A plain-text table of the overall figures, for the terminal."""
        width = max(len(name) for name in ALL_METRICS)
        lines = [f"{'questions':<{width}}  {self.overall.questions}"]
        for name in ALL_METRICS:
            value = format_value(name, self.overall.metrics.get(name))
            lines.append(f"{name:<{width}}  {value:>7}  ({self.overall.counts.get(name, 0)})")
        if self.errors:
            lines.append(f"{'failed (errors)':<{width}}  {self.errors}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The content of summary.json."""
        return {
            "version": self.version,
            "date": self.date,
            "config": dict(self.config),
            "questions": self.overall.questions,
            "answerable": sum(1 for r in self.results if r.question.answerable),
            "unanswerable": sum(1 for r in self.results if not r.question.answerable),
            "errors": self.errors,
            "skipped_lines": [{"line": n, "error": e} for n, e in self.skipped_lines],
            "metrics": dict(self.overall.metrics),
            "counts": dict(self.overall.counts),
            "by_split": {k: v.to_dict() for k, v in self.by_split.items()},
            "by_kind": {k: v.to_dict() for k, v in self.by_kind.items()},
        }
