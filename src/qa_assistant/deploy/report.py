"""The deploy check's report: its figures and findings, whether it passed, and the text
``qa-assistant deploy-check`` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._models.onnx_runtime import CacheCounts
from ..drivers.page_client import Timing

__all__ = ["DeployCheckReport"]


@dataclass(frozen=True)
class DeployCheckReport:
    replicas: int
    users: int
    asks: int
    distinct: int  # different questions among them (a follow-up with its conversation)
    failovers: int
    errors: tuple[str, ...]
    latency: Timing  # from sending the question to its answer
    queued: Timing  # in the page's queue, until a worker started it
    handled: Timing  # from then until the answer came back
    assistant: Timing  # the assistant's own work (the answer's latency_ms)
    throughput_qps: float  # answers per second while the citizens asked
    # Per model, its calls during the load, summed over the replicas that ran at
    # its end (a restarted one's since its restart); empty where no model or no count.
    cached: dict[str, CacheCounts]
    compared: int  # answers under load compared with the same question asked alone
    mismatches: tuple[str, ...]
    settings: dict[str, Any]  # the serving settings every replica ran with
    peak_rss_mb: tuple[float, ...]  # each running replica's peak memory, where it can be read
    uploads: int
    deletes: int
    killed_mid_ingest: bool | None  # None: no crash asked for
    restart_s: float | None  # from the restart until it served again
    committed_s: float | None  # from the restart until the interrupted ingest committed
    documents: int
    chunks: int
    differences: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and not self.differences
            and not self.mismatches
            and self.killed_mid_ingest is not False
        )

    def format(self) -> str:
        if self.killed_mid_ingest is None:
            crash = "not asked for"
        else:
            when = "mid-ingest" if self.killed_mid_ingest else "only AFTER its ingest"
            back = (
                f"back in {self.restart_s:.1f} s"
                if self.restart_s is not None
                else "never came back"
            )
            if self.committed_s is not None:
                back += f", its ingest committed {self.committed_s:.1f} s after the restart"
            crash = f"replica 0 SIGKILLed {when}, {back}"
        memory = ", ".join(f"{mb:.0f} MB" for mb in self.peak_rss_mb) or "unknown"
        cached = "; ".join(
            f"{_MODEL_NAMES.get(name, name)} {c.hits} of {c.hits + c.misses} calls"
            f" ({c.hits / max(c.hits + c.misses, 1):.0%})"
            for name, c in self.cached.items()
        )
        lines = [
            f"replicas {self.replicas}, citizens {self.users}, questions asked {self.asks} "
            f"({self.distinct} distinct)",
            "settings: " + ", ".join(f"{k}={v}" for k, v in self.settings.items()),
            f"ask latency {self.latency}; throughput {self.throughput_qps:.1f} questions/s; "
            f"failovers {self.failovers}",
            f"  waiting in the queue {self.queued}; handling {self.handled}, "
            f"of which the assistant {self.assistant}",
            f"models answered from their caches: {cached or 'no counts'}",
            f"answers under load: {self.compared} compared with the question asked alone, "
            f"{len(self.mismatches)} differ",
            f"replicas' peak memory: {memory}",
            f"staff: {self.uploads} uploads and {self.deletes} deletes committed",
            f"crash: {crash}",
            f"final store: {self.documents} documents, {self.chunks} chunks; "
            + (
                "equal to a clean sequential ingest"
                if not self.differences
                else f"{len(self.differences)} differences from a clean sequential ingest"
            ),
            f"errors: {len(self.errors)}",
            *(f"  error: {e}" for e in self.errors[:20]),
            *(f"  difference: {d}" for d in self.differences[:20]),
            *(f"  differs from alone: {m}" for m in self.mismatches[:20]),
            f"took {self.seconds:.0f} s: {'PASS' if self.ok else 'FAIL'}",
        ]
        return "\n".join(lines)


_MODEL_NAMES = {"relevance": "relevance model", "span": "span model"}
