"""The state database: feedback and the staff audit log, in one SQLite file beside the index,
or in a shared PostgreSQL database (``QA_FEEDBACK__URL``) when several replicas serve one index.

SQLAlchemy Core rather than hand-written SQL per database: each table is declared once (in
:mod:`.feedback` and :mod:`.audit`) and SQLAlchemy writes each database's DDL, placeholders and
id generation, so both databases run the same code. Every call is its own short transaction,
committed before it returns, so a row written by one replica is visible to the others at once;
ids come from the database (SQLite AUTOINCREMENT, a PostgreSQL sequence), so replicas writing
at once never collide. Times and JSON are stored as text in both: both give back exactly the
characters written, so exports are identical whichever database holds the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateTable

from ..errors import QAError

if TYPE_CHECKING:
    from ..settings import Settings

STATE_FILENAME = "feedback.sqlite3"
# Both tables hang off one MetaData so that a database holds one consistent set of shapes.
_METADATA = MetaData()

# How long a write waits for another writer's lock on the SQLite file before failing.
SQLITE_BUSY_TIMEOUT_S = 10.0
# One fixed key for PostgreSQL's advisory lock: replicas starting at once create the tables one
# after another (concurrent CREATE TABLE IF NOT EXISTS can still fail on PostgreSQL's catalog).
_SCHEMA_LOCK_KEY = 0x7161_6673  # "qafs"
_SERVER_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_URL_HINT = (
    "Check QA_FEEDBACK__URL (postgresql://user:password@host:5432/database), "
    "that the server is reachable from this machine and that the database exists."
)


def state_table(name: str, *columns: Column[Any]) -> Table:
    """A table of the state database keyed by ``id``, in the shape of the SQLite files written
    before PostgreSQL was supported, so that those files open unchanged."""
    return Table(
        name,
        _METADATA,
        # No NOT NULL, as in the files written before; the key is never null in either database.
        Column("id", Integer, primary_key=True, nullable=True),
        *columns,
        sqlite_autoincrement=True,  # ids are never reused, even after a delete
    )


def state_path(index_dir: Path) -> Path:
    """Where the SQLite state database lives: beside the index, so one folder holds it all."""
    return index_dir / STATE_FILENAME


def utc_now() -> str:
    """The time stored on rows: ISO 8601 in UTC to the second, so text order is time order."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def clean_text(value: str) -> str:
    """``value`` without NUL characters: PostgreSQL text cannot hold them, and a NUL pasted
    into a comment carries nothing, so both databases store the same text."""
    return value.replace("\x00", "")


@dataclass(frozen=True)
class StateDatabase:
    """One database holding the state tables."""

    engine: Engine
    where: str  # for messages: the SQLite file, or the URL with its password hidden
    path: Path | None  # the SQLite file; None for a server
    # The server password, scrubbed from any message that might echo it; never shown.
    secret: str = field(default="", repr=False)

    @property
    def is_server(self) -> bool:
        return self.path is None


def sqlite_database(path: Path) -> StateDatabase:
    """The SQLite file at ``path`` (created with its tables on first use)."""
    # NullPool: a connection per call, as SQLite connections must not cross the UI's threads
    # and no file handle should outlive the call that opened it.
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
    )
    return StateDatabase(engine=engine, where=str(path), path=path)


def server_database(url: str, *, connect_timeout_s: int, error: type[QAError]) -> StateDatabase:
    """The PostgreSQL database at ``url``; raises ``error`` (password hidden) if it is not one."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise error(f"QA_FEEDBACK__URL is not a database URL. {_URL_HINT}") from exc
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername not in _SERVER_SCHEMES:
        raise error(
            f"QA_FEEDBACK__URL {shown} is not a PostgreSQL URL: use postgresql://... "
            "(unset it to keep feedback in SQLite beside the index)."
        )
    if not parsed.database:
        raise error(f"QA_FEEDBACK__URL {shown} names no database. {_URL_HINT}")
    engine = create_engine(
        parsed.set(drivername="postgresql+psycopg"),
        # A replica may outlive a server restart: check a pooled connection before using it.
        pool_pre_ping=True,
        connect_args={"connect_timeout": connect_timeout_s},
    )
    return StateDatabase(engine=engine, where=shown, path=None, secret=parsed.password or "")


def open_state_database(
    settings: Settings, *, error: type[QAError], existing: str | None = None
) -> StateDatabase:
    """The configured database: PostgreSQL at ``QA_FEEDBACK__URL``, else SQLite beside the index.

    ``error`` is the caller's error class, raised when the URL is unusable. ``existing`` names
    what the caller keeps there and refuses a missing SQLite file rather than creating it: an
    export must not conjure an empty database out of a mistyped path.
    """
    if settings.feedback.url is not None:
        return server_database(
            settings.feedback.url.get_secret_value(),
            connect_timeout_s=settings.feedback.connect_timeout_s,
            error=error,
        )
    path = state_path(settings.index_dir)
    if existing is not None and not path.is_file():
        raise error(
            f"No {existing} at {path}. It is kept in <index_dir>/{STATE_FILENAME} once the page "
            "has stored some (or in the database at QA_FEEDBACK__URL when that is set)."
        )
    return sqlite_database(path)


class TableStore:
    """The rows of one table in the state database; the table is created on first use.

    ``database`` is a :class:`StateDatabase`, or the path of a SQLite file.
    """

    table: ClassVar[Table]
    error: ClassVar[type[QAError]]

    def __init__(self, database: StateDatabase | Path) -> None:
        if isinstance(database, Path):
            database = sqlite_database(database)
        self.database = database
        ensure_table(database, self.table, self.error)


@contextmanager
def transaction(db: StateDatabase, error: type[QAError], doing: str) -> Iterator[Connection]:
    """One transaction, committed on exit; database failures become ``error`` with a message
    that says what to do next. ``doing`` completes "Could not ..."."""
    try:
        with db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise error(_message(db, exc, doing)) from exc


def _message(db: StateDatabase, exc: SQLAlchemyError, doing: str) -> str:
    # The driver's own message, without SQLAlchemy's echo of the statement and its values.
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if db.secret:
        reason = reason.replace(db.secret, "***")
    if not db.is_server:
        hint = (
            " Check that the index folder is writable." if isinstance(exc, OperationalError) else ""
        )
        return f"Could not {doing} in {db.where}: {reason}.{hint}"
    if isinstance(exc, OperationalError):
        return f"Could not {doing}: the database {db.where} is unavailable ({reason}). {_URL_HINT}"
    if isinstance(exc, ProgrammingError):  # e.g. permission denied
        return (
            f"Could not {doing} in {db.where}: {reason}. Check that the role in QA_FEEDBACK__URL "
            "owns the database, or has been granted its feedback and audit tables."
        )
    return f"Could not {doing} in {db.where}: {reason}"


def ensure_table(db: StateDatabase, table: Table, error: type[QAError]) -> None:
    """Creates ``table`` unless it exists; an existing table is used as it is."""
    if db.path is not None:
        try:
            db.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(
                f"Cannot create {db.path.parent} for {table.name}: {exc}. "
                "Check that the index folder is writable."
            ) from exc
    with transaction(db, error, f"open the {table.name} table") as conn:
        if db.is_server:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        else:
            # Readers do not block the writer; the mode is kept in the file once set.
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        # Looked up first: a role allowed only to read and write existing tables cannot run
        # CREATE TABLE at all, not even IF NOT EXISTS, on PostgreSQL.
        if not inspect(conn).has_table(table.name):
            conn.execute(CreateTable(table, if_not_exists=True))


__all__ = [
    "SQLITE_BUSY_TIMEOUT_S",
    "STATE_FILENAME",
    "StateDatabase",
    "TableStore",
    "clean_text",
    "ensure_table",
    "open_state_database",
    "server_database",
    "sqlite_database",
    "state_path",
    "state_table",
    "transaction",
    "utc_now",
]
