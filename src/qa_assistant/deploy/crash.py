"""The deploy check's crash: a replica SIGKILLed while it ingests a large upload, then
restarted (``serve --ingest`` serves at once and finishes what it began meanwhile)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx

from .._store.index import ChromaIndex
from .load import Tally
from .replicas import STOP_TIMEOUT_S, DeployCheckError, Replica
from .staff import committed_sources, policy_text, upload

__all__ = ["crash_mid_ingest"]

SAVE_TIMEOUT_S = 60.0  # from a large upload's start until its file is saved
KILL_AFTER_SAVE_S = 1.0  # into the ingest: past the lease and the first embedding batches
LARGE_ARTICLES = 400  # chunks enough that its ingest takes seconds, not milliseconds
COMMIT_TIMEOUT_S = 300.0  # from the restart until the interrupted ingest has committed


def crash_mid_ingest(
    replica: Replica, staging: Path, documents: Path, store: ChromaIndex, tally: Tally
) -> tuple[bool, float | None, float | None]:
    """SIGKILLs ``replica`` during a large upload's ingest; restarts it. (mid-ingest?, s until
    it serves again, s until the interrupted ingest committed), both counted from the restart."""
    text, _ = policy_text(99, articles=LARGE_ARTICLES)
    path = staging / "xa-lon-ho-tro-sua-nha.txt"
    path.write_text(text, encoding="utf-8")
    # The upload's request dies with the replica: its thread only has to end.
    thread = threading.Thread(target=_quiet_upload, args=(replica, path), daemon=True)
    thread.start()
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while not (documents / path.name).exists():
        if time.monotonic() > deadline:
            tally.error(f"the large upload was not saved on replica {replica.number}")
            return False, None, None
        time.sleep(0.05)
    time.sleep(KILL_AFTER_SAVE_S)
    replica.kill()
    mid_ingest = path.name not in committed_sources(store)
    thread.join(timeout=STOP_TIMEOUT_S)
    restarted = time.monotonic()
    replica.start()
    try:
        restart_s = replica.wait_ready()
    except DeployCheckError as exc:
        tally.error(str(exc))
        return mid_ingest, None, None
    while path.name not in committed_sources(store):
        if time.monotonic() - restarted > COMMIT_TIMEOUT_S:
            tally.error("the restarted replica did not finish the interrupted ingest")
            return mid_ingest, restart_s, None
        time.sleep(0.5)
    return mid_ingest, restart_s, time.monotonic() - restarted


def _quiet_upload(replica: Replica, path: Path) -> None:
    # The replica is killed under it, on purpose.
    with contextlib.suppress(httpx.TransportError, DeployCheckError):
        upload(replica, path)
