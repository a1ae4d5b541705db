"""A real ``chroma run`` on loopback for the server-mode tests, started and stopped by them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qa_assistant.drivers.chroma_server import chroma_command, local_chroma_server

__all__ = ["running_chroma"]


@contextmanager
def running_chroma(data: Path) -> Iterator[str]:
    """The URL of a Chroma server keeping its data in ``data``; skips when chroma is absent."""
    if chroma_command() is None:
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    with local_chroma_server(data) as url:
        yield url
