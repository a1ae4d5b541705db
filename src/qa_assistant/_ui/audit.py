"""The staff actions' guard and log: each staff handler checks the request and the session's
login again, because every event handler is also reachable over HTTP, and each one, refused or
done, is written to the audit log (:mod:`qa_assistant._state.audit`)."""

from __future__ import annotations

import logging
from functools import cached_property

import gradio as gr

from .._state.audit import AuditAction, AuditResult, AuditStore, open_audit_store
from .._state.staff import StaffGuard, client_address
from ..errors import AuditError, StaffAccessError
from ..settings import Settings

__all__ = ["AuditedActions"]

log = logging.getLogger(__name__)


class AuditedActions:
    """What the staff handlers share: who may act, and the log of what they did."""

    settings: Settings
    guard: StaffGuard

    @cached_property
    def audit(self) -> AuditStore:
        return open_audit_store(self.settings)

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
