"""Server mode: QA_CHROMA_URL points the assistant at a real `chroma run` on loopback.

The answers must be the same as with the embedded store, and two assistants (two UI
processes) sharing one server must see each other's ingests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TET_QUESTION
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder

pytestmark = pytest.mark.integration

QUESTIONS = (
    TET_QUESTION,
    "Quảng Ninh đặt mục tiêu giảm tỷ lệ hộ nghèo như thế nào?",
    "Ai được hỗ trợ mua thẻ bảo hiểm y tế?",
)
NEW_DOCUMENT = (
    "Xã Hòa Bình hỗ trợ hộ nghèo sửa nhà\n\n"
    "Ủy ban nhân dân xã Hòa Bình quyết định hỗ trợ 7 triệu đồng cho mỗi hộ nghèo để sửa "
    "chữa nhà ở trước mùa mưa bão năm 2026.\n"
)
NEW_QUESTION = "Xã Hòa Bình hỗ trợ mỗi hộ nghèo bao nhiêu tiền để sửa nhà?"


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


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        found = shutil.which("chroma")
        if found is None:
            pytest.skip("the chroma command (from the chromadb package) is not installed")
        chroma = Path(found)
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data.parent / "chroma-server.log").open("w")
    cmd = [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
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


def _assistant(base: Settings, local: Path, chroma_url: str | None, collection: str) -> Assistant:
    # Each "process" has its own index folder: the lexical cache and ingest lock live there.
    settings = base.model_copy(
        update={"index_dir": local, "chroma_url": chroma_url, "collection": collection}
    )
    return Assistant(settings, embedder=FakeEmbedder())


def _shape(answer: Any) -> dict[str, Any]:
    data = answer.to_dict()
    data.pop("latency_ms")
    # The server computes distances in its own float32 path: the last digit may differ.
    for hit in data["retrieved"]:
        hit["score"] = round(hit["score"], 4)
    return data


def test_server_answers_like_the_embedded_store(
    settings: Settings, tmp_path: Path, chroma_url: str
) -> None:
    embedded = _assistant(settings, tmp_path / "embedded", None, "qa_same")
    served = _assistant(settings, tmp_path / "ui", chroma_url, "qa_same")
    for a in (embedded, served):
        report = a.ingest()
        assert report.failed == () and report.chunks > 0
    assert served.index.location == chroma_url
    assert served.index.count() == embedded.index.count()
    for question in QUESTIONS:
        here, there = embedded.ask(question), served.ask(question)
        assert _shape(there) == _shape(here), question
    assert not served.ask(TET_QUESTION).abstained
    # Nothing of the store was written locally in server mode, only the lexical cache.
    assert not (tmp_path / "ui" / "chroma.sqlite3").exists()


def test_two_assistants_share_one_server(
    settings: Settings, tmp_path: Path, chroma_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(
        update={"replicas": settings.replicas.model_copy(update={"check_s": 0.5})}
    )
    first = _assistant(settings, tmp_path / "ui-1", chroma_url, "qa_shared")
    second = _assistant(settings, tmp_path / "ui-2", chroma_url, "qa_shared")
    first.ingest()
    # The second process never ingested; it serves what the first one wrote.
    assert "10 triệu đồng" in second.ask(TET_QUESTION).text
    before = second.ask(NEW_QUESTION)
    assert "hoa-binh-sua-nha.txt" not in {h.chunk.source for h in before.hits}

    extra = tmp_path / "new-documents"
    extra.mkdir()
    (extra / "hoa-binh-sua-nha.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
    report = first.ingest([extra])
    assert report.added == 1 and report.failed == ()

    time.sleep(0.6)  # past the store check interval: the second assistant looks again
    answer = second.ask(NEW_QUESTION)
    assert "7 triệu đồng" in answer.text
    assert [c.source for c in answer.citations] == ["hoa-binh-sua-nha.txt"]
    assert {d.source for d in second.documents()} >= {"hoa-binh-sua-nha.txt"}
