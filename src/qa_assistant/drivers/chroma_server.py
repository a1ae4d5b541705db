"""A local ``chroma run`` on loopback, for the deployment check, the benchmark and the tests.

Production runs its own Chroma server (docs/DEPLOY.md); this one lives as long as the caller's
``with`` block, its waits bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import IndexStoreError

__all__ = ["chroma_command", "free_port", "heartbeat", "local_chroma_server"]

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # a server on 100k chunks takes a while to flush


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def chroma_command() -> Path | None:
    """The ``chroma`` command of this environment (chromadb's), else the one on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    if beside.exists():
        return beside
    found = shutil.which("chroma")
    return Path(found) if found else None


@contextmanager
def local_chroma_server(data: Path, *, port: int | None = None) -> Iterator[str]:
    """Runs ``chroma run`` on 127.0.0.1 over the folder ``data``; yields its URL."""
    chroma = chroma_command()
    if chroma is None:
        raise IndexStoreError(
            "The chroma command is not installed; it comes with the chromadb package "
            "(`make setup`)."
        )
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data.parent / f"{data.name}.log"
    cmd = [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not heartbeat(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise IndexStoreError(
                        f"chroma run did not come up on {url} within {START_TIMEOUT_S:.0f} s; "
                        f"see {log_path}."
                    )
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
