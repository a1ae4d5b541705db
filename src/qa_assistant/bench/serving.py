"""The bench's serving figures for one collection, taken in a fresh process (the assistant as
``serve`` runs it): time to the first answer, query latencies and peak memory; then it serves
the page, and ``--clients`` citizens ask it at once over HTTP (:mod:`.clients`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .clients import ask_concurrently
from .config import BenchConfig
from .worker import FIRST_ANSWER, RESULT, SERVE_FLAG, SERVING, worker_process

__all__ = ["bench_questions", "measure_serving"]

_FALLBACK_QUESTIONS = (
    "Công dân có quyền tự do cư trú như thế nào?",
    "Điều kiện đăng ký thường trú là gì?",
    "Người lao động được nghỉ hằng năm bao nhiêu ngày?",
    "Thanh niên có quyền và nghĩa vụ gì?",
    "Ai có quyền tiếp cận thông tin?",
)


def bench_questions(docs: Path, n: int) -> list[str]:
    """``n`` questions of the ``questions.jsonl`` beside ``docs``, repeated as needed (a few
    fixed ones where it has none)."""
    path = docs.parent / "questions.jsonl"
    found: list[str] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                q = json.loads(line).get("question")
            except (ValueError, AttributeError):
                continue
            if isinstance(q, str) and q.strip():
                found.append(q)
    found = found or list(_FALLBACK_QUESTIONS)
    return [found[i % len(found)] for i in range(n)]


def measure_serving(config: BenchConfig, folder: Path, questions: list[str]) -> dict[str, Any]:
    spec = {
        "index_dir": str(folder),
        "fake": config.fake,
        "questions": questions,
        "serve_page": config.clients > 0,
    }
    with worker_process(
        SERVE_FLAG, folder, config.settings, spec, prefix="serve-", stdin=True
    ) as worker:
        proc = worker.proc
        assert proc.stdout is not None and proc.stdin is not None
        cold: float | None = None
        result: dict[str, Any] = {}
        concurrent: dict[str, Any] = {}
        try:
            for line in proc.stdout:
                if line.startswith(FIRST_ANSWER) and cold is None:
                    cold = time.perf_counter() - worker.started
                elif line.startswith(RESULT):
                    result = json.loads(line[len(RESULT) :])
                elif line.startswith(SERVING):
                    url = line[len(SERVING) :].strip()
                    concurrent = ask_concurrently(url, questions, config.clients)
                    proc.stdin.close()
        finally:
            if not proc.stdin.closed:
                proc.stdin.close()
        if proc.wait() != 0 or not result:
            raise RuntimeError(worker.failure("serving"))
    result["cold_start_s"] = round(cold or 0.0, 2)
    return {**result, **concurrent}
