"""Question sets: the lines of a question-set file, checked, and the questions they hold."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import QuestionSetError


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


def nfc(text: str) -> str:
    """Unicode NFC: question sets and answers compose their diacritics the same way."""
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
        return [nfc(v) for v in values if v.strip()]

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
        question=nfc(row.question),
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
