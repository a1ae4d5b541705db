"""Thumbs up/down and comments on answers, kept in SQLite, exportable for review.

Each row keeps the question, the answer text and its citations as JSON, so a bad answer can be
read, judged and turned into an evaluation question without the session that produced it.
The store opens one short-lived connection per call: the UI calls it from several worker
threads, and SQLite connections must not cross threads.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from .errors import FeedbackError
from .types import Answer, Filters

Rating = Literal["up", "down"]
ExportFormat = Literal["jsonl", "csv", "questions"]

FEEDBACK_FILENAME = "feedback.sqlite3"
RATINGS: tuple[Rating, ...] = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    citations TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    filters TEXT NOT NULL DEFAULT '{}'
)
"""

_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "rating",
    "comment",
    "question",
    "answer",
    "abstained",
    "citations",
    "history",
    "filters",
)


def feedback_path(index_dir: Path) -> Path:
    """Where the UI keeps feedback: beside the index, so one folder holds the whole state."""
    return index_dir / FEEDBACK_FILENAME


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    created_at: str
    updated_at: str
    rating: Rating
    comment: str
    question: str
    answer: str
    abstained: bool
    citations: tuple[dict[str, Any], ...]
    history: tuple[str, ...]
    filters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "rating": self.rating,
            "comment": self.comment,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": list(self.citations),
            "history": list(self.history),
            "filters": self.filters,
        }


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One short-lived connection to the state database (also used by :mod:`.audit`)."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        with conn:  # commits, or rolls back on error
            yield conn
    finally:
        conn.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_rating(rating: str) -> Rating:
    if rating not in RATINGS:
        raise FeedbackError(f"Unknown rating {rating!r}: use 'up' or 'down'.")
    return rating


def _filters_dict(filters: Filters | None) -> dict[str, Any]:
    if filters is None or filters.is_empty():
        return {}
    return {
        "sources": list(filters.sources),
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
    }


class FeedbackStore:
    """Feedback rows in one SQLite file; created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackError(
                f"Cannot open the feedback store {path}: {exc}. "
                "Check that the index folder is writable."
            ) from exc

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    def record(
        self,
        answer: Answer,
        rating: str,
        *,
        comment: str = "",
        history: Sequence[str] = (),
        filters: Filters | None = None,
    ) -> int:
        """Stores a rating of ``answer`` and returns the row id (to update it later)."""
        checked = _check_rating(rating)
        citations = answer.to_dict(retrieved=0)["citations"]
        now = _now()
        try:
            with self._connect() as conn:
                cursor = conn.execute(
                    "INSERT INTO feedback (created_at, updated_at, rating, comment, question,"
                    " answer, abstained, citations, history, filters)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        now,
                        checked,
                        comment.strip(),
                        answer.question,
                        answer.text,
                        int(answer.abstained),
                        json.dumps(citations, ensure_ascii=False),
                        json.dumps(list(history), ensure_ascii=False),
                        json.dumps(_filters_dict(filters), ensure_ascii=False),
                    ),
                )
                row_id = cursor.lastrowid
        except sqlite3.Error as exc:
            raise FeedbackError(f"Could not save feedback: {exc}") from exc
        if row_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise FeedbackError("Could not save feedback: no row id returned.")
        return row_id

    def update(self, row_id: int, *, rating: str | None = None, comment: str | None = None) -> None:
        """Changes the rating and/or the comment of an existing row."""
        sets: list[str] = ["updated_at = ?"]
        values: list[Any] = [_now()]
        if rating is not None:
            sets.append("rating = ?")
            values.append(_check_rating(rating))
        if comment is not None:
            sets.append("comment = ?")
            values.append(comment.strip())
        try:
            with self._connect() as conn:
                cursor = conn.execute(
                    f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", (*values, row_id)
                )
        except sqlite3.Error as exc:
            raise FeedbackError(f"Could not update feedback: {exc}") from exc
        if cursor.rowcount == 0:
            raise FeedbackError(f"No feedback row {row_id}.")

    def delete(self, row_id: int) -> None:
        """Forgets a rating (the user took their thumb back)."""
        try:
            with self._connect() as conn:
                conn.execute("DELETE FROM feedback WHERE id = ?", (row_id,))
        except sqlite3.Error as exc:
            raise FeedbackError(f"Could not delete feedback: {exc}") from exc

    def records(self, *, rating: str | None = None) -> list[FeedbackRecord]:
        """All rows, oldest first; only one rating when ``rating`` is given."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM feedback"
        params: tuple[Any, ...] = ()
        if rating is not None:
            query += " WHERE rating = ?"
            params = (_check_rating(rating),)
        try:
            with self._connect() as conn:
                rows = conn.execute(query + " ORDER BY id", params).fetchall()
        except sqlite3.Error as exc:
            raise FeedbackError(f"Could not read feedback: {exc}") from exc
        return [_record(row) for row in rows]


def _record(row: Sequence[Any]) -> FeedbackRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    return FeedbackRecord(
        id=int(values["id"]),
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        rating=values["rating"],
        comment=values["comment"],
        question=values["question"],
        answer=values["answer"],
        abstained=bool(values["abstained"]),
        citations=tuple(json.loads(values["citations"])),
        history=tuple(json.loads(values["history"])),
        filters=json.loads(values["filters"]),
    )


def _open_existing(db_path: Path) -> FeedbackStore:
    # Exporting must not conjure an empty database out of a mistyped path.
    if not db_path.is_file():
        raise FeedbackError(
            f"No feedback database at {db_path}. Feedback is stored in "
            f"<index_dir>/{FEEDBACK_FILENAME} once someone rates an answer."
        )
    return FeedbackStore(db_path)


def export_feedback(
    db_path: Path, out: TextIO, fmt: ExportFormat | str = "jsonl", *, rating: str | None = None
) -> int:
    """Writes feedback rows to ``out``; returns how many were written.

    ``jsonl`` and ``csv`` write every row (in CSV the citations, history and filters columns
    hold JSON, so nothing is lost); ``questions`` writes question-set lines drafted from the
    thumbs-down rows (see :func:`export_eval_questions`). ``rating`` keeps one rating only.
    """
    if fmt == "questions":
        return export_eval_questions(db_path, out, rating=rating or "down")
    records = _open_existing(db_path).records(rating=rating)
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            for key in ("citations", "history", "filters"):
                row[key] = json.dumps(row[key], ensure_ascii=False)
            writer.writerow(row)
    else:
        raise FeedbackError(f"Unknown export format {fmt!r}: use jsonl, csv or questions.")
    return len(records)


def to_eval_question(record: FeedbackRecord) -> dict[str, Any]:
    """One question-set line drafted from a feedback row.

    ``answers`` is left empty on purpose: a rated answer is not a reference answer, and staff
    fill it in when they review the line. The cited quotes become the evidence to check.
    A question counts as unanswerable only when the assistant abstained and the user agreed
    (thumbs up); a thumbs-down on an abstention says the documents do answer it.
    """
    answerable = not (record.abstained and record.rating == "up")
    citations = record.citations if answerable else ()
    return {
        "id": f"feedback-{record.id}",
        "question": record.question,
        "answers": [],
        "evidence": [str(c["quote"]) for c in citations],
        "sources": list(dict.fromkeys(str(c["source"]) for c in citations)),
        "answerable": answerable,
        "kind": "feedback",
        "notes": _eval_notes(record),
    }


def _eval_notes(record: FeedbackRecord) -> str:
    parts = [f"rating={record.rating}"]
    if record.comment:
        parts.append(f"comment={record.comment}")
    parts.append(f"assistant answer={record.answer}")
    return "; ".join(parts)


def eval_questions(records: Iterable[FeedbackRecord]) -> list[dict[str, Any]]:
    return [to_eval_question(record) for record in records]


def export_eval_questions(db_path: Path, out: TextIO, *, rating: str | None = "down") -> int:
    """Writes question-set JSON lines drafted from feedback (by default the thumbs-down rows)."""
    records = _open_existing(db_path).records(rating=rating)
    for line in eval_questions(records):
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(records)


__all__ = [
    "FEEDBACK_FILENAME",
    "ExportFormat",
    "FeedbackError",
    "FeedbackRecord",
    "FeedbackStore",
    "Rating",
    "connect",
    "eval_questions",
    "export_eval_questions",
    "export_feedback",
    "feedback_path",
    "to_eval_question",
]
