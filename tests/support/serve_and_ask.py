"""Serves the page on a free loopback port, asks one question over HTTP, and stops.

``python tests/support/serve_and_ask.py INDEX_DIR DOCUMENTS_DIR QUESTION`` prints the
``/ask`` answer as JSON. The assistant uses the fake embedder, the index must exist.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(index_dir: str, documents_dir: str, question: str) -> None:
    from gradio_client import Client

    from qa_assistant import _ui as ui

    settings = Settings(
        index_dir=Path(index_dir),
        documents_dir=Path(documents_dir),
        port=_free_port(),
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    app, url = ui.serve(assistant, settings, block=False)
    try:
        result = Client(url, verbose=False).predict(question, api_name="/ask")
    finally:
        app.close()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:4])
