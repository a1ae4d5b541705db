"""The real ``qa-assistant`` command line, with the FakeEmbedder in place of the model.

Tests that need a separate process (killed mid-ingest, holding the ingest lock, running with
the network blocked) start this script with the usual arguments, e.g.
``python tests/support/fake_cli.py ingest DOCS --index IDX --json``.

Two environment variables make ingest observable and slow enough to interrupt:

* ``FAKE_TRACE``: a file that gets one line per stage of each document (``embed``, ``add``,
  ``commit``), written *after* the stage, so a test can kill the process between stages.
* ``FAKE_STAGE_DELAY_S``: a pause after each of those stages (default 0).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from qa_assistant import cli
from qa_assistant._store.index import ChromaIndex
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder

TRACE = os.environ.get("FAKE_TRACE", "")
DELAY_S = float(os.environ.get("FAKE_STAGE_DELAY_S", "0") or 0)


def _mark(stage: str) -> None:
    if TRACE:
        # One write per line with O_APPEND: a reader never sees half a line.
        fd = os.open(TRACE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{stage}\n".encode())
        finally:
            os.close(fd)
    if DELAY_S:
        time.sleep(DELAY_S)


class TracedEmbedder(FakeEmbedder):
    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = super().embed_passages(texts)
        _mark("embed")
        return vectors


def _traced(method: Callable[..., Any], stage: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        _mark(stage)
        return result

    return wrapper


def _assistant(settings: Settings) -> Assistant:
    return Assistant(settings, embedder=TracedEmbedder())


def main(argv: list[str]) -> None:
    ChromaIndex.add_chunks = _traced(ChromaIndex.add_chunks, "add")  # type: ignore[method-assign]
    ChromaIndex.commit_document = _traced(  # type: ignore[method-assign]
        ChromaIndex.commit_document, "commit"
    )
    cli._assistant = _assistant  # type: ignore[assignment]
    cli.main(args=argv, prog_name="qa-assistant")


if __name__ == "__main__":
    main(sys.argv[1:])
