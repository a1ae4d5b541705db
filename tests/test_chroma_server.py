"""Server mode: QA_CHROMA_URL points the assistant at a real `chroma run` on loopback.

The answers must be the same as with the embedded store, and two assistants (two UI
processes) sharing one server must see each other's ingests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TET_QUESTION
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from support.chroma_server import running_chroma

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


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


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


class _Counted:
    """Counts calls of the index's methods that read the whole registry or collection."""

    SCANS = ("documents", "document_roots", "iter_chunks", "chunk_owners")

    def __init__(self, assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {}
        for name in (*self.SCANS, "version"):
            monkeypatch.setattr(
                assistant.index, name, self._wrap(name, getattr(assistant.index, name))
            )

    def _wrap(self, name: str, method: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args, **kwargs)

        return counted

    def scans(self) -> int:
        return sum(self.calls.get(name, 0) for name in self.SCANS)


def test_a_replica_follows_ingest_and_delete_without_scanning_the_registry(
    settings: Settings, tmp_path: Path, chroma_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_question = settings.replicas.model_copy(update={"check_s": 0.0})
    settings = settings.model_copy(update={"replicas": every_question})
    writer = _assistant(settings, tmp_path / "writer", chroma_url, "qa_follow")
    replica = _assistant(settings, tmp_path / "replica", chroma_url, "qa_follow")
    writer.ingest()
    assert "10 triệu đồng" in replica.ask(TET_QUESTION).text  # the replica's first build
    counted = _Counted(replica, monkeypatch)

    extra = tmp_path / "new-documents"
    extra.mkdir()
    (extra / "hoa-binh-sua-nha.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
    assert writer.ingest([extra]).added == 1
    answer = replica.ask(NEW_QUESTION)
    assert "7 triệu đồng" in answer.text
    assert [c.source for c in answer.citations] == ["hoa-binh-sua-nha.txt"]

    writer.delete_document("hoa-binh-sua-nha.txt")
    after = replica.ask(NEW_QUESTION)
    assert "hoa-binh-sua-nha.txt" not in {h.chunk.source for h in after.hits}
    assert "10 triệu đồng" in replica.ask(TET_QUESTION).text

    # Four questions: one look at the store's version each (and one more by each of the two
    # catch-ups, reading the log), and not one full read.
    assert 4 <= counted.calls["version"] <= 6, counted.calls
    assert counted.scans() == 0, counted.calls
    # The replica took the changes in without a rebuild: the same chunks as a fresh build.
    fresh = _assistant(settings, tmp_path / "fresh", chroma_url, "qa_follow")
    assert {c.id for c in replica.retriever().lexical.chunks} == {
        c.id for c in fresh.retriever().lexical.chunks
    }
