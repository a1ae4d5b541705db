"""Sparse BM25 over Vietnamese words, persisted beside the Chroma collection.

Two fields per chunk: the segmented words with their diacritics, and the same words with the
diacritics folded away, so a question typed without them ("ho tro hoc phi") still matches.
Each field keeps a term x chunk matrix of term frequencies and the chunk lengths; a query
weighs the postings of its own terms only, so its cost grows with those postings, not with
the collection.

The index follows the store without being rebuilt: :meth:`LexicalIndex.updated` drops the rows
of changed documents (a deleted-row mask) and appends their new chunks as a small *segment*.
BM25's statistics (document frequencies, the number of chunks and their average length) are
kept over the live rows of all segments and applied at query time, so an updated index scores
exactly as one rebuilt from the same chunks; only the order of equal scores may differ, as rows
sit in another order. When added and deleted rows pass a share of the index, the segments are
folded into one (from the words held in memory, not from the store).

The index is a cache derived from the chunks stored in Chroma (which keep their tokens): it
records the :class:`~qa_assistant.types.StoreVersion` it reflects, and is saved (always as one
folded segment, written to a temporary file and renamed) only in that consistent state.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, count
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ._vietnamese import strip_diacritics
from .settings import RetrievalSettings
from .types import Chunk, Filters, StoreVersion

__all__ = [
    "BM25_B",
    "BM25_K1",
    "DEFAULT_MERGE_SHARE",
    "SYLLABLE_WEIGHT",
    "Field",
    "LexicalIndex",
    "split_syllables",
]

# search's default is QA_RETRIEVAL__SYLLABLE_WEIGHT's (RetrievalSettings says why).
SYLLABLE_WEIGHT: float = RetrievalSettings.model_fields["syllable_weight"].default
# BM25's usual term saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75
# QA_REPLICAS__LEXICAL_MERGE_SHARE's default, for indexes built outside a serving process.
DEFAULT_MERGE_SHARE = 0.25


# The version of an index built outside any store (tests, training data).
_UNVERSIONED = StoreVersion("", 0)


def split_syllables(words: Iterable[str]) -> list[str]:
    """``["hỗ_trợ", "học"]`` → ``["hỗ", "trợ", "học"]``."""
    return [s for w in words for s in w.split("_") if s]


def _field_terms(
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


class _Vocab:
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
    def build(cls, docs: Sequence[Sequence[str]], vocab: _Vocab) -> Field:
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
class _Stats:
    """BM25's corpus statistics of one field over the live rows of every segment."""

    df: np.ndarray  # int64 per term id
    total: float  # tokens in live rows

    def idf(self, ids: np.ndarray, n: int) -> np.ndarray:
        df = self.df[ids].astype(np.float64)
        idf: np.ndarray = np.log1p((n - df + 0.5) / (df + 0.5))
        return idf


@dataclass(frozen=True)
class _Segment:
    table: _ChunkTable
    words: _Texts
    fields: tuple[Field, Field, Field]
    pos: dict[str, int]
    by_source: dict[str, np.ndarray]  # rows of each source

    @classmethod
    def build(
        cls, chunks: Sequence[Chunk], words: Sequence[Sequence[str]], vocabs: tuple[_Vocab, ...]
    ) -> _Segment:
        terms = _field_terms(words)
        fields = (
            Field.build(terms[0], vocabs[0]),
            Field.build(terms[1], vocabs[1]),
            Field.build(terms[2], vocabs[2]),
        )
        return cls.of(_ChunkTable.of(chunks), _Texts.of([" ".join(w) for w in words]), fields)

    @classmethod
    def of(cls, table: _ChunkTable, words: _Texts, fields: tuple[Field, Field, Field]) -> _Segment:
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


class LexicalIndex:
    """BM25 over chunk words, with the chunks themselves held for the answer stage.

    ``words`` are pyvi-segmented words (compounds joined by ``_``). Three fields are built from
    them: whole words (precise: "hỗ_trợ" is one term), their syllables (forgiving when a question
    is segmented differently), and the syllables without diacritics (for bare questions).
    Immutable: :meth:`updated` returns a new index, so questions in flight keep their own.
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[Sequence[str]],
        version: StoreVersion = _UNVERSIONED,
        *,
        merge_share: float = DEFAULT_MERGE_SHARE,
    ):
        vocabs = (_Vocab(), _Vocab(), _Vocab())
        segment = _Segment.build(chunks, words, vocabs)
        self._setup((segment,), (np.ones(len(segment), dtype=bool),), vocabs, version, merge_share)

    def _setup(
        self,
        segments: tuple[_Segment, ...],
        live: tuple[np.ndarray, ...],
        vocabs: tuple[_Vocab, ...],
        version: StoreVersion,
        merge_share: float,
        stats: tuple[_Stats, ...] | None = None,
    ) -> None:
        self._segments = segments
        self._live = live
        self._vocabs = vocabs
        self.version = version
        self.merge_share = merge_share
        self._n = int(sum(int(m.sum()) for m in live))
        self._starts = np.cumsum([0, *(len(s) for s in segments)])[:-1]
        self._stats = stats if stats is not None else self._count_stats()
        # BM25's length normalisation of each row under this index's average lengths: a few
        # vector operations per update (0.1 ms at 100k rows), and the queries stay a sparse
        # matrix-vector product.
        self._norms = tuple(
            tuple(
                (BM25_K1 * (1.0 - BM25_B + BM25_B * field.lengths / self._avgdl(f))).astype(
                    np.float32
                )
                for f, field in enumerate(seg.fields)
            )
            for seg in segments
        )

    def _avgdl(self, f: int) -> float:
        return max(self._stats[f].total / self._n, 1e-9) if self._n else 1.0

    def _count_stats(self) -> tuple[_Stats, ...]:
        out = []
        for f, vocab in enumerate(self._vocabs):
            df = np.zeros(len(vocab), dtype=np.int64)
            total = 0.0
            for seg, live in zip(self._segments, self._live, strict=True):
                field = seg.fields[f]
                df += np.pad(field.df(live, field.tf.shape[0]), (0, len(vocab) - field.tf.shape[0]))
                total += float(field.lengths[live].sum())
            out.append(_Stats(df, total))
        return tuple(out)

    def __len__(self) -> int:
        return self._n

    @property
    def segments(self) -> int:
        """How many segments the index is made of (1 after a fold)."""
        return len(self._segments)

    @property
    def is_folded(self) -> bool:
        """One segment without deleted rows: what a fold, a build or a load gives."""
        return len(self._segments) == 1 and bool(self._live[0].all())

    def _rows(self) -> Iterable[tuple[_Segment, int]]:
        for seg, live in zip(self._segments, self._live, strict=True):
            for i in np.flatnonzero(live).tolist():
                yield seg, i

    @property
    def chunks(self) -> list[Chunk]:
        """Every live chunk, in index order (reads them all: for tests and tools, not questions)."""
        return [seg.table.chunk(i) for seg, i in self._rows()]

    def chunk(self, chunk_id: str) -> Chunk | None:
        for seg, live in zip(reversed(self._segments), reversed(self._live), strict=True):
            i = seg.pos.get(chunk_id)
            if i is not None and live[i]:
                return seg.table.chunk(i)
        return None

    # -- searching ----------------------------------------------------------------------------

    def _scores(self, f: int, terms: Iterable[str]) -> np.ndarray:
        """BM25 of every row (dead rows included, masked later) for ``terms`` in field ``f``."""
        stats = self._stats[f]
        vocab = self._vocabs[f].ids
        # Repeated query terms count again, as in BM25 with query term frequency. Ids past
        # this index's statistics belong to a newer update.
        ids = np.asarray(
            [i for i in (vocab.get(t) for t in terms) if i is not None and i < len(stats.df)],
            dtype=np.int64,
        )
        idf = stats.idf(ids, self._n).astype(np.float32)
        parts = []
        for seg, norms in zip(self._segments, self._norms, strict=True):
            field = seg.fields[f]
            mine = ids < field.tf.shape[0]
            rows = field.tf[ids[mine]]
            tf = rows.data
            w = tf * np.float32(BM25_K1 + 1.0) / (tf + norms[f][rows.indices])
            weights = sparse.csr_matrix((w, rows.indices, rows.indptr), shape=rows.shape)
            parts.append(np.asarray(weights.T @ idf[mine]).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def search(
        self,
        words: Sequence[str],
        n: int,
        *,
        folded: bool = False,
        allowed: np.ndarray | None = None,
        syllable_weight: float = SYLLABLE_WEIGHT,
    ) -> list[tuple[str, float]]:
        """Top ``n`` chunks as (id, BM25 score), best first; zero scores are left out.

        ``folded`` matches the question's syllables without diacritics, for questions typed
        without them (their segmentation is unreliable, so whole words are not used).
        Otherwise whole words count, and their syllables with ``syllable_weight``.
        """
        if not len(self):
            return []
        syllables = split_syllables(words)
        if folded:
            scores = self._scores(2, (strip_diacritics(t) for t in syllables))
        else:
            scores = self._scores(0, words)
            if syllable_weight:
                scores = scores + syllable_weight * self._scores(1, syllables)
        keep = np.concatenate(self._live)
        if allowed is not None:
            keep = keep & allowed
        scores = np.where(keep, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._id(int(i)), float(scores[i])) for i in top if scores[i] > 0]

    def _id(self, row: int) -> str:
        s = int(np.searchsorted(self._starts, row, side="right")) - 1
        return self._segments[s].table.ids[row - int(self._starts[s])]

    def mask(self, filters: Filters) -> np.ndarray:
        """Boolean mask of the rows ``filters`` admits, as ``Filters.admits`` decides.

        Computed on columns of source and date, not chunk by chunk: at 100k chunks a Python
        loop per filtered question cost more than the search itself.
        """
        return np.concatenate([_table_mask(seg.table, filters) for seg in self._segments])

    # -- following the store ------------------------------------------------------------------

    def updated(
        self,
        sources: Iterable[str],
        chunks: Sequence[Chunk],
        words: Sequence[Sequence[str]],
        version: StoreVersion,
    ) -> LexicalIndex:
        """A new index: the rows of ``sources`` dropped, ``chunks`` (their current versions)
        added. Costs what changed, except for a fold once changes pass ``merge_share``."""
        changed = list(dict.fromkeys(sources))
        live = list(self._live)
        gone: list[tuple[int, np.ndarray]] = []
        for s, seg in enumerate(self._segments):
            for source in changed:
                rows = seg.by_source.get(source)
                if rows is not None and live[s][rows].any():
                    if live[s] is self._live[s]:
                        live[s] = live[s].copy()
                    gone.append((s, rows[live[s][rows]]))
                    live[s][rows] = False
        segments = list(self._segments)
        if chunks:
            segments.append(_Segment.build(chunks, words, self._vocabs))
            live.append(np.ones(len(chunks), dtype=bool))
        stats = self._moved_stats(gone, segments[len(self._segments) :])
        out = LexicalIndex.__new__(LexicalIndex)
        out._setup(tuple(segments), tuple(live), self._vocabs, version, self.merge_share, stats)
        moved = (
            sum(len(s) for s in out._segments[1:]) + len(out._segments[0]) - int(out._live[0].sum())
        )
        return out.folded() if moved > self.merge_share * max(len(out), 1) else out

    def _moved_stats(
        self, gone: list[tuple[int, np.ndarray]], added: list[_Segment]
    ) -> tuple[_Stats, ...]:
        # The dropped rows' terms come from their words (what they cost), not from slicing
        # columns out of the matrices (which scans all of them).
        dropped = [
            self._segments[s].words[int(i)].split() for s, rows in gone for i in rows.tolist()
        ]
        dropped_terms = _field_terms(dropped)
        out = []
        for f, vocab in enumerate(self._vocabs):
            df = np.zeros(len(vocab), dtype=np.int64)
            old = self._stats[f].df
            df[: len(old)] = old
            total = self._stats[f].total
            for doc in dropped_terms[f]:
                df[[vocab.ids[t] for t in set(doc)]] -= 1
                total -= len(doc)
            for seg in added:
                field = seg.fields[f]
                sub = field.tf.tocoo()
                np.add.at(df, sub.row, 1)
                total += float(field.lengths.sum())
            out.append(_Stats(df, total))
        return tuple(out)

    def folded(self) -> LexicalIndex:
        """The same live rows as one segment, rebuilt from the words held in memory."""
        if self.is_folded:
            return self
        rows = list(self._rows())
        words = [seg.words[i].split() for seg, i in rows]
        table = _ChunkTable.concat([(seg.table, i) for seg, i in rows])
        vocabs = (_Vocab(), _Vocab(), _Vocab())
        terms = _field_terms(words)
        fields = (
            Field.build(terms[0], vocabs[0]),
            Field.build(terms[1], vocabs[1]),
            Field.build(terms[2], vocabs[2]),
        )
        segment = _Segment.of(table, _Texts.of([" ".join(w) for w in words]), fields)
        out = LexicalIndex.__new__(LexicalIndex)
        live = (np.ones(len(segment), dtype=bool),)
        out._setup((segment,), live, vocabs, self.version, self.merge_share)
        return out

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index, folded, as one ``lexical.npz``: arrays and UTF-8 blobs, no
        per-chunk objects.

        A process start then reads a few large arrays instead of parsing every chunk (JSON of
        100k chunks took seconds); chunks are decoded only when a question returns them.
        """
        index = self.folded()
        segment = index._segments[0]
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "format": np.array(_FORMAT),
            "store_id": _blob(index.version.store_id),
            "generation": np.array(index.version.generation, dtype=np.int64),
            "ids": _json_blob(segment.table.ids),
        }
        arrays.update(segment.table.arrays())
        arrays.update(segment.words.arrays("words"))
        for name, f, vocab in zip(_FIELDS, segment.fields, index._vocabs, strict=True):
            arrays[f"{name}.vocab"] = _json_blob(list(vocab.ids))
            arrays[f"{name}.data"] = f.tf.data
            arrays[f"{name}.indices"] = f.tf.indices
            arrays[f"{name}.indptr"] = f.tf.indptr
            arrays[f"{name}.lengths"] = f.lengths
        # Write to a temporary file and rename: a crash never leaves a half-written index.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lexical-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, folder / _FILE)
        finally:
            Path(tmp).unlink(missing_ok=True)
        for old in _OLD_FILES:  # an older format's files would only be re-read and refused
            (folder / old).unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, *, merge_share: float = DEFAULT_MERGE_SHARE) -> LexicalIndex | None:
        """The saved index, or None when there is none, it is unreadable or of another format."""
        path = folder / _FILE
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as saved:
                if int(saved["format"]) != _FORMAT:
                    return None
                ids = [str(i) for i in json.loads(_text(saved["ids"]))]
                fields = []
                vocabs = []
                for name in _FIELDS:
                    terms = json.loads(_text(saved[f"{name}.vocab"]))
                    matrix = sparse.csr_matrix(
                        (saved[f"{name}.data"], saved[f"{name}.indices"], saved[f"{name}.indptr"]),
                        shape=(len(terms), len(ids)),
                    )
                    lengths = np.asarray(saved[f"{name}.lengths"], dtype=np.float64)
                    if len(lengths) != len(ids):
                        raise ValueError("lexical index lengths differ from its rows")
                    fields.append(Field(matrix, lengths))
                    vocabs.append(_Vocab(terms))
                table = _ChunkTable.load(ids, saved)
                words = _Texts.load(saved, "words")
                version = StoreVersion(_text(saved["store_id"]), int(saved["generation"]))
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
            return None
        segment = _Segment.of(table, words, (fields[0], fields[1], fields[2]))
        index = cls.__new__(cls)
        live = (np.ones(len(segment), dtype=bool),)
        index._setup((segment,), live, tuple(vocabs), version, merge_share)
        return index


def _table_mask(table: _ChunkTable, filters: Filters) -> np.ndarray:
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


_FORMAT = 5  # 5: term frequencies and lengths, BM25 applied at query time; store version
_FILE = "lexical.npz"
_OLD_FILES = ("lexical.json",)
_FIELDS = ("plain", "syllables", "folded")


def _blob(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _json_blob(items: list[str]) -> np.ndarray:
    # JSON rather than a separator: ids and file names may hold any character.
    return _blob(json.dumps(items, ensure_ascii=False))


def _text(blob: np.ndarray) -> str:
    return blob.tobytes().decode("utf-8")


class _Texts:
    """Strings stored as one UTF-8 blob and offsets; each decoded only when asked for."""

    def __init__(self, blob: bytes, offsets: np.ndarray) -> None:
        self._blob = blob
        self._offsets = offsets

    @classmethod
    def of(cls, texts: Sequence[str]) -> _Texts:
        return cls.of_bytes([t.encode("utf-8") for t in texts])

    @classmethod
    def of_bytes(cls, encoded: Sequence[bytes]) -> _Texts:
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    @classmethod
    def load(cls, saved: Any, name: str) -> _Texts:
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


class _ChunkTable:
    """The chunks as columns: ids, source and date codes for filters, and a JSON record per
    chunk decoded on first use (a question needs a few dozen of 100k)."""

    def __init__(
        self,
        ids: list[str],
        sources: np.ndarray,
        source_names: list[str],
        days: np.ndarray,
        records: _Texts,
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
    def of(cls, chunks: Sequence[Chunk]) -> _ChunkTable:
        names = list(dict.fromkeys(c.source for c in chunks))
        codes = {s: i for i, s in enumerate(names)}
        return cls(
            [c.id for c in chunks],
            np.array([codes[c.source] for c in chunks], dtype=np.int32),
            names,
            np.array([c.date.toordinal() if c.date else -1 for c in chunks], dtype=np.int64),
            _Texts.of([json.dumps(_record(c), ensure_ascii=False) for c in chunks]),
            list(chunks),
        )

    @classmethod
    def load(cls, ids: list[str], saved: Any) -> _ChunkTable:
        names = [str(n) for n in json.loads(_text(saved["source_names"]))]
        sources = np.asarray(saved["sources"], dtype=np.int32)
        days = np.asarray(saved["days"], dtype=np.int64)
        if not len(ids) == len(sources) == len(days):
            raise ValueError("lexical index columns differ in length")
        return cls(ids, sources, names, days, _Texts.load(saved, "records"), [None] * len(ids))

    @classmethod
    def concat(cls, rows: Sequence[tuple[_ChunkTable, int]]) -> _ChunkTable:
        """The given rows of several tables as one, records copied without being decoded."""
        names = list(dict.fromkeys(t.source_names[int(t.sources[i])] for t, i in rows))
        codes = {s: i for i, s in enumerate(names)}
        return cls(
            [t.ids[i] for t, i in rows],
            np.array([codes[t.source_names[int(t.sources[i])]] for t, i in rows], dtype=np.int32),
            names,
            np.array([int(t.days[i]) for t, i in rows], dtype=np.int64),
            _Texts.of_bytes([t.record(i) for t, i in rows]),
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
            "source_names": _json_blob(self.source_names),
            "days": self.days,
            **self._records.arrays("records"),
        }


def _record(c: Chunk) -> dict[str, str | int]:
    return {"text": c.text, **c.metadata()}
