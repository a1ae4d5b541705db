"""Keeping a process's lexical index in step with the store, however many processes write it.

A process holds a :class:`~qa_assistant._store.lexical.LexicalIndex` labelled with the store version
it reflects. :func:`sync_lexical` reads the change log (``ChromaIndex.changes_since``) past
that version and, for each changed document, drops its rows and adds the chunks of its
committed version: the cost is the changed documents', not the corpus'. Only a process that
has no usable cache, or finds the store rebuilt, reads the whole collection.

The head is read before anything else, so the index never claims a version newer than what
it read; a document that changes again meanwhile is read again at the next sync.
"""

from __future__ import annotations

from pathlib import Path

from ..types import Chunk
from .index import ChromaIndex, StoredChunk
from .lexical import DEFAULT_MERGE_SHARE, LexicalIndex

__all__ = ["build_lexical", "sync_lexical"]


def build_lexical(index: ChromaIndex, *, merge_share: float = DEFAULT_MERGE_SHARE) -> LexicalIndex:
    """The lexical index of the whole store, from the tokens stored beside its chunks."""
    version = index.version()
    committed = {d.source: d.content_hash for d in index.documents()}
    stored = [s for s in index.iter_chunks() if committed.get(s.chunk.source) == s.content_hash]
    chunks, words = _rows(stored)
    return LexicalIndex(chunks, words, version, merge_share=merge_share)


def sync_lexical(
    index: ChromaIndex,
    folder: Path,
    current: LexicalIndex | None = None,
    *,
    merge_share: float = DEFAULT_MERGE_SHARE,
    save: bool = False,
) -> LexicalIndex:
    """``current`` (or the cache saved in ``folder``) brought up to the store's head.

    The result is saved when it was built afresh, when its segments were folded, or when
    ``save`` asks: the saved cache is always one consistent version, and a process that
    loads it replays only the changes logged since.
    """
    current = current or LexicalIndex.load(folder, merge_share=merge_share)
    if current is None:
        return _saved(build_lexical(index, merge_share=merge_share), folder)
    head, sources = index.changes_since(current.version)
    if sources is None:
        return _saved(build_lexical(index, merge_share=merge_share), folder)
    if not sources:
        return _saved(current, folder) if save else current
    hashes = index.committed_hashes(sources)
    stored = [s for source, digest in hashes.items() for s in index.version_chunks(source, digest)]
    chunks, words = _rows(stored)
    updated = current.updated(sources, chunks, words, head)
    return _saved(updated, folder) if save or updated.is_folded else updated


def _rows(stored: list[StoredChunk]) -> tuple[list[Chunk], list[list[str]]]:
    stored.sort(key=lambda s: (s.chunk.source, s.chunk.ordinal))
    return [s.chunk for s in stored], [s.tokens.split() for s in stored]


def _saved(lexical: LexicalIndex, folder: Path) -> LexicalIndex:
    lexical.save(folder)
    return lexical
