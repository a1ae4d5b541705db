"""Twenty visitors ask at once while staff ingest new documents: every question is answered,
nothing fails, and the latencies are printed (fake embedder, real Chroma, real page server).
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import TET_QUESTION
from qa_assistant.assistant import Assistant
from qa_assistant.types import IngestReport
from support.checks import consistency_problems, read_state
from support.corpus import write_policy_corpus

pytestmark = pytest.mark.slow

VISITORS = 20
QUESTIONS = [
    TET_QUESTION,
    "Năm 2025 Quảng Ninh sửa chữa nhà ở cho bao nhiêu hộ nghèo?",
    "Học sinh thuộc hộ nghèo được miễn học phí không?",
    "Trẻ em đi học ở Quảng Ninh được hỗ trợ uống sữa miễn phí đến năm nào?",
    "Hà Nội hỗ trợ bao nhiêu cho người thuê nhà?",
]


class IngestInBackground:
    """Ingests a folder of new documents in a thread; questions go on meanwhile."""

    def __init__(self, assistant: Assistant, folder: Path) -> None:
        self.report: IngestReport | None = None
        self.error: BaseException | None = None
        self.started = threading.Event()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(assistant, folder))

    def _run(self, assistant: Assistant, folder: Path) -> None:
        def progress(done: int, total: int, source: str) -> None:
            self.started.set()

        try:
            self.report = assistant.ingest([folder], progress=progress)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.finished.set()
            self.started.set()

    def __enter__(self) -> IngestInBackground:
        self._thread.start()
        assert self.started.wait(60)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(120)


def _fire(
    ask: Callable[[str], dict[str, Any]], ingest: IngestInBackground
) -> tuple[list[dict[str, Any]], list[float], int]:
    """All visitors at once; returns results, latencies and how many asked mid-ingest."""

    def one(i: int) -> tuple[dict[str, Any], float, bool]:
        during = not ingest.finished.is_set()
        started = time.perf_counter()
        result = ask(QUESTIONS[i % len(QUESTIONS)])
        return result, time.perf_counter() - started, during

    with ThreadPoolExecutor(VISITORS) as pool:
        done = list(pool.map(one, range(VISITORS)))
    return [r for r, _, _ in done], [s for _, s, _ in done], sum(d for _, _, d in done)


def _report(label: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"\n{label}: {len(ordered)} questions, latency median {statistics.median(ordered):.3f} s,"
        f" p95 {p95:.3f} s, max {ordered[-1]:.3f} s"
    )


def _check_answers(results: list[dict[str, Any]]) -> None:
    assert len(results) == VISITORS
    for question, result in zip(
        (QUESTIONS[i % len(QUESTIONS)] for i in range(VISITORS)), results, strict=True
    ):
        assert result["question"] == question
        assert result["answer"].strip()
    tet = [r for r in results if r["question"] == TET_QUESTION]
    assert all("10 triệu" in r["answer"] for r in tet)


def _check_ingest(ingest: IngestInBackground, assistant: Assistant) -> None:
    assert ingest.error is None, repr(ingest.error)
    assert ingest.report is not None and ingest.report.failed == ()
    assert ingest.report.added == 40
    assert consistency_problems(read_state(assistant.settings.index_dir)) == []


def test_twenty_concurrent_questions_during_an_ingest(ingested: Assistant, tmp_path: Path) -> None:
    new = tmp_path / "moi"
    write_policy_corpus(new, 40)
    with IngestInBackground(ingested, new) as ingest:
        results, latencies, during = _fire(lambda q: ingested.ask(q).to_dict(), ingest)
    _report("Assistant.ask from 20 threads during an ingest", latencies)
    assert during == VISITORS, "the ingest ended before the questions: make it longer"
    _check_answers(results)
    _check_ingest(ingest, ingested)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_twenty_concurrent_http_questions_during_an_ingest(
    ingested: Assistant, tmp_path: Path
) -> None:
    from gradio_client import Client

    from qa_assistant import _ui as ui

    settings = ingested.settings.model_copy(update={"port": _free_port()})
    app, url = ui.serve(ingested, settings, block=False)
    try:
        client = Client(url, verbose=False)  # one per visitor would only load the config again
        new = tmp_path / "moi"
        write_policy_corpus(new, 40)
        with IngestInBackground(ingested, new) as ingest:
            started = time.perf_counter()
            jobs = [
                client.submit(QUESTIONS[i % len(QUESTIONS)], api_name="/ask")
                for i in range(VISITORS)
            ]
            submitted_during = not ingest.finished.is_set()
            results = [job.result(timeout=120) for job in jobs]
            total = time.perf_counter() - started
        latencies = [float(r["latency_ms"]) / 1000 for r in results]  # inside the assistant
        _report("HTTP /ask, 20 at once during an ingest (assistant time)", latencies)
        at_once = settings.serving.ask_concurrency
        print(f"all 20 HTTP answers in {total:.2f} s (queue of {at_once} at a time)")
    finally:
        app.close()
    assert submitted_during, "the ingest ended before the questions: make it longer"
    _check_answers(results)
    _check_ingest(ingest, ingested)
