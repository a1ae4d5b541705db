"""The Chroma store: chunk vectors, the document registry, the texts and the manifest.

This is the only module that imports chromadb. Three collections live side by side:

* ``<name>``: one record per chunk (our own vector, the chunk text, its metadata). Its
  collection metadata is the manifest: embedding model, dimension, chunker version.
* ``<name>__documents``: one record per *completely ingested* document. Writing it is the
  commit point of a document's ingest, so chunks whose document has no registry record (or
  another content hash) are leftovers of an interrupted ingest and get swept away.
* ``<name>__texts``: each document's normalised text, for showing citations in context. Kept
  out of the registry because Chroma reads a record's text along with its metadata: with the
  texts in it, listing 1,200 documents read 80 MB and took 0.8 s, on every store check.
* ``<name>__changes``: the change log, a generation per commit or removal of a document and
  its head (:mod:`.change_log`). Every registry write happens inside
  :meth:`~qa_assistant._store.change_log.ChangeLog.logged`; :meth:`ChromaIndex.version` and
  :meth:`ChromaIndex.changes_since` read it for the processes that follow the store.

Both the embedded store (``index/``) and a Chroma server (``QA_CHROMA_URL``) work the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import IndexMismatchError, IndexStoreError
from ..types import Chunk, DocumentInfo, Filters, StoreVersion, date_number, number_date
from .change_log import ChangeLog
from .manifest import Manifest

__all__ = [
    "ChromaIndex",
    "StoredChunk",
]

_PAGE = 2000  # records per get/upsert call: keeps memory flat on large collections

# The registry gets one record (a whole document's text) per write. Chroma keeps every write in
# its log until the collection's vector index is saved, every `sync_threshold` records (1000 by
# default), and each new write re-reads that pending log: with whole laws in it, committing a
# document grew from 0.16 s to 0.6 s over its first 100 documents and kept growing, which
# throttled a 100k-chunk build to ~30 chunks/s. Saving the registry's one-number vectors after
# every write keeps the log empty and the commit flat.
_REGISTRY_HNSW: dict[str, Any] = {"batch_size": 1, "sync_threshold": 1}


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as read back from the store, with the lexical tokens kept beside it."""

    chunk: Chunk
    tokens: str
    content_hash: str


def _text_id(source: str, content_hash: str) -> str:
    return f"{content_hash}:{source}"


def _client(index_dir: Path, chroma_url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if chroma_url:
            url = urlparse(chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise IndexStoreError(
                    f"QA_CHROMA_URL={chroma_url!r} is not an http(s)://host:port address."
                )
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(index_dir), settings=chroma_settings)
    except IndexStoreError:
        raise
    except Exception as exc:
        where = chroma_url or str(index_dir)
        raise IndexStoreError(
            f"Could not open the Chroma store at {where}: {exc}. "
            "Check that the folder is readable (or the server is running), "
            "or re-create it with `qa-assistant ingest --rebuild`."
        ) from exc


class ChromaIndex:
    """Chunk vectors and the document registry in Chroma. Vectors always come from us."""

    def __init__(self, index_dir: Path, *, collection: str, chroma_url: str | None = None):
        self.index_dir = index_dir
        self.location = chroma_url or str(index_dir)
        self.shared = chroma_url is not None  # other machines may write to it too
        self._name = collection
        self._client = _client(index_dir, chroma_url)
        self._open_collections()
        # The log reads the handle this index holds now: a reopen after a rebuild replaces it.
        self._log = ChangeLog(lambda: self._changes, self.reopen)

    def _open_collections(self) -> None:
        # embedding_function=None: Chroma's default model must never run (it downloads weights).
        self._chunks = self._client.get_or_create_collection(
            self._name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self._docs = self._client.get_or_create_collection(
            f"{self._name}__documents",
            embedding_function=None,
            configuration={"hnsw": dict(_REGISTRY_HNSW)},
        )
        self._texts = self.side_collection("texts")
        self._changes = self.side_collection("changes")
        # get_or_create ignores the configuration of a registry that already exists: an index
        # built before this setting gets it here, once.
        hnsw = (self._docs.configuration or {}).get("hnsw") or {}
        if hnsw.get("sync_threshold") != _REGISTRY_HNSW["sync_threshold"]:
            self._docs.modify(configuration={"hnsw": dict(_REGISTRY_HNSW)})

    @property
    def chunk_collection(self) -> Any:
        """Chroma's collection of the chunks, for the bench's plain-search baseline."""
        return self._chunks

    def side_collection(self, suffix: str) -> Any:
        """The small collection ``<name>__<suffix>`` (records of one-number vectors)."""
        return self._client.get_or_create_collection(
            f"{self._name}__{suffix}",
            embedding_function=None,
            configuration={"hnsw": dict(_REGISTRY_HNSW)},
        )

    # -- manifest -------------------------------------------------------------------------

    def manifest(self) -> Manifest | None:
        # Read afresh: a collection handle keeps the metadata of when it was opened, and
        # another process may have written the manifest since.
        return Manifest.from_metadata(self._client.get_collection(self._name).metadata)

    def reopen(self) -> None:
        """Open the collections again: another process may have rebuilt (re-created) them."""
        self._open_collections()

    def check_manifest(self, expected: Manifest) -> None:
        """Adopt ``expected`` on an empty store; refuse a store built differently."""
        found = self.manifest()
        if found is None:
            if self._chunks.count() > 0:
                raise IndexMismatchError(
                    f"The index at {self.location} holds chunks but no manifest. "
                    "Re-ingest with `qa-assistant ingest --rebuild`."
                )
            self._chunks.modify(metadata=expected.as_metadata())
            return
        if found != expected and found.can_reembed_as(expected):
            raise IndexMismatchError(
                f"The index at {self.location} holds vectors of {found.embedding_model!r}"
                f"{'' if found.complete else ' (an ingest re-embedding them did not finish)'}, "
                f"but the assistant embeds questions with {expected.embedding_model!r}. Run "
                "`qa-assistant ingest` to re-embed the index (QA_EMBEDDER__TUNED selects the "
                "fine-tuned or the plain model)."
            )
        if found != expected:
            raise IndexMismatchError(
                f"The index at {self.location} was built with model {found.embedding_model!r} "
                f"({found.dimension}-d, chunker {found.chunker_version}), but the assistant is "
                f"configured for {expected.embedding_model!r} ({expected.dimension}-d, chunker "
                f"{expected.chunker_version}). Re-ingest with `qa-assistant ingest --rebuild`, "
                "or set QA_MODEL back to the model the index was built with."
            )

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest (re-embedding), and move the change log's head so that serving
        processes read it again before their next question."""
        self._chunks.modify(metadata=manifest.as_metadata())
        self._log.advance()

    def reset(self) -> None:
        """Drop everything (``--rebuild``)."""
        # The lease collection stays: the ingest that resets holds it.
        drop = ("", "__documents", "__texts", "__changes")
        for name in (f"{self._name}{suffix}" for suffix in drop):
            # A collection that is already absent is what we want.
            with contextlib.suppress(Exception):
                self._client.delete_collection(name)
        self._open_collections()

    # -- registry ---------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        got = self._docs.get(include=["metadatas"])
        infos = [self._info(m) for m in got["metadatas"] or []]
        return sorted(infos, key=lambda d: d.source)

    @staticmethod
    def _info(m: Any) -> DocumentInfo:
        return DocumentInfo(
            source=str(m["source"]),
            title=str(m["title"]),
            date=number_date(m.get("date")),
            chunks=int(m["chunks"]),
            content_hash=str(m["content_hash"]),
            ingested_at=str(m["ingested_at"]),
            format=str(m.get("format", "txt")),
        )

    def document_roots(self) -> dict[str, str]:
        """source -> the folder it was ingested from (to notice files gone from that folder)."""
        got = self._docs.get(include=["metadatas"])
        return {str(m["source"]): str(m.get("root", "")) for m in got["metadatas"] or []}

    def commit_document(self, info: DocumentInfo, *, root: str, text: str) -> None:
        meta = {
            "source": info.source,
            "title": info.title,
            "date": date_number(info.date),
            "chunks": info.chunks,
            "content_hash": info.content_hash,
            "ingested_at": info.ingested_at,
            "format": info.format,
            "root": root,
        }
        # The normalised text is kept so citations can be shown in context without the file.
        # Keyed by version, written before the registry record (the commit point), and the
        # previous version's dropped after it: a crash in between never shows the wrong text.
        text_id = _text_id(info.source, info.content_hash)
        self._texts.upsert(
            ids=[text_id], embeddings=[[0.0]], documents=[text], metadatas=[{"source": info.source}]
        )
        with self._log.logged(info.source, info.content_hash):
            self._docs.upsert(ids=[info.source], embeddings=[[0.0]], metadatas=[meta])
        stale = self._texts.get(where={"source": info.source}, include=[])["ids"]
        if stale := [i for i in stale if i != text_id]:
            self._texts.delete(ids=stale)

    def document_text(self, source: str) -> str | None:
        got = self._docs.get(ids=[source], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = (got["metadatas"] or [{}])[0] or {}
        text_id = _text_id(source, str(meta.get("content_hash", "")))
        docs = self._texts.get(ids=[text_id], include=["documents"])["documents"] or []
        if not docs:  # a registry made before texts moved out keeps them in its own records
            docs = self._docs.get(ids=[source], include=["documents"])["documents"] or []
        return str(docs[0]) if docs and docs[0] is not None else None

    def remove_document(self, source: str) -> None:
        # Registry first: a crash in between leaves orphan chunks, which the next ingest sweeps.
        with self._log.logged(source, ""):
            self._docs.delete(ids=[source])
        self._chunks.delete(where={"source": source})
        self._texts.delete(where={"source": source})

    def committed_hashes(self, sources: Sequence[str]) -> dict[str, str]:
        """source -> committed content hash, for those of ``sources`` that are committed."""
        if not sources:
            return {}
        got = self._docs.get(ids=list(sources), include=["metadatas"])
        return {str(m["source"]): str(m["content_hash"]) for m in got["metadatas"] or []}

    # -- change log -------------------------------------------------------------------------

    def version(self) -> StoreVersion:
        """The store's committed state: one small read, cheap enough for every question."""
        return self._log.version()

    def changes_since(self, seen: StoreVersion) -> tuple[StoreVersion, list[str] | None]:
        """The head now, and the sources changed after ``seen``; None when ``seen`` cannot be
        brought forward from the log (another store, a rebuilt one, or records missing)."""
        # The head first, so a follower never claims a version newer than what it read.
        head = self.version()
        return head, self._log.sources_between(seen, head)

    def publish_changes(self) -> None:
        """Move the head past change records a killed writer left beyond it (holding the
        ingest lock): :meth:`~qa_assistant._store.change_log.ChangeLog.publish`."""
        self._log.publish()

    # -- chunks ----------------------------------------------------------------------------

    def add_chunks(
        self,
        chunks: Sequence[Chunk],
        vectors: Sequence[Sequence[float]],
        tokens: Sequence[str],
        content_hash: str | Sequence[str],
    ) -> None:
        """Write chunks of one document version (one hash) or of several (a hash per chunk)."""
        hashes = [content_hash] * len(chunks) if isinstance(content_hash, str) else content_hash
        for i in range(0, len(chunks), _PAGE):
            part = chunks[i : i + _PAGE]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=[list(v) for v in vectors[i : i + _PAGE]],
                documents=[c.text for c in part],
                metadatas=[
                    self._chunk_meta(c, t, h)
                    for c, t, h in zip(
                        part, tokens[i : i + _PAGE], hashes[i : i + _PAGE], strict=True
                    )
                ],
            )

    @staticmethod
    def _chunk_meta(c: Chunk, tokens: str, content_hash: str) -> dict[str, Any]:
        return {**c.metadata(), "content_hash": content_hash, "lex": tokens}

    def count(self) -> int:
        return int(self._chunks.count())

    def _pages(self, where: Any, include: list[Any]) -> Iterator[Any]:
        """Chroma's ``get`` results, page by page: memory stays flat on large collections."""
        offset = 0
        while True:
            got = self._chunks.get(where=where, include=include, limit=_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield got
            offset += len(got["ids"])

    def iter_chunks(self, *, source: str | None = None) -> Iterator[StoredChunk]:
        where = {"source": source} if source else None
        for got in self._pages(where, ["documents", "metadatas"]):
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield self._stored(cid, text, meta)

    def version_chunks(self, source: str, content_hash: str) -> Iterator[StoredChunk]:
        """The chunks of one stored version of a document."""
        where = {"$and": [{"source": source}, {"content_hash": content_hash}]}
        for got in self._pages(where, ["documents", "metadatas"]):
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield self._stored(cid, text, meta)

    def version_vectors(self, source: str, content_hash: str) -> Iterator[tuple[StoredChunk, Any]]:
        """The chunks of one stored version of a document, each with its vector."""
        where = {"$and": [{"source": source}, {"content_hash": content_hash}]}
        for got in self._pages(where, ["documents", "metadatas", "embeddings"]):
            rows = zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
            for cid, text, meta, vector in rows:
                yield self._stored(cid, text, meta), vector

    @staticmethod
    def _stored(cid: str, text: str, meta: Any) -> StoredChunk:
        chunk = Chunk.from_metadata(cid, text, meta)
        return StoredChunk(chunk, str(meta["lex"]), str(meta["content_hash"]))

    def drop_uncommitted_texts(self, committed: dict[str, str]) -> None:
        """Delete texts of versions that ``committed`` (source -> content hash) does not hold."""
        ids = self._texts.get(include=[])["ids"]  # ids only: no texts are read
        keep = {_text_id(source, digest) for source, digest in committed.items()}
        if stale := [i for i in ids if i not in keep]:
            self._texts.delete(ids=stale)

    def stored_chunks(self, ids: Sequence[str]) -> list[StoredChunk]:
        got = self._chunks.get(ids=list(ids), include=["documents", "metadatas"])
        rows = zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        return [self._stored(cid, text, meta) for cid, text, meta in rows]

    def replace_vectors(self, ids: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        for i in range(0, len(ids), _PAGE):
            self._chunks.update(
                ids=list(ids[i : i + _PAGE]), embeddings=[list(v) for v in vectors[i : i + _PAGE]]
            )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), _PAGE):
            self._chunks.delete(ids=list(ids[i : i + _PAGE]))

    def chunk_owners(self) -> dict[str, tuple[str, str]]:
        """chunk id -> (source, content hash), read page by page without texts or vectors."""
        owners: dict[str, tuple[str, str]] = {}
        for got in self._pages(None, ["metadatas"]):
            for cid, meta in zip(got["ids"], got["metadatas"], strict=True):
                owners[cid] = (str(meta["source"]), str(meta["content_hash"]))
        return owners

    def query(
        self, vector: Sequence[float], n: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """Nearest chunks as (id, cosine similarity), best first."""
        # No count() first: Chroma returns fewer results (or none) when the collection holds
        # fewer than n, and the count cost more than the HNSW search itself (a server round
        # trip in server mode).
        got = self._chunks.query(
            query_embeddings=[list(vector)],
            n_results=n,
            where=_where(filters),
            include=["distances"],
        )
        ids = got["ids"][0] if got["ids"] else []
        dists = got["distances"][0] if got["distances"] else []
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, dists, strict=True)]


def _where(filters: Filters | None) -> dict[str, Any] | None:
    if filters is None or filters.is_empty():
        return None
    clauses: list[dict[str, Any]] = []
    if filters.sources:
        clauses.append({"source": {"$in": list(filters.sources)}})
    if filters.date_from:
        clauses.append({"date": {"$gte": date_number(filters.date_from)}})
    if filters.date_to:
        clauses.append({"date": {"$lte": date_number(filters.date_to)}})
    if filters.date_from or filters.date_to:
        clauses.append({"date": {"$gt": 0}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
