"""Sparse BM25 over Vietnamese words, persisted beside the Chroma collection.

Two fields per chunk: the segmented words with their diacritics, and the same words with the
diacritics folded away, so a question typed without them ("ho tro hoc phi") still matches.
Each field is a precomputed term x chunk matrix of BM25 weights; a query adds up the rows of
its terms, so its cost grows with the postings of those terms, not with the collection.

The index is a cache derived from the chunks stored in Chroma (which keep their tokens): it
records the store's fingerprint and is rebuilt when that no longer matches.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .types import Chunk, Filters
from .vietnamese import strip_diacritics

__all__ = [
    "BM25_B",
    "BM25_K1",
    "SYLLABLE_WEIGHT",
    "Field",
    "LexicalIndex",
    "split_syllables",
]

# search's default, the same as QA_RETRIEVAL__SYLLABLE_WEIGHT: syllable matches count half as
# much as whole words.
SYLLABLE_WEIGHT = 0.5
# BM25's usual term saturation and length normalisation. Constants, not settings: they are
# baked into the saved matrices, which are rebuilt only when the store changes.
BM25_K1 = 1.2
BM25_B = 0.75


def split_syllables(words: Iterable[str]) -> list[str]:
    """``["hỗ_trợ", "học"]`` → ``["hỗ", "trợ", "học"]``."""
    return [s for w in words for s in w.split("_") if s]


@dataclass(frozen=True)
class Field:
    vocab: dict[str, int]
    weights: sparse.csr_matrix  # terms x chunks

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = BM25_K1, b: float = BM25_B) -> Field:
        vocab: dict[str, int] = {}
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        # One pass of dict lookups, then numpy: per-document Counters and Python lists of
        # postings took minutes and gigabytes at 100k chunks. Term ids follow first use, as
        # before.
        ids = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for d in docs for t in d),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        n, v = len(docs), max(len(vocab), 1)
        cols = np.repeat(np.arange(n, dtype=np.int64), lengths)
        pairs, counts = np.unique(cols * v + ids, return_counts=True)
        c, r = np.divmod(pairs, v)
        tf_arr = counts.astype(np.float64)
        df = np.bincount(r, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if n else 1.0
        norm = k1 * (1.0 - b + b * lengths[c] / max(avgdl, 1e-9))
        w = idf[r] * tf_arr * (k1 + 1.0) / (tf_arr + norm)
        matrix = sparse.csr_matrix((w.astype(np.float32), (r, c)), shape=(len(vocab), n))
        return cls(vocab, matrix)

    def scores(self, terms: Iterable[str]) -> np.ndarray:
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if not ids:
            return np.zeros(self.weights.shape[1], dtype=np.float32)
        # Repeated query terms count again, as in BM25 with query term frequency.
        return np.asarray(self.weights[ids].sum(axis=0)).ravel()


class LexicalIndex:
    """BM25 over chunk words, with the chunks themselves held for the answer stage.

    ``words`` are pyvi-segmented words (compounds joined by ``_``). Three fields are built from
    them: whole words (precise: "hỗ_trợ" is one term), their syllables (forgiving when a question
    is segmented differently), and the syllables without diacritics (for bare questions).
    """

    def __init__(
        self,
        chunks: Sequence[Chunk],
        words: Sequence[Sequence[str]],
        fingerprint: str,
    ):
        syllables = [split_syllables(w) for w in words]
        fields = (
            Field.build(words),
            Field.build(syllables),
            Field.build([[strip_diacritics(t) for t in doc] for doc in syllables]),
        )
        words_text = _Texts.of([" ".join(w) for w in words])
        self._setup(_ChunkTable.of(chunks), words_text, fingerprint, fields)

    def _setup(
        self,
        table: _ChunkTable,
        words: _Texts,
        fingerprint: str,
        fields: tuple[Field, Field, Field],
    ) -> None:
        self._table = table
        self.fingerprint = fingerprint
        self._pos = {cid: i for i, cid in enumerate(table.ids)}
        self._words = words  # kept only for save()
        self._plain, self._syllables, self._folded = fields

    def __len__(self) -> int:
        return len(self._table.ids)

    @property
    def chunks(self) -> list[Chunk]:
        """Every chunk, in index order (reads them all: for tests and tools, not questions)."""
        return [self._table.chunk(i) for i in range(len(self))]

    def chunk(self, chunk_id: str) -> Chunk | None:
        i = self._pos.get(chunk_id)
        return None if i is None else self._table.chunk(i)

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
            scores = self._folded.scores(strip_diacritics(t) for t in syllables)
        else:
            scores = self._plain.scores(words)
            if syllable_weight:
                scores = scores + syllable_weight * self._syllables.scores(syllables)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        ids = self._table.ids
        return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def mask(self, filters: Filters) -> np.ndarray:
        """Boolean mask of the chunks ``filters`` admits, as ``Filters.admits`` decides.

        Computed on columns of source and date, not chunk by chunk: at 100k chunks a Python
        loop per filtered question cost more than the search itself.
        """
        table = self._table
        allowed = np.ones(len(self), dtype=bool)
        if filters.sources:
            codes = [table.source_codes[s] for s in filters.sources if s in table.source_codes]
            allowed &= np.isin(table.sources, np.asarray(codes, dtype=np.int32))
        # Undated chunks are -1, below every real day, so a lower bound drops them by itself.
        if filters.date_from is not None:
            allowed &= table.days >= filters.date_from.toordinal()
        if filters.date_to is not None:
            allowed &= (table.days >= 0) & (table.days <= filters.date_to.toordinal())
        return allowed

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index as one ``lexical.npz``: arrays and UTF-8 blobs, no per-chunk objects.

        A process start then reads a few large arrays instead of parsing every chunk (JSON of
        100k chunks took seconds); chunks are decoded only when a question returns them.
        """
        folder.mkdir(parents=True, exist_ok=True)
        fields = dict(zip(_FIELDS, (self._plain, self._syllables, self._folded), strict=True))
        arrays: dict[str, Any] = {
            "format": np.array(_FORMAT),
            "fingerprint": _blob(self.fingerprint),
            "ids": _json_blob(self._table.ids),
        }
        arrays.update(self._table.arrays())
        arrays.update(self._words.arrays("words"))
        for name, f in fields.items():
            arrays[f"{name}.vocab"] = _json_blob(list(f.vocab))
            arrays[f"{name}.data"] = f.weights.data
            arrays[f"{name}.indices"] = f.weights.indices
            arrays[f"{name}.indptr"] = f.weights.indptr
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
    def load(cls, folder: Path) -> LexicalIndex | None:
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
                for name in _FIELDS:
                    terms = json.loads(_text(saved[f"{name}.vocab"]))
                    matrix = sparse.csr_matrix(
                        (saved[f"{name}.data"], saved[f"{name}.indices"], saved[f"{name}.indptr"]),
                        shape=(len(terms), len(ids)),
                    )
                    fields.append(Field({t: i for i, t in enumerate(terms)}, matrix))
                table = _ChunkTable.load(ids, saved)
                words = _Texts.load(saved, "words")
                fingerprint = _text(saved["fingerprint"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
            return None
        index = cls.__new__(cls)
        index._setup(table, words, fingerprint, (fields[0], fields[1], fields[2]))
        return index


_FORMAT = 4  # 4: chunk records in Chunk.metadata's shape
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
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    @classmethod
    def load(cls, saved: Any, name: str) -> _Texts:
        offsets = np.asarray(saved[f"{name}.offsets"], dtype=np.int64)
        return cls(saved[f"{name}.blob"].tobytes(), offsets)

    def __getitem__(self, i: int) -> str:
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])].decode("utf-8")

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
        self._source_names = source_names
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

    def chunk(self, i: int) -> Chunk:
        found = self._chunks[i]
        if found is None:
            record = json.loads(self._records[i])
            found = self._chunks[i] = Chunk.from_metadata(self.ids[i], record.pop("text"), record)
        return found

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "sources": self.sources,
            "source_names": _json_blob(self._source_names),
            "days": self.days,
            **self._records.arrays("records"),
        }


def _record(c: Chunk) -> dict[str, str | int]:
    return {"text": c.text, **c.metadata()}
