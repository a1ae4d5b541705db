"""The ingest lock: one writer at a time per store, whichever process or machine it runs on.

Two kinds, chosen by :func:`make_ingest_lock`:

* **Embedded store** (``index/``): an OS file lock in the index folder. Only processes on this
  machine can open the folder, and the OS frees the lock when its holder ends, even by SIGKILL.
* **Chroma server** (``QA_CHROMA_URL``): a *lease* kept in the server itself, in the collection
  ``<name>__lease``, so that replicas on several machines exclude each other.

Why the lease is safe. Chroma has no transactions and no compare-and-set, but one primitive
is enough: ``add`` of an id that already exists keeps the stored record and reports nothing
(checked on chromadb 1.5.9 over HTTP: five processes racing to ``add`` the same 40 new ids
with different owners, every id kept its first writer and each racer's read-back named that
same winner). So each lease is one record per *epoch*, id ``lease-<epoch>``:

1. To acquire, read the highest epoch's record. If it is released, or its ``expires_at`` plus
   the allowed clock skew has passed on our clock, or its holder is known dead (below),
   ``add`` the record of the next epoch with our owner id (host, pid, process space, random
   token) and read it back. Of all racers for that epoch,
   exactly one finds its own token there (the first ``add``): that one holds the lease, once
   it has also read that no later epoch exists (a racer that stalled may re-add an epoch long
   cleared); the others go back to waiting. A takeover never deletes or overwrites the record
   another process may still be reading: it adds the next epoch and clears only older ones.
2. The holder renews from a background thread every ``renew_s``: it rewrites its own record's
   ``expires_at`` to ``now + lease_s`` and reads back that no later epoch exists. A renewal
   counts only if it *finished* before the holder's current validity ended.
3. The holder may write only while its validity lasts: ``start + lease_s - 2 * skew``, where
   ``start`` is when its last counted acquire or renewal began (monotonic clock). The ingest
   calls :meth:`IngestLock.check` before each document's writes and before its commit, and
   stops with :class:`~qa_assistant.errors.IngestLeaseLostError` once validity is over.

A taker acts only when its clock reads ``expires_at + skew``, that is (clocks within ``skew``)
no earlier than the holder's ``start + lease_s`` in real time: ``skew`` after the holder's last
permitted check. A renewal that counted landed before the holder's validity ended, so every
read a taker can act on already sees the extended expiry. A killed holder renews nothing and
blocks others only until its record expires; the next ingest's orphan sweep then removes what
it left half written.

A holder known dead is taken over sooner. Each record also names the *process space* its pid
belongs to: the kernel's boot id and the holder's pid namespace. A taker in the same space
that finds the holder's pid gone (``os.kill(pid, 0)``: no such process) may act once ``skew``
has passed since it first saw that epoch's holder gone, without waiting for ``expires_at``:

* a process that no longer exists makes no more checks and begins no more writes, and each
  write it began before it died lands within ``skew`` of its start (the assumption below),
  so before the taker acts: the death came before the taker saw it;
* only the same space makes the pid the holder's: the boot id tells machines (and reboots)
  apart, and the namespace, unique among those alive on one kernel, tells containers apart,
  which a host name does not (two containers may share one). A pid looked up in another
  space names another process or none, so there the taker waits for the expiry, as it does
  where the space cannot be read (no ``/proc``) or a record has none;
* a pid that a new process took since only looks alive: the taker waits for the expiry. A
  zombie, killed but not yet reaped by its parent, looks alive too.

The taker acts on the latest epoch as read in the same step, and takes it as any taker does
(add the next epoch, read it back), so two takers still race only for one epoch.

Assumptions: the machines' clocks differ by less than ``clock_skew_s``, and a write begun
after a passing check lands within ``clock_skew_s`` (one document's chunks and its commit).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from filelock import FileLock, Timeout

from ..errors import IndexLockedError, IngestLeaseHeldError, IngestLeaseLostError

if TYPE_CHECKING:
    from ..settings import ReplicaSettings
    from .index import ChromaIndex

__all__ = [
    "FileIngestLock",
    "IngestLock",
    "LeaseRecord",
    "ServerLease",
    "make_ingest_lock",
    "process_space",
]

_LEASE_SUFFIX = "lease"
_ID_PREFIX = "lease-"


class IngestLock(Protocol):
    """Held around every write to the store (ingest, delete); one holder per store."""

    def __enter__(self) -> IngestLock: ...

    def __exit__(self, *exc: object) -> None: ...

    def check(self) -> None:
        """Raise :class:`IngestLeaseLostError` when this holder may no longer write."""
        ...


def make_ingest_lock(index: ChromaIndex, settings: ReplicaSettings) -> IngestLock:
    """A lease in the server for a shared store, a file lock for the embedded one."""
    if index.shared:
        return ServerLease(index, settings)
    return FileIngestLock(index.index_dir)


class FileIngestLock:
    """One ingest at a time per index folder; a second is refused, not queued or interleaved."""

    def __init__(self, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        self.index_dir = index_dir
        self._lock = FileLock(index_dir / ".ingest.lock", timeout=0)

    def __enter__(self) -> FileIngestLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"Another ingest is running on {self.index_dir}. Wait for it to finish, then "
                "run this one again."
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def check(self) -> None:
        """The OS holds the lock for as long as this process lives: it cannot be lost."""


@dataclass(frozen=True)
class LeaseRecord:
    epoch: int
    host: str
    pid: int
    token: str
    expires_at: float  # seconds since the epoch, on the holder's clock
    released: bool
    space: str = ""  # where ``pid`` names the holder (:func:`process_space`); "" unknown

    def as_metadata(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_metadata(cls, meta: Any) -> LeaseRecord:
        return cls(
            epoch=int(meta["epoch"]),
            host=str(meta["host"]),
            pid=int(meta["pid"]),
            token=str(meta["token"]),
            expires_at=float(meta["expires_at"]),
            released=bool(meta["released"]),
            space=str(meta.get("space", "")),  # records of earlier versions have none
        )

    def holder(self) -> str:
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
        return f"pid {self.pid} on {self.host}, lease until {until}"


def _lease_id(epoch: int) -> str:
    return f"{_ID_PREFIX}{epoch:012d}"


def process_space() -> str:
    """Where a pid names one process: this boot of the kernel and this process's pid namespace
    (Linux); "" where it cannot be told, and then no holder is ever judged dead by its pid."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, the process is only looked up
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: another user's process, alive
        return False
    return False


@dataclass(frozen=True)
class _Gone:
    """A lease epoch whose holder was seen dead, and since when (monotonic)."""

    epoch: int
    token: str
    since: float


class ServerLease:
    """The ingest lease kept in the Chroma server (see the module docstring for the argument)."""

    def __init__(self, index: ChromaIndex, settings: ReplicaSettings) -> None:
        self._collection = index.side_collection(_LEASE_SUFFIX)
        self._location = index.location
        self._settings = settings
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._space = process_space()
        self._token = ""
        self._epoch = 0
        self._valid_until = 0.0  # monotonic
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._state = threading.Lock()

    # -- reading ------------------------------------------------------------------------------

    def records(self) -> list[LeaseRecord]:
        got = self._collection.get(include=["metadatas"])
        return sorted(
            (LeaseRecord.from_metadata(m) for m in got["metadatas"] or []), key=lambda r: r.epoch
        )

    def current(self) -> LeaseRecord | None:
        """The latest epoch's record: the lease as it stands (None: never taken)."""
        found = self.records()
        return found[-1] if found else None

    # -- acquiring ----------------------------------------------------------------------------

    def __enter__(self) -> ServerLease:
        s = self._settings
        deadline = time.monotonic() + s.lease_wait_s
        gone: _Gone | None = None
        while True:
            current = self.current()
            gone = self._gone(current, gone)
            dead_long_enough = gone is not None and time.monotonic() >= gone.since + s.clock_skew_s
            if current is None or self._free(current) or dead_long_enough:
                if self._try_take((current.epoch if current else 0) + 1):
                    return self
                continue  # another process took that epoch first: look again
            if time.monotonic() >= deadline:
                raise IngestLeaseHeldError(
                    f"Another ingest ({current.holder()}) holds the store at "
                    f"{self._location}. Wait for it to finish, then run this one again; a "
                    "stopped holder's lease runs out by itself at the time shown."
                )
            time.sleep(min(s.lease_poll_s, max(deadline - time.monotonic(), 0.0)))

    def _free(self, record: LeaseRecord) -> bool:
        return record.released or time.time() >= (record.expires_at + self._settings.clock_skew_s)

    def _gone(self, record: LeaseRecord | None, seen: _Gone | None) -> _Gone | None:
        """``record``'s epoch if its holder is known dead (see the module docstring), with
        when it was first seen so: ``seen``'s time where that was the same epoch."""
        if (
            record is None
            or not record.space
            or record.space != self._space
            or not _process_gone(record.pid)
        ):
            return None
        if seen is not None and (seen.epoch, seen.token) == (record.epoch, record.token):
            return seen
        return _Gone(record.epoch, record.token, time.monotonic())

    def _try_take(self, epoch: int) -> bool:
        token = secrets.token_hex(8)
        started = time.monotonic()
        mine = self._held(epoch, token)
        # add keeps an existing record: of all processes adding this epoch, the first wins.
        self._collection.add(
            ids=[_lease_id(epoch)], embeddings=[[0.0]], metadatas=[mine.as_metadata()]
        )
        got = self._collection.get(ids=[_lease_id(epoch)], include=["metadatas"])
        stored = [LeaseRecord.from_metadata(m) for m in got["metadatas"] or []]
        if not stored or stored[0].token != token:
            return False
        # A process that stalled between reading the lease and adding its epoch may add one
        # that was taken and cleared long ago: only the latest epoch counts.
        latest = self.current()
        if latest is None or latest.epoch != epoch:
            return False
        with self._state:
            self._token, self._epoch, self._lost = token, epoch, False
            self._valid_until = started + self._validity()
        # Older epochs are history now; only the latest is ever read.
        if older := [_lease_id(r.epoch) for r in self.records() if r.epoch < epoch]:
            self._collection.delete(ids=older)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="ingest-lease", daemon=True)
        self._renewer.start()
        return True

    def _held(self, epoch: int, token: str) -> LeaseRecord:
        """This process's record of holding ``epoch``, good for a lease period from now."""
        return LeaseRecord(
            epoch,
            self._host,
            self._pid,
            token,
            time.time() + self._settings.lease_s,
            False,
            self._space,
        )

    def _validity(self) -> float:
        return self._settings.lease_s - 2 * self._settings.clock_skew_s

    # -- holding ------------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._settings.lease_renew_s):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a failed renewal only lets validity run out
                continue
            if self._lost:
                return

    def renew(self) -> None:
        """Extend the lease; marks it lost when it no longer is ours or renewing came too late."""
        started = time.monotonic()
        with self._state:
            epoch, token, valid_until = self._epoch, self._token, self._valid_until
        if self._lost or started >= valid_until:
            self._lose()
            return
        mine = self._held(epoch, token)
        self._collection.upsert(
            ids=[_lease_id(epoch)], embeddings=[[0.0]], metadatas=[mine.as_metadata()]
        )
        latest = self.current()
        if latest is None or latest.epoch != epoch or latest.token != token:
            self._lose()
            return
        with self._state:
            # Counted only when it finished in time: later, a taker may have read the old expiry.
            if time.monotonic() < self._valid_until:
                self._valid_until = started + self._validity()
            else:
                self._lost = True

    def _lose(self) -> None:
        with self._state:
            self._lost = True

    def check(self) -> None:
        with self._state:
            lost = self._lost or time.monotonic() >= self._valid_until
        if lost:
            raise IngestLeaseLostError(
                f"This ingest lost its lease on the store at {self._location} (it could not "
                "renew it in time, and another ingest may have taken over). Nothing more was "
                "written; run the ingest again."
            )

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._state:
            still_mine = not self._lost and time.monotonic() < self._valid_until
            epoch, token = self._epoch, self._token
        if not still_mine:
            return
        latest = self.current()
        if latest is not None and latest.epoch == epoch and latest.token == token:
            done = LeaseRecord(epoch, self._host, self._pid, token, time.time(), True, self._space)
            self._collection.upsert(
                ids=[_lease_id(epoch)], embeddings=[[0.0]], metadatas=[done.as_metadata()]
            )
        with self._state:
            self._lost = True
