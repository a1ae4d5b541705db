"""What "the index is consistent" means, checked from the outside on the stored files.

Three stores must agree: the Chroma chunk collection, the document registry (the commit
record of each document) and the lexical index persisted beside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qa_assistant._store.index import ChromaIndex
from qa_assistant._store.lexical import LexicalIndex
from qa_assistant.types import Answer, StoreVersion

COLLECTION = "qa_assistant"


@dataclass(frozen=True)
class IndexState:
    chunk_ids: frozenset[str]
    chunk_owners: frozenset[tuple[str, str, str]]  # chunk id, source, content hash
    documents: frozenset[tuple[str, str, int]]  # source, content hash, chunk count
    version: StoreVersion
    lexical_ids: frozenset[str] | None  # None: no readable lexical index on disk
    lexical_version: StoreVersion | None


def read_state(
    index_dir: Path, collection: str = COLLECTION, chroma_url: str | None = None
) -> IndexState:
    """The store (embedded in ``index_dir``, or on ``chroma_url``) and the lexical index that
    the process working from ``index_dir`` saved."""
    index = ChromaIndex(index_dir, collection=collection, chroma_url=chroma_url)
    owners = index.chunk_owners()
    lexical = LexicalIndex.load(index_dir / "lexical" / collection)
    return IndexState(
        chunk_ids=frozenset(owners),
        chunk_owners=frozenset((cid, src, digest) for cid, (src, digest) in owners.items()),
        documents=frozenset((d.source, d.content_hash, d.chunks) for d in index.documents()),
        version=index.version(),
        lexical_ids=frozenset(c.id for c in lexical.chunks) if lexical else None,
        lexical_version=lexical.version if lexical else None,
    )


def consistency_problems(state: IndexState) -> list[str]:
    """Empty when every chunk belongs to a committed document and the lexical index agrees."""
    problems = []
    committed = {source: digest for source, digest, _ in state.documents}
    orphans = [c for c, src, digest in state.chunk_owners if committed.get(src) != digest]
    if orphans:
        problems.append(f"{len(orphans)} chunks no committed document owns: {orphans[:3]}")
    expected = sum(n for _, _, n in state.documents)
    if expected != len(state.chunk_ids):
        problems.append(f"registry counts {expected} chunks, Chroma holds {len(state.chunk_ids)}")
    if state.lexical_ids is None:
        problems.append("no readable lexical index")
    elif state.lexical_ids != state.chunk_ids:
        missing = len(state.chunk_ids - state.lexical_ids)
        extra = len(state.lexical_ids - state.chunk_ids)
        problems.append(f"lexical index lacks {missing} and has {extra} extra chunk ids")
    if state.lexical_version is not None and state.lexical_version != state.version:
        problems.append(
            f"lexical index reflects {state.lexical_version}, the store is at {state.version}"
        )
    return problems


_WORD = re.compile(r"\w+", re.UNICODE)
# The only words the extractive answerer adds around its quotes.
FRAME_WORDS = frozenset({"theo", "tài", "liệu"})


def words_not_from_sources(answer: Answer, extra: str = "") -> set[str]:
    """Words of the answer that no cited quote (nor the answer's frame) contains.

    Empty for an extractive answer: it only ever says what the documents say.
    """
    allowed = set(FRAME_WORDS) | {w.casefold() for w in _WORD.findall(extra)}
    for c in answer.citations:
        allowed |= {w.casefold() for w in _WORD.findall(c.quote)}
    said = {w.casefold() for w in _WORD.findall(re.sub(r"\[\d+\]", " ", answer.text))}
    return said - allowed
