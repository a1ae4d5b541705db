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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .types import Chunk
from .vietnamese import strip_diacritics

_FORMAT = 2
SYLLABLE_WEIGHT = 0.5  # syllable matches count half as much as whole words


def split_syllables(words: Iterable[str]) -> list[str]:
    """``["hỗ_trợ", "học"]`` → ``["hỗ", "trợ", "học"]``."""
    return [s for w in words for s in w.split("_") if s]


@dataclass(frozen=True)
class Field:
    vocab: dict[str, int]
    weights: sparse.csr_matrix  # terms x chunks

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> Field:
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
        *,
        syllable_weight: float = SYLLABLE_WEIGHT,
    ):
        syllables = [split_syllables(w) for w in words]
        fields = (
            Field.build(words),
            Field.build(syllables),
            Field.build([[strip_diacritics(t) for t in doc] for doc in syllables]),
        )
        self._setup(chunks, [" ".join(w) for w in words], fingerprint, syllable_weight, fields)

    def _setup(
        self,
        chunks: Sequence[Chunk],
        words: list[str],
        fingerprint: str,
        syllable_weight: float,
        fields: tuple[Field, Field, Field],
    ) -> None:
        self.chunks = list(chunks)
        self.fingerprint = fingerprint
        self.syllable_weight = syllable_weight
        self._pos = {c.id: i for i, c in enumerate(self.chunks)}
        # One string per chunk, only for save(): lists of words were one object per word.
        self._words = words
        self._plain, self._syllables, self._folded = fields

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, chunk_id: str) -> Chunk | None:
        i = self._pos.get(chunk_id)
        return None if i is None else self.chunks[i]

    def search(
        self,
        words: Sequence[str],
        n: int,
        *,
        folded: bool = False,
        allowed: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """Top ``n`` chunks as (id, BM25 score), best first; zero scores are left out.

        ``folded`` matches the question's syllables without diacritics, for questions typed
        without them (their segmentation is unreliable, so whole words are not used).
        """
        if not self.chunks:
            return []
        syllables = split_syllables(words)
        if folded:
            scores = self._folded.scores(strip_diacritics(t) for t in syllables)
        else:
            scores = self._plain.scores(words)
            if self.syllable_weight:
                scores = scores + self.syllable_weight * self._syllables.scores(syllables)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunks[i].id, float(scores[i])) for i in top if scores[i] > 0]

    def mask(self, admits: Callable[[Chunk], bool]) -> np.ndarray:
        """Boolean mask of the chunks a filter admits (e.g. ``Filters.admits``)."""
        return np.array([admits(c) for c in self.chunks], dtype=bool)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fields = dict(zip(_FIELDS, (self._plain, self._syllables, self._folded), strict=True))
        # The built matrices go beside the JSON so that a process start loads them instead of
        # rebuilding them (seconds per 10k chunks). Written first; the JSON, renamed into
        # place last, names the fingerprint both must carry.
        arrays: dict[str, Any] = {"fingerprint": np.array(self.fingerprint)}
        for name, f in fields.items():
            arrays[f"{name}.data"] = f.weights.data
            arrays[f"{name}.indices"] = f.weights.indices
            arrays[f"{name}.indptr"] = f.weights.indptr
        fd, tmp_npz = tempfile.mkstemp(dir=folder, prefix=".lexical-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp_npz, folder / "lexical.npz")
        payload = {
            "format": _FORMAT,
            "fingerprint": self.fingerprint,
            "chunks": [_chunk_record(c) for c in self.chunks],
            "words": self._words,
            "vocab": {name: list(f.vocab) for name, f in fields.items()},
        }
        # Write to a temporary file and rename: a crash never leaves a half-written index.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lexical-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False)
        os.replace(tmp, folder / "lexical.json")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none or it is unreadable."""
        path = folder / "lexical.json"
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != _FORMAT:
                return None
            chunks = [_record_chunk(r) for r in payload["chunks"]]
            fingerprint = str(payload["fingerprint"])
            fields = _load_fields(folder / "lexical.npz", payload, len(chunks))
            if fields is None:  # saved by an older version, or a crash between the files
                return cls(chunks, [w.split() for w in payload["words"]], fingerprint)
            index = cls.__new__(cls)
            index._setup(
                chunks, list(map(str, payload["words"])), fingerprint, SYLLABLE_WEIGHT, fields
            )
            return index
        except (OSError, ValueError, KeyError, TypeError):
            return None


_FIELDS = ("plain", "syllables", "folded")


def _load_fields(
    path: Path, payload: dict[str, Any], n_chunks: int
) -> tuple[Field, Field, Field] | None:
    vocabs = payload.get("vocab")
    if not isinstance(vocabs, dict) or not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        if str(saved["fingerprint"]) != payload["fingerprint"]:
            return None
        fields = []
        for name in _FIELDS:
            terms = vocabs[name]
            matrix = sparse.csr_matrix(
                (saved[f"{name}.data"], saved[f"{name}.indices"], saved[f"{name}.indptr"]),
                shape=(len(terms), n_chunks),
            )
            fields.append(Field({t: i for i, t in enumerate(terms)}, matrix))
    return fields[0], fields[1], fields[2]


def _chunk_record(c: Chunk) -> dict[str, object]:
    record = asdict(c)
    record["heading"] = list(c.heading)
    record["date"] = c.date.isoformat() if c.date else None
    return record


def _record_chunk(r: dict[str, object]) -> Chunk:
    raw_date = r.get("date")
    return Chunk(
        id=str(r["id"]),
        source=str(r["source"]),
        title=str(r["title"]),
        text=str(r["text"]),
        start=int(str(r["start"])),
        end=int(str(r["end"])),
        heading=tuple(str(h) for h in r.get("heading") or []),  # type: ignore[attr-defined]
        ordinal=int(str(r.get("ordinal", 0))),
        date=date.fromisoformat(str(raw_date)) if raw_date else None,
    )
