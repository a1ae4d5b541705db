"""Feedback and the audit log in a shared PostgreSQL database (``QA_FEEDBACK__URL``), on a real
throwaway server (tests/support/postgres.py): what several replicas behind one proxy rely on."""

from __future__ import annotations

import itertools
import json
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import gradio as gr
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from qa_assistant import _ui as ui
from qa_assistant import cli
from qa_assistant._state import audit as audit_module
from qa_assistant._state import feedback as feedback_module
from qa_assistant._state.audit import open_audit_store
from qa_assistant._state.feedback import feedback_path, open_feedback_store
from qa_assistant.assistant import Assistant
from qa_assistant.errors import AuditError, FeedbackError
from qa_assistant.settings import FeedbackSettings, Settings
from qa_assistant.types import Filters
from support.answers import QUOTE, rated_answer
from support.gradio_http import fake_request
from support.postgres import PASSWORD, Cluster

pytestmark = pytest.mark.postgres

TET_QUESTION = "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"


def _settings(tmp_path: Path, url: str | None) -> Settings:
    return Settings(
        index_dir=tmp_path / "index",
        feedback=FeedbackSettings(url=SecretStr(url) if url else None),
        _env_file=None,  # type: ignore[call-arg]
    )


def test_feedback_lives_in_postgres_not_beside_the_index(tmp_path: Path, postgres_url: str) -> None:
    settings = _settings(tmp_path, postgres_url)
    store = open_feedback_store(settings)
    filters = Filters(sources=("quang-ninh-an-sinh-xa-hoi-2026.txt",))
    first = store.record(rated_answer(), "down", comment=" thiếu\x00 ", history=("Hộ nghèo?",))
    second = store.record(rated_answer(1, abstained=True), "up", filters=filters)
    assert second > first

    records = store.records()
    assert [r.id for r in records] == [first, second]
    assert records[0].comment == "thiếu"  # NUL dropped: PostgreSQL text cannot hold it
    assert records[0].citations[0]["quote"] == QUOTE
    assert records[0].history == ("Hộ nghèo?",)
    assert records[1].abstained is True
    assert records[1].filters["sources"] == ["quang-ninh-an-sinh-xa-hoi-2026.txt"]
    assert [r.id for r in store.records(rating="up")] == [second]

    store.update(first, rating="up", comment="đã sửa")
    assert (store.records()[0].rating, store.records()[0].comment) == ("up", "đã sửa")
    with pytest.raises(FeedbackError, match="No feedback row"):
        store.update(10_000, comment="x")
    store.delete(first)
    assert [r.id for r in store.records()] == [second]
    assert not feedback_path(settings.index_dir).exists()


def test_audit_log_lives_in_postgres(tmp_path: Path, postgres_url: str) -> None:
    store = open_audit_store(_settings(tmp_path, postgres_url))
    store.record("upload", "ok", "127.0.0.1", target="moi.txt")
    store.record("login", "wrong-password", "203.0.113.9")
    store.record("delete", "failed", "127.0.0.1", target="cu.txt", detail="không có")
    assert [r.action for r in store.records()] == ["upload", "login", "delete"]
    assert [r.action for r in store.records(latest=2)] == ["delete", "login"]
    assert store.records()[2].detail == "không có"
    # Feedback shares the database in its own table.
    open_feedback_store(_settings(tmp_path, postgres_url)).record(rated_answer(), "up")
    assert len(store.records()) == 3


def test_the_page_rates_and_audits_into_postgres(ingested: Assistant, postgres_url: str) -> None:
    settings = ingested.settings.model_copy(
        update={
            "feedback": ingested.settings.feedback.model_copy(
                update={"url": SecretStr(postgres_url)}
            ),
            "admin_password": SecretStr("đúng"),
        }
    )
    handlers = ui.Handlers(ingested, settings)
    with warnings.catch_warnings():  # gr.Info outside a request is a warning, not a failure
        warnings.simplefilter("ignore")
        turns = list(handlers.respond(TET_QUESTION, [], [], None, None, None))[-1][1]
        dislike = gr.LikeData(None, {"index": 1, "value": "x", "liked": False})
        rated, _, _ = handlers.rate(turns, {}, dislike)
        handlers.comment("Thiếu thời hạn", 0, rated)
        handlers.login("đúng", fake_request())
    [record] = open_feedback_store(settings).records()
    assert (record.id, record.rating, record.comment) == (rated[0], "down", "Thiếu thời hạn")
    assert record.question == TET_QUESTION
    assert [(r.action, r.result) for r in open_audit_store(settings).records()] == [("login", "ok")]
    assert not feedback_path(settings.index_dir).exists()


def test_replicas_see_each_others_changes_at_once(tmp_path: Path, postgres_url: str) -> None:
    one = open_feedback_store(_settings(tmp_path / "one", postgres_url))
    two = open_feedback_store(_settings(tmp_path / "two", postgres_url))
    row = one.record(rated_answer(), "up")
    assert [r.id for r in two.records()] == [row]
    two.update(row, comment="sai ngày")
    assert one.records()[0].comment == "sai ngày"
    one.delete(row)
    assert two.records() == []


def test_replicas_writing_at_once_lose_nothing(tmp_path: Path, postgres_url: str) -> None:
    replicas = 2
    threads_each = 4
    rows_each = 25
    stores = [
        open_feedback_store(_settings(tmp_path / f"replica-{n}", postgres_url))
        for n in range(replicas)
    ]
    audits = [
        open_audit_store(_settings(tmp_path / f"replica-{n}", postgres_url))
        for n in range(replicas)
    ]
    start = threading.Barrier(replicas * threads_each)

    def write(replica: int, worker: int) -> list[int]:
        start.wait(timeout=30)  # every writer starts at once
        rows = []
        for n in range(rows_each):
            answer = rated_answer(worker * 1000 + n)
            rows.append(stores[replica].record(answer, "down", comment=f"{worker}-{n}"))
            audits[replica].record("reingest", "ok", f"10.0.0.{worker}")
        return rows

    with ThreadPoolExecutor(max_workers=replicas * threads_each) as pool:
        futures = [
            pool.submit(write, r, r * threads_each + t)
            for r in range(replicas)
            for t in range(threads_each)
        ]
        returned = [row for future in futures for row in future.result(timeout=120)]

    total = replicas * threads_each * rows_each
    stored = stores[0].records()
    assert len(returned) == len(set(returned)) == total
    assert sorted(returned) == [r.id for r in stored]
    assert len({r.comment for r in stored}) == total
    assert len(audits[1].records()) == total
    assert len({r.id for r in audits[1].records()}) == total


def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both databases get the same times, so their exports can be compared byte for byte."""
    ticks = itertools.count()

    def now() -> str:
        return f"2026-02-01T08:{next(ticks):02d}:00+00:00"

    monkeypatch.setattr(feedback_module, "utc_now", now)
    monkeypatch.setattr(audit_module, "utc_now", now)


def _write_the_same_rows(settings: Settings) -> None:
    store = open_feedback_store(settings)
    tricky = 'dấu phẩy, "ngoặc kép"\nxuống dòng; emoji 👍 và \\ gạch chéo'
    kept = store.record(
        rated_answer(1), "down", comment=tricky, history=("Hộ nghèo?", "Tết?"), filters=Filters()
    )
    dropped = store.record(rated_answer(2), "up")
    store.record(rated_answer(3, abstained=True), "up", comment="đồng ý")
    store.record(
        rated_answer(4, abstained=True),
        "down",
        filters=Filters(sources=("a.txt",), date_from=date(2025, 1, 1)),
    )
    store.update(kept, comment=tricky + " (sửa)")
    store.delete(dropped)
    store.record(rated_answer(5), "up")  # after a delete: ids are not reused in either database
    log = open_audit_store(settings)
    log.record("upload", "ok", "127.0.0.1", target="moi, mới.txt")
    log.record("login", "wrong-password", "203.0.113.9")
    log.record("delete", "failed", "127.0.0.1", target="cu.txt", detail='không có "cu.txt"\n')


EXPORTS = (
    ["feedback", "export"],
    ["feedback", "export", "--format", "csv"],
    ["feedback", "export", "--format", "questions"],
    ["feedback", "export", "--rating", "up"],
    ["audit", "export"],
    ["audit", "export", "--format", "csv"],
)


def _exports(settings: Settings, env: dict[str, str]) -> list[str]:
    runner = CliRunner()
    outputs = []
    for command in EXPORTS:
        result = runner.invoke(
            cli.main, [*command, "--index", str(settings.index_dir), "-o", "-"], env=env
        )
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    return outputs


def test_exports_are_identical_from_sqlite_and_postgres(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QA_FEEDBACK__URL", raising=False)
    lite = _settings(tmp_path / "sqlite", None)
    server = _settings(tmp_path / "server", postgres_url)
    _fixed_clock(monkeypatch)
    _write_the_same_rows(lite)
    _fixed_clock(monkeypatch)
    _write_the_same_rows(server)

    from_sqlite = _exports(lite, env={})
    from_postgres = _exports(server, env={"QA_FEEDBACK__URL": postgres_url})
    assert feedback_path(lite.index_dir).is_file()
    assert not feedback_path(server.index_dir).exists()  # the CLI read the server
    assert from_sqlite == from_postgres
    jsonl = [json.loads(line) for line in from_postgres[0].splitlines()]
    assert [row["id"] for row in jsonl] == [1, 3, 4, 5]
    assert jsonl[0]["comment"].endswith("(sửa)")
    assert len(from_postgres[4].splitlines()) == 3


def test_a_role_that_may_only_read_and_write_uses_tables_made_by_the_owner(
    tmp_path: Path, postgres_cluster: Cluster, postgres_url: str
) -> None:
    open_feedback_store(_settings(tmp_path, postgres_url)).record(rated_answer(), "up")
    open_audit_store(_settings(tmp_path, postgres_url))
    database = postgres_url.rsplit("/", 1)[1]
    app = postgres_cluster.add_role("qa_app")
    limited = _settings(tmp_path, postgres_cluster.url(database, role=app))
    with pytest.raises(FeedbackError, match="permission denied") as caught:
        open_feedback_store(limited).records()
    assert "granted" in str(caught.value)

    postgres_cluster.sql(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON feedback, audit TO qa_app;"
        " GRANT USAGE ON SEQUENCE feedback_id_seq, audit_id_seq TO qa_app",
        database,
    )
    store = open_feedback_store(limited)
    row = store.record(rated_answer(1), "down")
    store.update(row, comment="ok")
    assert [r.comment for r in store.records()] == ["", "ok"]
    open_audit_store(limited).record("login", "ok", "127.0.0.1")


def test_a_store_works_again_once_the_server_is_back(
    tmp_path: Path, postgres_cluster: Cluster, postgres_url: str
) -> None:
    store = open_feedback_store(_settings(tmp_path, postgres_url))
    log = open_audit_store(_settings(tmp_path, postgres_url))
    first = store.record(rated_answer(), "up")
    log.record("login", "ok", "127.0.0.1")
    postgres_cluster.stop()  # restarted while the stores are idle: their pooled connections die
    postgres_cluster.launch()
    second = store.record(rated_answer(1), "down")
    log.record("login", "ok", "127.0.0.1")

    postgres_cluster.stop()
    try:
        with pytest.raises(FeedbackError, match="unavailable") as caught:
            store.record(rated_answer(1), "down")
        assert "QA_FEEDBACK__URL" in str(caught.value) and PASSWORD not in str(caught.value)
        with pytest.raises(AuditError, match="unavailable"):
            log.record("login", "ok", "127.0.0.1")
    finally:
        postgres_cluster.launch()
    third = store.record(rated_answer(2), "down")
    log.record("login", "ok", "127.0.0.1")
    assert [r.id for r in store.records()] == [first, second, third]
    assert len(log.records()) == 3


def test_wrong_password_or_missing_database_says_what_to_check(
    tmp_path: Path, postgres_cluster: Cluster, postgres_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    wrong = postgres_cluster.url(database, password="sai-mat-khau-9")
    with pytest.raises(FeedbackError) as caught:
        open_feedback_store(_settings(tmp_path, wrong))
    message = str(caught.value)
    assert "QA_FEEDBACK__URL" in message and "password authentication failed" in message
    assert "sai-mat-khau-9" not in message

    missing = postgres_cluster.url("khong_co_csdl")
    with pytest.raises(AuditError) as caught_audit:
        open_audit_store(_settings(tmp_path, missing))
    message = str(caught_audit.value)
    assert "khong_co_csdl" in message and "database exists" in message
    assert PASSWORD not in message
