"""Question sets, evaluation metrics, the evaluation runner and its report.

The metrics are small pure functions over plain values (strings, :class:`Answer`), so they can be
unit-tested on hand-made cases and recomputed from ``results.jsonl`` by anyone. The runner only
needs a ``Callable[[str], Answer]``: it never touches the index, the embedder or an LLM itself,
which keeps a run reproducible with any configuration the caller builds.

Every definition here is documented for users in ``eval/README.md``; keep the two in step.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from . import __version__
from ._vietnamese import strip_diacritics as _strip_marks
from .errors import QAError, QuestionSetError
from .types import CITATION_MARKER, Answer, Citation

# --- metric names, in report order -------------------------------------------------------------

RETRIEVAL_METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")
ANSWER_METRICS = ("containment", "token_f1")
CITATION_METRICS = ("citation_validity", "citation_support")
PER_QUESTION_METRICS = RETRIEVAL_METRICS + ANSWER_METRICS + CITATION_METRICS
ABSTENTION_METRICS = ("abstention_precision", "abstention_recall", "false_abstention_rate")
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms")
ALL_METRICS = PER_QUESTION_METRICS + ABSTENTION_METRICS + LATENCY_METRICS

RETRIEVAL_DEPTH = 10  # hits looked at by the retrieval metrics (and kept in results.jsonl)
HIT_RANKS = (1, 5, 10)

# A retrieved passage is relevant to an evidence text when they share one unbroken run of
# characters (after normalisation) at least this share of the shorter of the two ...
RELEVANCE_SHARE = 0.5
# ... and at least this many characters (or the whole evidence, when it is shorter), so that a
# heading or a stray phrase that happens to sit inside the evidence does not count as finding it.
RELEVANCE_MIN_CHARS = 40

WORST_QUESTIONS = 10

_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


# --- question sets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One line of a question-set file (format: ``/work/shared/benchmarks/README.md``)."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    answerable: bool = True
    kind: str | None = None
    split: str | None = None
    line: int = 0  # 1-based line in the file, for messages


@dataclass(frozen=True)
class QuestionSet:
    """The usable questions of a file and, for each line that could not be used, why."""

    path: Path
    questions: tuple[Question, ...]
    errors: tuple[tuple[int, str], ...] = ()

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(sorted({q.split for q in self.questions if q.split}))

    def select(self, split: str | None = None) -> tuple[Question, ...]:
        """The questions of one split (all of them when ``split`` is None)."""
        if split is None:
            return self.questions
        chosen = tuple(q for q in self.questions if q.split == split)
        if not chosen:
            known = ", ".join(self.splits) or "none"
            raise QuestionSetError(
                f"{self.path} has no questions in split {split!r} (splits in the file: {known})."
            )
        return chosen


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class QuestionRow(BaseModel):
    """The checks on one line of a question-set file; :func:`parse_question` turns it into a
    :class:`Question`. Strict: ``"answerable": "no"`` or ``"answers": "x"`` are mistakes to
    report, not values to guess at."""

    model_config = ConfigDict(strict=True, frozen=True)

    id: _Text
    question: _Text
    answers: list[str] = []
    evidence: list[str] = []
    sources: list[str] = []
    answerable: bool = True
    kind: _Text | None = None
    split: _Text | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _numeric_id(cls, value: object) -> object:
        # Numbered sets (1, 2, 3 ...) are common; a JSON true is not an id.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("answers", "evidence", "sources")
    @classmethod
    def _drop_blank(cls, values: list[str]) -> list[str]:
        return [_nfc(v) for v in values if v.strip()]

    @model_validator(mode="after")
    def _unanswerable_has_no_gold(self) -> QuestionRow:
        if not self.answerable and (self.answers or self.evidence):
            raise ValueError("an unanswerable question cannot have `answers` or `evidence`")
        return self


def _reason(exc: ValidationError) -> str:
    """pydantic's errors as one line: "`answers`: Input should be a valid list"."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if not where and error["type"] == "model_type":
            message = "a line must hold a JSON object"
        parts.append(f"`{where}`: {message}" if where else message)
    return "; ".join(parts)


def parse_question(obj: object, line: int = 0) -> Question:
    """Validates one decoded JSON line; raises ValueError saying what is wrong with it."""
    try:
        row = QuestionRow.model_validate(obj)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None
    return Question(
        id=row.id,
        question=_nfc(row.question),
        answers=tuple(row.answers),
        evidence=tuple(row.evidence),
        sources=tuple(row.sources),
        answerable=row.answerable,
        kind=row.kind,
        split=row.split,
        line=line,
    )


def parse_question_lines(lines: Iterable[str]) -> tuple[list[Question], list[tuple[int, str]]]:
    """Parses JSON Lines; a bad line becomes ``(line_number, reason)`` and parsing goes on."""
    questions: list[Question] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            question = parse_question(json.loads(raw), number)
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON ({exc.msg}, column {exc.colno})"))
            continue
        except ValueError as exc:
            errors.append((number, str(exc)))
            continue
        if question.id in seen:
            errors.append(
                (number, f"duplicate id {question.id!r} (first on line {seen[question.id]})")
            )
            continue
        seen[question.id] = number
        questions.append(question)
    return questions, errors


def load_question_set(path: str | Path) -> QuestionSet:
    """Reads a question-set file. Raises QuestionSetError only when nothing in it is usable."""
    path = Path(path)
    try:
        # utf-8-sig: files saved by spreadsheet tools often start with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionSetError(f"Question set {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(
            f"Question set {path} cannot be read ({exc}); save it as UTF-8 JSON Lines."
        ) from None
    if not text.strip():
        raise QuestionSetError(f"Question set {path} is empty; add one JSON object per line.")
    questions, errors = parse_question_lines(text.splitlines())
    if not questions:
        first = f" (line {errors[0][0]}: {errors[0][1]})" if errors else ""
        raise QuestionSetError(
            f"Question set {path} has no valid question{first}; see eval/README.md for the format."
        )
    return QuestionSet(path=path, questions=tuple(questions), errors=tuple(errors))


# --- normalisation ------------------------------------------------------------------------------


def normalize_for_match(text: str) -> str:
    """NFC, case-folded, whitespace collapsed: the form every comparison here works on."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return _WHITESPACE.sub(" ", folded).strip()


def strip_markers(text: str) -> str:
    """Removes ``[n]`` markers, which may sit inside a quoted span and split a gold answer."""
    return CITATION_MARKER.sub(" ", text)


def tokens(text: str) -> list[str]:
    """Word tokens for F1: runs of letters/digits (Vietnamese syllables) of the normalised text."""
    return _WORD.findall(normalize_for_match(strip_markers(text)))


# --- relevance ----------------------------------------------------------------------------------


def _common_prefix_len(a: str, i: int, b: str, j: int) -> int:
    """Length of the longest common prefix of a[i:] and b[j:] (binary search on C-level slices)."""
    lo, hi = 0, min(len(a) - i, len(b) - j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i : i + mid] == b[j : j + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix_len(a: str, i: int, b: str, j: int) -> int:
    """Length of the longest common suffix of a[:i] and b[:j]."""
    lo, hi = 0, min(i, j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i - mid : i] == b[j - mid : j]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def has_common_run(a: str, b: str, length: int) -> bool:
    """Whether ``a`` and ``b`` share a substring of at least ``length`` characters.

    A full longest-common-substring search (difflib) costs ~20 ms per passage pair, too slow for
    700 questions × 10 passages. Deciding the threshold is cheaper: any shared run of
    ``length`` characters contains a whole block of ``ceil(length / 2)`` characters at a block
    boundary of the shorter string, so only those blocks are searched for (``str.find``) and
    each occurrence is extended both ways.
    """
    if length <= 0:
        return True
    if len(a) > len(b):
        a, b = b, a
    if len(a) < length:
        return False
    if a in b:
        return True
    block = (length + 1) // 2
    for i in range(0, len(a) - block + 1, block):
        piece = a[i : i + block]
        j = b.find(piece)
        while j != -1:
            run = (
                _common_suffix_len(a, i, b, j)
                + block
                + _common_prefix_len(a, i + block, b, j + block)
            )
            if run >= length:
                return True
            j = b.find(piece, j + 1)
    return False


def relevance_threshold(passage_len: int, evidence_len: int) -> int:
    """Characters of shared run a passage needs to count as relevant to an evidence text."""
    share = math.ceil(RELEVANCE_SHARE * min(passage_len, evidence_len))
    return max(1, share, min(RELEVANCE_MIN_CHARS, evidence_len))


def is_relevant(passage: str, evidence: str) -> bool:
    """The relevance rule: see the module constants and eval/README.md."""
    p, e = normalize_for_match(passage), normalize_for_match(evidence)
    if not p or not e:
        return False
    return has_common_run(p, e, relevance_threshold(len(p), len(e)))


def relevant_to_any(passage: str, evidence: Sequence[str]) -> bool:
    return any(is_relevant(passage, e) for e in evidence)


# --- retrieval metrics --------------------------------------------------------------------------


def hit_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def mrr_at(flags: Sequence[bool], k: int = RETRIEVAL_DEPTH) -> float:
    for rank, relevant in enumerate(flags[:k], start=1):
        if relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(flags: Sequence[bool], k: int = RETRIEVAL_DEPTH, missing: int = 0) -> float:
    """Binary-relevance nDCG@k.

    The collection's true number of relevant passages is unknown, so the ideal ranking holds the
    relevant passages that were retrieved plus one per evidence text that no retrieved passage
    covers (``missing``): a multi-passage question that finds only one of its passages cannot
    score 1, while one passage that holds all the evidence can.
    """
    dcg = sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(flags[:k], start=1) if rel)
    ideal_count = min(k, sum(flags[:k]) + missing)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_count + 1))
    return dcg / idcg if idcg else 0.0


def retrieval_metrics(passages: Sequence[str], evidence: Sequence[str]) -> dict[str, float]:
    """hit@1/5/10, MRR@10 and nDCG@10 of passages (in rank order) against gold evidence."""
    top = list(passages[:RETRIEVAL_DEPTH])
    matrix = [[is_relevant(p, e) for e in evidence] for p in top]
    flags = [any(row) for row in matrix]
    missing = sum(1 for col in range(len(evidence)) if not any(row[col] for row in matrix))
    figures = {f"hit@{k}": hit_at(flags, k) for k in HIT_RANKS}
    figures["mrr@10"] = mrr_at(flags)
    figures["ndcg@10"] = ndcg_at(flags, missing=missing)
    return figures


# --- answer metrics -----------------------------------------------------------------------------


def containment(answer: str, golds: Sequence[str]) -> float:
    """1.0 when the answer (markers removed, normalised) contains some gold answer."""
    text = normalize_for_match(strip_markers(answer))
    return 1.0 if any(g and normalize_for_match(g) in text for g in golds if g.strip()) else 0.0


def token_f1(answer: str, gold: str) -> float:
    """SQuAD-style F1 over word tokens (bags, so repeated words count as often as they occur)."""
    predicted, expected = tokens(answer), tokens(gold)
    if not predicted or not expected:
        return 1.0 if predicted == expected else 0.0
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_token_f1(answer: str, golds: Sequence[str]) -> float:
    return max((token_f1(answer, g) for g in golds), default=0.0)


# --- citation metrics ---------------------------------------------------------------------------


def citation_validity(answer_text: str, citations: Sequence[Citation]) -> float:
    """1.0 when the answer cites, every ``[n]`` names a returned citation, and every quote
    occurs verbatim in its passage. An answer without any marker fails: answers must cite.

    Bracketed numbers inside a quoted passage ("TOEIC[400]") are the document's own text, not
    markers: the quotes are taken out of the answer before markers are read."""
    for c in citations:
        # Answers may drop the quote's closing punctuation before the marker.
        quoted = c.quote.rstrip(" .;:!?…")
        if quoted:
            answer_text = answer_text.replace(quoted, " ")
    markers = {int(m) for m in CITATION_MARKER.findall(answer_text)}
    if not markers:
        return 0.0
    known = {c.marker for c in citations}
    if not markers <= known:
        return 0.0
    for c in citations:
        if not c.quote or _nfc(c.quote) not in _nfc(c.passage):
            return 0.0
    return 1.0


def citation_support(citations: Sequence[Citation], evidence: Sequence[str]) -> float:
    """1.0 when some cited passage is relevant to the gold evidence."""
    return 1.0 if any(relevant_to_any(c.passage, evidence) for c in citations) else 0.0


# --- per question -------------------------------------------------------------------------------


def question_metrics(question: Question, answer: Answer) -> dict[str, float | None]:
    """Every per-question metric; None where it does not apply to this question.

    Retrieval metrics need evidence; answer metrics need gold answers; citation validity needs
    an answer that did not abstain; citation support needs both evidence and such an answer.
    Unanswerable questions are judged only by the abstention metrics.
    """
    values: dict[str, float | None] = dict.fromkeys(PER_QUESTION_METRICS)
    if not question.answerable:
        return values
    if question.evidence:
        passages = [h.chunk.text for h in answer.hits[:RETRIEVAL_DEPTH]]
        values.update(retrieval_metrics(passages, question.evidence))
    if question.answers:
        values["containment"] = containment(answer.text, question.answers)
        values["token_f1"] = best_token_f1(answer.text, question.answers)
    if not answer.abstained:
        values["citation_validity"] = citation_validity(answer.text, answer.citations)
        if question.evidence:
            values["citation_support"] = citation_support(answer.citations, question.evidence)
    return values


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
            "citations": shown["citations"],
            "retrieved": shown["retrieved"],
            "warnings": shown["warnings"],
            "latency_ms": round(self.latency_ms, 2),
            "metrics": dict(self.metrics),
            "error": self.error,
        }


def question_score(result: QuestionResult) -> float:
    """One number per question to rank the worst ones: the mean of its metrics that apply;
    for an unanswerable question, 1 when it abstained and 0 when it answered."""
    if not result.question.answerable:
        return 1.0 if result.answer.abstained else 0.0
    keys = ("containment", "token_f1", "mrr@10", "citation_support")
    values = [v for k in keys if (v := result.metrics.get(k)) is not None]
    if not values:
        values = [v for v in result.metrics.values() if v is not None]
    return sum(values) / len(values) if values else 0.0


# --- aggregation --------------------------------------------------------------------------------


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


def _grouped(
    results: Sequence[QuestionResult], key: Callable[[Question], str | None]
) -> dict[str, Figures]:
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        name = key(r.question)
        if name:
            groups.setdefault(name, []).append(r)
    return {name: aggregate(group) for name, group in sorted(groups.items())}


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


# --- the runner ---------------------------------------------------------------------------------


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


# --- the report ---------------------------------------------------------------------------------


def format_value(name: str, value: float | None) -> str:
    """How report.md shows a metric: 3 decimals for rates, 1 decimal for milliseconds."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if name.endswith("_ms") else f"{value:.3f}"


def _md_cell(text: str, limit: int = 90) -> str:
    text = _WHITESPACE.sub(" ", text).strip().replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _metrics_table(columns: Mapping[str, Figures]) -> list[str]:
    names = list(columns)
    lines = [
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        "| questions | " + " | ".join(str(f.questions) for f in columns.values()) + " |",
    ]
    for metric in ALL_METRICS:
        cells = [
            f"{format_value(metric, f.metrics.get(metric))} ({f.counts.get(metric, 0)})"
            for f in columns.values()
        ]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def render_report(summary: EvalSummary, plots: Sequence[str] = ()) -> str:
    config = summary.config
    lines = [
        "# Evaluation report",
        "",
        f"- date: {summary.date}",
        f"- qa-assistant version: {summary.version}",
    ]
    lines += [f"- {key}: {'—' if value is None else value}" for key, value in config.items()]
    lines += [
        f"- questions: {summary.overall.questions}"
        f" (answerable {sum(r.question.answerable for r in summary.results)},"
        f" unanswerable {sum(not r.question.answerable for r in summary.results)})",
    ]
    if summary.errors:
        lines.append(f"- questions that failed with an error: {summary.errors}")
    if summary.skipped_lines:
        lines.append(f"- malformed lines skipped: {len(summary.skipped_lines)}")
        lines += [f"  - line {n}: {_md_cell(e)}" for n, e in summary.skipped_lines]
    lines += [
        "",
        "## Metrics",
        "",
        "Each cell is the value and, in brackets, how many questions it is computed over "
        "(metrics that do not apply to a question leave it out; see eval/README.md).",
        "",
    ]
    lines += _metrics_table(
        {"all": summary.overall, **{f"split: {k}": v for k, v in summary.by_split.items()}}
    )
    if summary.by_kind:
        lines += ["", "## By kind", ""]
        lines += _metrics_table(dict(summary.by_kind))
    worst = sorted(summary.results, key=lambda r: (question_score(r), r.question.id))[
        :WORST_QUESTIONS
    ]
    lines += [
        "",
        "## Worst questions",
        "",
        "| id | kind | score | question | answer |",
        "|---|---|---:|---|---|",
    ]
    for r in worst:
        shown = (
            "(abstained)"
            if r.answer.abstained
            else (r.error and f"error: {r.error}") or r.answer.text
        )
        lines.append(
            f"| {r.question.id} | {r.question.kind or ''} | {question_score(r):.3f} "
            f"| {_md_cell(r.question.question)} | {_md_cell(shown)} |"
        )
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def hit_rate_curve(results: Sequence[QuestionResult], depth: int = RETRIEVAL_DEPTH) -> list[float]:
    """Share of questions with evidence that have a relevant passage within rank 1..depth."""
    firsts: list[int | None] = []
    for r in results:
        mrr = r.metrics.get("mrr@10")
        if mrr is None:
            continue
        # mrr@10 is 1/rank of the first relevant passage, so the rank can be read back from it.
        firsts.append(round(1 / mrr) if mrr > 0 else None)
    if not firsts:
        return []
    return [
        sum(1 for f in firsts if f is not None and f <= k) / len(firsts)
        for k in range(1, depth + 1)
    ]


def _plot(summary: EvalSummary, output_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    written: list[str] = []
    by_kind: dict[str, list[QuestionResult]] = {}
    for r in summary.results:
        if r.question.kind:
            by_kind.setdefault(r.question.kind, []).append(r)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ranks = list(range(1, RETRIEVAL_DEPTH + 1))
    overall = hit_rate_curve(summary.results)
    if overall:
        ax.plot(ranks, overall, marker="o", linewidth=2.5, color="black", label="all")
    for kind, group in sorted(by_kind.items()):
        curve = hit_rate_curve(group)
        if curve:
            ax.plot(ranks, curve, marker=".", linewidth=1, alpha=0.8, label=kind)
    ax.set(xlabel="rank k", ylabel="hit rate (relevant passage in top k)", ylim=(0, 1.02))
    ax.set_xticks(ranks)
    ax.set_title("Retrieval hit rate by rank")
    ax.grid(alpha=0.3)
    if overall or by_kind:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(output_dir / "hit_rate_by_rank.png", dpi=110)
    plt.close(fig)
    written.append("hit_rate_by_rank.png")

    latencies = [r.latency_ms for r in summary.results]
    panels = 2 if by_kind else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    axes[0][0].hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="steelblue")
    axes[0][0].set(xlabel="latency (ms)", ylabel="questions", title="Latency distribution")
    if by_kind:
        kinds = sorted(by_kind)
        axes[0][1].boxplot(
            [[r.latency_ms for r in by_kind[k]] for k in kinds], orientation="horizontal"
        )
        axes[0][1].set_yticks(range(1, len(kinds) + 1), kinds)
        axes[0][1].set(xlabel="latency (ms)", title="Latency by kind")
    fig.tight_layout()
    fig.savefig(output_dir / "latency.png", dpi=110)
    plt.close(fig)
    written.append("latency.png")
    return written


def write_report(summary: EvalSummary, output_dir: Path) -> list[Path]:
    """Writes results.jsonl, summary.json, report.md and the plots; returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results_path = output_dir / "results.jsonl"
    with results_path.open("w", encoding="utf-8") as fh:
        for r in summary.results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    summary_path = output_dir / "summary.json"
    summary_path.write_text(
        json.dumps(summary.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    plots = _plot(summary, output_dir)
    report_path = output_dir / "report.md"
    report_path.write_text(render_report(summary, plots), encoding="utf-8")
    return [results_path, summary_path, report_path, *(output_dir / p for p in plots)]


__all__ = [
    "ALL_METRICS",
    "EvalSummary",
    "Figures",
    "Question",
    "QuestionResult",
    "QuestionRow",
    "QuestionSet",
    "abstention_metrics",
    "aggregate",
    "best_token_f1",
    "citation_support",
    "citation_validity",
    "containment",
    "evaluate",
    "has_common_run",
    "hit_at",
    "is_relevant",
    "load_question_set",
    "mrr_at",
    "ndcg_at",
    "normalize_for_match",
    "parse_question",
    "parse_question_lines",
    "percentile",
    "question_metrics",
    "relevance_threshold",
    "render_report",
    "retrieval_metrics",
    "run_evaluation",
    "token_f1",
    "write_report",
]
