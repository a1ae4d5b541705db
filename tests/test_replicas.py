"""Several replicas on one Chroma server: the ingest lease and exactly-once results.

The lease tests run in one process against a real ``chroma run``; the ingest tests start real
processes (``tests/support/fake_cli.py``: the real command line with the fake embedder) that
ingest into the same server at once, and one that is SIGKILLed while it holds the lease.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa_assistant._store.index import ChromaIndex
from qa_assistant._store.lease import ServerLease, _lease_id, process_space
from qa_assistant.assistant import Assistant
from qa_assistant.errors import IngestLeaseHeldError, IngestLeaseLostError
from qa_assistant.settings import ReplicaSettings, Settings
from qa_assistant.testing import FakeEmbedder
from support.checks import IndexState, consistency_problems, read_state
from support.chroma_server import running_chroma
from support.corpus import write_policy_corpus

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parent / "support" / "fake_cli.py"
RUN_TIMEOUT_S = 120
# Short leases so that a test waits seconds, not minutes, for one to run out.
SHORT = {"lease_s": 8.0, "lease_renew_s": 1.0, "clock_skew_s": 1.0, "lease_poll_s": 0.1}


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_chroma(tmp_path_factory.mktemp("chroma-replicas")) as url:
        yield url


def _lease(url: str, tmp: Path, collection: str, **values: float) -> ServerLease:
    index = ChromaIndex(tmp, collection=collection, chroma_url=url)
    return ServerLease(index, ReplicaSettings.model_validate({**SHORT, **values}))


# -- the lease -----------------------------------------------------------------------------


def test_a_held_lease_refuses_after_the_wait_and_names_its_holder(
    chroma_url: str, tmp_path: Path
) -> None:
    holder = _lease(chroma_url, tmp_path, "qa_held")
    other = _lease(chroma_url, tmp_path, "qa_held", lease_wait_s=0.5)
    with holder:
        started = time.monotonic()
        with pytest.raises(IngestLeaseHeldError, match=f"pid {os.getpid()} on .*lease until"):
            other.__enter__()
        assert 0.5 <= time.monotonic() - started < 3
        holder.check()
    # Released on exit: the next one takes it at once.
    with other:
        other.check()
        current = other.current()
        assert current is not None and current.epoch == 2 and not current.released
    assert [r.epoch for r in other.records()] == [2]  # older epochs are cleared
    assert other.records()[0].released


def test_a_stalled_holder_loses_the_lease_and_another_takes_over(
    chroma_url: str, tmp_path: Path
) -> None:
    holder = _lease(chroma_url, tmp_path, "qa_stall")
    holder.__enter__()
    holder._stop.set()  # the renewals stop, as in a process frozen mid-ingest
    taker = _lease(chroma_url, tmp_path, "qa_stall", lease_wait_s=20)
    started = time.monotonic()
    with taker:
        waited = time.monotonic() - started
        # Not before the record expired (plus the skew allowed), and the stalled holder may
        # no longer write: its validity ended before the taker got in.
        assert waited >= SHORT["lease_s"] - 2.0
        with pytest.raises(IngestLeaseLostError, match="lost its lease"):
            holder.check()
        holder.renew()  # a late renewal does not bring it back
        with pytest.raises(IngestLeaseLostError):
            holder.check()
        taker.check()
    holder.__exit__(None, None, None)  # releases nothing that is not its own
    current = taker.current()
    assert current is not None and current.released and current.epoch == 2


def _exited_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def test_a_holder_whose_process_is_gone_is_taken_over_after_the_skew_not_the_expiry(
    chroma_url: str, tmp_path: Path
) -> None:
    holder = _lease(chroma_url, tmp_path, "qa_gone", lease_s=60.0)
    holder.__enter__()
    holder._stop.set()  # no renewals: the record below stays as written
    record = holder.current()
    assert record is not None and record.space == process_space() != ""

    def held_by(**changes: object) -> None:
        dead = dataclasses.replace(record, **changes)  # as a killed replica left it
        holder._collection.upsert(
            ids=[_lease_id(dead.epoch)], embeddings=[[0.0]], metadatas=[dead.as_metadata()]
        )

    # The pid names no process here, but the record is from another machine or container
    # (or from an earlier version, without a space): only the expiry frees it.
    for space in ("0b5e7c1e-another-boot/pid:[4026531836]", ""):
        held_by(pid=_exited_pid(), space=space)
        with pytest.raises(IngestLeaseHeldError):
            _lease(chroma_url, tmp_path, "qa_gone", lease_wait_s=2.0).__enter__()

    held_by(pid=_exited_pid(), space=process_space())
    taker = _lease(chroma_url, tmp_path, "qa_gone", lease_wait_s=20.0)
    started = time.monotonic()
    with taker:
        waited = time.monotonic() - started
        assert SHORT["clock_skew_s"] <= waited < 5.0  # the lease had a minute left
        current = taker.current()
        assert current is not None and current.epoch == record.epoch + 1
        assert current.pid == os.getpid()
        taker.check()


def test_a_racer_that_re_adds_a_cleared_epoch_does_not_get_the_lease(
    chroma_url: str, tmp_path: Path
) -> None:
    with _lease(chroma_url, tmp_path, "qa_stale"):
        pass  # epoch 1, released
    with _lease(chroma_url, tmp_path, "qa_stale") as holder:  # epoch 2; epoch 1 cleared
        stalled = _lease(chroma_url, tmp_path, "qa_stale")
        # It read epoch 0 long ago and adds epoch 1 only now: the add lands, the lease is not its.
        assert not stalled._try_take(1)
        holder.check()
        current = holder.current()
        assert current is not None and current.epoch == 2


def test_racing_replicas_hold_the_lease_one_at_a_time(chroma_url: str, tmp_path: Path) -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    done: list[int] = []
    errors: list[BaseException] = []

    def replica(n: int) -> None:
        try:
            for _ in range(3):
                with _lease(chroma_url, tmp_path / str(n), "qa_race", lease_wait_s=60) as lease:
                    inside.append(n)
                    if len(inside) > 1:
                        overlaps.append(n)
                    time.sleep(0.05)
                    lease.check()
                    inside.remove(n)
                    done.append(n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=RUN_TIMEOUT_S)
    assert errors == [] and overlaps == []
    assert sorted(done) == sorted(list(range(4)) * 3)


# -- ingests in several processes ------------------------------------------------------------


def _env(
    url: str,
    collection: str,
    delay_s: float = 0.0,
    trace: Path | None = None,
    lease: dict[str, float] = SHORT,
) -> dict:
    env = dict(os.environ)
    env.update(ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    env.update(QA_CHROMA_URL=url, QA_COLLECTION=collection)
    env.update({f"QA_REPLICAS__{k.upper()}": str(v) for k, v in lease.items()})
    env["FAKE_STAGE_DELAY_S"] = str(delay_s)
    env["FAKE_TRACE"] = str(trace or "")
    return env


def _start(docs: Path, index: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(SCRIPT), "ingest", str(docs), "--index", str(index), "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen[str]) -> None:
    _out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, err[-2000:]


def _clean(folders: list[Path], tmp: Path) -> IndexState:
    """One sequential ingest of the same folders into an embedded store."""
    settings = Settings(index_dir=tmp, cache_dir=tmp / "cache", _env_file=None)  # type: ignore[call-arg]
    assistant = Assistant(settings, embedder=FakeEmbedder())
    for folder in folders:
        assert assistant.ingest([folder]).failed == ()
    assistant.close()
    return read_state(tmp)


def _catch_up(index_dir: Path, collection: str, url: str) -> None:
    settings = Settings(
        index_dir=index_dir,
        cache_dir=index_dir / "cache",
        chroma_url=url,
        collection=collection,
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    assistant.retriever().lexical.save(assistant.lexical_dir)
    assistant.close()


def _same_store(state: IndexState, clean: IndexState) -> None:
    assert consistency_problems(state) == []
    assert state.chunk_ids == clean.chunk_ids
    assert state.chunk_owners == clean.chunk_owners
    assert state.documents == clean.documents


@pytest.mark.slow
@pytest.mark.parametrize("shared_folder", [True, False], ids=["same-folder", "two-folders"])
def test_two_replicas_ingesting_at_once_end_like_one_sequential_ingest(
    chroma_url: str, tmp_path: Path, shared_folder: bool
) -> None:
    collection = f"qa_twice_{'same' if shared_folder else 'two'}"
    first_docs, second_docs = tmp_path / "docs-1", tmp_path / "docs-2"
    write_policy_corpus(first_docs, count=10)
    if shared_folder:
        second_docs = first_docs
    else:
        write_policy_corpus(second_docs, count=14)
        for path in sorted(second_docs.iterdir())[:10]:  # other files than the first folder's
            path.unlink()
    env = _env(chroma_url, collection, delay_s=0.02)
    procs = [_start(first_docs, tmp_path / "replica-1", env)]
    time.sleep(0.3)  # the first holds the lease; the second waits for it
    procs.append(_start(second_docs, tmp_path / "replica-2", env))
    for proc in procs:
        _finish(proc)
    folders = [first_docs] if shared_folder else [first_docs, second_docs]
    clean = _clean(folders, tmp_path / "clean")
    for replica in ("replica-1", "replica-2"):
        # The replica that finished first saved its lexical cache before the other's commits:
        # started again, it catches up from the change log.
        _catch_up(tmp_path / replica, collection, chroma_url)
        _same_store(read_state(tmp_path / replica, collection, chroma_url), clean)


@pytest.mark.slow
def test_a_replica_killed_holding_the_lease_is_taken_over_once_it_is_seen_gone(
    chroma_url: str, tmp_path: Path
) -> None:
    collection = "qa_killed"
    docs = tmp_path / "docs"
    write_policy_corpus(docs, count=12)
    trace = tmp_path / "trace"
    # A lease far longer than the test: only the dead holder's pid lets the next one in.
    lease = {**SHORT, "lease_s": 600.0}
    killed = _start(
        docs, tmp_path / "killed", _env(chroma_url, collection, 0.05, trace, lease=lease)
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (
            not trace.exists() or trace.read_text().count("commit") < 3
        ) and killed.poll() is None:
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.01)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    held = _lease(chroma_url, tmp_path, collection).current()
    assert held is not None and held.pid == killed.pid and not held.released

    survivor = _start(docs, tmp_path / "survivor", _env(chroma_url, collection, lease=lease))
    _finish(survivor)
    # It took over from the dead holder long before that one's lease ran out, and finished the
    # job; the orphan sweep removed what the killed one left half written.
    assert time.time() < held.expires_at
    _same_store(
        read_state(tmp_path / "survivor", collection, chroma_url),
        _clean([docs], tmp_path / "clean"),
    )
