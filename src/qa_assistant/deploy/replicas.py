"""The deploy check's replicas: each a ``qa-assistant serve`` process on loopback, started,
awaited, killed and stopped, with its peak memory and the models' cache counts, which
it prints when signalled (``SIGUSR1``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from .._models.onnx_runtime import CacheCounts
from ..cli import CACHE_COUNTS_LINE
from ..drivers.chroma_server import free_port
from ..errors import QAError

__all__ = [
    "READY_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "Counted",
    "DeployCheckError",
    "Replica",
    "cache_counts_of",
    "cached_during",
]

READY_TIMEOUT_S = 300.0  # a replica's start: model load, and an ingest that may wait for the lease
STOP_TIMEOUT_S = 15.0
COUNTS_TIMEOUT_S = 10.0  # from the signal until the replica's counts are in its log


class DeployCheckError(QAError):
    """The deployment could not be started (the load's own failures are in the report)."""


class Replica:
    """One ``qa-assistant serve`` process on loopback."""

    def __init__(self, number: int, workdir: Path, env: dict[str, str]) -> None:
        self.number = number
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"replica-{number}.log"
        self.env = {**env, "QA_INDEX_DIR": str(workdir / f"replica-{number}")}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        cmd = [sys.executable, "-m", "qa_assistant", "serve", "--ingest"]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    def wait_ready(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT_S:
            if self.proc is None or self.proc.poll() is not None:
                raise DeployCheckError(f"Replica {self.number} exited; see {self.log}.")
            try:
                if httpx.get(f"{self.url}/config", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise DeployCheckError(
            f"Replica {self.number} did not serve within {READY_TIMEOUT_S:.0f} s; see {self.log}."
        )

    def peak_rss_mb(self) -> float | None:
        """The process's peak resident memory so far (Linux), None where it cannot be read."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cache_counts(self) -> dict[str, CacheCounts] | None:
        """The models' cache counts since this process started, None where the replica
        is down or does not answer the signal in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        seen = self.log.stat().st_size
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + COUNTS_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.log.open("rb") as log:
                log.seek(seen)
                for line in log.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(CACHE_COUNTS_LINE):
                        counts = json.loads(line[len(CACHE_COUNTS_LINE) :])
                        return {name: CacheCounts(**c) for name, c in counts.items()}
            time.sleep(0.1)
        return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass(frozen=True)
class Counted:
    """A replica's cache counts, and which of its starts they belong to."""

    starts: int
    counts: dict[str, CacheCounts]


def cache_counts_of(replicas: Sequence[Replica]) -> list[Counted | None]:
    return [None if (c := r.cache_counts()) is None else Counted(r.starts, c) for r in replicas]


def cached_during(
    before: Sequence[Counted | None], after: Sequence[Counted | None]
) -> dict[str, CacheCounts]:
    """Each model's calls between the two counts, summed over the replicas; a replica that
    restarted in between counts from its restart."""
    total: dict[str, CacheCounts] = {}
    for then, now in zip(before, after, strict=True):
        if now is None:
            continue
        for name, c in now.counts.items():
            if then is not None and then.starts == now.starts and name in then.counts:
                c = CacheCounts(
                    c.hits - then.counts[name].hits, c.misses - then.counts[name].misses
                )
            t = total.get(name, CacheCounts(0, 0))
            total[name] = CacheCounts(t.hits + c.hits, t.misses + c.misses)
    return total
