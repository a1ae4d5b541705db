"""The bench's collections of 1k to 100k chunks, made of the ingested chunks repeated.

Copy 0 is the laws as they are; copy r > 0 gets its own document and chunk ids, about 8 % of
its words swapped for words of other chunks (in the text and in the lexical tokens alike), and
the ingested vector plus a little Gaussian noise (cosine about 0.98 to the original), so
building 100k chunks takes minutes, not hours of embedding.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..types import Chunk, DocumentInfo
from .config import BenchConfig, settings_for
from .ingest_timing import Ingested

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SWAP_RATE", "VECTOR_COSINE", "build_collection", "folder_mb"]

SWAP_RATE = 0.08  # share of words replaced in each repeated chunk
VECTOR_COSINE = 0.98  # expected cosine of a repeated chunk's vector to the original
_WRITE_BATCH = 1000  # chunks per Chroma write when building the larger collections


def _swap(words: list[str], pool: Sequence[str], rng: random.Random) -> list[str]:
    out = list(words)
    if not out or not pool:
        return out
    for i in rng.sample(range(len(out)), k=max(1, round(len(out) * SWAP_RATE))):
        if "\n" not in out[i]:  # keep line breaks: sentences and clauses end there
            out[i] = rng.choice(pool)
    return out


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dim = vectors.shape[1]
    # For unit v and noise of norm s, cosine ≈ 1 / sqrt(1 + s²).
    sigma = math.sqrt((1.0 / VECTOR_COSINE**2 - 1.0) / dim)
    out = vectors + rng.normal(0.0, sigma, vectors.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _documents(base: Ingested) -> list[list[int]]:
    """Chunk positions grouped by source document, in order."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(base.chunks):
        groups.setdefault(c.source, []).append(i)
    return list(groups.values())


def _copies(base: Ingested, size: int) -> Iterator[tuple[int, list[int]]]:
    """(copy number, chunk positions) per document until ``size`` chunks are reached."""
    left = size
    for r in range(math.ceil(size / max(len(base.chunks), 1))):
        for positions in _documents(base):
            if left <= 0:
                return
            take = positions[:left]
            left -= len(take)
            yield r, take


def build_collection(config: BenchConfig, base: Ingested, size: int, folder: Path) -> float:
    """Write a ``size``-chunk collection into ``folder``; returns the seconds it took."""
    from .._store.follow import sync_lexical
    from .._store.index import ChromaIndex

    started = time.perf_counter()
    settings = settings_for(config, folder)
    index = ChromaIndex(folder, collection=settings.collection)
    index.check_manifest(base.manifest)
    words = [w for c in base.chunks[:500] for w in c.text.split(" ") if "\n" not in w]
    terms = [t for tokens in base.tokens[:500] for t in tokens.split()]
    rng = random.Random(size)
    nprng = np.random.default_rng(size)
    pending: list[tuple[list[Chunk], list[str], NDArray[np.float32], DocumentInfo]] = []

    def flush() -> None:
        # One write for many documents: Chroma's cost per write call dominates at ~80 chunks.
        # Documents are committed only after all their chunks are written, as an ingest does.
        index.add_chunks(
            [c for p in pending for c in p[0]],
            np.concatenate([p[2] for p in pending]).tolist(),
            [t for p in pending for t in p[1]],
            [p[3].content_hash for p in pending for _ in p[0]],
        )
        for chunks, _tokens, _vectors, info in pending:
            index.commit_document(info, root="", text="\n\n".join(c.text for c in chunks))
        pending.clear()

    for r, positions in _copies(base, size):
        chunks = [base.chunks[i] for i in positions]
        tokens = [base.tokens[i] for i in positions]
        vectors = base.vectors[positions]
        source = chunks[0].source
        digest = base.content_hash[source]
        if r > 0:
            source = f"copy-{r:03d}/{source}"
            digest = f"{digest[:56]}-{r:07d}"
            chunks = [
                replace(
                    c,
                    id=f"{c.id}~{r}",
                    source=source,
                    text=" ".join(_swap(c.text.split(" "), words, rng)),
                )
                for c in chunks
            ]
            tokens = [" ".join(_swap(t.split(), terms, rng)) for t in tokens]
            vectors = _noisy(vectors, nprng)
        info = DocumentInfo(
            source=source,
            title=chunks[0].title,
            date=chunks[0].date,
            chunks=len(chunks),
            content_hash=digest,
            ingested_at="2026-01-01T00:00:00+00:00",
        )
        pending.append((chunks, tokens, vectors, info))
        if sum(len(p[0]) for p in pending) >= _WRITE_BATCH:
            flush()
    if pending:
        flush()
    lexical_dir = folder / "lexical" / settings.collection  # where Assistant looks for it
    sync_lexical(index, lexical_dir)
    return time.perf_counter() - started


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
