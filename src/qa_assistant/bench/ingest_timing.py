"""The bench's ingest figure: the real pipeline (load, chunk, embed, tokenise, write, lexical
index) timed over a subset of the laws of ``--docs``, beside the plain model's ``encode`` of the
same chunk texts; the ingested chunks are what every collection is then made of."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._chunking.chunker import chunk_token_budget
from .._store.manifest import Manifest
from ..protocols import Embedder
from ..types import Chunk
from .config import BenchConfig, settings_for
from .models import RecordingEmbedder, embedder_for, plain_encoder
from .worker import fake_relevance_model

__all__ = ["Ingested", "measure_ingest"]


@dataclass(frozen=True)
class Ingested:
    """The ingested chunks that every collection is made of."""

    chunks: list[Chunk]
    tokens: list[str]
    vectors: np.ndarray  # float32, one unit row per chunk
    content_hash: dict[str, str]  # source -> hash
    manifest: Manifest  # as the real ingest wrote it


def _pick_files(docs: Path, target: int, embedder: Embedder, max_tokens: int) -> list[Path]:
    """Smallest laws first, skipping any that would overshoot: many laws, about ``target``."""
    from .._chunking.chunker import chunk_document
    from .._loading import discover, load_document

    counted: list[tuple[int, Path]] = []
    for path, source in discover([docs]):
        doc = load_document(path, source)
        n = len(chunk_document(doc, max_tokens=max_tokens, count_tokens=embedder.count_tokens))
        counted.append((n, path))
    picked: list[Path] = []
    total = 0
    for n, path in sorted(counted, key=lambda t: (t[0], str(t[1]))):
        if total >= target:
            break
        if total + n > target * 1.15 and picked:
            continue
        picked.append(path)
        total += n
    return sorted(picked)


def measure_ingest(config: BenchConfig, workdir: Path) -> tuple[dict[str, Any], Ingested]:
    """The ingest figures (for ``--json``) and what was ingested."""
    from .._answering.factory import make_answerer
    from ..assistant import Assistant

    embedder = RecordingEmbedder(embedder_for(config))
    shutil.rmtree(workdir / "ingest", ignore_errors=True)  # a kept workdir: ingest afresh
    settings = settings_for(config, workdir / "ingest")
    relevance_model = fake_relevance_model(settings) if config.fake else None
    # A fake run gives the answerer, so no span model is built either.
    answerer = make_answerer(settings) if config.fake else None
    assistant = Assistant(
        settings, embedder=embedder, relevance_model=relevance_model, answerer=answerer
    )
    max_tokens = chunk_token_budget(settings.max_chunk_tokens, embedder.max_tokens)
    files = _pick_files(config.docs, min(config.sizes), embedder, max_tokens)
    if not files:
        raise SystemExit(f"No documents to ingest in {config.docs}.")
    # Segmenter and model load once per process in serving too: keep them out of throughput.
    assistant.warm_up()
    started = time.perf_counter()
    report = assistant.ingest(files)
    seconds = time.perf_counter() - started
    mb = sum(p.stat().st_size for p in files) / 1e6
    stored = sorted(assistant.index.iter_chunks(), key=lambda s: (s.chunk.source, s.chunk.ordinal))
    chunks = [s.chunk for s in stored]
    texts = [c.indexed_text for c in chunks]
    vectors = np.asarray([embedder.vectors[t] for t in texts], dtype=np.float32)
    hashes = {s.chunk.source: s.content_hash for s in stored}
    manifest = assistant.index.manifest()
    assert manifest is not None  # the ingest just wrote it
    assistant.close()

    sample = _evenly(texts, config.plain_sample)
    prefix = "" if config.fake or "e5" not in config.settings.model.lower() else "passage: "
    encode = plain_encoder(config)
    encode([prefix + t for t in sample[:4]])  # first-call setup is not throughput
    t0 = time.perf_counter()
    encode([prefix + t for t in sample])
    plain_s = time.perf_counter() - t0
    ours = report.chunks / seconds
    plain = len(sample) / plain_s
    figures = {
        "ingest_files": len(files),
        "ingest_chunks": report.chunks,
        "ingest_mb": round(mb, 2),
        "ingest_s": round(seconds, 2),
        "ingest_chunks_per_s": round(ours, 2),
        "ingest_mb_per_s": round(mb / seconds, 3),
        "plain_encode_chunks": len(sample),
        "plain_encode_chunks_per_s": round(plain, 2),
        # Three significant figures: with the fake embedder the ratio is a few thousandths.
        "ingest_ratio_vs_plain_encode": float(f"{ours / plain:.3g}"),
    }
    return figures, Ingested(chunks, [s.tokens for s in stored], vectors, hashes, manifest)


def _evenly(items: Sequence[str], n: int) -> list[str]:
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]
