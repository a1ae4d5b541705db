"""The Gradio page: chat with clickable citations, filters, feedback and the staff Documents tab.

Everything a document or a user wrote is passed through :func:`html.escape` before it becomes
HTML; the only markup on the page is the markup built here.

The Documents tab is guarded inside the page (see :mod:`.staff`) rather than by Gradio's
``auth``: ``auth`` locks the whole app, and citizens must be able to ask questions without an
account. Each staff handler checks the request and the session's login again, because every
event handler is also reachable over HTTP; each one, and each failed login, is written to the
audit log (:mod:`.audit`).
"""

from __future__ import annotations

import os

# Gradio reads this at import time; the assistant must not phone home from a civil-service LAN.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import html
import logging
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from .audit import AuditAction, AuditRecord, AuditResult, AuditStore, open_audit_store
from .errors import AuditError, QAError, StaffAccessError, UploadError
from .feedback import FeedbackStore, open_feedback_store
from .loading import SUPPORTED_SUFFIXES
from .settings import Settings
from .staff import STAFF_OFF, StaffGuard, StaffView, client_address
from .types import CITATION_MARKER, Answer, Citation, DocumentInfo, Filters, IngestReport

if TYPE_CHECKING:
    from .assistant import Assistant

log = logging.getLogger(__name__)

ALLOWED_UPLOAD_SUFFIXES = SUPPORTED_SUFFIXES  # an upload is kept only if ingest can read it
API_NAME = "ask"

# Two CPU cores: two questions at a time keeps both busy; the rest wait in the queue.
ASK_CONCURRENCY = 2
QUEUE_MAX_SIZE = 64
STREAM_STEPS = 24
STREAM_DELAY_S = 0.02
MAX_HISTORY = 4  # previous questions passed for follow-ups; older ones rarely help retrieval
LOGIN_FAILURE_DELAY_S = 1.0  # slows down password guessing
AUDIT_ROWS_SHOWN = 20

DEFAULT_EXAMPLES = (
    "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?",
    "Trẻ em đi học ở Quảng Ninh được hỗ trợ uống sữa miễn phí đến năm nào?",
    "Năm 2025 Quảng Ninh sửa chữa nhà ở cho bao nhiêu hộ nghèo?",
    "Quảng Ninh đang thực hiện bao nhiêu dự án nhà ở xã hội?",
)

_UNSAFE_NAME_CHARS = re.compile(r"[/\\:*?\"<>|]")

THEME = gr.themes.Soft(
    primary_hue="blue",
    neutral_hue="slate",
    # System fonts only: nothing to download, and they carry every Vietnamese diacritic.
    font=["system-ui", "Segoe UI", "Roboto", "Noto Sans", "Helvetica Neue", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto; }
#qa-header h1 { font-size: 1.6rem; margin: 0.2rem 0; }
#qa-header p { margin: 0; color: var(--body-text-color-subdued); }
.qa-answer, .qa-question { line-height: 1.6; }
.qa-answer p { margin: 0 0 0.5rem 0; }
.qa-abstain { color: var(--body-text-color-subdued); font-style: italic; }
.qa-error { color: var(--error-text-color, #b91c1c); }
.qa-thinking { color: var(--body-text-color-subdued); }
a.qa-cite {
  display: inline-block; padding: 0 0.3rem; margin: 0 0.1rem; border-radius: 0.35rem;
  background: var(--color-accent-soft, #dbeafe); color: var(--color-accent, #1d4ed8) !important;
  font-weight: 600; text-decoration: none !important; cursor: pointer; font-size: 0.9em;
}
a.qa-cite:hover, a.qa-cite:focus { background: var(--color-accent, #1d4ed8);
  color: #fff !important; }
.qa-sources { margin-top: 0.6rem; padding-top: 0.5rem;
  border-top: 1px solid var(--border-color-primary); font-size: 0.9em; }
.qa-sources-label { font-weight: 600; margin-right: 0.3rem; }
.qa-sources a.qa-cite { display: block; margin: 0.25rem 0; font-weight: 500;
  background: transparent; padding: 0.1rem 0; }
.qa-sources a.qa-cite b { color: var(--color-accent, #1d4ed8); margin-right: 0.3rem; }
.qa-warnings { margin-top: 0.4rem; font-size: 0.85em; color: var(--body-text-color-subdued); }
#qa-side { position: sticky; top: 0.5rem; }
.qa-panel { padding: 0.9rem 1rem; border: 1px solid var(--border-color-primary);
  border-radius: 0.6rem; background: var(--block-background-fill); }
.qa-panel-empty { color: var(--body-text-color-subdued); }
.qa-panel h3 { margin: 0.1rem 0 0.5rem 0; font-size: 1.1rem; line-height: 1.35; }
.qa-badge { display: inline-block; padding: 0 0.4rem; border-radius: 0.35rem;
  background: var(--color-accent, #1d4ed8); color: #fff; font-weight: 700; margin-right: 0.4rem; }
.qa-meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 0.7rem;
  margin: 0 0 0.7rem 0; font-size: 0.9em; }
.qa-meta dt { color: var(--body-text-color-subdued); }
.qa-meta dd { margin: 0; }
.qa-passage { margin: 0 0 0.8rem 0; padding: 0.6rem 0.8rem; line-height: 1.6;
  border-left: 4px solid var(--color-accent, #1d4ed8); background: var(--background-fill-secondary);
  white-space: pre-wrap; }
mark.qa-quote, mark.qa-doc-mark { background: #fde68a; color: inherit; padding: 0 0.1rem;
  border-radius: 0.2rem; }
.qa-fulldoc summary { cursor: pointer; font-weight: 600; margin-bottom: 0.4rem; }
.qa-doc { position: relative; max-height: 45vh; overflow-y: auto; white-space: pre-wrap;
  line-height: 1.6; padding: 0.6rem 0.8rem; font-size: 0.92em;
  border: 1px solid var(--border-color-primary); border-radius: 0.4rem; }
.qa-staff-note { color: var(--body-text-color-subdued); }
/* The table defaults to the mono font, whose fallbacks break Vietnamese stacked accents. */
#qa-documents, #qa-documents *, #qa-audit, #qa-audit * {
  font-family: var(--font) !important; }
"""

# Clicks on any [n] anywhere on the page (the chat is another component) are caught at the
# document and handed to the citation panel's own trigger, so Python renders the source.
# The turn and marker ride in the href: the chat's sanitiser strips data-* attributes.
_PANEL_JS = r"""
window.__qaShowCitation = (turn, marker) => trigger('click', {turn: Number(turn),
  marker: Number(marker)});
if (!window.__qaCiteListener) {
  window.__qaCiteListener = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest ? event.target.closest('a.qa-cite') : null;
    if (!link) return;
    const target = /qa-cite-(\d+)-(\d+)/.exec(link.getAttribute('href') || '');
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    window.__qaShowCitation(target[1], target[2]);
  }, true);
}
const scrollToQuote = () => {
  const doc = element.querySelector('.qa-doc');
  const mark = element.querySelector('.qa-doc-mark');
  if (doc && mark) doc.scrollTop = Math.max(0, mark.offsetTop - doc.clientHeight / 3);
  const panel = element.querySelector('.qa-panel[data-turn]');
  if (panel && window.innerWidth < 900) panel.scrollIntoView({behavior: 'smooth'});
};
watch('value', scrollToQuote);
scrollToQuote();
"""

PANEL_PLACEHOLDER = (
    '<div class="qa-panel qa-panel-empty">'
    "<h3>Nguồn trích dẫn</h3>"
    "<p>Bấm vào một số trích dẫn như <b>[1]</b> trong câu trả lời để xem đoạn văn gốc, "
    "ngày ban hành và toàn văn tài liệu ở đây.</p></div>"
)


@dataclass(frozen=True)
class Turn:
    """One question of a session and what came of it (``answer`` is None after an error)."""

    question: str
    answer: Answer | None
    filters: Filters | None = None
    history: tuple[str, ...] = ()


# --------------------------------------------------------------------------- rendering


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _paragraphs(escaped: str) -> str:
    # No blank lines may reach the chat: Markdown would end the HTML block there and start
    # interpreting the document's own text.
    parts = [p for p in re.split(r"\n\s*\n", escaped) if p.strip()]
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in parts)


def cite_link(turn: int, citation: Citation, label: str | None = None) -> str:
    text = label if label is not None else f"[{citation.marker}]"
    return (
        f'<a class="qa-cite" href="#qa-cite-{turn}-{citation.marker}" '
        f'title="{_esc(citation.title)}">{text}</a>'
    )


def _link_markers(escaped: str, turn: int, citations: dict[int, Citation]) -> str:
    def replace(match: re.Match[str]) -> str:
        citation = citations.get(int(match.group(1)))
        return cite_link(turn, citation) if citation else match.group(0)

    return CITATION_MARKER.sub(replace, escaped)


def render_question(question: str) -> str:
    return f'<div class="qa-question">{_paragraphs(_esc(question))}</div>'


def render_answer(answer: Answer, turn: int, *, upto: int | None = None) -> str:
    """The chat bubble of an answer; ``upto`` cuts the text while it streams in."""
    text = answer.text if upto is None else answer.text[:upto]
    citations = {c.marker: c for c in answer.citations}
    body = _link_markers(_paragraphs(_esc(text)), turn, citations)
    css = "qa-answer qa-abstain" if answer.abstained else "qa-answer"
    if upto is None:
        css += " qa-final"  # lets tests and scripts tell the last streamed step apart
    parts = [f'<div class="{css}">{body}']
    if upto is None:
        parts.append(_render_sources(answer, turn))
        if answer.warnings:
            notes = "".join(f"<li>{_esc(w)}</li>" for w in answer.warnings)
            parts.append(f'<ul class="qa-warnings">{notes}</ul>')
    parts.append("</div>")
    return "".join(parts)


def _render_sources(answer: Answer, turn: int) -> str:
    if not answer.citations:
        return ""
    links = []
    for c in answer.citations:
        where = f" — {_esc(c.heading)}" if c.heading else ""
        when = f" ({c.date.strftime('%d/%m/%Y')})" if c.date else ""
        label = f"<b>[{c.marker}]</b>{_esc(c.title)}{when}{where}"
        links.append(cite_link(turn, c, label))
    label = '<span class="qa-sources-label">Nguồn:</span>'
    return f'<div class="qa-sources">{label}{"".join(links)}</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-answer qa-error qa-final">⚠️ {_esc(message)}</div>'


def _highlight(text: str, start: int, end: int, css: str, elem_id: str = "") -> str:
    ident = f' id="{elem_id}"' if elem_id else ""
    return (
        f'{_esc(text[:start])}<mark class="{css}"{ident}>{_esc(text[start:end])}</mark>'
        f"{_esc(text[end:])}"
    )


def _locate_quote(text: str, citation: Citation) -> tuple[int, int] | None:
    if citation.quote and text[citation.start : citation.end] == citation.quote:
        return citation.start, citation.end
    # The document changed since the answer (re-ingested): fall back to finding the words.
    found = text.find(citation.quote) if citation.quote else -1
    return (found, found + len(citation.quote)) if found >= 0 else None


def render_citation_panel(citation: Citation, turn: int, document_text: str | None) -> str:
    """The side panel of one citation: metadata, passage with the quote, the whole document."""
    meta = [("Tài liệu", _esc(citation.source))]
    if citation.date:
        meta.insert(0, ("Ngày", citation.date.strftime("%d/%m/%Y")))
    if citation.heading:
        meta.append(("Mục", _esc(citation.heading)))
    meta_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)

    text = citation.passage.strip()
    at = text.find(citation.quote) if citation.quote else -1
    passage = _highlight(text, at, at + len(citation.quote), "qa-quote") if at >= 0 else _esc(text)
    parts = [
        f'<div class="qa-panel" data-turn="{turn}" data-marker="{citation.marker}">',
        f'<h3><span class="qa-badge">[{citation.marker}]</span>{_esc(citation.title)}</h3>',
        f'<dl class="qa-meta">{meta_html}</dl>',
        f'<blockquote class="qa-passage">{passage}</blockquote>',
        _render_full_document(citation, document_text),
        "</div>",
    ]
    return "".join(parts)


def _render_full_document(citation: Citation, document_text: str | None) -> str:
    if document_text is None:
        return (
            '<p class="qa-panel-empty">Không mở được toàn văn tài liệu này (có thể đã bị xoá).</p>'
        )
    span = _locate_quote(document_text, citation)
    body = (
        _highlight(document_text, span[0], span[1], "qa-doc-mark", "qa-doc-mark")
        if span
        else _esc(document_text)
    )
    return (
        '<details class="qa-fulldoc" open><summary>Toàn văn tài liệu</summary>'
        f'<div class="qa-doc">{body}</div></details>'
    )


def render_documents_table(documents: Sequence[DocumentInfo]) -> list[list[Any]]:
    return [
        [
            d.title,
            d.source,
            d.date.isoformat() if d.date else "",
            d.chunks,
            d.ingested_at.replace("T", " ")[:19],
        ]
        for d in documents
    ]


DOCUMENT_COLUMNS = ["Tiêu đề", "Tệp", "Ngày", "Số đoạn", "Nạp lúc (UTC)"]
AUDIT_COLUMNS = ["Lúc (UTC)", "Thao tác", "Tệp", "Kết quả", "Chi tiết", "Máy"]
AUDIT_ACTIONS = {"upload": "Tải lên", "delete": "Xoá", "reingest": "Nạp lại", "login": "Đăng nhập"}
AUDIT_RESULTS = {
    "ok": "thành công",
    "failed": "lỗi",
    "refused": "bị từ chối",
    "wrong-password": "sai mật khẩu",
    "locked": "tạm khoá",
}


def render_audit_table(records: Sequence[AuditRecord]) -> list[list[str]]:
    return [
        [
            r.at.replace("T", " ")[:19],
            AUDIT_ACTIONS.get(r.action, r.action),
            r.target,
            AUDIT_RESULTS.get(r.result, r.result),
            r.detail,
            r.client,
        ]
        for r in records
    ]


def format_ingest_report(report: IngestReport, saved: Sequence[str] = ()) -> str:
    lines = []
    if saved:
        lines.append("Đã lưu: " + ", ".join(f"`{_esc(name)}`" for name in saved))
    lines.append(
        f"Đã nạp: {report.added} mới, {report.updated} cập nhật, {report.skipped} không đổi, "
        f"{report.removed} gỡ bỏ — chỉ mục có {report.documents} tài liệu, "
        f"{report.chunks} đoạn ({report.seconds:.1f} giây)."
    )
    for failed in report.failed:
        lines.append(f"❌ `{_esc(failed.path)}`: {_esc(failed.error)}")
    return "\n\n".join(lines)


# --------------------------------------------------------------------------- inputs


def stream_cuts(text: str, steps: int = STREAM_STEPS) -> list[int]:
    """Where to cut ``text`` while streaming: word ends, roughly ``steps`` of them."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    if not ends:
        return [len(text)]
    stride = max(1, len(ends) // steps)
    cuts = ends[stride - 1 :: stride]
    if cuts[-1] != len(text):
        cuts.append(len(text))
    return cuts


def parse_date(value: Any, label: str) -> date | None:
    """A date from the date pickers, which give '' / None / 'YYYY-MM-DD[ HH:MM:SS]'."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(value, UTC).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise QAError(f"{label} không hợp lệ: hãy chọn ngày theo dạng NNNN-TT-NN.") from None


def make_filters(sources: Sequence[str] | None, date_from: Any, date_to: Any) -> Filters | None:
    start = parse_date(date_from, "Ngày bắt đầu")
    end = parse_date(date_to, "Ngày kết thúc")
    if start and end and start > end:
        raise QAError("Ngày bắt đầu phải trước ngày kết thúc.")
    filters = Filters(sources=tuple(sources or ()), date_from=start, date_to=end)
    return None if filters.is_empty() else filters


def validate_upload_name(name: str) -> str:
    """The file name to save an upload under, or :class:`UploadError` saying why not."""
    name = unicodedata.normalize("NFC", name)
    if not name or not name.strip():
        raise UploadError("Tên tệp trống.")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise UploadError("Tên tệp chứa ký tự điều khiển; hãy đổi tên tệp.")
    if _UNSAFE_NAME_CHARS.search(name) or ".." in name:
        raise UploadError(f"Tên tệp {name!r} không an toàn (chứa / \\ .. hoặc ký tự đặc biệt).")
    if name.startswith(".") or name != name.strip():
        raise UploadError(
            f"Tên tệp {name!r} không hợp lệ (tệp ẩn hoặc có khoảng trắng ở đầu/cuối)."
        )
    if len(name.encode("utf-8")) > 200:
        raise UploadError("Tên tệp quá dài; hãy đặt tên ngắn hơn 200 byte.")
    if Path(name).suffix.lower() not in ALLOWED_UPLOAD_SUFFIXES:
        allowed = ", ".join(ALLOWED_UPLOAD_SUFFIXES)
        raise UploadError(f"Không nhận loại tệp của {name!r}. Chỉ nhận: {allowed}.")
    return name


def save_upload(source: Path, name: str, documents_dir: Path, max_upload_mb: int) -> Path:
    """Copies an uploaded file into ``documents_dir`` under a validated name; returns the path."""
    safe_name = validate_upload_name(name)
    size = source.stat().st_size
    if size > max_upload_mb * 1024 * 1024:
        raise UploadError(
            f"Tệp {safe_name!r} nặng {size / 1024 / 1024:.1f} MB, vượt giới hạn {max_upload_mb} MB."
        )
    if size == 0:
        raise UploadError(f"Tệp {safe_name!r} rỗng.")
    root = documents_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    target = (root / safe_name).resolve()
    if target.parent != root:  # belt and braces after the name checks
        raise UploadError(f"Tên tệp {safe_name!r} không an toàn.")
    # Copy beside the target, then rename: an ingest running meanwhile never sees half a file.
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp_name)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def staff_guard(settings: Settings) -> StaffGuard:
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    return StaffGuard(
        password,
        max_failures=settings.login_max_failures,
        window_s=settings.login_window_minutes * 60,
        idle_s=settings.staff_session_idle_minutes * 60,
    )


def _file_paths(files: Any) -> list[Path]:
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    return [Path(str(getattr(item, "name", item))) for item in items]


def _previous_questions(turns: Sequence[Turn]) -> tuple[str, ...]:
    return tuple(t.question for t in turns)[-MAX_HISTORY:]


# --------------------------------------------------------------------------- the app


class _Handlers:
    """The event handlers, bound to one assistant and its settings (one per app)."""

    def __init__(self, assistant: Assistant, settings: Settings) -> None:
        self.assistant = assistant
        self.settings = settings
        self.guard = staff_guard(settings)
        self._feedback: FeedbackStore | None = None
        self._audit: AuditStore | None = None

    @property
    def feedback(self) -> FeedbackStore:
        # Opened on first use so that a read-only index folder only costs the feedback feature.
        if self._feedback is None:
            self._feedback = open_feedback_store(self.settings)
        return self._feedback

    # ---- chat

    def respond(
        self,
        question: str,
        chat: list[dict[str, Any]],
        turns: list[Turn],
        sources: list[str] | None,
        date_from: Any,
        date_to: Any,
    ) -> Iterator[tuple[Any, ...]]:
        question = (question or "").strip()
        if not question:
            gr.Info("Hãy nhập câu hỏi.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        chat = [*chat, _message("user", render_question(question))]
        turn_index = len(turns)
        pending = '<div class="qa-answer qa-thinking">Đang tìm trong tài liệu…</div>'
        yield [*chat, _message("assistant", pending)], turns, "", gr.skip()

        history = _previous_questions(turns)
        try:
            filters = make_filters(sources, date_from, date_to)
            answer = self.assistant.ask(question, filters=filters, history=history)
        except QAError as exc:
            gr.Warning(str(exc))
            turns = [*turns, Turn(question, None)]
            yield [*chat, _message("assistant", render_error(str(exc)))], turns, "", gr.skip()
            return
        except Exception:
            log.exception("answering %r failed", question)
            message = "Đã có lỗi khi trả lời câu hỏi. Vui lòng thử lại sau."
            gr.Warning(message)
            turns = [*turns, Turn(question, None)]
            yield [*chat, _message("assistant", render_error(message))], turns, "", gr.skip()
            return

        turns = [*turns, Turn(question, answer, filters, history)]
        for cut in stream_cuts(answer.text)[:-1]:
            partial = render_answer(answer, turn_index, upto=cut)
            yield [*chat, _message("assistant", partial)], turns, "", gr.skip()
            time.sleep(STREAM_DELAY_S)
        final = [*chat, _message("assistant", render_answer(answer, turn_index))]
        panel = (
            self._panel(answer.citations[0], turn_index) if answer.citations else PANEL_PLACEHOLDER
        )
        yield final, turns, "", panel

    def ask_example(self, turns: list[Turn], evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "") if isinstance(value, dict) else value)

    def show_citation(self, turns: list[Turn], evt: gr.EventData) -> Any:
        try:
            turn = int(evt.turn)
            marker = int(evt.marker)
        except (AttributeError, TypeError, ValueError):
            return gr.skip()
        if not 0 <= turn < len(turns) or turns[turn].answer is None:
            return gr.skip()
        answer = turns[turn].answer
        assert answer is not None
        citation = next((c for c in answer.citations if c.marker == marker), None)
        return self._panel(citation, turn) if citation else gr.skip()

    def _panel(self, citation: Citation, turn: int) -> str:
        try:
            text: str | None = self.assistant.document_text(citation.source)
        except QAError:
            text = None
        return render_citation_panel(citation, turn, text)

    def clear(self) -> tuple[Any, ...]:
        return [], [], {}, PANEL_PLACEHOLDER, gr.update(visible=False), None

    # ---- feedback

    def rate(self, turns: list[Turn], rated: dict[int, int], evt: gr.LikeData) -> tuple[Any, ...]:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        turn = index // 2  # each turn adds a question and an answer
        answer = turns[turn].answer if 0 <= turn < len(turns) else None
        if answer is None:
            gr.Info("Không có câu trả lời để đánh giá.")
            return rated, gr.update(visible=False), None
        rated = dict(rated)
        try:
            if evt.liked is True or evt.liked is False:
                rating = "up" if evt.liked else "down"
                if turn in rated:
                    self.feedback.update(rated[turn], rating=rating)
                else:
                    rated[turn] = self.feedback.record(
                        answer, rating, history=turns[turn].history, filters=turns[turn].filters
                    )
            elif turn in rated:  # the thumb was taken back
                self.feedback.delete(rated.pop(turn))
                return rated, gr.update(visible=False), None
            else:
                return rated, gr.skip(), gr.skip()
        except QAError as exc:
            gr.Warning(str(exc))
            return rated, gr.skip(), gr.skip()
        gr.Info("Cảm ơn bạn đã đánh giá! Bạn có thể góp ý thêm bên dưới.")
        label = f"Góp ý cho câu trả lời số {turn + 1} (không bắt buộc)"
        return rated, gr.update(visible=True), gr.update(value=turn, label=label)

    def comment(self, text: str, turn: int | None, rated: dict[int, int]) -> tuple[Any, ...]:
        text = (text or "").strip()
        if turn is None or int(turn) not in rated:
            gr.Info("Hãy bấm 👍 hoặc 👎 trên câu trả lời trước khi góp ý.")
            return gr.skip(), gr.skip()
        if not text:
            gr.Info("Hãy viết góp ý trước khi gửi.")
            return gr.skip(), gr.skip()
        try:
            self.feedback.update(rated[int(turn)], comment=text)
        except QAError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip()
        gr.Info("Đã ghi nhận góp ý. Cảm ơn bạn!")
        return "", gr.update(visible=False)

    # ---- documents (staff)

    @property
    def audit(self) -> AuditStore:
        if self._audit is None:
            self._audit = open_audit_store(self.settings)
        return self._audit

    def _record(
        self,
        action: AuditAction,
        result: AuditResult,
        request: gr.Request | None,
        *,
        target: str = "",
        detail: str = "",
    ) -> None:
        try:
            self.audit.record(action, result, client_address(request), target=target, detail=detail)
        except AuditError as exc:
            # The action itself has happened; staff must know that it went unrecorded.
            log.error("%s", exc)
            gr.Warning(f"Không ghi được nhật ký thao tác: {exc}")

    def _authorize(
        self, action: AuditAction, token: str | None, request: gr.Request | None, target: str = ""
    ) -> None:
        """Raises ``gr.Error`` (and records the refusal) unless the request may act."""
        try:
            self.guard.authorize(request, token)
        except StaffAccessError as exc:
            self._record(action, "refused", request, target=target, detail=str(exc))
            raise gr.Error(str(exc), print_exception=False) from None

    def login(self, password: str, request: gr.Request) -> tuple[Any, ...]:
        """A session token on success; the password box is always emptied."""
        result = self.guard.login(password or "", client_address(request))
        if result.outcome == "ok":
            self._record("login", "ok", request)
            gr.Info(result.message)
            return result.token, ""
        if result.outcome == "off":
            raise gr.Error(result.message, print_exception=False)
        self._record("login", "wrong-password" if result.outcome == "wrong" else "locked", request)
        time.sleep(LOGIN_FAILURE_DELAY_S)
        gr.Warning(result.message)
        return gr.skip(), ""

    def logout(self, token: str | None) -> str:
        self.guard.sessions.end(token)
        return ""

    def refresh(self, token: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Everything that depends on the documents or on who asks (on load, after changes):
        the filter choices, the staff tab's state, the documents, the delete box, the log."""
        view = self.guard.view(request, token)
        allowed = view in ("open", "staff")
        try:
            documents = self.assistant.documents()
        except QAError as exc:
            gr.Warning(str(exc))
            documents = None
        audit: list[list[str]] = []
        if allowed:
            try:
                audit = render_audit_table(self.audit.records(latest=AUDIT_ROWS_SHOWN))
            except AuditError as exc:
                gr.Warning(str(exc))
        choices = [(f"{d.title} ({d.source})", d.source) for d in documents or ()]
        table = render_documents_table(documents or ()) if allowed else []
        listed = documents is not None
        return (
            gr.update(choices=choices) if listed else gr.skip(),
            *_staff_visibility(view),
            gr.update(value=table) if listed else gr.skip(),
            gr.update(choices=choices, value=None) if listed else gr.skip(),
            gr.update(value=audit),
        )

    def upload(
        self,
        files: Any,
        token: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> str:
        paths = _file_paths(files)
        names = ", ".join(p.name for p in paths)
        self._authorize("upload", token, request, names)
        if not paths:
            gr.Info("Hãy chọn tệp để tải lên.")
            return ""
        saved: list[Path] = []
        problems: list[str] = []
        for path in paths:
            try:
                saved.append(
                    save_upload(
                        path,
                        path.name,
                        self.settings.documents_dir,
                        self.settings.max_upload_mb,
                    )
                )
            except (UploadError, OSError) as exc:
                self._record("upload", "failed", request, target=path.name, detail=str(exc))
                problems.append(f"❌ {_esc(str(exc))}")
        if not saved:
            gr.Warning("Không tệp nào được nhận.")
            return "\n\n".join(problems)
        report = self._ingest(saved, rebuild=False, progress=progress)
        failed = {Path(f.path).name: f.error for f in report.failed} if report else {}
        for path in saved:
            error = failed.get(path.name, "" if report else "chưa nạp được vào chỉ mục")
            self._record(
                "upload", "failed" if error else "ok", request, target=path.name, detail=error
            )
        if report is None:
            return "\n\n".join(problems)
        return "\n\n".join([format_ingest_report(report, [p.name for p in saved]), *problems])

    def reingest(
        self,
        token: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> str:
        self._authorize("reingest", token, request)
        report = self._ingest(None, rebuild=True, progress=progress)
        if report is None:
            self._record("reingest", "failed", request)
            return ""
        summary = f"{report.documents} tài liệu, {report.chunks} đoạn, {len(report.failed)} tệp lỗi"
        self._record("reingest", "failed" if report.failed else "ok", request, detail=summary)
        return format_ingest_report(report)

    def _ingest(
        self, paths: Sequence[Path] | None, *, rebuild: bool, progress: gr.Progress | None
    ) -> IngestReport | None:
        def report_progress(done: int, total: int, source: str) -> None:
            if progress is not None:
                progress((done, max(total, 1)), desc=f"Đang nạp {source}", unit="tệp")

        try:
            return self.assistant.ingest(paths, rebuild=rebuild, progress=report_progress)
        except QAError as exc:
            gr.Warning(str(exc))
            return None

    def delete(self, source: str | None, token: str | None, request: gr.Request) -> str:
        self._authorize("delete", token, request, source or "")
        if not source:
            gr.Info("Hãy chọn tài liệu cần xoá.")
            return ""
        try:
            self.assistant.delete_document(source)
        except QAError as exc:
            self._record("delete", "failed", request, target=source, detail=str(exc))
            gr.Warning(str(exc))
            return ""
        self._remove_file(source)
        self._record("delete", "ok", request, target=source)
        gr.Info(f"Đã xoá {source}.")
        return f"Đã xoá `{_esc(source)}` khỏi chỉ mục và thư mục tài liệu."

    def _remove_file(self, source: str) -> None:
        # Otherwise the next "re-ingest all" would bring the document back.
        root = self.settings.documents_dir.resolve()
        target = (root / source).resolve()
        if target.is_relative_to(root) and target != root and target.is_file():
            target.unlink()

    # ---- API

    def api_ask(
        self,
        question: str,
        sources: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        history: list[str] | None = None,
        k: int | None = None,
    ) -> dict[str, Any]:
        """Answers a question from the documents; returns the answer with its citations.

        Parameters:
            question: the question, in Vietnamese.
            sources: only these documents (their file names as in the Documents tab).
            date_from: only documents dated on or after this day (YYYY-MM-DD).
            date_to: only documents dated on or before this day (YYYY-MM-DD).
            history: earlier questions of the conversation, oldest first, for follow-ups.
            k: how many passages the answer may draw on.
        Returns:
            question, answer, abstained, citations (marker, source, title, date, heading,
            text, quote, start, end), retrieved, warnings, latency_ms.
        """
        if not question or not question.strip():
            raise gr.Error("Câu hỏi trống.", print_exception=False)
        try:
            filters = make_filters(sources, date_from, date_to)
            answer = self.assistant.ask(
                question.strip(), k=k, filters=filters, history=tuple(history or ())
            )
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return answer.to_dict()


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


def _header() -> str:
    return (
        '<div id="qa-header"><h1>Trợ lý hỏi đáp chính sách</h1>'
        "<p>Câu trả lời trích nguyên văn từ các văn bản đã nạp, kèm số trích dẫn [n] để đối "
        "chiếu. Nếu văn bản không nói đến, trợ lý sẽ nói rõ là không tìm thấy.</p></div>"
    )


def build_app(
    assistant: Assistant, settings: Settings, *, examples: Sequence[str] | None = None
) -> gr.Blocks:
    """The whole page. Launch it with :func:`serve` (theme and CSS are launch options)."""
    handlers = _Handlers(assistant, settings)
    chosen_examples = list(DEFAULT_EXAMPLES if examples is None else examples)

    app = gr.Blocks(title="Hỏi đáp chính sách", analytics_enabled=False)
    with app:
        turns = gr.State([])
        rated = gr.State({})
        staff_token = gr.State("")
        gr.HTML(_header())

        with gr.Tabs():
            with gr.Tab("Hỏi đáp", id="chat"):
                chat_parts = _build_chat(handlers, turns, rated, chosen_examples)
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
    handlers: _Handlers, turns: gr.State, rated: gr.State, examples: list[str]
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
                    show_label=False,
                    lines=1,
                    max_lines=4,
                    scale=5,
                    elem_id="qa-question",
                    autofocus=True,
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
        "concurrency_limit": ASK_CONCURRENCY,
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


def _staff_visibility(view: StaffView) -> tuple[Any, ...]:
    """Visibility of the off note, login box, staff area, "open here" note and logout button."""
    return (
        gr.update(visible=view == "off"),
        gr.update(visible=view == "login"),
        gr.update(visible=view in ("open", "staff")),
        gr.update(visible=view == "open"),
        gr.update(visible=view == "staff"),
    )


def _build_staff(handlers: _Handlers, token: gr.State) -> dict[str, Any]:
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
        table = gr.Dataframe(
            headers=DOCUMENT_COLUMNS,
            value=[],
            interactive=False,
            wrap=True,
            elem_id="qa-documents",
        )
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
            audit = gr.Dataframe(
                headers=AUDIT_COLUMNS,
                value=[],
                interactive=False,
                wrap=True,
                elem_id="qa-audit",
            )
        logout = gr.Button("Đăng xuất", size="sm", visible=False, elem_id="qa-logout")

    private: dict[str, Any] = {"api_visibility": "private"}
    staff_options: dict[str, Any] = {
        "concurrency_id": "staff",
        "concurrency_limit": 1,
        **private,
    }
    # Every handler is wired whatever this page showed: each one decides per request.
    changed = [
        login.click(handlers.login, [password], [token, password], **private),
        password.submit(handlers.login, [password], [token, password], **private),
        logout.click(handlers.logout, [token], [token], **private),
        upload.click(handlers.upload, [files, token], [status], **staff_options),
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


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``app.launch`` shared by :func:`serve` and the tests."""
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "theme": THEME,
        "css": CSS,
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
    app.queue(default_concurrency_limit=ASK_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    _, url, _ = app.launch(prevent_thread_lock=not block, **launch_options(settings))
    return app, url


__all__ = [
    "ALLOWED_UPLOAD_SUFFIXES",
    "API_NAME",
    "DEFAULT_EXAMPLES",
    "Turn",
    "build_app",
    "launch_options",
    "make_filters",
    "render_answer",
    "render_citation_panel",
    "save_upload",
    "serve",
    "staff_guard",
    "validate_upload_name",
]
