"""Incremental, locked, crash-safe ingest of files into the index.

An index embedded by another model of the same size and chunking is first re-embedded in
place (``_reembed``). Then per file: content hash unchanged → skipped; new or changed → loaded,
chunked, embedded and written, then committed in the document registry; gone from a folder
ingested before → removed. Writing the registry record is each document's commit point, and
every run starts by sweeping chunks that no committed document owns, so an ingest killed at
any moment is completed by the next one without duplicates or orphans.

The whole run holds the ingest lock (``lease.py``): a file lock for the embedded store, a
lease kept in the server for a shared one. The lease is checked before each document's writes
and before its commit, so an ingest that lost it stops instead of writing on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from .._chunking.chunker import CHUNKER_VERSION, chunk_document
from .._loading import discover, load_document
from .._loading.ocr import PageProgress
from .._vietnamese import word_tokens
from ..errors import IndexLockedError, QAError
from ..protocols import Embedder
from ..settings import IngestSettings
from ..types import Chunk, DocumentInfo, FailedFile, IngestReport
from .index import ChromaIndex
from .lease import IngestLock
from .manifest import Manifest

__all__ = [
    "TOKENS_VERSION",
    "Progress",
    "file_hash",
    "ingest",
    "manifest_for",
    "sweep_orphans",
    "sweep_source",
]

Progress = Callable[[int, int, str], None]
# Stored beside each chunk for the lexical index; a change here needs a re-ingest, so it is
# part of the manifest along with the chunker's version.
TOKENS_VERSION = "pyvi-words-2"  # 2: words in canonical_spelling (one form per variant)
_EMBED_BATCH = 64


def manifest_for(embedder: Embedder) -> Manifest:
    return Manifest(embedder.name, embedder.dimension, f"{CHUNKER_VERSION}/{TOKENS_VERSION}")


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sweep_orphans(index: ChromaIndex) -> int:
    """Delete chunks that no committed document owns (leftovers of an interrupted ingest)."""
    committed = {d.source: d.content_hash for d in index.documents()}
    orphans = [
        cid
        for cid, (source, digest) in index.chunk_owners().items()
        if committed.get(source) != digest
    ]
    index.delete_chunks(orphans)
    index.drop_uncommitted_texts(committed)
    return len(orphans)


def ingest(
    index: ChromaIndex,
    embedder: Embedder,
    paths: Sequence[Path],
    *,
    lock: IngestLock,
    max_tokens: int,
    rebuild: bool = False,
    progress: Progress | None = None,
    limits: IngestSettings | None = None,
) -> IngestReport:
    """Ingest ``paths`` under ``lock``; the caller brings its lexical index up afterwards.

    ``limits`` bound scans, photos and .doc files (:class:`IngestSettings`' defaults when
    None); ``progress`` hears of each file and of each page OCR reads in it.
    """
    started = time.perf_counter()
    with lock:
        if rebuild:
            index.reset()
        else:
            index.reopen()  # what the previous holder wrote, even a rebuild, is seen afresh
        sweep_orphans(index)
        reembedded = _reembed(index, embedder, lock, progress)
        index.check_manifest(manifest_for(embedder))
        index.publish_changes()
        counts = _Counts()
        failed: list[FailedFile] = []
        files = _discover(paths, failed)
        # Files gone from the folder leave first, so that a renamed file is not refused as a
        # twin of its own old name (and missing from the index until the next ingest).
        counts.removed = _remove_missing(index, lock, paths, {source for _, source, _ in files})
        committed = {d.source: d for d in index.documents()}
        seen_hashes: dict[str, str] = {d.content_hash: d.source for d in committed.values()}
        for done, (path, source, root) in enumerate(files, start=1):
            if progress:
                progress(done - 1, len(files), source)
            lock.check()
            _ingest_file(
                index,
                lock,
                embedder,
                _File(path, source, root, limits, _page_progress(progress, done, files)),
                max_tokens,
                committed,
                seen_hashes,
                counts,
                failed,
            )
        if progress:
            progress(len(files), len(files), "")
        docs = index.documents()
        report = IngestReport(
            documents=len(docs),
            chunks=sum(d.chunks for d in docs),
            added=counts.added,
            updated=counts.updated,
            removed=counts.removed,
            skipped=counts.skipped,
            reembedded=reembedded,
            failed=tuple(failed),
            seconds=round(time.perf_counter() - started, 3),
        )
        return report


def _reembed(
    index: ChromaIndex, embedder: Embedder, lock: IngestLock, progress: Progress | None
) -> int:
    """Embed every stored chunk again when the index was embedded by another model of the
    same size and chunking (the fine-tuned and the plain e5, say); returns the chunks done.

    The manifest is marked incomplete first and rewritten only at the end: questions are
    refused while the vectors are mixed, and an ingest interrupted here starts over next time.
    """
    expected = manifest_for(embedder)
    found = index.manifest()
    if found is None or not found.can_reembed_as(expected):
        return 0
    index.write_manifest(replace(expected, complete=False))
    ids = sorted(index.chunk_owners())
    label = f"re-embedding for {embedder.name}"
    for start in range(0, len(ids), _EMBED_BATCH):
        if progress:
            progress(start, len(ids), label)
        lock.check()
        stored = index.stored_chunks(ids[start : start + _EMBED_BATCH])
        vectors = embedder.embed_passages([s.chunk.indexed_text for s in stored])
        lock.check()
        index.replace_vectors([s.chunk.id for s in stored], vectors)
    index.write_manifest(expected)
    return len(ids)


def _discover(paths: Sequence[Path], failed: list[FailedFile]) -> list[tuple[Path, str, str]]:
    files: list[tuple[Path, str, str]] = []
    for p in paths:
        if not p.exists():
            failed.append(FailedFile(str(p), "No such file or folder: check the path."))
            continue
        root = str(p.resolve()) if p.is_dir() else ""
        files.extend((path, source, root) for path, source in discover([p]))
    return files


@dataclass(frozen=True)
class _File:
    """One file to ingest and how to read it."""

    path: Path
    source: str
    root: str  # the folder it was found in ("" for a file given by itself)
    limits: IngestSettings | None
    on_page: PageProgress | None


def _page_progress(
    progress: Progress | None, done: int, files: Sequence[tuple[Path, str, str]]
) -> PageProgress | None:
    """OCR takes seconds a page: its pages show as progress within the file being read."""
    if progress is None:
        return None
    source = files[done - 1][1]

    def on_page(page: int, pages: int) -> None:
        progress(done - 1, len(files), f"{source} (OCR {page}/{pages})")

    return on_page


def _ingest_file(
    index: ChromaIndex,
    lock: IngestLock,
    embedder: Embedder,
    file: _File,
    max_tokens: int,
    committed: dict[str, DocumentInfo],
    seen_hashes: dict[str, str],
    counts: _Counts,
    failed: list[FailedFile],
) -> None:
    path, source, root = file.path, file.source, file.root
    try:
        digest = file_hash(path)
        old = committed.get(source)
        if old is not None and old.content_hash == digest:
            counts.skipped += 1
            return
        twin = seen_hashes.get(digest)
        if twin is not None and twin != source:
            failed.append(
                FailedFile(
                    str(path),
                    f"Same content as {twin}; not indexed twice so that "
                    "answers do not cite the same passage two times.",
                )
            )
            return
        doc = load_document(path, source, file.limits, file.on_page)
        if doc.content_hash != digest:  # the file changed while we read it
            raise QAError(f"{path} changed while it was being read; ingest again.")
        chunks = chunk_document(doc, max_tokens=max_tokens, count_tokens=embedder.count_tokens)
        if not chunks:
            raise QAError(f"{path} has no text to index.")
        vectors, tokens = _embed(index, embedder, chunks, old)
        lock.check()  # embedding takes long: the lease may have run out meanwhile
        index.add_chunks(chunks, vectors, tokens, digest)
        info = DocumentInfo(
            source=source,
            title=doc.title,
            date=doc.date,
            chunks=len(chunks),
            content_hash=digest,
            ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            format=doc.format,
        )
        lock.check()
        index.commit_document(info, root=root, text=doc.text)
        if old is not None:
            # The new version is committed; the old chunks are now orphans: drop them.
            seen_hashes.pop(old.content_hash, None)
            sweep_source(index, source, digest)
            counts.updated += 1
        else:
            counts.added += 1
        committed[source] = info
        seen_hashes[digest] = source
    except IndexLockedError:
        raise  # the lease is gone: the whole ingest stops, not just this file
    except QAError as exc:
        failed.append(FailedFile(str(path), str(exc)))
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the folder
        failed.append(FailedFile(str(path), f"Could not index this file: {exc!r}"))


def _embed(
    index: ChromaIndex, embedder: Embedder, chunks: Sequence[Chunk], old: DocumentInfo | None
) -> tuple[list[list[float]], list[str]]:
    """Vectors and lexical tokens of ``chunks``; those of an edited document's unchanged
    passages come from its stored version instead of the model.

    An amended decree or a corrected article usually changes a few passages: re-embedding
    only those makes its re-ingest take seconds instead of minutes. The manifest guarantees
    the stored version was embedded and tokenised by this same model and chunker.
    """
    known: dict[str, tuple[list[float], str]] = {}
    if old is not None:
        for stored, vector in index.version_vectors(old.source, old.content_hash):
            known[stored.chunk.indexed_text] = ([float(x) for x in vector], stored.tokens)
    texts = [c.indexed_text for c in chunks]
    new = [t for t in dict.fromkeys(texts) if t not in known]
    for i in range(0, len(new), _EMBED_BATCH):
        batch = new[i : i + _EMBED_BATCH]
        for text, vector in zip(batch, embedder.embed_passages(batch), strict=True):
            known[text] = (vector, " ".join(word_tokens(text)))
    return [known[t][0] for t in texts], [known[t][1] for t in texts]


def sweep_source(index: ChromaIndex, source: str, keep_hash: str) -> None:
    stale = [s.chunk.id for s in index.iter_chunks(source=source) if s.content_hash != keep_hash]
    index.delete_chunks(stale)


def _remove_missing(
    index: ChromaIndex, lock: IngestLock, paths: Sequence[Path], present: set[str]
) -> int:
    """Documents ingested earlier from one of these folders whose file is gone."""
    roots = {str(p.resolve()) for p in paths if p.is_dir()}
    removed = 0
    for source, root in index.document_roots().items():
        if root in roots and source not in present:
            lock.check()
            index.remove_document(source)
            removed += 1
    return removed
