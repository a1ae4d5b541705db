"""Staff access behind a reverse proxy, login limits, and the audit log of staff actions.

The served-page tests send the page's own events over raw HTTP (``tests/support/gradio_http``),
as a browser or a script would, so the refusals they see come from the handlers themselves.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from qa_assistant import _ui as ui
from qa_assistant import cli
from qa_assistant._state.audit import AuditStore, export_audit, open_audit_store
from qa_assistant._state.feedback import feedback_path
from qa_assistant._state.staff import LoginLimiter, StaffGuard, is_local_request
from qa_assistant._ui import staff as ui_staff
from qa_assistant.assistant import Assistant
from qa_assistant.errors import AuditError
from qa_assistant.settings import Settings, StaffSettings
from support.gradio_http import PageSession, fake_request

PASSWORD = "mật-khẩu-đúng-7"
TARGET = "quang-ninh-giam-ngheo-2025.txt"
NEW_DOCUMENT = (
    "Quy định về thư viện cộng đồng\n\n"
    "Thư viện cộng đồng của xã mở cửa từ 7 giờ đến 21 giờ tất cả các ngày trong tuần.\n"
)
PROXIED = {"X-Forwarded-For": "203.0.113.9"}


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("host", "headers", "local"),
    [
        ("127.0.0.1", {}, True),
        ("127.8.9.10", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("127.0.0.1", {"x-forwarded-for": "127.0.0.1"}, False),
        ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, False),
        ("127.0.0.1", {"forwarded": "for=203.0.113.9;proto=https"}, False),
        ("192.168.1.5", {}, False),
        ("localhost", {}, False),
        ("", {}, False),
    ],
)
def test_only_a_loopback_request_without_proxy_headers_is_local(
    host: str, headers: dict[str, str], local: bool
) -> None:
    assert is_local_request(fake_request(host, **headers)) is local


def test_no_request_is_not_local() -> None:
    assert is_local_request(None) is False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_attempt_in_the_window_is_refused_even_if_correct() -> None:
    clock = Clock()
    guard = StaffGuard("đúng", max_failures=5, window_s=900, idle_s=1800, clock=clock)
    for _ in range(5):
        assert guard.login("sai", "203.0.113.9").outcome == "wrong"
        clock.now += 10
    locked = guard.login("đúng", "203.0.113.9")
    assert locked.outcome == "locked" and locked.token is None
    assert "thử lại sau 15 phút" in locked.message  # 900 s from the first failure, 50 s ago
    assert guard.login("đúng", "198.51.100.4").outcome == "ok"  # other clients are not locked
    clock.now += 900 - 50  # the first failure leaves the window
    assert guard.login("đúng", "203.0.113.9").outcome == "ok"


def test_the_lockout_says_how_many_minutes_are_left() -> None:
    clock = Clock()
    limiter = LoginLimiter(2, 600, clock)
    limiter.fail("a")
    clock.now += 250
    limiter.fail("a")
    assert limiter.locked_for("a") == pytest.approx(350)
    clock.now += 340
    assert limiter.locked_for("a") == pytest.approx(10)
    guard = StaffGuard("x", max_failures=2, window_s=600, idle_s=60, clock=clock)
    guard.limiter = limiter
    assert "thử lại sau 1 phút" in guard.login("x", "a").message
    clock.now += 10
    assert limiter.locked_for("a") == 0  # the first failure left the window
    assert guard.login("x", "a").outcome == "ok"


def test_login_settings_reach_the_guard(settings: Settings) -> None:
    guard = ui.staff_guard(
        settings.model_copy(
            update={
                "admin_password": SecretStr("x"),
                "staff": StaffSettings(
                    login_max_failures=3, login_window_minutes=2, session_idle_minutes=5
                ),
            }
        )
    )
    assert (guard.limiter.max_failures, guard.limiter.window_s) == (3, 120)
    assert guard.sessions.idle_s == 300


# --------------------------------------------------------------------------- the audit log


def test_audit_rows_are_kept_and_exported(tmp_path: Path) -> None:
    db = feedback_path(tmp_path)
    store = AuditStore(db)
    store.record("upload", "ok", "127.0.0.1", target="moi.txt")
    store.record("login", "wrong-password", "203.0.113.9")
    store.record("delete", "failed", "127.0.0.1", target="cu.txt", detail="không có")
    assert [r.action for r in store.records()] == ["upload", "login", "delete"]
    assert [r.action for r in store.records(latest=2)] == ["delete", "login"]

    out = io.StringIO()
    assert export_audit(store, out, "jsonl") == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[2] == {
        "id": 3,
        "at": rows[2]["at"],
        "action": "delete",
        "target": "cu.txt",
        "result": "failed",
        "detail": "không có",
        "client": "127.0.0.1",
    }
    out = io.StringIO()
    assert export_audit(store, out, "csv") == 3
    assert list(csv.DictReader(io.StringIO(out.getvalue())))[1]["client"] == "203.0.113.9"
    with pytest.raises(AuditError, match="jsonl or csv"):
        export_audit(store, io.StringIO(), "xml")
    with pytest.raises(AuditError, match="No audit log"):
        open_audit_store(Settings(index_dir=tmp_path / "missing", _env_file=None), existing=True)


def test_cli_audit_export(tmp_path: Path) -> None:
    AuditStore(feedback_path(tmp_path)).record("reingest", "ok", "127.0.0.1")
    out = tmp_path / "audit.csv"
    runner = CliRunner()
    result = runner.invoke(
        cli.main, ["audit", "export", "--index", str(tmp_path), "--format", "csv", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 audit rows written" in result.output
    assert out.read_text(encoding="utf-8").splitlines()[1].split(",")[2:5] == [
        "reingest",
        "",
        "ok",
    ]
    missing = runner.invoke(cli.main, ["audit", "export", "--index", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "No audit log" in missing.output


# --------------------------------------------------------------------------- a served page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(ingested: Assistant, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Serves the page on a loopback port with the given setting changes; closes it after."""
    # The delay is for guessers, not tests.
    monkeypatch.setattr(ui_staff, "LOGIN_FAILURE_DELAY_S", 0)
    apps: list[Any] = []

    def start(**changes: Any) -> str:
        settings = ingested.settings.model_copy(
            update={"host": "127.0.0.1", "port": _free_port(), **changes}
        )
        ingested.settings = settings
        app, url = ui.serve(ingested, settings, block=False)
        apps.append(app)
        return str(url)

    yield start
    for app in apps:
        app.close()


def _audit(settings: Settings) -> list[tuple[str, str, str, str]]:
    return [
        (r.action, r.target, r.result, r.client)
        for r in AuditStore(feedback_path(settings.index_dir)).records()
    ]


def _sources(assistant: Assistant) -> set[str]:
    return {d.source for d in assistant.documents()}


def test_a_forwarded_request_cannot_change_documents_on_a_loopback_page_without_password(
    serve: Any, ingested: Assistant, tmp_path: Path
) -> None:
    url = serve(admin_password=None)
    documents = ingested.settings.documents_dir
    new = tmp_path / "thu-vien-cong-dong.txt"
    new.write_text(NEW_DOCUMENT, encoding="utf-8")
    before = sorted(p.name for p in documents.iterdir())

    proxied = PageSession(url, headers=PROXIED)
    try:
        assert proxied.load([None]).success
        upload = proxied.trigger("qa-upload-btn", "click", [proxied.upload_files(new), None])
        assert not upload.success and "QA_ADMIN_PASSWORD" in upload.error
        delete = proxied.trigger("qa-delete", "click", [TARGET, None])
        assert not delete.success and "QA_ADMIN_PASSWORD" in delete.error
        assert not proxied.trigger("qa-reingest", "click", [None]).success
    finally:
        proxied.close()
    for header in ({"X-Real-IP": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        other = PageSession(url, headers=header)
        try:
            other.load([None])
            assert not other.trigger("qa-delete", "click", [TARGET, None]).success
        finally:
            other.close()
    assert sorted(p.name for p in documents.iterdir()) == before
    assert new.name not in _sources(ingested) and TARGET in _sources(ingested)
    # Uvicorn takes the client from X-Forwarded-For of a local proxy: the visitor is recorded.
    assert _audit(ingested.settings) == [
        ("upload", new.name, "refused", "203.0.113.9"),
        ("delete", TARGET, "refused", "203.0.113.9"),
        ("reingest", "", "refused", "203.0.113.9"),
        ("delete", TARGET, "refused", "127.0.0.1"),
        ("delete", TARGET, "refused", "127.0.0.1"),
    ]

    local = PageSession(url)
    try:
        local.load([None])
        upload = local.trigger("qa-upload-btn", "click", [local.upload_files(new), None])
        assert upload.success, upload.error
        assert (documents / new.name).is_file() and new.name in _sources(ingested)
        delete = local.trigger("qa-delete", "click", [TARGET, None])
        assert delete.success, delete.error
        assert not (documents / TARGET).exists() and TARGET not in _sources(ingested)
    finally:
        local.close()
    assert _audit(ingested.settings)[-2:] == [
        ("upload", new.name, "ok", "127.0.0.1"),
        ("delete", TARGET, "ok", "127.0.0.1"),
    ]


def test_staff_events_over_the_api_need_a_login_and_logins_are_limited(
    serve: Any, ingested: Assistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = serve(admin_password=SecretStr(PASSWORD))
    documents = ingested.settings.documents_dir
    new = tmp_path / "thu-vien-cong-dong.txt"
    new.write_text(NEW_DOCUMENT, encoding="utf-8")
    before = sorted(p.name for p in documents.iterdir())
    wrong = [f"sai-{n}-bí-mật" for n in range(5)]

    guesser = PageSession(url)  # local and without proxy headers: a password is still needed
    try:
        guesser.load([None])
        refused = [
            guesser.trigger("qa-upload-btn", "click", [guesser.upload_files(new), None]),
            guesser.trigger("qa-delete", "click", [TARGET, None]),
            guesser.trigger("qa-reingest", "click", [None]),
        ]
        assert all(not r.success and "đăng nhập" in r.error for r in refused)
        for attempt in wrong:
            assert guesser.trigger("qa-login", "click", [attempt]).success
        guesser.trigger("qa-login", "click", [PASSWORD])  # the sixth, and correct
        after_lockout = guesser.trigger("qa-delete", "click", [TARGET, None])
        assert not after_lockout.success, "the sixth attempt logged in"
    finally:
        guesser.close()
    assert sorted(p.name for p in documents.iterdir()) == before

    staff = PageSession(url, headers=PROXIED)  # another client is not locked out
    try:
        staff.load([None])
        assert staff.trigger("qa-login", "click", [PASSWORD]).success
        upload = staff.trigger("qa-upload-btn", "click", [staff.upload_files(new), None])
        assert upload.success, upload.error
        staff.load([None])  # the page lists the new document after each action
        assert staff.trigger("qa-reingest", "click", [None]).success
        assert staff.trigger("qa-delete", "click", [new.name, None]).success
    finally:
        staff.close()
    assert not (documents / new.name).exists() and new.name not in _sources(ingested)

    assert _audit(ingested.settings) == [
        ("upload", new.name, "refused", "127.0.0.1"),
        ("delete", TARGET, "refused", "127.0.0.1"),
        ("reingest", "", "refused", "127.0.0.1"),
        *[("login", "", "wrong-password", "127.0.0.1")] * 5,
        ("login", "", "locked", "127.0.0.1"),
        ("delete", TARGET, "refused", "127.0.0.1"),
        ("login", "", "ok", "203.0.113.9"),
        ("upload", new.name, "ok", "203.0.113.9"),
        ("reingest", "", "ok", "203.0.113.9"),
        ("delete", new.name, "ok", "203.0.113.9"),
    ]
    # No password attempt is kept anywhere: not in the database, not in the logs.
    state = b"".join(p.read_bytes() for p in ingested.settings.index_dir.glob("feedback.sqlite3*"))
    logged = caplog.text
    for attempt in [*wrong, PASSWORD]:
        assert attempt.encode("utf-8") not in state and attempt not in logged
