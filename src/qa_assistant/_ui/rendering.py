"""Answers, citations, documents and audit rows as the page shows them: HTML and table rows.

Everything a document or a user wrote is passed through :func:`html.escape` before it becomes
HTML; the only markup on the page is the markup built here. Pure functions, no Gradio.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._state.audit import AuditRecord
from ..types import CITATION_MARKER, OCR_NOTICE, Answer, Citation, DocumentInfo, IngestReport

if TYPE_CHECKING:
    from .failures import FailedDocument

__all__ = [
    "AUDIT_COLUMNS",
    "DOCUMENT_COLUMNS",
    "PANEL_PLACEHOLDER",
    "PENDING",
    "cite_link",
    "escape",
    "format_ingest_report",
    "render_answer",
    "render_audit_table",
    "render_citation_panel",
    "render_documents_table",
    "render_draft",
    "render_error",
    "render_question",
]

PENDING = '<div class="qa-answer qa-thinking">Đang tìm trong tài liệu…</div>'
PANEL_PLACEHOLDER = (
    '<div class="qa-panel qa-panel-empty">'
    "<h3>Nguồn trích dẫn</h3>"
    "<p>Bấm vào một số trích dẫn như <b>[1]</b> trong câu trả lời để xem đoạn văn gốc, "
    "ngày ban hành và toàn văn tài liệu ở đây.</p></div>"
)


def escape(text: str) -> str:
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
        f'title="{escape(citation.title)}">{text}</a>'
    )


def _link_markers(escaped: str, turn: int, citations: dict[int, Citation]) -> str:
    def replace(match: re.Match[str]) -> str:
        citation = citations.get(int(match.group(1)))
        return cite_link(turn, citation) if citation else match.group(0)

    return CITATION_MARKER.sub(replace, escaped)


def render_question(question: str) -> str:
    return f'<div class="qa-question">{_paragraphs(escape(question))}</div>'


def render_answer(answer: Answer, turn: int) -> str:
    """The chat bubble of a finished answer: markers linked, sources listed, its note shown."""
    citations = {c.marker: c for c in answer.citations}
    body = _link_markers(_paragraphs(_with_short_answer(answer)), turn, citations)
    # qa-final tells tests and scripts the checked answer from a draft; qa-turn-N lets the
    # citation panel's way back find the answer that cited it (the chat strips ids).
    css = "qa-answer qa-abstain" if answer.abstained else "qa-answer"
    if answer.provision:
        css += " qa-provision"  # the rule to check a statement against, not a stated answer
    parts = [f'<div class="{css} qa-final qa-turn-{turn}">{body}', _render_sources(answer, turn)]
    # The note, not the warnings: those are the operator's, in English, naming settings.
    if answer.note:
        parts.append(f'<p class="qa-warnings">{escape(answer.note)}</p>')
    parts.append("</div>")
    return "".join(parts)


def _with_short_answer(answer: Answer) -> str:
    """The answer's text, escaped, its short answer (what the span model found) in bold."""
    text = escape(answer.text)
    if not answer.answer_span:
        return text
    span = escape(answer.answer_span)
    return text.replace(span, f'<strong class="qa-span">{span}</strong>', 1)


def render_draft(text: str) -> str:
    """The model's reply while it is being written: plain text, its markers not yet checked."""
    return f'<div class="qa-answer qa-draft">{_paragraphs(escape(text))}</div>'


def _render_sources(answer: Answer, turn: int) -> str:
    if not answer.citations:
        return ""
    links = []
    named: set[str] = set()
    for c in answer.citations:
        where = f" — {escape(c.heading)}" if c.heading else ""
        page = f", {c.page_label}" if c.page else ""
        # A document cited twice is named once: its further quotes show their place in it.
        if c.source in named:
            label = f"<b>[{c.marker}]</b>{page.lstrip(', ')}{where}"
        else:
            when = f" ({c.date.strftime('%d/%m/%Y')})" if c.date else ""
            label = f"<b>[{c.marker}]</b>{escape(c.title)}{when}{page}{where}"
            named.add(c.source)
        links.append(cite_link(turn, c, label))
    label = '<span class="qa-sources-label">Nguồn:</span>'
    return f'<div class="qa-sources">{label}{"".join(links)}</div>'


def render_error(message: str) -> str:
    """The chat bubble of a question that could not be answered."""
    return f'<div class="qa-answer qa-error qa-final">⚠️ {escape(message)}</div>'


def _highlight(text: str, start: int, end: int, css: str, elem_id: str = "") -> str:
    ident = f' id="{elem_id}"' if elem_id else ""
    return (
        f'{escape(text[:start])}<mark class="{css}"{ident}>{escape(text[start:end])}</mark>'
        f"{escape(text[end:])}"
    )


def _locate_quote(text: str, citation: Citation) -> tuple[int, int] | None:
    if citation.quote and text[citation.start : citation.end] == citation.quote:
        return citation.start, citation.end
    # The document changed since the answer (re-ingested): fall back to finding the words.
    found = text.find(citation.quote) if citation.quote else -1
    return (found, found + len(citation.quote)) if found >= 0 else None


def render_citation_panel(citation: Citation, turn: int, document_text: str | None) -> str:
    """The side panel of one citation: metadata, passage with the quote, the whole document."""
    meta = [("Tài liệu", escape(citation.source))]
    if citation.date:
        meta.insert(0, ("Ngày", citation.date.strftime("%d/%m/%Y")))
    if citation.page:
        meta.append(("Vị trí", escape(citation.page_label)))
    if citation.heading:
        meta.append(("Mục", escape(citation.heading)))
    meta_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    # Staff should check a passage OCR read against the printed page before relying on it.
    scanned = f'<p class="qa-ocr-note">⚠️ {OCR_NOTICE}</p>' if citation.ocr else ""

    text = citation.passage.strip()
    at = text.find(citation.quote) if citation.quote else -1
    passage = (
        _highlight(text, at, at + len(citation.quote), "qa-quote") if at >= 0 else escape(text)
    )
    parts = [
        f'<div class="qa-panel" data-turn="{turn}" data-marker="{citation.marker}">',
        # Shown only where the panel sits below the chat (phones): the way back to the answer.
        '<button type="button" class="qa-back">← Quay lại câu trả lời</button>',
        f'<h3><span class="qa-badge">[{citation.marker}]</span>{escape(citation.title)}</h3>',
        f'<dl class="qa-meta">{meta_html}</dl>',
        scanned,
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
        else escape(document_text)
    )
    return (
        '<details class="qa-fulldoc" open><summary>Toàn văn tài liệu</summary>'
        f'<div class="qa-doc">{body}</div></details>'
    )


def render_documents_table(
    documents: Sequence[DocumentInfo], failed: Sequence[FailedDocument] = ()
) -> list[list[Any]]:
    """One row per indexed document, after one per file the index lacks (first: they need
    staff's attention)."""
    missing = [["", f.source, "", 0, "", f"✗ {f.reason}"] for f in failed]
    return [
        *missing,
        *(
            [
                d.title,
                d.source,
                d.date.isoformat() if d.date else "",
                d.chunks,
                d.ingested_at.replace("T", " ")[:19],
                "Đã nạp",
            ]
            for d in documents
        ),
    ]


DOCUMENT_COLUMNS = ["Tiêu đề", "Tệp", "Ngày", "Số đoạn", "Nạp lúc (UTC)", "Tình trạng"]
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


def format_ingest_report(
    report: IngestReport, saved: Sequence[str] = (), failures: Sequence[FailedDocument] = ()
) -> str:
    """The status after an ingest; ``failures`` are its failed files as staff see them."""
    lines = []
    if saved:
        lines.append("Đã lưu: " + ", ".join(f"`{escape(name)}`" for name in saved))
    lines.append(
        f"Đã nạp: {report.added} mới, {report.updated} cập nhật, {report.skipped} không đổi, "
        f"{report.removed} gỡ bỏ — chỉ mục có {report.documents} tài liệu, "
        f"{report.chunks} đoạn ({report.seconds:.1f} giây)."
    )
    for failed in failures:
        lines.append(f"✗ `{escape(failed.source)}`: {escape(failed.reason)}")
    return "\n\n".join(lines)
