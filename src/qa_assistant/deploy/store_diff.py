"""The deploy check's verdict on the shared store: what it holds against what one clean
sequential ingest of the final documents folder gives (documents and versions, chunk ids, no
orphans)."""

from __future__ import annotations

from .._store.index import ChromaIndex

__all__ = ["store_differences"]


def _store_shape(index: ChromaIndex) -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
    """source -> (version, chunks) of the registry; chunk id -> owning source."""
    registry = {d.source: (d.content_hash, d.chunks) for d in index.documents()}
    owners = {cid: source for cid, (source, _) in index.chunk_owners().items()}
    return registry, owners


def store_differences(served: ChromaIndex, reference: ChromaIndex) -> list[str]:
    got, got_owners = _store_shape(served)
    want, want_owners = _store_shape(reference)
    problems = [f"{s}: in the store, not in a clean ingest" for s in sorted(got.keys() - want)]
    problems += [f"{s}: missing from the store" for s in sorted(want.keys() - got)]
    problems += [
        f"{s}: version/chunks {got[s]} in the store, {want[s]} from a clean ingest"
        for s in sorted(got.keys() & want.keys())
        if got[s] != want[s]
    ]
    if extra := got_owners.keys() - want_owners.keys():
        problems.append(f"{len(extra)} chunk ids not made by a clean ingest, e.g. {min(extra)}")
    if missing := want_owners.keys() - got_owners.keys():
        problems.append(f"{len(missing)} chunk ids missing, e.g. {min(missing)}")
    counted: dict[str, int] = {}
    for source in got_owners.values():
        counted[source] = counted.get(source, 0) + 1
    problems += [
        f"{s}: {counted.get(s, 0)} chunks stored, the registry says {chunks}"
        for s, (_, chunks) in sorted(got.items())
        if counted.get(s, 0) != chunks
    ]
    return problems
