"""The audit log of staff actions: uploads, deletes, re-ingests and logins, with their clients.

Rows live in the state database beside feedback (``<index_dir>/feedback.sqlite3``, or the
PostgreSQL database at ``QA_FEEDBACK__URL``) so that one place holds the page's whole state.
A row never holds a password attempt, only that one was made.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal, TextIO

from sqlalchemy import Column, Text, insert, select

from ..errors import AuditError
from .database import (
    TableStore,
    clean_text,
    open_state_database,
    state_table,
    transaction,
    utc_now,
)

if TYPE_CHECKING:
    from ..settings import Settings

AuditAction = Literal["upload", "delete", "reingest", "login"]
# ok: done; failed: tried and went wrong; refused: not allowed; wrong-password; locked: too many.
AuditResult = Literal["ok", "failed", "refused", "wrong-password", "locked"]
AuditFormat = Literal["jsonl", "csv"]

AUDIT_TABLE = state_table(
    "audit",
    Column("at", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    Column("result", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("client", Text, nullable=False),
)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: str  # ISO 8601, UTC
    action: str
    target: str  # the file acted on; empty for logins and whole-folder re-ingests
    result: str
    detail: str
    client: str


_COLUMNS = tuple(f.name for f in fields(AuditRecord))


class AuditStore(TableStore):
    """Audit rows in the state database (:class:`~.database.TableStore`)."""

    table = AUDIT_TABLE
    error = AuditError

    def record(
        self,
        action: AuditAction,
        result: AuditResult,
        client: str,
        *,
        target: str = "",
        detail: str = "",
    ) -> None:
        row = {
            "at": utc_now(),
            "action": action,
            "target": clean_text(target),
            "result": result,
            "detail": clean_text(detail),
            "client": clean_text(client),
        }
        with transaction(self.database, AuditError, "write the audit log") as conn:
            conn.execute(insert(AUDIT_TABLE).values(row))

    def records(self, *, latest: int | None = None) -> list[AuditRecord]:
        """All rows oldest first, or the ``latest`` ones newest first."""
        query = select(*(AUDIT_TABLE.c[name] for name in _COLUMNS))
        if latest is not None:
            query = query.order_by(AUDIT_TABLE.c.id.desc()).limit(latest)
        else:
            query = query.order_by(AUDIT_TABLE.c.id)
        with transaction(self.database, AuditError, "read the audit log") as conn:
            rows = conn.execute(query).all()
        return [AuditRecord(*row) for row in rows]


def open_audit_store(settings: Settings, *, existing: bool = False) -> AuditStore:
    """The configured store: PostgreSQL at ``QA_FEEDBACK__URL``, else SQLite beside the index.

    ``existing``: refuse a missing SQLite file rather than create it (for exports).
    """
    existing_name = "audit log" if existing else None
    database = open_state_database(settings, error=AuditError, existing=existing_name)
    return AuditStore(database)


def export_audit(store: AuditStore, out: TextIO, fmt: AuditFormat | str = "jsonl") -> int:
    """Writes every audit row, oldest first, to ``out``; returns how many."""
    if fmt not in ("jsonl", "csv"):
        raise AuditError(f"Unknown export format {fmt!r}: use jsonl or csv.")
    rows: list[dict[str, Any]] = [asdict(r) for r in store.records()]
    if fmt == "jsonl":
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        writer = csv.DictWriter(out, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


__all__ = [
    "AUDIT_TABLE",
    "AuditAction",
    "AuditFormat",
    "AuditRecord",
    "AuditResult",
    "AuditStore",
    "export_audit",
    "open_audit_store",
]
