"""A real ``chroma run`` on loopback for the server-mode tests, started and stopped by them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def running_chroma(data: Path) -> Iterator[str]:
    """The URL of a Chroma server keeping its data in ``data``; skips when chroma is absent."""
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        found = shutil.which("chroma")
        if found is None:
            pytest.skip("the chroma command (from the chromadb package) is not installed")
        chroma = Path(found)
    port = _free_port()
    log = (data.parent / f"{data.name}.log").open("w")
    cmd = [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _heartbeat(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not come up on {url}; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
