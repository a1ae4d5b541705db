"""The bench's concurrent-clients figure: many citizens asking one served page at once.

The serving worker serves the page as ``serve`` does; this process plays the citizens, each a
page session of its own asking its questions back to back over HTTP, so the figure holds the
page's queue and its two requests per question as well as the assistant's work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..drivers.page_client import Outcome, PageSession, Timing

__all__ = ["QUESTIONS_PER_CLIENT", "ask_concurrently"]

QUESTIONS_PER_CLIENT = 4


def _client(url: str, questions: Sequence[str]) -> list[Outcome]:
    with PageSession(url) as page:
        return [page.ask(question) for question in questions]


def ask_concurrently(url: str, questions: Sequence[str], clients: int) -> dict[str, Any]:
    """``clients`` sessions at once, each asking ``QUESTIONS_PER_CLIENT`` of ``questions``.

    Returns the latency percentiles, the part of it spent in the page's queue, and the
    answers per second; a failed question raises, since a figure over errors means nothing.
    """
    shares = [
        [questions[(c + i) % len(questions)] for i in range(QUESTIONS_PER_CLIENT)]
        for c in range(clients)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = [o for os in pool.map(lambda qs: _client(url, qs), shares) for o in os]
    wall = time.perf_counter() - started
    failed = [o.error for o in results if not o.success]
    if failed:
        raise RuntimeError(f"{len(failed)} questions failed under load, e.g. {failed[0]}")
    latency = Timing.of([o.latency_ms for o in results])
    return {
        "concurrent_clients": clients,
        "concurrent_p50_ms": round(latency.p50_ms, 1),
        "concurrent_p95_ms": round(latency.p95_ms, 1),
        "concurrent_queued_p50_ms": round(Timing.of([o.queued_ms for o in results]).p50_ms, 1),
        "concurrent_qps": round(len(results) / wall, 1),
    }
