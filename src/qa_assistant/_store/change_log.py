"""The store's change log: a generation per commit or removal of a document, and its head.

The log is the ``<name>__changes`` collection beside the chunks. Every commit and removal of a
document adds a record (generation number, source, content hash; none when removed) and then
moves the ``head`` record to that generation. A serving process reads only ``head`` to learn
whether anything changed (:meth:`ChangeLog.version`) and then the records past its own
generation (:meth:`ChangeLog.sources_between`), never the whole registry; :mod:`.follow` is
that reader. The head also holds a random store id, new after ``--rebuild``, so a process can
tell a rebuilt store from a changed one.

Writers hold the ingest lock (``_store/lease.py``), so generations are handed out one at a time. The
log is never pruned: a record is three small values, one per committed document version. A
writer killed after its change record but before moving the head leaves a record past the head;
the next writer numbers after it and moves the head past it, so no change is ever skipped.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from ..types import StoreVersion

__all__ = ["ChangeLog"]

_HEAD_ID = "head"


def _change_id(generation: int) -> str:
    return f"g{generation:012d}"


class ChangeLog:
    """The change log in its Chroma collection.

    ``collection`` gives the collection as the store holds it now and ``reopen`` opens all of
    the store's collections again: a rebuild by another process drops and re-creates them, and
    every handle this process holds then needs opening again, not only the log's.
    """

    def __init__(self, collection: Callable[[], Any], reopen: Callable[[], None]) -> None:
        self._collection = collection
        self._reopen = reopen

    def version(self) -> StoreVersion:
        """The store's committed state: one small read, cheap enough for every question."""
        try:
            got = self._collection().get(ids=[_HEAD_ID], include=["metadatas"])
        except Exception:  # noqa: BLE001 - e.g. the collection was dropped by a rebuild
            self._reopen()
            got = self._collection().get(ids=[_HEAD_ID], include=["metadatas"])
        metas = got["metadatas"] or []
        if not metas:
            return StoreVersion("", 0)
        return StoreVersion(str(metas[0]["store_id"]), int(metas[0]["head"]))

    def sources_between(self, seen: StoreVersion, head: StoreVersion) -> list[str] | None:
        """The sources changed after ``seen`` up to ``head`` (read before, by
        :meth:`version`), in the order they changed; None when ``seen`` cannot be brought
        forward from the log (another store, a rebuilt one, or records missing)."""
        if head.store_id != seen.store_id or head.generation < seen.generation:
            return None
        if head.generation == seen.generation:
            return []
        where = {
            "$and": [
                {"generation": {"$gt": seen.generation}},
                {"generation": {"$lte": head.generation}},
            ]
        }
        metas = self._collection().get(where=where, include=["metadatas"])["metadatas"] or []
        if len({int(m["generation"]) for m in metas}) != head.generation - seen.generation:
            return None
        ordered = sorted(metas, key=lambda m: int(m["generation"]))
        return list(dict.fromkeys(str(m["source"]) for m in ordered))

    def publish(self) -> None:
        """Move the head past change records a killed writer left beyond it.

        Such a record's registry write may have landed (the kill came before the head moved):
        without this, an ingest that then finds nothing to change would leave the other
        processes blind to it. Call it holding the ingest lock.
        """
        head, past = self._past_head()
        if past:
            self._move_head(head, max(past))

    def advance(self) -> None:
        """Move the head to a new generation that no change record covers, so that serving
        processes read the whole store again before their next question."""
        head, past = self._past_head()
        self._move_head(head, max([head.generation, *past]) + 1)

    @contextlib.contextmanager
    def logged(self, source: str, content_hash: str) -> Iterator[None]:
        """Log a change of ``source`` around the registry write that commits it.

        The record goes first and the head moves after the write: a process that sees the
        head move finds the write done, and a crash in between leaves a record past the head
        that the next writer numbers after (a re-read of an unchanged source is harmless).
        """
        head, past = self._past_head()
        generation = max([head.generation, *past]) + 1
        record = {"generation": generation, "source": source, "content_hash": content_hash}
        self._collection().upsert(
            ids=[_change_id(generation)], embeddings=[[0.0]], metadatas=[record]
        )
        yield
        self._move_head(head, generation)

    def _past_head(self) -> tuple[StoreVersion, list[int]]:
        head = self.version()
        metas = self._collection().get(
            where={"generation": {"$gt": head.generation}}, include=["metadatas"]
        )["metadatas"]
        return head, [int(m["generation"]) for m in metas or []]

    def _move_head(self, head: StoreVersion, generation: int) -> None:
        store_id = head.store_id or secrets.token_hex(8)
        self._collection().upsert(
            ids=[_HEAD_ID],
            embeddings=[[0.0]],
            metadatas=[{"head": generation, "store_id": store_id}],
        )
