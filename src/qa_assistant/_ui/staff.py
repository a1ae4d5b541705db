"""The Documents tab's handlers: log in and out, list the documents and the log, upload,
re-ingest and delete.

The tab is guarded inside the page (see :mod:`qa_assistant._state.staff`) rather than by Gradio's
``auth``: ``auth`` locks the whole app, and citizens must be able to ask questions without an
account. Each handler is authorised and written to the audit log (:mod:`.audit`), and so is
each failed login.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from .._state.staff import StaffView, client_address
from ..errors import AuditError, QAError, UploadError
from ..types import IngestReport
from .audit import AuditedActions
from .failures import FailedDocument, reported_failures, unindexed_documents
from .inputs import save_upload
from .rendering import (
    escape,
    format_ingest_report,
    render_audit_table,
    render_documents_table,
)

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = ["AUDIT_ROWS_SHOWN", "LOGIN_FAILURE_DELAY_S", "StaffHandlers"]

log = logging.getLogger(__name__)

LOGIN_FAILURE_DELAY_S = 1.0  # slows down password guessing
AUDIT_ROWS_SHOWN = 20


def _file_paths(files: Any) -> list[Path]:
    if not files:
        return []
    items = files if isinstance(files, list) else [files]
    return [Path(str(getattr(item, "name", item))) for item in items]


def _staff_visibility(view: StaffView) -> tuple[Any, ...]:
    """Visibility of the off note, login box, staff area, "open here" note and logout button."""
    return (
        gr.update(visible=view == "off"),
        gr.update(visible=view == "login"),
        gr.update(visible=view in ("open", "staff")),
        gr.update(visible=view == "open"),
        gr.update(visible=view == "staff"),
    )


class StaffHandlers(AuditedActions):
    """The Documents tab's part of :class:`~qa_assistant._ui.handlers.Handlers`."""

    assistant: Assistant

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
