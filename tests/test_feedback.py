"""Feedback store, exports and the drafting of evaluation questions from feedback; the
SQLite default and the errors of a misconfigured QA_FEEDBACK__URL (the server itself is
exercised in test_feedback_postgres.py)."""

from __future__ import annotations

import csv
import io
import json
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from qa_assistant import cli
from qa_assistant._state.audit import open_audit_store
from qa_assistant._state.feedback import (
    FeedbackError,
    FeedbackStore,
    export_eval_questions,
    export_feedback,
    feedback_path,
    open_feedback_store,
    to_eval_question,
)
from qa_assistant.errors import AuditError, QAError
from qa_assistant.evaluation import parse_question
from qa_assistant.settings import FeedbackSettings, Settings
from qa_assistant.types import Filters
from support.answers import QUOTE, rated_answer


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(feedback_path(tmp_path / "index"))


def test_record_keeps_question_answer_and_citations(store: FeedbackStore) -> None:
    filters = Filters(sources=("quang-ninh-an-sinh-xa-hoi-2026.txt",))
    row = store.record(
        rated_answer(), "down", comment=" thiếu ", history=("Hộ nghèo?",), filters=filters
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
    row = store.record(rated_answer(), "up")
    store.update(row, rating="down", comment="sai ngày")
    assert [(r.rating, r.comment) for r in store.records()] == [("down", "sai ngày")]
    store.delete(row)
    assert store.records() == []


def test_bad_rating_and_missing_row_raise_qa_errors(store: FeedbackStore) -> None:
    with pytest.raises(FeedbackError):
        store.record(rated_answer(), "meh")
    with pytest.raises(QAError):
        store.update(999, comment="x")


def test_export_jsonl_and_csv(store: FeedbackStore) -> None:
    store.record(rated_answer(), "up")
    store.record(rated_answer(abstained=True), "down", comment="có, trong tài liệu")

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
    store.record(rated_answer(), "down", comment="thiếu thông tin")
    store.record(rated_answer(abstained=True), "down")
    store.record(rated_answer(abstained=True), "up")

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
    store.record(rated_answer(abstained=True), "up")
    [record] = store.records()
    line = to_eval_question(record)
    assert line["answerable"] is False
    parse_question(line)  # unanswerable lines must carry no evidence

    out = io.StringIO()
    assert export_eval_questions(store, out, rating=None) == 1


# --------------------------------------------------------------------------- files and URLs

# The schema the SQLite state file had before PostgreSQL was supported, written literally:
# such files must open unchanged, with their rows.
OLD_FEEDBACK_SCHEMA = """
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
OLD_AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL
)
"""


def _old_state_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(OLD_FEEDBACK_SCHEMA)
        conn.execute(OLD_AUDIT_SCHEMA)
        conn.execute(
            "INSERT INTO feedback (created_at, updated_at, rating, comment, question, answer,"
            " abstained, citations, history, filters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "2026-01-05T09:00:00+00:00",
                "2026-01-05T09:01:00+00:00",
                "down",
                "thiếu",
                "Mỗi thôn được hỗ trợ bao nhiêu?",
                f"{QUOTE} [1]",
                0,
                json.dumps([{"quote": QUOTE, "source": "a.txt"}], ensure_ascii=False),
                json.dumps(["Hộ nghèo?"], ensure_ascii=False),
                "{}",
            ),
        )
        # Ids are never reused: a deleted row 2 leaves the next id at 3.
        conn.execute(
            "INSERT INTO feedback (created_at, updated_at, rating, question, answer, abstained,"
            " citations) VALUES ('t', 't', 'up', 'q', 'a', 1, '[]')"
        )
        conn.execute("DELETE FROM feedback WHERE id = 2")
        conn.execute(
            "INSERT INTO audit (at, action, target, result, client)"
            " VALUES ('2026-01-05T09:02:00+00:00', 'upload', 'moi.txt', 'ok', '127.0.0.1')"
        )
    conn.close()


def test_a_state_file_from_before_postgres_opens_with_its_rows(settings: Settings) -> None:
    path = feedback_path(settings.index_dir)
    _old_state_file(path)

    store = open_feedback_store(settings)
    [old] = store.records()
    assert (old.id, old.rating, old.comment, old.abstained) == (1, "down", "thiếu", False)
    assert old.citations[0]["quote"] == QUOTE and old.history == ("Hộ nghèo?",)
    assert store.record(rated_answer(), "up") == 3
    store.update(1, comment="đã xem")
    assert [r.comment for r in store.records()] == ["đã xem", ""]

    log = open_audit_store(settings)
    log.record("login", "ok", "127.0.0.1")
    assert [(r.id, r.action) for r in log.records()] == [(1, "upload"), (2, "login")]


def _schema(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        tables = {
            name: conn.execute(f"PRAGMA table_info({name})").fetchall()
            for name in ("feedback", "audit", "sqlite_sequence")
        }
        tables["journal"] = conn.execute("PRAGMA journal_mode").fetchall()
    conn.close()
    return tables


def test_a_new_state_file_has_the_same_schema_as_before(settings: Settings, tmp_path: Path) -> None:
    old = tmp_path / "old" / "feedback.sqlite3"
    _old_state_file(old)
    open_feedback_store(settings)
    open_audit_store(settings)
    new = feedback_path(settings.index_dir)
    # Same columns, types, defaults and keys; sqlite_sequence exists only with AUTOINCREMENT.
    assert _schema(new) == _schema(old)
    with sqlite3.connect(new) as conn, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute(
            "INSERT INTO feedback (created_at, updated_at, rating, question, answer, abstained,"
            " citations) VALUES ('t', 't', 'meh', 'q', 'a', 0, '[]')"
        )
    conn.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


SECRET = "mat-khau-bi-mat-42"


def _with_url(settings: Settings, url: str) -> Settings:
    return settings.model_copy(
        update={"feedback": settings.feedback.model_copy(update={"url": SecretStr(url)})}
    )


def test_an_unreachable_server_says_what_to_check_and_hides_the_password(
    settings: Settings,
) -> None:
    url = f"postgresql://qa:{SECRET}@127.0.0.1:{_closed_port()}/qa"
    unreachable = _with_url(settings, url)
    with pytest.raises(FeedbackError) as caught:
        open_feedback_store(unreachable)
    message = str(caught.value)
    assert "QA_FEEDBACK__URL" in message and "reachable" in message
    assert "qa:***@127.0.0.1" in message and SECRET not in message
    # The audit log says the same with its own error, which the page catches.
    with pytest.raises(AuditError, match="reachable") as caught_audit:
        open_audit_store(unreachable)
    assert SECRET not in str(caught_audit.value)
    assert not feedback_path(settings.index_dir).exists()  # no silent fallback to SQLite


def test_a_server_that_never_answers_is_given_up_on(settings: Settings) -> None:
    with socket.socket() as silent:  # accepts connections, never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"postgresql://qa:{SECRET}@127.0.0.1:{silent.getsockname()[1]}/qa"
        hanging = settings.model_copy(
            update={"feedback": FeedbackSettings(url=SecretStr(url), connect_timeout_s=2)}
        )
        with pytest.raises(FeedbackError, match="timeout") as caught:
            open_feedback_store(hanging)
    assert "QA_FEEDBACK__URL" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize("command", [["feedback", "export"], ["audit", "export"]])
def test_export_from_an_unreachable_server_fails_clearly(
    settings: Settings, command: list[str]
) -> None:
    url = f"postgresql://qa:{SECRET}@127.0.0.1:{_closed_port()}/qa"
    result = CliRunner().invoke(
        cli.main, [*command, "--index", str(settings.index_dir)], env={"QA_FEEDBACK__URL": url}
    )
    assert result.exit_code == 1
    assert "QA_FEEDBACK__URL" in result.output and SECRET not in result.output


def test_serve_with_an_unreachable_server_stops_before_loading_anything(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(settings: Settings) -> None:
        raise AssertionError("the assistant was built before the database was checked")

    monkeypatch.setattr(cli, "_assistant", never)
    url = f"postgresql://qa:{SECRET}@127.0.0.1:{_closed_port()}/qa"
    result = CliRunner().invoke(
        cli.main, ["serve", "--index", str(settings.index_dir)], env={"QA_FEEDBACK__URL": url}
    )
    assert result.exit_code == 1, result.output
    assert "QA_FEEDBACK__URL" in result.output and SECRET not in result.output


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"mysql://qa:{SECRET}@db:3306/qa", "not a PostgreSQL URL"),
        (f"postgresql://qa:{SECRET}@db:5432/", "names no database"),
        (f"postgresql://qa:{SECRET}@db:cong/qa", "not a database URL"),
        ("db.example:5432", "not a database URL"),
    ],
)
def test_a_malformed_url_is_refused_without_showing_the_password(
    settings: Settings, url: str, reason: str
) -> None:
    with pytest.raises(FeedbackError, match=reason) as caught:
        open_feedback_store(_with_url(settings, url))
    assert SECRET not in str(caught.value)


def test_the_url_is_a_secret_in_dumped_settings(settings: Settings) -> None:
    url = f"postgresql://qa:{SECRET}@db:5432/qa"
    dumped = _with_url(settings, url).model_dump(mode="json")
    assert dumped["feedback"]["url"] == "**********"
    assert SECRET not in repr(_with_url(settings, url))
