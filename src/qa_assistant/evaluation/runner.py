"""The evaluation runner: asks every question, scores it, and writes the report when asked to.

It only needs a ``Callable[[str], Answer]``: it never touches the index, the embedder or an LLM
itself, which keeps a run reproducible with any configuration the caller builds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .._vietnamese import strip_diacritics as _strip_marks
from ..errors import QAError
from ..types import Answer
from .metrics import question_metrics
from .questions import Question, load_question_set
from .report import write_report
from .results import EvalSummary, Figures, QuestionResult, aggregate


def _ask_one(ask: Callable[[str], Answer], question: Question) -> tuple[Answer, float, str | None]:
    started = time.perf_counter()
    try:
        answer = ask(question.question)
    except QAError as exc:
        # One failing question (e.g. an LLM timeout) must not throw away a long run; it is
        # scored as a failed answer and listed in the results.
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return Answer(question=question.question, text="", abstained=False), elapsed, str(exc)
    elapsed = (time.perf_counter() - started) * 1000
    # The assistant's own timing (retrieval + answering) when it gives one; else wall clock.
    # Rounded as results.jsonl shows it, so the report can be recomputed from that file.
    latency = answer.latency_ms if answer.latency_ms > 0 else elapsed
    return answer, round(latency, 2), None


def _grouped(
    results: Sequence[QuestionResult], key: Callable[[Question], str | None]
) -> dict[str, Figures]:
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        name = key(r.question)
        if name:
            groups.setdefault(name, []).append(r)
    return {name: aggregate(group) for name, group in sorted(groups.items())}


def evaluate(
    questions: Sequence[Question],
    ask: Callable[[str], Answer],
    output_dir: Path | None = None,
    config: Mapping[str, Any] | None = None,
    progress: bool = True,
    *,
    skipped_lines: Sequence[tuple[int, str]] = (),
) -> EvalSummary:
    """Runs every question through ``ask``, scores it, and writes the report when asked to."""
    from tqdm import tqdm

    results: list[QuestionResult] = []
    errors = 0
    for question in tqdm(questions, desc="eval", unit="q", disable=not progress):
        answer, latency, error = _ask_one(ask, question)
        errors += error is not None
        results.append(
            QuestionResult(question, answer, latency, question_metrics(question, answer), error)
        )
    summary = EvalSummary(
        overall=aggregate(results),
        by_split=_grouped(results, lambda q: q.split),
        by_kind=_grouped(results, lambda q: q.kind),
        results=tuple(results),
        config=dict(config or {}),
        version=__version__,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        skipped_lines=tuple(skipped_lines),
        errors=errors,
    )
    if output_dir is not None:
        files = write_report(summary, Path(output_dir))
        summary = replace(summary, files=tuple(files))
    return summary


def run_evaluation(
    path: str | Path,
    ask: Callable[[str], Answer],
    output_dir: Path | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    limit: int | None = None,
    strip_diacritics: bool = False,
    progress: bool = True,
    on_skipped_line: Callable[[int, str], None] | None = None,
) -> EvalSummary:
    """Loads a question set, reports its malformed lines, keeps one split (and its first
    ``limit`` questions), and evaluates. ``strip_diacritics`` asks every question without its
    marks, as citizens often type them; the results record the question as asked."""
    question_set = load_question_set(path)
    if on_skipped_line is not None:
        for number, reason in question_set.errors:
            on_skipped_line(number, reason)
    questions = question_set.select(split)[:limit]
    if strip_diacritics:
        questions = tuple(replace(q, question=_strip_marks(q.question)) for q in questions)
    run_config = {
        "questions_file": str(path),
        "split": split or "all",
        "diacritics": "stripped" if strip_diacritics else "as written",
        **dict(config or {}),
    }
    return evaluate(
        questions,
        ask,
        output_dir,
        run_config,
        progress,
        skipped_lines=question_set.errors,
    )
