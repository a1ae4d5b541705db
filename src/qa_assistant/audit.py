"""The audit log of staff actions: uploads, deletes, re-ingests and logins, with their clients.

Rows live in the feedback database (``<index_dir>/feedback.sqlite3``) so that one file holds
the page's whole state. A row never holds a password attempt, only that one was made.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from .errors import AuditError
from .feedback import FEEDBACK_FILENAME, connect

AuditAction = Literal["upload", "delete", "reingest", "login"]
# ok: done; failed: tried and went wrong; refused: not allowed; wrong-password; locked: too many.
AuditResult = Literal["ok", "failed", "refused", "wrong-password", "locked"]
AuditFormat = Literal["jsonl", "csv"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL
)
"""


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


class AuditStore:
    """Audit rows in the state database; the table is created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with connect(path) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise AuditError(
                f"Cannot open the audit log in {path}: {exc}. "
                "Check that the index folder is writable."
            ) from exc

    def record(
        self,
        action: AuditAction,
        result: AuditResult,
        client: str,
        *,
        target: str = "",
        detail: str = "",
    ) -> None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            with connect(self.path) as conn:
                conn.execute(
                    "INSERT INTO audit (at, action, target, result, detail, client)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (at, action, target, result, detail, client),
                )
        except sqlite3.Error as exc:
            raise AuditError(f"Could not write the audit log: {exc}") from exc

    def records(self, *, latest: int | None = None) -> list[AuditRecord]:
        """All rows oldest first, or the ``latest`` ones newest first."""
        query = f"SELECT {', '.join(_COLUMNS)} FROM audit"
        if latest is not None:
            query += f" ORDER BY id DESC LIMIT {int(latest)}"
        else:
            query += " ORDER BY id"
        try:
            with connect(self.path) as conn:
                rows = conn.execute(query).fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"Could not read the audit log: {exc}") from exc
        return [AuditRecord(*row) for row in rows]


def export_audit(db_path: Path, out: TextIO, fmt: AuditFormat | str = "jsonl") -> int:
    """Writes every audit row, oldest first, to ``out``; returns how many."""
    if fmt not in ("jsonl", "csv"):
        raise AuditError(f"Unknown export format {fmt!r}: use jsonl or csv.")
    if not db_path.is_file():  # exporting must not conjure an empty database
        raise AuditError(
            f"No audit log at {db_path}. Staff actions are recorded in "
            f"<index_dir>/{FEEDBACK_FILENAME} once the page has served one."
        )
    records = AuditStore(db_path).records()
    rows: list[dict[str, Any]] = [asdict(r) for r in records]
    if fmt == "jsonl":
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        writer = csv.DictWriter(out, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


__all__ = [
    "AuditAction",
    "AuditFormat",
    "AuditRecord",
    "AuditResult",
    "AuditStore",
    "export_audit",
]
