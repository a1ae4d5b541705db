"""Sparse BM25 over Vietnamese words: the index, its search and how it follows the store.

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
:mod:`qa_assistant._store.lexical_segment` holds what a segment is made of and
:mod:`qa_assistant._store.lexical_file` its file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from .._vietnamese import strip_diacritics
from ..settings import RetrievalSettings
from ..types import Chunk, Filters, StoreVersion
from .lexical_file import read_segment, write_segment
from .lexical_segment import ChunkTable, Field, Segment, Texts, Vocab, field_terms, table_mask

__all__ = [
    "BM25_B",
    "BM25_K1",
    "DEFAULT_MERGE_SHARE",
    "SYLLABLE_WEIGHT",
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


@dataclass(frozen=True)
class _Stats:
    """BM25's corpus statistics of one field over the live rows of every segment."""

    df: np.ndarray  # int64 per term id
    total: float  # tokens in live rows

    def idf(self, ids: np.ndarray, n: int) -> np.ndarray:
        df = self.df[ids].astype(np.float64)
        idf: np.ndarray = np.log1p((n - df + 0.5) / (df + 0.5))
        return idf


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
        vocabs = (Vocab(), Vocab(), Vocab())
        segment = Segment.build(chunks, words, vocabs)
        self._setup((segment,), (np.ones(len(segment), dtype=bool),), vocabs, version, merge_share)

    def _setup(
        self,
        segments: tuple[Segment, ...],
        live: tuple[np.ndarray, ...],
        vocabs: tuple[Vocab, ...],
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

    def _rows(self) -> Iterable[tuple[Segment, int]]:
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
        return np.concatenate([table_mask(seg.table, filters) for seg in self._segments])

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
            segments.append(Segment.build(chunks, words, self._vocabs))
            live.append(np.ones(len(chunks), dtype=bool))
        stats = self._moved_stats(gone, segments[len(self._segments) :])
        out = LexicalIndex.__new__(LexicalIndex)
        out._setup(tuple(segments), tuple(live), self._vocabs, version, self.merge_share, stats)
        moved = (
            sum(len(s) for s in out._segments[1:]) + len(out._segments[0]) - int(out._live[0].sum())
        )
        return out.folded() if moved > self.merge_share * max(len(out), 1) else out

    def _moved_stats(
        self, gone: list[tuple[int, np.ndarray]], added: list[Segment]
    ) -> tuple[_Stats, ...]:
        # The dropped rows' terms come from their words (what they cost), not from slicing
        # columns out of the matrices (which scans all of them).
        dropped = [
            self._segments[s].words[int(i)].split() for s, rows in gone for i in rows.tolist()
        ]
        dropped_terms = field_terms(dropped)
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
        table = ChunkTable.concat([(seg.table, i) for seg, i in rows])
        vocabs = (Vocab(), Vocab(), Vocab())
        terms = field_terms(words)
        fields = (
            Field.build(terms[0], vocabs[0]),
            Field.build(terms[1], vocabs[1]),
            Field.build(terms[2], vocabs[2]),
        )
        segment = Segment.of(table, Texts.of([" ".join(w) for w in words]), fields)
        out = LexicalIndex.__new__(LexicalIndex)
        live = (np.ones(len(segment), dtype=bool),)
        out._setup((segment,), live, vocabs, self.version, self.merge_share)
        return out

    # -- persistence ---------------------------------------------------------------------------

    # -- persistence ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the index, folded, as one ``lexical.npz`` (:mod:`.lexical_file`)."""
        index = self.folded()
        write_segment(folder, index._segments[0], index._vocabs, index.version)

    @classmethod
    def load(cls, folder: Path, *, merge_share: float = DEFAULT_MERGE_SHARE) -> LexicalIndex | None:
        """The saved index, or None when there is none, it is unreadable or of another format."""
        saved = read_segment(folder)
        if saved is None:
            return None
        segment, vocabs, version = saved
        index = cls.__new__(cls)
        live = (np.ones(len(segment), dtype=bool),)
        index._setup((segment,), live, vocabs, version, merge_share)
        return index
