"""The page's event handlers: ask, show a citation, rate, and the staff actions with their log.

The Documents tab is guarded inside the page (see :mod:`qa_assistant._staff`) rather than by
Gradio's ``auth``: ``auth`` locks the whole app, and citizens must be able to ask questions
without an account. Each staff handler checks the request and the session's login again,
because every event handler is also reachable over HTTP; each one, and each failed login, is
written to the audit log (:mod:`qa_assistant._audit`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from .._audit import AuditAction, AuditResult, AuditStore, open_audit_store
from .._feedback import FeedbackStore, open_feedback_store
from .._staff import StaffView, client_address
from ..errors import AnswererError, AuditError, QAError, StaffAccessError, UploadError
from ..settings import Settings
from ..types import Answer, Citation, Filters, IngestReport
from .failures import FailedDocument, reported_failures, unindexed_documents
from .inputs import make_filters, save_upload, staff_guard
from .rendering import (
    PANEL_PLACEHOLDER,
    PENDING,
    escape,
    format_ingest_report,
    render_answer,
    render_audit_table,
    render_citation_panel,
    render_documents_table,
    render_draft,
    render_error,
    render_question,
)

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = [
    "ANSWERER_DOWN",
    "AUDIT_ROWS_SHOWN",
    "LOGIN_FAILURE_DELAY_S",
    "MAX_HISTORY",
    "Handlers",
    "Turn",
]

log = logging.getLogger(__name__)

MAX_HISTORY = 4  # previous questions passed for follow-ups; older ones rarely help retrieval
LOGIN_FAILURE_DELAY_S = 1.0  # slows down password guessing
AUDIT_ROWS_SHOWN = 20
# What a visitor reads when the answerer itself fails (the LLM answerer falls back to the
# extractive answer on its own; this is what is left when even that cannot be given).
ANSWERER_DOWN = "Hệ thống trả lời đang gặp sự cố. Vui lòng thử lại sau ít phút."


@dataclass(frozen=True)
class Turn:
    """One question of a session and what came of it (``answer`` is None after an error)."""

    question: str
    answer: Answer | None
    filters: Filters | None = None
    history: tuple[str, ...] = ()


def _file_paths(files: Any) -> list[Path]:
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    return [Path(str(getattr(item, "name", item))) for item in items]


def _previous_questions(turns: Sequence[Turn]) -> tuple[str, ...]:
    return tuple(t.question for t in turns)[-MAX_HISTORY:]


def _staff_visibility(view: StaffView) -> tuple[Any, ...]:
    """Visibility of the off note, login box, staff area, "open here" note and logout button."""
    return (
        gr.update(visible=view == "off"),
        gr.update(visible=view == "login"),
        gr.update(visible=view in ("open", "staff")),
        gr.update(visible=view == "open"),
        gr.update(visible=view == "staff"),
    )


class Handlers:
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
        yield [*chat, _message("assistant", PENDING)], turns, "", gr.skip()

        history = _previous_questions(turns)
        try:
            filters = make_filters(sources, date_from, date_to)
            draft = ""
            answer: Answer | None = None
            # An LLM's reply shows as it is written; the checked answer then replaces it.
            for step in self.assistant.ask_stream(question, filters=filters, history=history):
                if isinstance(step, Answer):
                    answer = step
                else:
                    draft += step
                    drafted = [*chat, _message("assistant", render_draft(draft))]
                    yield drafted, turns, "", gr.skip()
            assert answer is not None, "Assistant.ask_stream ends with the answer"
        except AnswererError as exc:
            # The operator's detail (the server, the setting to fix) is for the log, in English.
            log.error("answering %r failed: %s", question, exc)
            turns = [*turns, Turn(question, None)]
            yield [*chat, _message("assistant", render_error(ANSWERER_DOWN))], turns, "", gr.skip()
            return
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
        # Only staff see the files the index lacks: they can be anything someone uploaded.
        failed = (
            unindexed_documents(
                self.settings.documents_dir, documents, self.settings.ingest.max_image_pixels
            )
            if allowed and documents is not None
            else []
        )
        choices = [(f"{d.title} ({d.source})", d.source) for d in documents or ()]
        deletable = [(f"✗ {f.source} (chưa nạp được)", f.source) for f in failed] + choices
        table = render_documents_table(documents or (), failed) if allowed else []
        listed = documents is not None
        return (
            gr.update(choices=choices) if listed else gr.skip(),
            *_staff_visibility(view),
            gr.update(value=table) if listed else gr.skip(),
            gr.update(choices=deletable, value=None) if listed else gr.skip(),
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
                problems.append(f"✗ {escape(str(exc))}")
        if not saved:
            gr.Warning("Không tệp nào được nhận.")
            return "\n\n".join(problems)
        report = self._ingest(saved, rebuild=False, progress=progress)
        failures = self._failures(report) if report else []
        failed = {f.source: f.reason for f in failures}
        for path in saved:
            error = failed.get(path.name, "" if report else "chưa nạp được vào chỉ mục")
            self._record(
                "upload", "failed" if error else "ok", request, target=path.name, detail=error
            )
        if report is None:
            return "\n\n".join(problems)
        status = format_ingest_report(report, [p.name for p in saved], failures)
        return "\n\n".join([status, *problems])

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
        return format_ingest_report(report, failures=self._failures(report))

    def _failures(self, report: IngestReport) -> list[FailedDocument]:
        """The report's failures as staff see them; the loaders' own words go to the log."""
        for failure in report.failed:
            log.warning("ingest could not index %s: %s", failure.path, failure.error)
        try:
            documents = self.assistant.documents()
        except QAError as exc:
            log.error("%s", exc)
            documents = []
        return reported_failures(
            report.failed,
            self.settings.documents_dir,
            documents,
            self.settings.ingest.max_image_pixels,
        )

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
            self.assistant.delete_document(source, remove_file=True)
        except QAError as exc:
            self._record("delete", "failed", request, target=source, detail=str(exc))
            gr.Warning(str(exc))
            return ""
        self._record("delete", "ok", request, target=source)
        gr.Info(f"Đã xoá {source}.")
        return f"Đã xoá `{escape(source)}` khỏi chỉ mục và thư mục tài liệu."

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
