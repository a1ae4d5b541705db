"""The index and incremental ingest, on the real Chroma store and the fake embedder."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from qa_assistant._store.change_log import ChangeLog
from qa_assistant._store.index import ChromaIndex
from qa_assistant._store.ingest import sweep_orphans
from qa_assistant._store.lease import FileIngestLock
from qa_assistant.assistant import Assistant
from qa_assistant.errors import IndexLockedError, IndexMismatchError, IngestLeaseLostError
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from support.checks import consistency_problems, read_state


def test_ingest_twice_never_duplicates(assistant: Assistant) -> None:
    first = assistant.ingest()
    assert first.added == 2 and first.documents == 2 and first.chunks > 2
    second = assistant.ingest()
    assert (second.added, second.updated, second.removed, second.skipped) == (0, 0, 0, 2)
    assert second.chunks == first.chunks == assistant.index.count()


def test_edit_and_delete_are_reflected(assistant: Assistant, docs_dir: Path) -> None:
    before = assistant.ingest()
    short = docs_dir / "quang-ninh-giam-ngheo-2025.txt"
    short.write_text(short.read_text(encoding="utf-8") + "\n\nĐoạn mới về hỗ trợ sinh kế.\n")
    edited = assistant.ingest()
    assert (edited.added, edited.updated, edited.skipped) == (0, 1, 1)
    assert edited.chunks == assistant.index.count()
    ids = {s.chunk.id for s in assistant.index.iter_chunks(source=short.name)}
    assert len(ids) == next(d.chunks for d in assistant.documents() if d.source == short.name)
    short.unlink()
    removed = assistant.ingest()
    assert removed.removed == 1 and removed.documents == 1
    assert removed.chunks == assistant.index.count() < before.chunks
    assert all(s.chunk.source != short.name for s in assistant.index.iter_chunks())


def test_a_bad_file_is_reported_and_the_rest_indexed(assistant: Assistant, docs_dir: Path) -> None:
    (docs_dir / "empty.txt").write_bytes(b"")
    (docs_dir / "binary.txt").write_bytes(bytes(range(256)) * 20)
    report = assistant.ingest()
    assert report.documents == 2
    failed = {Path(f.path).name: f.error for f in report.failed}
    assert set(failed) == {"empty.txt", "binary.txt"}
    assert all(msg for msg in failed.values())


def test_duplicate_content_under_two_names_is_indexed_once(
    assistant: Assistant, docs_dir: Path
) -> None:
    shutil.copy(docs_dir / "quang-ninh-giam-ngheo-2025.txt", docs_dir / "ban-sao.txt")
    report = assistant.ingest()
    assert report.documents == 2
    # The first in folder order is indexed; its twin is reported.
    assert [Path(f.path).name for f in report.failed] == ["quang-ninh-giam-ngheo-2025.txt"]
    assert "Same content as ban-sao.txt" in report.failed[0].error
    # Once one copy is indexed, it keeps its place when the folder is ingested again.
    again = assistant.ingest()
    assert again.skipped == 2 and len(again.failed) == 1


def test_index_built_with_another_model_is_refused(settings: Settings) -> None:
    Assistant(settings, embedder=FakeEmbedder(dimension=64)).ingest()
    other = Assistant(settings, embedder=FakeEmbedder(dimension=32, name="other-model"))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        other.ingest()
    with pytest.raises(IndexMismatchError):
        other.ask("Quảng Ninh hỗ trợ gì?")
    rebuilt = other.ingest(rebuild=True)
    assert rebuilt.documents == 2


class _OtherWeights(FakeEmbedder):
    """The same size and tokens as the fake embedder, other vectors: as the fine-tuned e5 is
    to the plain one."""

    def __init__(self) -> None:
        super().__init__(name="fake-embedder+tuned")

    def _vector(self, text: str) -> list[float]:
        return [-v for v in super()._vector(text)]


def _stored_vectors(index: ChromaIndex) -> dict[str, tuple[str, list[float]]]:
    return {
        stored.chunk.id: (stored.chunk.indexed_text, [float(x) for x in vector])
        for doc in index.documents()
        for stored, vector in index.version_vectors(doc.source, doc.content_hash)
    }


def test_an_index_of_another_embedder_is_re_embedded_by_ingest(settings: Settings) -> None:
    first = Assistant(settings, embedder=FakeEmbedder()).ingest()
    tuned = _OtherWeights()
    switched = Assistant(settings, embedder=tuned)
    with pytest.raises(IndexMismatchError, match="qa-assistant ingest` to re-embed"):
        switched.ask("Quảng Ninh hỗ trợ gì?")
    report = switched.ingest()
    assert report.reembedded == first.chunks == report.chunks == switched.index.count()
    assert report.skipped == 2 and report.added == 0
    manifest = switched.index.manifest()
    assert manifest is not None and manifest.embedding_model == tuned.name and manifest.complete
    for text, vector in _stored_vectors(switched.index).values():
        assert vector == pytest.approx(tuned.embed_passages([text])[0], abs=1e-6)
    assert switched.ask("Quảng Ninh hỗ trợ gì?").hits
    assert switched.ingest().reembedded == 0  # done once
    with pytest.raises(IndexMismatchError, match="re-embed"):
        Assistant(settings, embedder=FakeEmbedder()).ask("Quảng Ninh hỗ trợ gì?")


def test_an_interrupted_re_embed_is_refused_until_an_ingest_completes_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Assistant(settings, embedder=FakeEmbedder()).ingest()
    monkeypatch.setattr("qa_assistant._store.ingest._EMBED_BATCH", 2)
    replace_vectors = ChromaIndex.replace_vectors
    calls: list[int] = []

    def killed_after_one_batch(self: ChromaIndex, *args: Any) -> None:
        if calls:
            raise RuntimeError("killed halfway through re-embedding")
        calls.append(1)
        replace_vectors(self, *args)

    monkeypatch.setattr(ChromaIndex, "replace_vectors", killed_after_one_batch)
    with pytest.raises(RuntimeError):
        Assistant(settings, embedder=_OtherWeights()).ingest()
    monkeypatch.undo()
    # Half the vectors are new: neither model may ask against them.
    for embedder in (FakeEmbedder(), _OtherWeights()):
        with pytest.raises(IndexMismatchError, match="did not finish"):
            Assistant(settings, embedder=embedder).ask("Quảng Ninh hỗ trợ gì?")
    resumed = Assistant(settings, embedder=_OtherWeights())
    report = resumed.ingest()
    assert report.reembedded == first.chunks == resumed.index.count()
    for text, vector in _stored_vectors(resumed.index).values():
        assert vector == pytest.approx(_OtherWeights().embed_passages([text])[0], abs=1e-6)
    assert consistency_problems(read_state(settings.index_dir)) == []
    assert resumed.ask("Quảng Ninh hỗ trợ gì?").hits


def test_concurrent_ingest_is_refused(assistant: Assistant, settings: Settings) -> None:
    with (
        FileIngestLock(settings.index_dir),
        pytest.raises(IndexLockedError, match="Another ingest"),
    ):
        assistant.ingest()


def test_orphan_chunks_of_an_interrupted_ingest_are_swept(ingested: Assistant) -> None:
    index = ingested.index
    stored = list(index.iter_chunks())
    count = index.count()
    # A crash after writing chunks but before committing the document leaves chunks that no
    # registry record owns; the next ingest must remove them.
    orphan = stored[0]
    ghost = orphan.chunk.__class__(
        **{**orphan.chunk.__dict__, "id": "ghost-0", "source": "ghost.txt"}
    )
    index.add_chunks([ghost], [[0.1] * 64], [orphan.tokens], "deadbeef")
    assert index.count() == count + 1
    assert sweep_orphans(index) == 1
    assert index.count() == count


def test_filters_restrict_sources_and_dates(ingested: Assistant) -> None:
    from datetime import date

    from qa_assistant.types import Filters

    docs = {d.source: d for d in ingested.documents()}
    assert docs["quang-ninh-giam-ngheo-2025.txt"].date == date(2025, 12, 19)
    only = Filters(sources=("quang-ninh-giam-ngheo-2025.txt",))
    hits = ingested.retriever().retrieve("hỗ trợ", 5, filters=only)
    assert hits and {h.chunk.source for h in hits} == {"quang-ninh-giam-ngheo-2025.txt"}
    dated = Filters(date_from=date(2026, 1, 1))
    hits = ingested.retriever().retrieve("hỗ trợ", 5, filters=dated)
    assert hits and {h.chunk.source for h in hits} == {"quang-ninh-an-sinh-xa-hoi-2026.txt"}


class _CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.passages: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.passages.extend(texts)
        return super().embed_passages(texts)


def test_an_edited_document_re_embeds_only_its_changed_passages(
    settings: Settings, docs_dir: Path, tmp_path: Path
) -> None:
    embedder = _CountingEmbedder()
    assistant = Assistant(settings, embedder=embedder)
    assistant.ingest()
    path = docs_dir / "quang-ninh-giam-ngheo-2025.txt"
    path.write_text(path.read_text(encoding="utf-8") + "\n\nĐoạn mới về hỗ trợ sinh kế.\n")
    embedder.passages.clear()
    assert assistant.ingest().updated == 1
    changed = list(embedder.passages)
    stored = {
        s.chunk.id: (s.chunk, s.tokens) for s in assistant.index.iter_chunks(source=path.name)
    }
    assert 0 < len(changed) < len(stored)
    assert any("Đoạn mới" in t for t in changed)
    edited_vectors = assistant.index.version_vectors(
        path.name, next(d.content_hash for d in assistant.documents() if d.source == path.name)
    )
    reused = {s.chunk.id: list(v) for s, v in edited_vectors}
    assistant.close()

    # The same edited folder ingested from scratch gives the same chunks, tokens and vectors.
    fresh_settings = settings.model_copy(update={"index_dir": tmp_path / "fresh"})
    fresh = Assistant(fresh_settings, embedder=FakeEmbedder())
    fresh.ingest()
    fresh_stored = {
        s.chunk.id: (s.chunk, s.tokens) for s in fresh.index.iter_chunks(source=path.name)
    }
    assert fresh_stored == stored
    digest = next(d.content_hash for d in fresh.documents() if d.source == path.name)
    for s, vector in fresh.index.version_vectors(path.name, digest):
        assert list(vector) == pytest.approx(reused[s.chunk.id], abs=1e-6)
    fresh.close()


class _LosingLock:
    """An ingest lock that is lost after ``checks`` passing checks, as a lease that expired."""

    def __init__(self, checks: int) -> None:
        self.left = checks

    def __enter__(self) -> _LosingLock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def check(self) -> None:
        if self.left <= 0:
            raise IngestLeaseLostError("This ingest lost its lease.")
        self.left -= 1


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        (0, []),
        (1, []),
        (2, ["add_chunks"]),
        (3, ["add_chunks", "commit_document"]),
        (5, ["add_chunks", "commit_document", "add_chunks"]),
    ],
)
def test_an_ingest_that_loses_its_lock_stops_before_its_next_write(
    settings: Settings, checks: int, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = Assistant(settings, embedder=FakeEmbedder())
    writes: list[str] = []
    for name in ("add_chunks", "commit_document", "remove_document"):
        method = getattr(assistant.index, name)
        monkeypatch.setattr(
            assistant.index,
            name,
            lambda *a, _m=method, _n=name, **k: (writes.append(_n), _m(*a, **k))[1],
        )
    lock = _LosingLock(checks)
    monkeypatch.setattr(assistant, "ingest_lock", lambda: lock)
    with pytest.raises(IngestLeaseLostError):
        assistant.ingest()
    # Three checks guard each document (before its file, its chunks and its commit): the
    # writes stop at the first failed check, even mid-document.
    assert writes == expected
    monkeypatch.undo()
    again = Assistant(settings, embedder=FakeEmbedder()).ingest()  # the next one completes it
    assert again.documents == 2 and again.failed == ()


def test_a_commit_whose_log_head_was_never_moved_is_published_by_the_next_ingest(
    settings: Settings, docs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Assistant(settings, embedder=FakeEmbedder()).ingest()
    (docs_dir / "them.txt").write_text(
        "Xã Hòa Bình hỗ trợ 7 triệu đồng cho mỗi hộ nghèo sửa nhà.\n", encoding="utf-8"
    )

    def killed(*args: object) -> None:
        raise RuntimeError("killed after the registry write, before the head moved")

    monkeypatch.setattr(ChangeLog, "_move_head", killed)
    Assistant(settings, embedder=FakeEmbedder()).ingest()
    monkeypatch.undo()
    # The document is committed, but the log's head does not cover it. The next ingest finds
    # nothing to change and still publishes it, so every process's lexical index gets it.
    again = Assistant(settings, embedder=FakeEmbedder()).ingest()
    assert again.skipped == 3 and again.added == 0
    assert consistency_problems(read_state(settings.index_dir)) == []
