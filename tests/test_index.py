"""ChromaIndex on a real embedded Chroma store: the registry's write settings."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa_assistant._store.index import ChromaIndex
from qa_assistant.types import Chunk, DocumentInfo

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _info(source: str) -> DocumentInfo:
    return DocumentInfo(
        source=source,
        title=source,
        date=None,
        chunks=0,
        content_hash="h" * 64,
        ingested_at="2026-01-01T00:00:00+00:00",
    )


def _registry_hnsw(index: ChromaIndex) -> dict[str, Any]:
    return dict(index._docs.configuration["hnsw"])


def test_new_registry_saves_its_vectors_after_every_write(tmp_path: Path) -> None:
    # Otherwise each commit re-reads every pending document text in Chroma's log.
    index = ChromaIndex(tmp_path, collection="qa_test")
    assert _registry_hnsw(index)["sync_threshold"] == 1
    index.reset()
    assert _registry_hnsw(index)["sync_threshold"] == 1


def test_registry_made_before_the_setting_gets_it_and_keeps_its_records(tmp_path: Path) -> None:
    import chromadb

    client = chromadb.PersistentClient(path=str(tmp_path))
    old = client.create_collection("qa_test__documents", embedding_function=None)
    old.upsert(
        ids=["luat.txt"],
        embeddings=[[0.0]],
        documents=["Điều 1. Phạm vi điều chỉnh"],
        metadatas=[
            {
                "source": "luat.txt",
                "title": "Luật",
                "date": 0,
                "chunks": 3,
                "content_hash": "a" * 64,
                "ingested_at": "2025-01-01T00:00:00+00:00",
                "format": "txt",
                "root": "",
            }
        ],
    )
    assert old.configuration["hnsw"]["sync_threshold"] == 1000

    index = ChromaIndex(tmp_path, collection="qa_test")
    assert _registry_hnsw(index)["sync_threshold"] == 1
    assert [d.source for d in index.documents()] == ["luat.txt"]
    assert index.document_text("luat.txt") == "Điều 1. Phạm vi điều chỉnh"

    for i in range(5):
        index.commit_document(_info(f"moi-{i}.txt"), root="", text=f"Văn bản {i}")
    reopened = ChromaIndex(tmp_path, collection="qa_test")
    assert len(reopened.documents()) == 6
    assert reopened.document_text("moi-4.txt") == "Văn bản 4"


def _chunk(source: str, ordinal: int) -> Chunk:
    text = f"Điều {ordinal}. Nội dung {source}"
    return Chunk(
        id=f"{source}#{ordinal}",
        source=source,
        title=source,
        heading=(f"Điều {ordinal}",),
        text=text,
        start=0,
        end=len(text),
        ordinal=ordinal,
        date=None,
    )


def test_one_write_can_hold_chunks_of_several_document_versions(tmp_path: Path) -> None:
    index = ChromaIndex(tmp_path, collection="qa_test")
    chunks = [_chunk("a.txt", 0), _chunk("a.txt", 1), _chunk("b.txt", 0)]
    index.add_chunks(chunks, [[1.0, 0.0]] * 3, ["điều", "điều", "điều"], ["ha", "ha", "hb"])
    index.add_chunks([_chunk("c.txt", 0)], [[0.0, 1.0]], ["nội_dung"], "hc")
    stored = {s.chunk.id: s.content_hash for s in index.iter_chunks()}
    assert stored == {"a.txt#0": "ha", "a.txt#1": "ha", "b.txt#0": "hb", "c.txt#0": "hc"}


def test_registry_records_hold_no_text_and_texts_follow_the_committed_version(
    tmp_path: Path,
) -> None:
    # Chroma reads a record's text with its metadata: listing the registry must not read laws.
    index = ChromaIndex(tmp_path, collection="qa_test")
    index.commit_document(_info("luat.txt"), root="", text="Bản cũ")
    newer = replace(_info("luat.txt"), content_hash="b" * 64)
    index.commit_document(newer, root="", text="Bản mới")
    assert index._docs.get(include=["documents"])["documents"] == [None]
    assert index.document_text("luat.txt") == "Bản mới"
    assert index._texts.count() == 1  # the old version's text went with it

    index.remove_document("luat.txt")
    assert index.document_text("luat.txt") is None
    assert index._texts.count() == 0


def test_texts_of_uncommitted_versions_are_swept(tmp_path: Path) -> None:
    index = ChromaIndex(tmp_path, collection="qa_test")
    index.commit_document(_info("a.txt"), root="", text="A")
    # An ingest that wrote the text of a new version and stopped before committing it.
    index._texts.upsert(
        ids=["c" * 64 + ":b.txt"],
        embeddings=[[0.0]],
        documents=["B"],
        metadatas=[{"source": "b.txt"}],
    )
    index.drop_uncommitted_texts({d.source: d.content_hash for d in index.documents()})
    assert index._texts.get(include=[])["ids"] == ["h" * 64 + ":a.txt"]
    assert index.document_text("b.txt") is None
    assert index.document_text("a.txt") == "A"
