"""An ingest killed at any moment (SIGKILL, no clean-up) is completed by the next one, and the
index ends exactly as a clean ingest would leave it; two ingests never run at once.

These tests start real processes (``tests/support/fake_cli.py``: the real command line with
the fake embedder, slowed a little per stage so that kills land mid-ingest).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from support.checks import consistency_problems, read_state
from support.corpus import policy_document, write_policy_corpus

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent / "support" / "fake_cli.py"
STAGE_DELAY_S = 0.04  # per stage (embed, add, commit) of each document
RUN_TIMEOUT_S = 60
# Fixed so a failure can be replayed; set QA_CRASH_SEED to explore other kill points.
SEED = int(os.environ.get("QA_CRASH_SEED", "20260214"))


def _env(trace: Path | None = None, delay_s: float = 0.0) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    env["FAKE_TRACE"] = str(trace or "")
    env["FAKE_STAGE_DELAY_S"] = str(delay_s)
    return env


def _command(docs: Path, index: Path) -> list[str]:
    return [sys.executable, str(SCRIPT), "ingest", str(docs), "--index", str(index), "--json"]


def _stages(trace: Path) -> int:
    try:
        return trace.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _wait_for_stages(proc: subprocess.Popen[bytes], trace: Path, stages: int) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while _stages(trace) < stages and proc.poll() is None:
        assert time.monotonic() < deadline, "the ingest made no progress"
        time.sleep(0.005)


def _ingest_and_kill(docs: Path, index: Path, trace: Path, stages: int, extra_s: float) -> str:
    """Start an ingest, SIGKILL it after ``stages`` traced stages plus ``extra_s``."""
    trace.unlink(missing_ok=True)
    proc = subprocess.Popen(
        _command(docs, index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(trace, STAGE_DELAY_S),
    )
    try:
        _wait_for_stages(proc, trace, stages)
        time.sleep(extra_s)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=RUN_TIMEOUT_S)
            return f"killed after {_stages(trace)} stages (+{extra_s:.3f} s)"
        return f"finished on its own (rc {proc.returncode})"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _ingest(docs: Path, index: Path, delay_s: float = 0.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(docs, index),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=_env(delay_s=delay_s),
    )


def _change_the_folder(docs: Path) -> None:
    """What staff do between two ingests: edit, delete, add and rename files."""
    for n in (3, 11, 27):
        path = docs / f"quyet-dinh-{n:02d}.txt"
        path.write_text(path.read_text(encoding="utf-8") + policy_document(90 + n, 1), "utf-8")
    (docs / "quyet-dinh-05.txt").unlink()
    (docs / "quyet-dinh-19.txt").unlink()
    for n in (31, 32):
        (docs / f"quyet-dinh-{n:02d}.txt").write_text(policy_document(n, 3), encoding="utf-8")
    (docs / "quyet-dinh-08.txt").rename(docs / "quyet-dinh-08-ban-moi.txt")


def _clean_ingest(docs: Path, index: Path) -> None:
    settings = Settings(
        documents_dir=docs,
        index_dir=index,
        cache_dir=index.parent / "cache",
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    report = assistant.ingest()
    assert report.failed == ()
    assistant.close()


def test_ingest_killed_at_random_points_ends_like_a_clean_ingest(tmp_path: Path) -> None:
    docs, index, trace = tmp_path / "documents", tmp_path / "index", tmp_path / "trace"
    write_policy_corpus(docs, 30)
    rng = random.Random(SEED)
    log = [f"seed {SEED}"]
    started = time.perf_counter()
    # Early, middle and late kills; the folder changes halfway, so updates, removals and a
    # rename are interrupted too. Each document passes three traced stages.
    plan = [(1, 12), (0, 20), "change", (0, 12), (10, 40), (30, 90)]
    for step in plan:
        if step == "change":
            _change_the_folder(docs)
            log.append("changed the folder")
            continue
        low, high = step
        outcome = _ingest_and_kill(
            docs, index, trace, rng.randint(low, high), rng.uniform(0, STAGE_DELAY_S * 1.5)
        )
        log.append(outcome)
        interrupted = read_state(index)
        log.append(f"  left {len(interrupted.documents)} documents")

    final = _ingest(docs, index)
    assert final.returncode == 0, final.stderr[-2000:]
    assert json.loads(final.stdout)["failed"] == [], "\n".join(log)
    _clean_ingest(docs, tmp_path / "clean")
    print("\n" + "\n".join(log) + f"\ncrash test took {time.perf_counter() - started:.1f} s")

    recovered, clean = read_state(index), read_state(tmp_path / "clean")
    assert consistency_problems(recovered) == [], "\n".join(log)
    assert consistency_problems(clean) == []
    assert recovered.chunk_ids == clean.chunk_ids, "\n".join(log)
    assert recovered.documents == clean.documents
    assert recovered.chunk_owners == clean.chunk_owners
    assert recovered.lexical_ids == clean.lexical_ids == clean.chunk_ids
    assert {source for source, _, _ in recovered.documents} == {p.name for p in docs.iterdir()}


def test_a_second_ingest_is_refused_while_one_runs_and_a_killed_one_frees_the_lock(
    tmp_path: Path,
) -> None:
    docs, index, trace = tmp_path / "documents", tmp_path / "index", tmp_path / "trace"
    write_policy_corpus(docs, 30)
    first = subprocess.Popen(
        _command(docs, index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(trace, delay_s=0.3),  # about 30 s in all: far longer than the second start
    )
    try:
        _wait_for_stages(first, trace, 1)  # it holds the lock once it embeds
        assert first.poll() is None
        second = _ingest(docs, index)
        assert first.poll() is None, "the first ingest must still hold the lock"
        assert second.returncode == 1
        assert "Another ingest is running" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=RUN_TIMEOUT_S)

    after = _ingest(docs, index)  # the kernel released the dead holder's lock
    assert after.returncode == 0, after.stderr[-2000:]
    assert json.loads(after.stdout)["documents"] == 30
    assert consistency_problems(read_state(index)) == []
