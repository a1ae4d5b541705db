"""A lexical index's segments: the chunks of one build or update as columns, their words, and
each field's term frequencies.

A segment is immutable; :class:`~.lexical.LexicalIndex` masks its deleted rows and
applies BM25 over the live rows of all its segments. Chunks are held as columns (ids, source and
date codes for filters) and as one UTF-8 blob of JSON records, each decoded only when a question
returns it (a question needs a few dozen of 100k).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

import numpy as np
from scipy import sparse

from .._vietnamese import strip_diacritics
from ..types import Chunk, Filters


def field_terms(
    words: Sequence[Sequence[str]],
) -> tuple[Sequence[Sequence[str]], list[list[str]], list[list[str]]]:
    """Each chunk's terms in the three fields: words, syllables, syllables without diacritics."""
    # split_syllables of each chunk, and each distinct syllable folded once, with the loops in
    # C: a corpus repeats a few thousand syllables millions of times, and going word by word
    # in Python was a third of a 100k-chunk build.
    syllables = [list(filter(None, "_".join(doc).split("_"))) for doc in words]
    folded = {t: strip_diacritics(t) for t in set(chain.from_iterable(syllables))}
    fold = folded.__getitem__
    return words, syllables, [list(map(fold, doc)) for doc in syllables]


class Vocab:
    """A field's term ids. Only ever appended to, and shared by an index and its updates: an
    older index ignores ids past its own statistics."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        # A defaultdict only while encoding (see there); a plain mapping otherwise.
        self.ids: defaultdict[str, int] = defaultdict(None, {t: i for i, t in enumerate(terms)})

    def encode(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        """Term ids of all ``docs`` in one array, new terms numbered in order of first use."""
        # The lookups run in C (map over a chain, a new id from a counter on a miss): a
        # generator with setdefault was half of a 100k-chunk build.
        ids = self.ids
        ids.default_factory = count(len(ids)).__next__
        try:
            return np.fromiter(
                map(ids.__getitem__, chain.from_iterable(docs)),
                dtype=np.int64,
                count=sum(len(d) for d in docs),
            )
        finally:
            ids.default_factory = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Field:
    """One segment's term frequencies in one field: ``tf`` is terms x rows (terms added after
    the segment was built have no row in it)."""

    tf: sparse.csr_matrix
    lengths: np.ndarray  # float64 tokens per row

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], vocab: Vocab) -> Field:
        # One pass of dict lookups, then numpy: per-document Counters and Python lists of
        # postings took minutes and gigabytes at 100k chunks.
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        ids = vocab.encode(docs)
        n, v = len(docs), max(len(vocab), 1)
        cols = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pairs, counts = np.unique(cols * v + ids, return_counts=True)
        c, r = np.divmod(pairs, v)
        tf = sparse.csr_matrix((counts.astype(np.float32), (r, c)), shape=(len(vocab), n))
        return cls(tf, lengths.astype(np.float64))

    def df(self, live: np.ndarray, size: int) -> np.ndarray:
        """Live rows holding each term, over ``size`` terms."""
        coo = self.tf.tocoo()
        keep = live[coo.col]
        counts: np.ndarray = np.bincount(coo.row[keep], minlength=size)
        return counts.astype(np.int64)


@dataclass(frozen=True)
class Segment:
    table: ChunkTable
    words: Texts
    fields: tuple[Field, Field, Field]
    pos: dict[str, int]
    by_source: dict[str, np.ndarray]  # rows of each source

    @classmethod
    def build(
        cls, chunks: Sequence[Chunk], words: Sequence[Sequence[str]], vocabs: tuple[Vocab, ...]
    ) -> Segment:
        terms = field_terms(words)
        fields = (
            Field.build(terms[0], vocabs[0]),
            Field.build(terms[1], vocabs[1]),
            Field.build(terms[2], vocabs[2]),
        )
        return cls.of(ChunkTable.of(chunks), Texts.of([" ".join(w) for w in words]), fields)

    @classmethod
    def of(cls, table: ChunkTable, words: Texts, fields: tuple[Field, Field, Field]) -> Segment:
        by_source: dict[str, list[int]] = {}
        for i, code in enumerate(table.sources.tolist()):
            by_source.setdefault(table.source_names[code], []).append(i)
        return cls(
            table,
            words,
            fields,
            {cid: i for i, cid in enumerate(table.ids)},
            {s: np.asarray(rows, dtype=np.int64) for s, rows in by_source.items()},
        )

    def __len__(self) -> int:
        return len(self.table.ids)


def table_mask(table: ChunkTable, filters: Filters) -> np.ndarray:
    allowed = np.ones(len(table.ids), dtype=bool)
    if filters.sources:
        codes = [table.source_codes[s] for s in filters.sources if s in table.source_codes]
        allowed &= np.isin(table.sources, np.asarray(codes, dtype=np.int32))
    # Undated chunks are -1, below every real day, so a lower bound drops them by itself.
    if filters.date_from is not None:
        allowed &= table.days >= filters.date_from.toordinal()
    if filters.date_to is not None:
        allowed &= (table.days >= 0) & (table.days <= filters.date_to.toordinal())
    return allowed


def blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def json_blob(items: list[str]) -> np.ndarray:
    # JSON rather than a separator: ids and file names may hold any character.
    return blob(json.dumps(items, ensure_ascii=False))


def blob_text(raw: np.ndarray) -> str:
    return raw.tobytes().decode("utf-8")


class Texts:
    """Strings stored as one UTF-8 blob and offsets; each decoded only when asked for."""

    def __init__(self, blob: bytes, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    @classmethod
    def of(cls, texts: Sequence[str]) -> Texts:
        return cls.of_bytes([t.encode("utf-8") for t in texts])

    @classmethod
    def of_bytes(cls, encoded: Sequence[bytes]) -> Texts:
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    @classmethod
    def load(cls, saved: Any, name: str) -> Texts:
        offsets = np.asarray(saved[f"{name}.offsets"], dtype=np.int64)
        return cls(saved[f"{name}.blob"].tobytes(), offsets)

    def __getitem__(self, i: int) -> str:
        return self.raw(i).decode("utf-8")

    def raw(self, i: int) -> bytes:
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])]

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        return {
            f"{name}.blob": np.frombuffer(self._blob, dtype=np.uint8),
            f"{name}.offsets": self._offsets,
        }


class ChunkTable:
    """The chunks as columns: ids, source and date codes for filters, and a JSON record per
    chunk decoded on first use (a question needs a few dozen of 100k)."""

    def __init__(
        self,
        ids: list[str],
        sources: np.ndarray,
        source_names: list[str],
        days: np.ndarray,
        records: Texts,
        chunks: list[Chunk | None],
    ) -> None:
        self.ids = ids
        self.sources = sources  # int32 code per chunk
        self.source_codes = {s: i for i, s in enumerate(source_names)}
        self.source_names = source_names
        self.days = days  # int64 proleptic ordinal per chunk, -1 when undated
        self._records = records
        self._chunks = chunks

    @classmethod
    def of(cls, chunks: Sequence[Chunk]) -> ChunkTable:
        names = list(dict.fromkeys(c.source for c in chunks))
        codes = {s: i for i, s in enumerate(names)}
        return cls(
            [c.id for c in chunks],
            np.array([codes[c.source] for c in chunks], dtype=np.int32),
            names,
            np.array([c.date.toordinal() if c.date else -1 for c in chunks], dtype=np.int64),
            Texts.of([json.dumps(_record(c), ensure_ascii=False) for c in chunks]),
            list(chunks),
        )

    @classmethod
    def load(cls, ids: list[str], saved: Any) -> ChunkTable:
        names = [str(n) for n in json.loads(blob_text(saved["source_names"]))]
        sources = np.asarray(saved["sources"], dtype=np.int32)
        days = np.asarray(saved["days"], dtype=np.int64)
        if not len(ids) == len(sources) == len(days):
            raise ValueError("lexical index columns differ in length")
        return cls(ids, sources, names, days, Texts.load(saved, "records"), [None] * len(ids))

    @classmethod
    def concat(cls, rows: Sequence[tuple[ChunkTable, int]]) -> ChunkTable:
        """The given rows of several tables as one, records copied without being decoded."""
        names = list(dict.fromkeys(t.source_names[int(t.sources[i])] for t, i in rows))
        codes = {s: i for i, s in enumerate(names)}
        return cls(
            [t.ids[i] for t, i in rows],
            np.array([codes[t.source_names[int(t.sources[i])]] for t, i in rows], dtype=np.int32),
            names,
            np.array([int(t.days[i]) for t, i in rows], dtype=np.int64),
            Texts.of_bytes([t.record(i) for t, i in rows]),
            [t._chunks[i] for t, i in rows],
        )

    def record(self, i: int) -> bytes:
        return self._records.raw(i)

    def chunk(self, i: int) -> Chunk:
        found = self._chunks[i]
        if found is None:
            record = json.loads(self._records[i])
            found = self._chunks[i] = Chunk.from_metadata(self.ids[i], record.pop("text"), record)
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "sources": self.sources,
            "source_names": json_blob(self.source_names),
            "days": self.days,
            **self._records.arrays("records"),
        }


def _record(c: Chunk) -> dict[str, str | int]:
    return {"text": c.text, **c.metadata()}
