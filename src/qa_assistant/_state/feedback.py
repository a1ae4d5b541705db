"""Thumbs up/down and comments on answers, kept in the state database, exportable for review.

Each row keeps the question, the answer text and its citations as JSON, so a bad answer can be
read, judged and turned into an evaluation question without the session that produced it.
The rows live in SQLite beside the index, or in PostgreSQL when ``QA_FEEDBACK__URL`` is set so
that every replica writes to one place (:mod:`.state_db` says how both are served by one code
path). Each call is one short transaction, safe from the UI's worker threads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from sqlalchemy import CheckConstraint, Column, Integer, Row, Text, delete, insert, select
from sqlalchemy import update as sql_update

from ..errors import FeedbackError
from ..types import Answer, Filters
from .database import (
    STATE_FILENAME,
    TableStore,
    clean_text,
    open_state_database,
    state_path,
    state_table,
    transaction,
    utc_now,
)

if TYPE_CHECKING:
    from ..settings import Settings

Rating = Literal["up", "down"]
ExportFormat = Literal["jsonl", "csv", "questions"]

FEEDBACK_FILENAME = STATE_FILENAME
RATINGS: tuple[Rating, ...] = ("up", "down")

FEEDBACK_TABLE = state_table(
    "feedback",
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("rating", Text, CheckConstraint("rating IN ('up', 'down')"), nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("abstained", Integer, nullable=False),
    Column("citations", Text, nullable=False),
    Column("history", Text, nullable=False, server_default="[]"),
    Column("filters", Text, nullable=False, server_default="{}"),
)

_COLUMNS = tuple(FEEDBACK_TABLE.columns.keys())


def feedback_path(index_dir: Path) -> Path:
    """Where feedback is kept without ``QA_FEEDBACK__URL``: beside the index."""
    return state_path(index_dir)


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


class FeedbackStore(TableStore):
    """Feedback rows in the state database (:class:`~.database.TableStore`)."""

    table = FEEDBACK_TABLE
    error = FeedbackError

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
        now = utc_now()
        row = {
            "created_at": now,
            "updated_at": now,
            "rating": checked,
            "comment": clean_text(comment.strip()),
            "question": clean_text(answer.question),
            "answer": clean_text(answer.text),
            "abstained": int(answer.abstained),
            "citations": json.dumps(citations, ensure_ascii=False),
            "history": json.dumps(list(history), ensure_ascii=False),
            "filters": json.dumps(_filters_dict(filters), ensure_ascii=False),
        }
        with transaction(self.database, FeedbackError, "save feedback") as conn:
            key = conn.execute(insert(FEEDBACK_TABLE).values(row)).inserted_primary_key
        if key is None or key[0] is None:  # pragma: no cover - both databases return the id
            raise FeedbackError("Could not save feedback: no row id returned.")
        return int(key[0])

    def update(self, row_id: int, *, rating: str | None = None, comment: str | None = None) -> None:
        """Changes the rating and/or the comment of an existing row."""
        values: dict[str, Any] = {"updated_at": utc_now()}
        if rating is not None:
            values["rating"] = _check_rating(rating)
        if comment is not None:
            values["comment"] = clean_text(comment.strip())
        statement = sql_update(FEEDBACK_TABLE).where(FEEDBACK_TABLE.c.id == row_id).values(values)
        with transaction(self.database, FeedbackError, "update feedback") as conn:
            changed = conn.execute(statement).rowcount
        if changed == 0:
            raise FeedbackError(f"No feedback row {row_id}.")

    def delete(self, row_id: int) -> None:
        """Forgets a rating (the user took their thumb back)."""
        with transaction(self.database, FeedbackError, "delete feedback") as conn:
            conn.execute(delete(FEEDBACK_TABLE).where(FEEDBACK_TABLE.c.id == row_id))

    def records(self, *, rating: str | None = None) -> list[FeedbackRecord]:
        """All rows, oldest first; only one rating when ``rating`` is given."""
        query = select(FEEDBACK_TABLE).order_by(FEEDBACK_TABLE.c.id)
        if rating is not None:
            query = query.where(FEEDBACK_TABLE.c.rating == _check_rating(rating))
        with transaction(self.database, FeedbackError, "read feedback") as conn:
            rows = conn.execute(query).all()
        return [_record(row) for row in rows]


def _record(row: Row[Any]) -> FeedbackRecord:
    values = row._mapping
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


def open_feedback_store(settings: Settings, *, existing: bool = False) -> FeedbackStore:
    """The configured store: PostgreSQL at ``QA_FEEDBACK__URL``, else SQLite beside the index.

    ``existing``: refuse a missing SQLite file rather than create it (for exports).
    """
    existing_name = "feedback database" if existing else None
    database = open_state_database(settings, error=FeedbackError, existing=existing_name)
    return FeedbackStore(database)


def export_feedback(
    store: FeedbackStore,
    out: TextIO,
    fmt: ExportFormat | str = "jsonl",
    *,
    rating: str | None = None,
) -> int:
    """Writes feedback rows to ``out``; returns how many were written.

    ``jsonl`` and ``csv`` write every row (in CSV the citations, history and filters columns
    hold JSON, so nothing is lost); ``questions`` writes question-set lines drafted from the
    thumbs-down rows (see :func:`export_eval_questions`). ``rating`` keeps one rating only.
    """
    if fmt == "questions":
        return export_eval_questions(store, out, rating=rating or "down")
    records = store.records(rating=rating)
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


def export_eval_questions(store: FeedbackStore, out: TextIO, *, rating: str | None = "down") -> int:
    """Writes question-set JSON lines drafted from feedback (by default the thumbs-down rows)."""
    records = store.records(rating=rating)
    for line in eval_questions(records):
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return len(records)


__all__ = [
    "FEEDBACK_FILENAME",
    "FEEDBACK_TABLE",
    "ExportFormat",
    "FeedbackError",
    "FeedbackRecord",
    "FeedbackStore",
    "Rating",
    "eval_questions",
    "export_eval_questions",
    "export_feedback",
    "feedback_path",
    "open_feedback_store",
    "to_eval_question",
]
