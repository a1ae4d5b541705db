"""The page's layout: the chat with its citation panel, the staff tab, and how it is served.

The look lives in ``static/app.css`` and the citation panel's behaviour in ``static/panel.js``,
package files read once at import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from .._state.staff import STAFF_OFF, StaffView
from ..settings import Settings
from .handlers import Handlers
from .i18n import I18N
from .inputs import ALLOWED_UPLOAD_SUFFIXES
from .rendering import AUDIT_COLUMNS, DOCUMENT_COLUMNS, PANEL_PLACEHOLDER
from .staff import AUDIT_ROWS_SHOWN

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = [
    "API_NAME",
    "CSS",
    "DEFAULT_EXAMPLES",
    "THEME",
    "build_app",
    "launch_options",
    "serve",
]

API_NAME = "ask"

DEFAULT_EXAMPLES = (
    "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?",
    "Trẻ em đi học ở Quảng Ninh được hỗ trợ uống sữa miễn phí đến năm nào?",
    "Năm 2025 Quảng Ninh sửa chữa nhà ở cho bao nhiêu hộ nghèo?",
    "Quảng Ninh đang thực hiện bao nhiêu dự án nhà ở xã hội?",
)

THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    # System fonts only: nothing to download, and they carry every Vietnamese diacritic.
    font=["system-ui", "Segoe UI", "Roboto", "Noto Sans", "Helvetica Neue", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

_STATIC = files(__package__) / "static"
CSS = (_STATIC / "app.css").read_text(encoding="utf-8")
_PANEL_JS = (_STATIC / "panel.js").read_text(encoding="utf-8")
_PAGE_JS = (_STATIC / "page.js").read_text(encoding="utf-8")


def _header(answerer: str) -> str:
    """The page's title and what it promises, which depends on who writes the answers: the
    extractive answerer quotes word for word, an LLM writes its own sentences."""
    if answerer == "extractive":
        how = (
            "Câu trả lời trích nguyên văn từ các văn bản đã nạp, kèm số trích dẫn [n] để đối chiếu."
        )
    else:
        how = (
            "Câu trả lời do máy soạn dựa trên các văn bản đã nạp; mỗi ý kèm số trích dẫn [n] "
            "dẫn tới đoạn văn gốc để bạn đối chiếu."
        )
    return (
        '<div id="qa-header"><h1>Trợ lý hỏi đáp chính sách</h1>'
        f"<p>{how} Nếu văn bản không nói đến, trợ lý sẽ nói rõ là không tìm thấy.</p></div>"
    )


def build_app(
    assistant: Assistant, settings: Settings, *, examples: Sequence[str] | None = None
) -> gr.Blocks:
    """The whole page. Launch it with :func:`serve` (theme and CSS are launch options)."""
    handlers = Handlers(assistant, settings)
    chosen_examples = list(DEFAULT_EXAMPLES if examples is None else examples)

    app = gr.Blocks(title="Hỏi đáp chính sách", analytics_enabled=False)
    with app:
        turns = gr.State([])
        rated = gr.State({})
        staff_token = gr.State("")
        gr.HTML(_header(settings.answerer))

        with gr.Tabs():
            with gr.Tab("Hỏi đáp", id="chat"):
                chat_parts = _build_chat(handlers, settings, turns, rated, chosen_examples)
            with gr.Tab("Tài liệu (cán bộ)", id="documents"):
                staff_parts = _build_staff(handlers, staff_token)

        gr.api(  # type: ignore[attr-defined]
            handlers.api_ask, api_name=API_NAME, concurrency_id="ask"
        )
        refresh_outputs = [
            chat_parts["sources"],
            *staff_parts["views"],
            staff_parts["table"],
            staff_parts["delete_choice"],
            staff_parts["audit"],
        ]
        app.load(handlers.refresh, [staff_token], refresh_outputs, api_visibility="private")
        for event in staff_parts["changed"]:
            event.then(handlers.refresh, [staff_token], refresh_outputs, api_visibility="private")
    return app


def _build_chat(
    handlers: Handlers,
    settings: Settings,
    turns: gr.State,
    rated: gr.State,
    examples: list[str],
) -> dict[str, Any]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            chatbot = gr.Chatbot(
                label="Hội thoại",
                elem_id="qa-chat",
                height=560,
                latex_delimiters=[],  # "$" in documents is money, not maths
                feedback_options=("Like", "Dislike"),
                buttons=["copy"],
                placeholder=(
                    "**Xin chào!** Hãy đặt câu hỏi về các văn bản chính sách đã nạp. "
                    "Mỗi câu trả lời kèm nguồn trích dẫn để bạn kiểm tra."
                ),
                examples=[{"text": q} for q in examples] or None,
                group_consecutive_messages=False,
            )
            with gr.Row(equal_height=True):
                question = gr.Textbox(
                    placeholder="Nhập câu hỏi, ví dụ: Hộ nghèo được hỗ trợ những gì?",
                    label="Câu hỏi",  # not shown, but read out (else Gradio's "Textbox")
                    show_label=False,
                    lines=1,
                    max_lines=4,
                    scale=5,
                    elem_id="qa-question",
                )
                send = gr.Button("Gửi", variant="primary", scale=1, elem_id="qa-send")
            with gr.Group(visible=False, elem_id="qa-comment-box") as comment_box:
                comment_turn = gr.Number(visible=False, precision=0)
                comment = gr.Textbox(
                    label="Góp ý (không bắt buộc)",
                    placeholder="Câu trả lời thiếu gì, sai ở đâu?",
                    lines=2,
                    elem_id="qa-comment",
                )
                comment_send = gr.Button("Gửi góp ý", size="sm", elem_id="qa-comment-send")
            with gr.Accordion("Bộ lọc: chọn tài liệu hoặc khoảng thời gian", open=False):
                sources = gr.Dropdown(
                    label="Chỉ tìm trong các tài liệu",
                    multiselect=True,
                    choices=[],
                    elem_id="qa-sources",
                )
                with gr.Row():
                    date_from = gr.DateTime(
                        label="Từ ngày", include_time=False, type="string", elem_id="qa-from"
                    )
                    date_to = gr.DateTime(
                        label="Đến ngày", include_time=False, type="string", elem_id="qa-to"
                    )
            clear = gr.Button("Cuộc hội thoại mới", size="sm", variant="secondary")
        with gr.Column(scale=2, min_width=320, elem_id="qa-side"):
            panel = gr.HTML(
                PANEL_PLACEHOLDER, js_on_load=_PANEL_JS, elem_id="qa-citation", padding=False
            )

    ask_inputs = [question, chatbot, turns, sources, date_from, date_to]
    ask_outputs = [chatbot, turns, question, panel]
    ask_options: dict[str, Any] = {
        "concurrency_id": "ask",
        "concurrency_limit": settings.serving.ask_concurrency,
        "api_visibility": "private",
    }
    question.submit(handlers.respond, ask_inputs, ask_outputs, **ask_options)
    send.click(handlers.respond, ask_inputs, ask_outputs, **ask_options)
    chatbot.example_select(
        handlers.ask_example, [turns], [question], api_visibility="private"
    ).then(handlers.respond, ask_inputs, ask_outputs, **ask_options)
    panel.click(handlers.show_citation, [turns], [panel], api_visibility="private")
    chatbot.like(
        handlers.rate, [turns, rated], [rated, comment_box, comment_turn], api_visibility="private"
    )
    comment_send.click(
        handlers.comment,
        [comment, comment_turn, rated],
        [comment, comment_box],
        api_visibility="private",
    )
    clear.click(
        handlers.clear,
        outputs=[chatbot, turns, rated, panel, comment_box, comment_turn],
        api_visibility="private",
    )
    # The chat's own bin icon empties the messages; the turns must follow or markers drift.
    chatbot.clear(
        handlers.clear,
        outputs=[chatbot, turns, rated, panel, comment_box, comment_turn],
        api_visibility="private",
    )
    return {"sources": sources}


def _build_staff(handlers: Handlers, token: gr.State) -> dict[str, Any]:
    # Until the page's load event has looked at the request, show the most closed state.
    first_view: StaffView = "login" if handlers.guard.has_password else "off"
    off_note = gr.Markdown(
        f"### Khu vực cán bộ đang tắt\n{STAFF_OFF}",
        visible=first_view == "off",
        elem_id="qa-staff-disabled",
    )
    with gr.Group(visible=first_view == "login") as login_box:
        password = gr.Textbox(
            label="Mật khẩu cán bộ", type="password", elem_id="qa-password", max_lines=1
        )
        login = gr.Button("Đăng nhập", variant="primary", elem_id="qa-login")
    with gr.Column(visible=False) as staff_box:
        open_note = gr.Markdown(
            "Đang mở không cần mật khẩu vì trang được truy cập trực tiếp trên máy chủ "
            "(không qua proxy).",
            visible=False,
            elem_id="qa-staff-open",
            elem_classes="qa-staff-note",
        )
        gr.Markdown(
            "Tài liệu đã nạp vào chỉ mục. Tải tệp mới lên để nạp thêm (chỉ nạp phần thay đổi).",
            elem_classes="qa-staff-note",
        )
        table = _listing(DOCUMENT_COLUMNS, "qa-documents")
        with gr.Row():
            with gr.Column():
                files = gr.File(
                    label=(
                        f"Tải lên ({', '.join(ALLOWED_UPLOAD_SUFFIXES)}; "
                        f"tối đa {handlers.settings.max_upload_mb} MB mỗi tệp)"
                    ),
                    file_count="multiple",
                    file_types=list(ALLOWED_UPLOAD_SUFFIXES),
                    type="filepath",
                    elem_id="qa-upload",
                )
                upload = gr.Button("Tải lên và nạp", variant="primary", elem_id="qa-upload-btn")
            with gr.Column():
                delete_choice = gr.Dropdown(
                    label="Xoá tài liệu", choices=[], elem_id="qa-delete-choice"
                )
                delete = gr.Button("Xoá tài liệu đã chọn", variant="stop", elem_id="qa-delete")
                reingest = gr.Button("Nạp lại toàn bộ", elem_id="qa-reingest")
        status = gr.Markdown(elem_id="qa-staff-status")
        with gr.Accordion(f"Nhật ký thao tác ({AUDIT_ROWS_SHOWN} mục mới nhất)", open=True):
            audit = _listing(AUDIT_COLUMNS, "qa-audit")
        logout = gr.Button("Đăng xuất", size="sm", visible=False, elem_id="qa-logout")

    private: dict[str, Any] = {"api_visibility": "private"}
    staff_options: dict[str, Any] = {
        "concurrency_id": "staff",
        "concurrency_limit": 1,
        **private,
    }
    uploaded = upload.click(handlers.upload, [files, token], [status], **staff_options)
    # Emptied in the browser once the upload went through, so it is never offered again.
    uploaded.success(None, None, [files], js="() => null", **private)
    # Every handler is wired whatever this page showed: each one decides per request.
    changed = [
        login.click(handlers.login, [password], [token, password], **private),
        password.submit(handlers.login, [password], [token, password], **private),
        logout.click(handlers.logout, [token], [token], **private),
        uploaded,
        delete.click(handlers.delete, [delete_choice, token], [status], **staff_options),
        reingest.click(handlers.reingest, [token], [status], **staff_options),
    ]
    return {
        "views": [off_note, login_box, staff_box, open_note, logout],
        "table": table,
        "delete_choice": delete_choice,
        "audit": audit,
        "changed": changed,
    }


def _listing(headers: list[str], elem_id: str) -> gr.Dataframe:
    """A table staff read but do not edit; the handlers fill it."""
    return gr.Dataframe(headers=headers, value=[], interactive=False, wrap=True, elem_id=elem_id)


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``app.launch`` shared by :func:`serve` and the tests."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": THEME,
        "css": CSS,
        "js": _PAGE_JS,
        "i18n": I18N,  # Gradio's own words (upload box, footer) in Vietnamese
        "footer_links": ["api"],  # the API page documents /ask; the rest links off-site
        "run_history": False,  # questions may be personal: keep them out of browser storage
        "enable_monitoring": False,  # /monitoring would show traffic to anyone
        "show_error": False,
        "max_file_size": f"{settings.max_upload_mb}mb",
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "quiet": True,
    }


def serve(assistant: Assistant, settings: Settings, *, block: bool = True) -> tuple[Any, str]:
    """Builds the page and serves it on ``settings.host:settings.port``.

    With ``block=False`` it returns at once (for tests); stop it with ``app.close()``.
    Returns the Gradio app and its local URL.
    """
    app = build_app(assistant, settings)
    _load_matplotlib(settings.cache_dir)
    serving = settings.serving
    app.queue(
        default_concurrency_limit=serving.ask_concurrency,
        max_size=serving.queue_size,
        status_update_rate=serving.status_interval_s or "auto",
    )
    _, url, _ = app.launch(prevent_thread_lock=not block, **launch_options(settings))
    return app, url


def _load_matplotlib(cache_dir: Path) -> None:
    """Gradio sets matplotlib's backend around every event, and so imports it (and pyplot) on
    the first one, inside the page's event loop: over a second on 2 busy cores, which every
    citizen queued at a fresh replica would wait. Done before the page opens instead.

    Its font list is kept in the project's cache, not in ~/.cache/matplotlib: the assistant
    writes nowhere else in the home folder (unless MPLCONFIGDIR says where)."""
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir / "matplotlib"))
    import matplotlib

    matplotlib.get_backend()
