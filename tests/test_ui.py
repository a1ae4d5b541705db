"""The Gradio page: rendering (escaping, citations), handlers, upload rules, staff gating, API."""

from __future__ import annotations

import re
import socket
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from pydantic import SecretStr

from qa_assistant import _ui as ui
from qa_assistant._state.feedback import FeedbackStore, feedback_path
from qa_assistant._state.staff import StaffGuard
from qa_assistant._ui import rendering as ui_rendering
from qa_assistant._ui import staff as ui_staff
from qa_assistant._ui.chat import ANSWERER_DOWN
from qa_assistant._ui.handlers import Handlers
from qa_assistant.assistant import Assistant
from qa_assistant.errors import AnswererError, IndexStoreError, UploadError
from qa_assistant.settings import Settings, StaffSettings
from qa_assistant.types import Answer, Citation, DocumentInfo, Filters, IngestReport
from support.gradio_http import fake_request

LOCAL = fake_request()
FORWARDED = fake_request(**{"x-forwarded-for": "203.0.113.9"})

EVIL = 'Mỗi thôn <script>alert(1)</script> nhận <img src=x onerror="alert(2)"> tiền.'
TET_QUESTION = "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"


def _citation(text: str, quote: str, marker: int = 1, source: str = "evil.txt") -> Citation:
    start = text.index(quote)
    return Citation(
        marker=marker,
        source=source,
        title="Tiêu đề <b>đậm</b>",
        heading="Chương I › Điều 2",
        passage=text,
        quote=quote,
        start=start,
        end=start + len(quote),
        date=date(2026, 2, 1),
    )


class FakeAssistant:
    """Just enough of :class:`Assistant` for the handlers, with a document full of markup."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.texts = {"evil.txt": f"Đầu văn bản.\n\n{EVIL}\n\nCuối văn bản."}
        self.calls: list[tuple[str, Filters | None, tuple[str, ...]]] = []
        self.ingested: list[list[Path] | None] = []
        self.deleted: list[str] = []
        self.removed_files: list[bool] = []
        self.fail_with: Exception | None = None
        self.drafted: tuple[str, ...] = ()

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        retriever: str | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        self.calls.append((question, filters, tuple(history)))
        yield from self.drafted  # what a streaming answerer writes before its checked answer
        if self.fail_with:
            raise self.fail_with
        text = self.texts["evil.txt"]
        citation = _citation(text, EVIL)
        yield Answer(question, f"{EVIL} [1] Ngoài lề [7].", False, (citation,))

    def ingest(
        self, paths: Sequence[Path] | None = None, *, rebuild: bool = False, progress: Any = None
    ) -> IngestReport:
        self.ingested.append(list(paths) if paths else None)
        if progress:
            progress(1, 1, "x.txt")
        return IngestReport(documents=2, chunks=5, added=1)

    def documents(self) -> list[DocumentInfo]:
        now = datetime.now(UTC).isoformat()
        return [DocumentInfo("evil.txt", "Evil", date(2026, 2, 1), 3, "h", now)]

    def document_text(self, source: str) -> str:
        if source not in self.texts:
            raise IndexStoreError(f"No document {source!r} in the index.")
        return self.texts[source]

    def delete_document(self, source: str, *, remove_file: bool = False) -> None:
        self.deleted.append(source)
        self.removed_files.append(remove_file)

    def close(self) -> None:
        pass


@pytest.fixture
def fake(settings: Settings) -> FakeAssistant:
    return FakeAssistant(settings)


@pytest.fixture
def handlers(fake: FakeAssistant, settings: Settings) -> Handlers:
    return Handlers(fake, settings)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _quiet_toasts() -> Iterator[None]:
    # gr.Info/gr.Warning outside a request become Python warnings; they are not failures here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _no_raw_markup(fragment: str) -> None:
    assert "<script" not in fragment
    assert "<img" not in fragment
    assert "&lt;script&gt;" in fragment


# --------------------------------------------------------------------------- rendering


def test_answer_is_escaped_and_markers_become_links() -> None:
    text = f"Trước. {EVIL}"
    answer = Answer("q", f"{EVIL} [1] Ngoài lề [7].", False, (_citation(text, EVIL),))
    rendered = ui_rendering.render_answer(answer, turn=3)
    _no_raw_markup(rendered)
    assert 'href="#qa-cite-3-1"' in rendered
    assert "[7]" in rendered and "qa-cite-3-7" not in rendered  # no citation, no link
    assert "\n\n" not in rendered  # a blank line would hand the rest to Markdown
    assert "Tiêu đề &lt;b&gt;đậm&lt;/b&gt;" in rendered  # the sources list, escaped


def test_a_provision_is_marked_apart_from_a_stated_answer() -> None:
    text = "Vợ, chồng bình đẳng về tài sản chung."
    cited = (_citation(text, text),)
    provision = Answer("q", f"Quy định để đối chiếu nhận định này: {text} [1].", False, cited)
    provision = replace(provision, provision=True)
    assert "qa-provision" in ui_rendering.render_answer(provision, turn=1)
    assert "qa-provision" not in ui_rendering.render_answer(replace(provision, provision=False), 1)


def test_a_document_cited_twice_is_named_once_in_the_sources() -> None:
    text = "Câu một về thôn. Câu hai về hộ nghèo."
    cited = (
        _citation(text, "Câu một về thôn.", 1),
        _citation(text, "Câu hai về hộ nghèo.", 2),
        _citation(text, "Câu hai về hộ nghèo.", 3, source="khac.txt"),
    )
    answer = Answer(
        "q", "Theo tài liệu:\n- Câu một [1].\n- Câu hai [2].\n- Câu ba [3].", False, cited
    )
    rendered = ui_rendering.render_answer(answer, turn=1)
    # Named for [1] and again for [3], another document; [2] shows only its place.
    assert rendered.count("</b>Tiêu đề &lt;b&gt;đậm&lt;/b&gt;") == 2
    assert "<b>[2]</b> — Chương I › Điều 2" in rendered


def test_a_draft_is_escaped_text_with_no_links() -> None:
    draft = ui_rendering.render_draft(f"{EVIL} [1]\n\nĐoạn hai")
    _no_raw_markup(draft)
    assert "qa-cite" not in draft and "qa-final" not in draft
    assert "\n\n" not in draft


def test_question_is_escaped() -> None:
    _no_raw_markup(ui_rendering.render_question("<script>alert(1)</script>?"))


def test_citation_panel_highlights_quote_in_passage_and_document() -> None:
    document = f"Đầu.\n\n{EVIL}\n\nCuối."
    citation = _citation(document, EVIL)
    panel = ui_rendering.render_citation_panel(citation, 0, document)
    _no_raw_markup(panel)
    assert panel.count('<mark class="qa-quote">') == 1
    assert re.search(r'<mark class="qa-doc-mark" id="qa-doc-mark">[^<]*&lt;script', panel)
    assert "01/02/2026" in panel and "Chương I › Điều 2" in panel
    assert "Toàn văn tài liệu" in panel


def test_citation_panel_survives_a_changed_or_missing_document() -> None:
    citation = _citation(f"xx {EVIL}", EVIL)
    moved = ui_rendering.render_citation_panel(citation, 0, f"Thêm một dòng mới ở đầu.\n{EVIL}")
    assert "qa-doc-mark" in moved  # found again by its words
    gone = ui_rendering.render_citation_panel(citation, 0, None)
    assert "Không mở được toàn văn" in gone


# --------------------------------------------------------------------------- chat handlers


def _run(handlers: Handlers, question: str, turns: list[ui.Turn]) -> list[tuple[Any, ...]]:
    return list(handlers.respond(question, [], turns, None, None, None))


def test_an_answer_with_nothing_to_stream_appears_in_one_update(
    handlers: Handlers, fake: FakeAssistant
) -> None:
    steps = _run(handlers, "  Mỗi thôn được bao nhiêu? ", [])
    assert len(steps) == 2  # "searching…", then the whole answer at once
    assert "qa-thinking" in steps[0][0][-1]["content"]
    chat, turns, box, panel = steps[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    assert "qa-final qa-turn-0" in chat[-1]["content"]
    assert "qa-sources" in chat[-1]["content"]
    _no_raw_markup(chat[-1]["content"])
    assert box == ""
    assert 'data-marker="1"' in panel
    assert turns[0].question == "Mỗi thôn được bao nhiêu?"


def test_a_streamed_draft_grows_then_the_checked_answer_replaces_it(
    handlers: Handlers, fake: FakeAssistant
) -> None:
    fake.drafted = ("Mỗi thôn <script>", "alert(1)</script> [9", "] nhận")
    steps = _run(handlers, "Mỗi thôn được bao nhiêu?", [])
    drafts = [step[0][-1]["content"] for step in steps[1:-1]]
    assert len(drafts) == 3
    assert all("qa-draft" in d and "qa-cite" not in d for d in drafts)
    assert "[9] nhận" in drafts[-1]
    _no_raw_markup(drafts[-1])
    assert all(step[3] is not None and not isinstance(step[3], str) for step in steps[:-1])
    final = steps[-1][0][-1]["content"]
    assert "qa-draft" not in final and 'href="#qa-cite-0-1"' in final
    assert len(steps[-1][0]) == 2  # the draft was replaced, not kept beside the answer


def test_an_error_while_streaming_replaces_the_draft_with_its_message(
    handlers: Handlers, fake: FakeAssistant
) -> None:
    fake.drafted = ("Mỗi thôn",)
    fake.fail_with = AnswererError("The LLM server failed; check QA_LLM__BASE_URL.")
    chat, turns, _, _ = _run(handlers, "Hỏi", [])[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    content = chat[-1]["content"]
    # The visitor reads a Vietnamese line; the server and the setting are the operator's.
    assert ANSWERER_DOWN in content and "qa-draft" not in content
    assert "QA_LLM__BASE_URL" not in content and "LLM" not in content
    assert turns[0].answer is None


def test_follow_up_passes_previous_questions(handlers: Handlers, fake: FakeAssistant) -> None:
    turns = _run(handlers, "Hộ nghèo được hỗ trợ gì?", [])[-1][1]
    _run(handlers, "Còn hộ cận nghèo thì sao?", turns)
    assert fake.calls[-1][2] == ("Hộ nghèo được hỗ trợ gì?",)


def test_filters_reach_the_assistant(handlers: Handlers, fake: FakeAssistant) -> None:
    list(handlers.respond("Hỏi", [], [], ["evil.txt"], "2026-01-01", "2026-12-31 00:00:00"))
    assert fake.calls[-1][1] == Filters(("evil.txt",), date(2026, 1, 1), date(2026, 12, 31))


def test_bad_date_range_is_a_message_not_a_crash(handlers: Handlers) -> None:
    chat = list(handlers.respond("Hỏi", [], [], None, "2026-12-31", "2026-01-01"))[-1][0]
    assert "Ngày bắt đầu phải trước ngày kết thúc" in chat[-1]["content"]


def test_assistant_errors_show_their_message_and_unexpected_ones_do_not(
    handlers: Handlers, fake: FakeAssistant
) -> None:
    fake.fail_with = IndexStoreError("The index is empty. Add documents.")
    chat, turns, _, _ = _run(handlers, "Hỏi", [])[-1]
    assert "The index is empty" in chat[-1]["content"]
    assert turns[0].answer is None

    fake.fail_with = RuntimeError("sk-secret-key leaked in a traceback")
    chat = _run(handlers, "Hỏi", [])[-1][0]
    assert "sk-secret" not in chat[-1]["content"]
    assert "Đã có lỗi" in chat[-1]["content"]


def test_show_citation_picks_turn_and_marker(handlers: Handlers) -> None:
    turns = _run(handlers, "Hỏi", [])[-1][1]
    panel = handlers.show_citation(turns, gr.EventData(None, {"turn": 0, "marker": 1}))
    assert 'data-turn="0" data-marker="1"' in panel
    skipped = handlers.show_citation(turns, gr.EventData(None, {"turn": 5, "marker": 1}))
    assert not isinstance(skipped, str)


def test_thumbs_and_comment_are_stored(handlers: Handlers, settings: Settings) -> None:
    turns = _run(handlers, "Hỏi", [])[-1][1]
    like = gr.LikeData(None, {"index": 1, "value": "x", "liked": False})
    rated, _, _ = handlers.rate(turns, {}, like)
    assert rated == {0: 1}
    handlers.comment("Thiếu số tiền cụ thể", 0, rated)

    [record] = FeedbackStore(feedback_path(settings.index_dir)).records()
    assert (record.rating, record.comment, record.question) == (
        "down",
        "Thiếu số tiền cụ thể",
        "Hỏi",
    )
    assert record.citations[0]["quote"] == EVIL

    rated, _, _ = handlers.rate(turns, rated, gr.LikeData(None, {"index": 1, "value": "x"}))
    assert FeedbackStore(feedback_path(settings.index_dir)).records()[0].rating == "up"


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    "name",
    [
        "Quyết định 12.pdf",
        "luat-cu-tru.docx",
        "a.TXT",
        "b.htm",
        "Quyết định cũ.doc",
        "Ảnh chụp.jpg",
        "scan.JPEG",
        "trang-1.png",
        "ban-quet.tif",
        "ban-quet.tiff",
    ],
)
def test_upload_names_accepted(name: str) -> None:
    assert ui.validate_upload_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../x.txt",
        "a/b.txt",
        "a\\b.txt",
        "..txt",
        ".hidden.txt",
        "bad\x00.txt",
        "line\nbreak.txt",
        "rtl\u202etxt.exe",
        "script.exe",
        "noext",
        " lead.txt",
        "x" * 300 + ".txt",
    ],
)
def test_upload_names_refused(name: str) -> None:
    with pytest.raises(UploadError):
        ui.validate_upload_name(name)


def test_save_upload_stays_inside_documents_dir_and_checks_size(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("Nội dung", encoding="utf-8")
    docs = tmp_path / "docs"
    saved = ui.save_upload(source, "Văn bản mới.txt", docs, max_upload_mb=1)
    assert saved.parent == docs.resolve()
    assert saved.read_text(encoding="utf-8") == "Nội dung"
    assert [p.name for p in docs.iterdir()] == ["Văn bản mới.txt"]  # no temp leftovers

    source.write_bytes(b"x" * (1024 * 1024 + 1))
    with pytest.raises(UploadError, match="vượt giới hạn"):
        ui.save_upload(source, "big.txt", docs, max_upload_mb=1)


def test_upload_handler_ingests_saved_files(
    handlers: Handlers, fake: FakeAssistant, settings: Settings, tmp_path: Path
) -> None:
    good = tmp_path / "up" / "moi.txt"
    good.parent.mkdir()
    good.write_text("Văn bản mới", encoding="utf-8")
    bad = tmp_path / "up" / "virus.exe"
    bad.write_text("MZ", encoding="utf-8")
    status = handlers.upload([str(good), str(bad)], "", LOCAL, progress=None)  # type: ignore[arg-type]
    assert fake.ingested == [[settings.documents_dir.resolve() / "moi.txt"]]
    assert "1 mới" in status and "virus.exe" in status


def test_delete_removes_index_entry_and_file(handlers: Handlers, fake: FakeAssistant) -> None:
    handlers.delete("xoa.txt", "", LOCAL)
    # The assistant removes the file under its ingest lock (tests/test_assistant.py).
    assert fake.deleted == ["xoa.txt"] and fake.removed_files == [True]


# --------------------------------------------------------------------------- staff gating


def _with(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


@pytest.mark.parametrize(
    ("password", "request_", "token", "view"),
    [
        (None, LOCAL, "", "open"),
        (None, fake_request("::1"), "", "open"),
        (None, FORWARDED, "", "off"),
        (None, fake_request("192.168.1.5"), "", "off"),
        ("", LOCAL, "", "open"),
        ("mật khẩu", LOCAL, "", "login"),
        ("mật khẩu", FORWARDED, "forged-token", "login"),
    ],
)
def test_staff_view_is_decided_per_request(
    settings: Settings, password: str | None, request_: gr.Request, token: str, view: str
) -> None:
    for host in ("127.0.0.1", "0.0.0.0"):  # the bind address plays no part
        secret = SecretStr(password) if password is not None else None
        guard = ui.staff_guard(_with(settings, host=host, admin_password=secret))
        assert guard.view(request_, token) == view


def test_login_and_staff_handlers_need_the_password(
    fake: FakeAssistant, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_staff, "LOGIN_FAILURE_DELAY_S", 0)
    guarded = _with(settings, admin_password=SecretStr("đúng"))
    handlers = Handlers(fake, guarded)  # type: ignore[arg-type]
    with pytest.raises(gr.Error):
        handlers.delete("evil.txt", "", LOCAL)  # a password set: even local requests log in
    with pytest.raises(gr.Error):
        handlers.reingest("", LOCAL, progress=None)  # type: ignore[arg-type]
    assert handlers.login("sai", LOCAL)[0] is not None  # gr.skip(): the state keeps no token
    token, cleared = handlers.login("đúng", FORWARDED)
    assert isinstance(token, str) and len(token) > 20 and cleared == ""
    handlers.delete("evil.txt", token, FORWARDED)
    assert fake.deleted == ["evil.txt"]

    disabled = Handlers(fake, settings)  # type: ignore[arg-type]
    with pytest.raises(gr.Error, match="QA_ADMIN_PASSWORD"):
        disabled.delete("evil.txt", token, FORWARDED)  # a token from elsewhere opens nothing
    with pytest.raises(gr.Error, match="QA_ADMIN_PASSWORD"):
        disabled.login("đúng", FORWARDED)


def test_a_staff_session_ends_after_its_idle_time(fake: FakeAssistant, settings: Settings) -> None:
    idle = _with(
        settings, admin_password=SecretStr("đúng"), staff=StaffSettings(session_idle_minutes=2)
    )
    handlers = Handlers(fake, idle)  # type: ignore[arg-type]
    assert handlers.guard.sessions.idle_s == 120
    clock = [0.0]
    handlers.guard = StaffGuard(
        "đúng", max_failures=5, window_s=900, idle_s=120, clock=lambda: clock[0]
    )
    token = handlers.login("đúng", LOCAL)[0]
    for now in (100.0, 200.0):  # each action keeps the session alive
        clock[0] = now
        handlers.delete("evil.txt", token, LOCAL)
    clock[0] = 321.0
    with pytest.raises(gr.Error, match="hết hạn sau 2 phút"):
        handlers.delete("evil.txt", token, LOCAL)
    assert handlers.guard.view(LOCAL, token) == "login"
    assert fake.deleted == ["evil.txt"] * 2


# --------------------------------------------------------------------------- the app and API


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_build_app_with_the_real_assistant(ingested: Assistant, settings: Settings) -> None:
    app = ui.build_app(ingested, settings)
    assert isinstance(app, gr.Blocks)
    public = [fn.api_name for fn in app.fns.values() if fn.api_visibility == "public"]
    assert public == [ui.API_NAME]  # staff actions are never part of the public API


def test_api_answers_over_http_with_gradio_client(ingested: Assistant, settings: Settings) -> None:
    from gradio_client import Client

    served = _with(settings, port=_free_port())
    app, url = ui.serve(ingested, served, block=False)
    try:
        client = Client(url, verbose=False)
        result = client.predict(TET_QUESTION, api_name="/ask")
        assert result["question"] == TET_QUESTION
        assert "10 triệu" in result["answer"]
        assert result["citations"] and {"quote", "start", "end", "source"} <= set(
            result["citations"][0]
        )
        follow = client.predict(
            "Còn hộ cận nghèo thì sao?", history=[TET_QUESTION], api_name="/ask"
        )
        assert follow["question"] == "Còn hộ cận nghèo thì sao?"
    finally:
        app.close()
