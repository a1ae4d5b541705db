"""Feedback store, exports and the drafting of evaluation questions from feedback."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from qa_assistant.errors import QAError
from qa_assistant.evaluation import parse_question
from qa_assistant.feedback import (
    FeedbackError,
    FeedbackStore,
    export_eval_questions,
    export_feedback,
    feedback_path,
    open_feedback_store,
    to_eval_question,
)
from qa_assistant.settings import Settings
from qa_assistant.types import Answer, Citation, Filters

QUOTE = "UBND tỉnh Quảng Ninh quyết định hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố"


def _answer(abstained: bool = False) -> Answer:
    if abstained:
        return Answer(question="Thủ đô của Pháp?", text="Tài liệu không đề cập.", abstained=True)
    citation = Citation(
        marker=1,
        source="quang-ninh-an-sinh-xa-hoi-2026.txt",
        title="Quảng Ninh: an sinh xã hội",
        heading="Lan tỏa tinh thần nhân văn",
        passage=f"Theo đó, {QUOTE} để tổ chức đón Tết.",
        quote=QUOTE,
        start=100,
        end=100 + len(QUOTE),
        date=date(2026, 2, 1),
    )
    return Answer(
        question="Mỗi thôn được hỗ trợ bao nhiêu?",
        text=f"{QUOTE} [1]",
        abstained=False,
        citations=(citation,),
    )


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(feedback_path(tmp_path / "index"))


def test_record_keeps_question_answer_and_citations(store: FeedbackStore) -> None:
    filters = Filters(sources=("quang-ninh-an-sinh-xa-hoi-2026.txt",))
    row = store.record(
        _answer(), "down", comment=" thiếu ", history=("Hộ nghèo?",), filters=filters
    )

    [record] = store.records()
    assert record.id == row
    assert record.rating == "down"
    assert record.comment == "thiếu"
    assert record.question == "Mỗi thôn được hỗ trợ bao nhiêu?"
    assert record.citations[0]["quote"] == QUOTE
    assert record.citations[0]["date"] == "2026-02-01"
    assert record.history == ("Hộ nghèo?",)
    assert record.filters["sources"] == ["quang-ninh-an-sinh-xa-hoi-2026.txt"]
    # Raw SQLite: what staff tools see (Vietnamese kept readable, not \\u-escaped).
    with sqlite3.connect(str(store.database.path)) as conn:
        citations_json = conn.execute("SELECT citations FROM feedback").fetchone()[0]
    assert "Quảng Ninh" in citations_json


def test_update_and_delete(store: FeedbackStore) -> None:
    row = store.record(_answer(), "up")
    store.update(row, rating="down", comment="sai ngày")
    assert [(r.rating, r.comment) for r in store.records()] == [("down", "sai ngày")]
    store.delete(row)
    assert store.records() == []


def test_bad_rating_and_missing_row_raise_qa_errors(store: FeedbackStore) -> None:
    with pytest.raises(FeedbackError):
        store.record(_answer(), "meh")
    with pytest.raises(QAError):
        store.update(999, comment="x")


def test_export_jsonl_and_csv(store: FeedbackStore) -> None:
    store.record(_answer(), "up")
    store.record(_answer(abstained=True), "down", comment="có, trong tài liệu")

    out = io.StringIO()
    assert export_feedback(store, out, "jsonl") == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["rating"] for line in lines] == ["up", "down"]
    assert lines[0]["citations"][0]["source"] == "quang-ninh-an-sinh-xa-hoi-2026.txt"

    out = io.StringIO()
    assert export_feedback(store, out, "csv", rating="down") == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["comment"] == "có, trong tài liệu"
    assert json.loads(row["citations"]) == []


def test_export_of_missing_database_says_where_it_lives(settings: Settings) -> None:
    with pytest.raises(FeedbackError, match=r"feedback\.sqlite3"):
        open_feedback_store(settings, existing=True)
    assert not feedback_path(settings.index_dir).exists()


def test_unknown_format(store: FeedbackStore) -> None:
    with pytest.raises(FeedbackError, match="format"):
        export_feedback(store, io.StringIO(), "xml")


def test_eval_questions_are_valid_question_set_lines(store: FeedbackStore) -> None:
    store.record(_answer(), "down", comment="thiếu thông tin")
    store.record(_answer(abstained=True), "down")
    store.record(_answer(abstained=True), "up")

    out = io.StringIO()
    assert export_feedback(store, out, "questions") == 2  # thumbs-down rows only
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    questions = [parse_question(line, n) for n, line in enumerate(lines, 1)]
    assert questions[0].evidence == (QUOTE,)
    assert questions[0].sources == ("quang-ninh-an-sinh-xa-hoi-2026.txt",)
    assert questions[0].answers == ()
    # A thumbs-down on an abstention means the documents do answer it.
    assert questions[1].answerable is True
    assert lines[0]["id"] == "feedback-1"
    assert "thiếu thông tin" in lines[0]["notes"]


def test_agreed_abstention_becomes_an_unanswerable_question(store: FeedbackStore) -> None:
    store.record(_answer(abstained=True), "up")
    [record] = store.records()
    line = to_eval_question(record)
    assert line["answerable"] is False
    parse_question(line)  # unanswerable lines must carry no evidence

    out = io.StringIO()
    assert export_eval_questions(store, out, rating=None) == 1
