"""The bench's report: its figures, flat for ``--json`` or as the printed tables, and the notes
that say what ran."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .clients import QUESTIONS_PER_CLIENT
from .config import BenchConfig, size_label
from .ingest_timing import Ingested
from .synthetic import SWAP_RATE, VECTOR_COSINE

__all__ = ["BenchResult", "SizeResult", "bench_notes", "format_table"]


@dataclass
class SizeResult:
    size: int
    index_mb: float = 0.0
    build_s: float = 0.0
    serve: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchResult:
    config: BenchConfig
    ingest: dict[str, Any] = field(default_factory=dict)
    sizes: list[SizeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Flat figures for ``--json``; per-size keys end in the size label (``_10k``)."""
        out: dict[str, Any] = dict(self.ingest)
        for s in self.sizes:
            label = size_label(s.size)
            out[f"index_mb_{label}"] = round(s.index_mb, 1)
            out[f"build_s_{label}"] = round(s.build_s, 1)
            for key, value in s.serve.items():
                out[f"{key}_{label}"] = value
        if self.sizes:
            # The largest collection is the deployment the cold-start target is about.
            out["cold_start_s"] = self.sizes[-1].serve.get("cold_start_s")
        out["notes"] = list(self.notes)
        return out


def bench_notes(config: BenchConfig, base: Ingested) -> list[str]:
    model = "FakeEmbedder" if config.fake else config.settings.model
    return [
        f"model {model}, retriever {config.settings.retriever}, k {config.settings.k}, "
        f"relevance model {config.settings.relevance.mode}, span model "
        f"{'on' if config.settings.span.enabled and not config.fake else 'off'}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        f"ingest: the real pipeline over the {len(base.content_hash)} smallest laws of "
        f"{config.docs}; plain encode timed on {min(config.plain_sample, len(base.chunks))} "
        "of the same chunk texts",
        f"collections repeat those {len(base.chunks)} chunks: copy 0 as ingested, later "
        f"copies with new ids, {SWAP_RATE:.0%} of the words swapped (text and lexical "
        f"tokens) and their vectors reused with noise (cosine ≈ {VECTOR_COSINE})",
        f"replicas: QA_REPLICAS__CHECK_S={config.settings.replicas.check_s}; the catch-up "
        "question is the replica's ask that took the new document in (reading the change log "
        "and its chunks, updating the lexical index, then answering)",
        "query = retrieval + extractive answer (Assistant.ask); plain search = Chroma's "
        "Collection.query on the same collection with plain SentenceTransformer query "
        "vectors; each collection served by a fresh process",
        f"citizens at once: {config.clients} page sessions asking "
        f"{QUESTIONS_PER_CLIENT} questions each back to back over HTTP, from this process; "
        "serving settings "
        + ", ".join(f"{k}={v}" for k, v in config.settings.serving.model_dump().items()),
    ]


def format_table(result: BenchResult) -> str:
    i = result.ingest
    lines = [
        "Ingest",
        f"  {i['ingest_chunks']} chunks of {i['ingest_files']} files ({i['ingest_mb']} MB) in "
        f"{i['ingest_s']} s: {i['ingest_chunks_per_s']} chunks/s, {i['ingest_mb_per_s']} MB/s",
        f"  plain SentenceTransformer.encode: {i['plain_encode_chunks_per_s']} chunks/s "
        f"→ ingest is {i['ingest_ratio_vs_plain_encode']}x plain encode",
        "",
        "Serving (latency in ms; ratio = query p50 / plain search p50)",
    ]
    head = (
        f"  {'chunks':>7} {'index MB':>9} {'cold s':>7} {'retr p50':>9} {'retr p95':>9} "
        f"{'query p50':>10} {'query p95':>10} {'plain p50':>10} {'ratio':>6} {'RSS MB':>7}"
    )
    lines.append(head)
    for s in result.sizes:
        v = s.serve
        lines.append(
            f"  {s.size:>7} {s.index_mb:>9.1f} {v['cold_start_s']:>7.2f} "
            f"{v['retrieval_p50_ms']:>9.1f} {v['retrieval_p95_ms']:>9.1f} "
            f"{v['query_p50_ms']:>10.1f} {v['query_p95_ms']:>10.1f} "
            f"{v['plain_search_p50_ms']:>10.1f} {v['query_ratio_vs_plain_search']!s:>6} "
            f"{v['peak_rss_mb']:>7.0f}"
        )
    lines += [
        "",
        "Replicas on one Chroma server (follow: another process's commit → this replica's "
        "answer from it)",
        f"  {'chunks':>7} {'replica cold s':>15} {'follow s':>9} {'catch-up question ms':>21}",
    ]
    for s in result.sizes:
        v = s.serve
        lines.append(
            f"  {s.size:>7} {v['replica_cold_start_s']:>15.2f} {v['follow_s']:>9.3f} "
            f"{v['follow_catch_up_ms']:>21.1f}"
        )
    concurrent = [s for s in result.sizes if "concurrent_clients" in s.serve]
    if concurrent:
        clients = concurrent[0].serve["concurrent_clients"]
        lines += [
            "",
            f"One replica's page, {clients} citizens asking at once over HTTP (latency in ms)",
            f"  {'chunks':>7} {'p50':>7} {'p95':>7} {'queued p50':>11} {'questions/s':>12}",
        ]
        for s in concurrent:
            v = s.serve
            lines.append(
                f"  {s.size:>7} {v['concurrent_p50_ms']:>7.0f} {v['concurrent_p95_ms']:>7.0f} "
                f"{v['concurrent_queued_p50_ms']:>11.0f} {v['concurrent_qps']:>12.1f}"
            )
    lines += ["", "Notes", *(f"  - {n}" for n in result.notes)]
    return "\n".join(lines)
