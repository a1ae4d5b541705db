"""Only staff can change the documents, uploads stay in their folder, the page listens on
localhost unless told otherwise, nothing leaves the machine, and the LLM key is never shown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from conftest import TET_QUESTION
from qa_assistant import _ui as ui
from qa_assistant import cli
from qa_assistant._answering.llm import NOTE_FAILED
from qa_assistant._ui import staff as ui_staff
from qa_assistant._ui.handlers import Handlers
from qa_assistant.assistant import Assistant
from qa_assistant.errors import UploadError
from qa_assistant.settings import LLMSettings, Settings, StaffSettings
from qa_assistant.testing import FakeEmbedder, FakeOpenAIServer
from support.gradio_http import fake_request

LOCAL = fake_request()
FORWARDED = fake_request(**{"x-forwarded-for": "203.0.113.9"})

SUPPORT = Path(__file__).resolve().parent / "support"
API_KEY = "sk-qa-secret-4f9c2d7e1b"


@pytest.fixture(autouse=True)
def _quiet_toasts() -> Iterator[None]:
    # gr.Info/gr.Warning outside a request become Python warnings; they are not failures here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- binding


def test_the_page_binds_to_localhost_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_HOST", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.host == "127.0.0.1"
    assert ui.launch_options(settings)["server_name"] == "127.0.0.1"


def _outside_address() -> str | None:
    """This machine's address on its network, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_served_page_is_not_reachable_from_the_network(ingested: Assistant) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = ingested.settings.model_copy(update={"port": port})
    app, url = ui.serve(ingested, settings, block=False)
    try:
        assert url.startswith("http://127.0.0.1:")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        outside = _outside_address()
        if outside is not None:
            with pytest.raises(OSError), socket.create_connection((outside, port), timeout=2):
                pass
    finally:
        app.close()


# --------------------------------------------------------------------------- staff actions


class _NoAssistant:
    """Fails the test if a refused staff action reached the assistant."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a visitor reached Assistant.{name}")


def _guarded(settings: Settings, **changes: Any) -> Handlers:
    return Handlers(_NoAssistant(), settings.model_copy(update=changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("password", "request_"),
    [
        ("mật-khẩu", LOCAL),
        ("mật-khẩu", FORWARDED),
        (None, FORWARDED),
        (None, fake_request(**{"x-real-ip": "203.0.113.9"})),
        (None, fake_request(**{"forwarded": "for=203.0.113.9"})),
        (None, fake_request("192.168.1.20")),
    ],
)
def test_staff_actions_are_refused_without_the_login(
    settings: Settings, tmp_path: Path, password: str | None, request_: gr.Request
) -> None:
    for host in ("127.0.0.1", "0.0.0.0"):  # the bind address plays no part
        handlers = _guarded(
            settings, host=host, admin_password=SecretStr(password) if password else None
        )
        upload = tmp_path / "moi.txt"
        upload.write_text("Văn bản mới", encoding="utf-8")
        before = sorted(p.name for p in settings.documents_dir.iterdir())
        with pytest.raises(gr.Error):
            handlers.upload([str(upload)], "", request_, progress=None)  # type: ignore[arg-type]
        with pytest.raises(gr.Error):
            handlers.delete("quang-ninh-giam-ngheo-2025.txt", "", request_)
        with pytest.raises(gr.Error):
            handlers.reingest("", request_, progress=None)  # type: ignore[arg-type]
        with pytest.raises(gr.Error):  # a forged session token opens nothing either
            handlers.delete("quang-ninh-giam-ngheo-2025.txt", "forged", request_)
        assert sorted(p.name for p in settings.documents_dir.iterdir()) == before
        refused = handlers.audit.records()
        assert {r.result for r in refused} == {"refused"} and len(refused) % 4 == 0


def test_a_wrong_password_does_not_log_in(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ui_staff, "LOGIN_FAILURE_DELAY_S", 0
    )  # the delay is for guessers, not tests
    handlers = _guarded(
        settings, admin_password=SecretStr("đúng"), staff=StaffSettings(login_max_failures=100)
    )
    for attempt in ("", "sai", "đúng ", "ĐÚNG", "đúng\x00"):
        token, _ = handlers.login(attempt, LOCAL)
        assert not isinstance(token, str)  # gr.skip(): no session token is handed out
        assert handlers.guard.view(LOCAL, None) == "login"


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    "name",
    ["/etc/cron.d/x.txt", "..\\..\\x.txt", "a/../../x.txt", "x.txt/", "C:x.txt", "x.txt\u0000.pdf"],
)
def test_upload_names_cannot_leave_the_documents_folder(tmp_path: Path, name: str) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Nội dung", encoding="utf-8")
    docs = tmp_path / "docs"
    with pytest.raises(UploadError):
        ui.save_upload(source, name, docs, max_upload_mb=1)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != source]
    assert written == []


def test_an_upload_never_writes_through_a_link_in_the_documents_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("không được ghi đè", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lien-ket.txt").symlink_to(outside)
    source = tmp_path / "in.txt"
    source.write_text("Nội dung tải lên", encoding="utf-8")
    with contextlib.suppress(UploadError):  # refusing is as good as replacing the link
        ui.save_upload(source, "lien-ket.txt", docs, max_upload_mb=1)
    assert outside.read_text(encoding="utf-8") == "không được ghi đè"


def test_uploads_are_limited_in_type_and_size(tmp_path: Path, settings: Settings) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"MZ" + b"\0" * 100)
    for name in ("virus.exe", "trang.php", "x.html.exe", "macro.docm", "anh.svg"):
        with pytest.raises(UploadError):
            ui.save_upload(source, name, tmp_path / "docs", max_upload_mb=1)
    source.write_bytes(b"x" * (2 * 1024 * 1024))
    with pytest.raises(UploadError):
        ui.save_upload(source, "lon.txt", tmp_path / "docs", max_upload_mb=1)
    # The server itself refuses larger request bodies before any handler runs.
    assert ui.launch_options(settings)["max_file_size"] == f"{settings.max_upload_mb}mb"


# --------------------------------------------------------------------------- no telemetry


def _guarded_env(log: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    # Left unset on purpose: the code must switch telemetry and analytics off by itself (the
    # guard makes sure nothing would leave even if it did not).
    for name in ("ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SUPPORT / "netguard"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["NETGUARD_LOG"] = str(log)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.slow
def test_ingest_ask_and_the_page_make_no_outside_connection(tmp_path: Path, docs_dir: Path) -> None:
    log = tmp_path / "network.log"
    env = _guarded_env(log)
    probe = _run(["-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)"], env)
    assert probe.returncode != 0 and "192.0.2.1" in log.read_text(), "the guard is not armed"
    log.unlink()

    index = str(tmp_path / "index")
    fake_cli = str(SUPPORT / "fake_cli.py")
    ingest = _run([fake_cli, "ingest", str(docs_dir), "--index", index, "--json"], env)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    assert json.loads(ingest.stdout)["documents"] == 2
    ask = _run([fake_cli, "ask", "--index", index, "--json", TET_QUESTION], env)
    assert ask.returncode == 0, ask.stderr[-2000:]
    assert "10 triệu" in json.loads(ask.stdout)["answer"]
    page = _run([str(SUPPORT / "serve_and_ask.py"), index, str(docs_dir), TET_QUESTION], env)
    assert page.returncode == 0, page.stderr[-2000:]
    assert "10 triệu" in json.loads(page.stdout.strip().splitlines()[-1])["answer"]

    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"connections that would have left the machine:\n{attempts}"


# --------------------------------------------------------------------------- secrets


def _closed_port_url() -> str:
    server = FakeOpenAIServer("unused")
    url = server.base_url
    server.close()
    return url


def test_settings_never_print_the_key() -> None:
    settings = Settings(llm=LLMSettings(api_key=SecretStr(API_KEY)), _env_file=None)  # type: ignore[call-arg]
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert API_KEY not in shown


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> str:
    url = _closed_port_url()
    monkeypatch.setenv("QA_DOCUMENTS_DIR", str(settings.documents_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("QA_ANSWERER", "openai")
    monkeypatch.setenv("QA_LLM__BASE_URL", url)
    monkeypatch.setenv("QA_LLM__API_KEY", API_KEY)
    monkeypatch.setenv("QA_LLM__TIMEOUT_S", "3")
    monkeypatch.setattr(cli, "_assistant", lambda s: Assistant(s, embedder=FakeEmbedder()))
    return url


def test_cli_ask_with_an_unreachable_llm_never_shows_the_key(
    llm_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli.main, ["ingest"]).exit_code == 0
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(cli.main, ["ask", TET_QUESTION])
        shown = runner.invoke(cli.main, ["ask", "--json", TET_QUESTION])
    # The extractive answer stands in; the operator reads what failed among the warnings.
    assert result.exit_code == 0 and shown.exit_code == 0
    warnings = json.loads(shown.output)["warnings"]
    assert any(llm_env in w and "QA_LLM__BASE_URL" in w for w in warnings)
    assert llm_env in result.output and "QA_LLM__BASE_URL" in result.output
    assert "Traceback" not in result.output
    assert API_KEY not in result.output + shown.output
    assert API_KEY not in caplog.text


def test_an_llm_that_refuses_the_key_never_shows_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from qa_assistant._answering.llm import LLMAnswerer

    with FakeOpenAIServer(status=401) as server, caplog.at_level(logging.DEBUG):
        answerer = LLMAnswerer.openai(
            base_url=server.base_url, model="fake", api_key=API_KEY, max_retries=0
        )
        assistant = Assistant(settings, embedder=FakeEmbedder(), answerer=answerer)
        assistant.ingest()
        answer = assistant.ask(TET_QUESTION)
        assert server.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
    assert any("QA_LLM__API_KEY" in w for w in answer.warnings)
    assert API_KEY not in repr(answer)
    assert API_KEY not in caplog.text


def test_the_page_never_shows_the_key(
    llm_env: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    guarded = Settings(_env_file=None)  # type: ignore[call-arg]  # reads the QA_ variables
    assistant = Assistant(guarded, embedder=FakeEmbedder())
    assistant.ingest()
    handlers = Handlers(assistant, guarded)
    with caplog.at_level(logging.DEBUG):
        steps = list(handlers.respond(TET_QUESTION, [], [], None, None, None))
        api = handlers.api_ask(TET_QUESTION)
    # What reaches the browser: the chat and the citation panel (the turns stay on the server).
    page = repr([(chat, panel) for chat, _, _, panel in steps])
    assert NOTE_FAILED in page  # the visitor learns that the answer is not the LLM's...
    assert "QA_LLM__BASE_URL" not in page and llm_env not in page  # ...not the operator's detail
    assert API_KEY not in repr(steps) + repr(api)  # ...and nobody the key
    assert API_KEY not in caplog.text
