"""The bench's worker processes: how one is started, the spec it starts from, and what it does.

Each figure that needs a fresh process runs one (``python -m qa_assistant.bench.worker FLAG
SPEC``): the serving worker (``--serve-worker``: cold start, latencies, memory, then the page for
the concurrent citizens) and the replica (``--follow-worker``: cold start on an unseen store,
then the new question until the new document answers it). The spec file carries its settings,
without their secrets, which the worker reads from the environment as usual. A worker tells the
bench where it stands in lines on its stdout that start with the markers below.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..settings import Settings

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..protocols import RelevanceModel

__all__ = [
    "FIRST_ANSWER",
    "FOLLOW_FLAG",
    "FOLLOW_TIMEOUT_S",
    "RESULT",
    "SECRET_SETTINGS",
    "SEEN",
    "SERVE_FLAG",
    "SERVING",
    "Worker",
    "fake_relevance_model",
    "spec_assistant",
    "worker_process",
]

SERVE_FLAG = "--serve-worker"
FOLLOW_FLAG = "--follow-worker"
FIRST_ANSWER = "FIRST-ANSWER"
RESULT = "RESULT "
SERVING = "SERVING "
SEEN = "SEEN "
FOLLOW_TIMEOUT_S = 300.0  # the replica gives up on the new document after this long
_POLL_S = 0.02  # the replica asks again this often: small beside the figure it measures

# Never written to a spec file (the worker reads its own environment, which may set them).
SECRET_SETTINGS: dict[str, Any] = {"admin_password": True, "llm": {"api_key"}, "feedback": {"url"}}


@dataclass(frozen=True)
class Worker:
    """A started worker, its stderr file, and when it was started (``time.perf_counter()``)."""

    proc: subprocess.Popen[str]
    stderr: Path
    started: float

    def failure(self, what: str) -> str:
        """Why the worker failed, for an error: its exit status and the end of its stderr."""
        code = self.proc.wait()
        tail = self.stderr.read_text(errors="replace")[-2000:]
        return f"The {what} process failed (exit {code}):\n{tail}"


@contextmanager
def worker_process(
    flag: str,
    folder: Path,
    settings: Settings,
    spec: dict[str, Any],
    *,
    prefix: str = "",
    stdin: bool = False,
) -> Iterator[Worker]:
    """Writes ``spec`` with ``settings`` to ``folder/<prefix>spec.json`` and runs the worker
    ``flag`` offline, its stderr in ``folder/<prefix>stderr.txt``, its stdout a text pipe (and
    its stdin one, with ``stdin``: closing it tells the worker to stop)."""
    spec_path, stderr = folder / f"{prefix}spec.json", folder / f"{prefix}stderr.txt"
    with stderr.open("w") as err:
        started = time.perf_counter()
        values = json.loads(settings.model_dump_json(exclude=SECRET_SETTINGS))
        spec_path.write_text(json.dumps({**spec, "settings": values}, ensure_ascii=False), "utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.setdefault("ANONYMIZED_TELEMETRY", "False")
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, flag, str(spec_path)],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
        yield Worker(proc, stderr, started)


def fake_relevance_model(settings: Settings) -> RelevanceModel | None:
    """A ``--fake`` run's stand-in for the relevance model, where it is on."""
    from ..testing import FakeRelevanceModel

    return FakeRelevanceModel() if settings.relevance.enabled else None


def spec_assistant(spec: dict[str, Any]) -> Assistant:
    """The assistant a worker process serves: the settings and models its spec names."""
    from ..assistant import Assistant  # imported here: the bench's own process may not need it

    values = {**spec["settings"], "index_dir": Path(spec["index_dir"])}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    if not spec["fake"]:
        return Assistant(settings)
    from .._answering.factory import make_answerer
    from ..testing import FakeEmbedder

    # An answerer given: no span model either, so a fake run builds no model.
    return Assistant(
        settings,
        embedder=FakeEmbedder(),
        relevance_model=fake_relevance_model(settings),
        answerer=make_answerer(settings),
    )


def _percentiles(ms: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(ms, dtype=np.float64)
    return round(float(np.percentile(a, 50)), 2), round(float(np.percentile(a, 95)), 2)


def _timed(fn: Callable[[str], object], questions: Sequence[str]) -> list[float]:
    out: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _peak_rss_mb() -> float:
    """This process's resident-memory high-water mark.

    Linux keeps ``ru_maxrss`` across fork and exec, so a serving process started by the
    benchmark would report the benchmark's own peak (the plain model, the ingest); the
    kernel's VmHWM belongs to the process's own address space and starts afresh at exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _serve(spec_path: Path) -> int:
    """The serving process: first answer, then latencies, then the plain baseline."""
    from .._retrieval.retriever import clear_caches
    from .models import plain_query_embedder

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    questions: list[str] = spec["questions"]
    assistant = spec_assistant(spec)
    settings = assistant.settings
    assistant.ask(questions[0])
    print(FIRST_ANSWER, flush=True)
    warm, timed = questions[:3], questions[3:] or questions
    for q in warm:
        assistant.ask(q)
    k, mode = settings.k, settings.retriever

    def retrieve(q: str) -> object:
        return assistant.retriever().retrieve(q, k, mode=mode)

    # Both phases ask the same questions: each starts without the passages the other analysed,
    # so the second is not flattered by the first.
    clear_caches()
    retrieval = _timed(retrieve, timed)
    clear_caches()
    full = _timed(assistant.ask, timed)
    peak = _peak_rss_mb()  # before the baseline loads a second model
    # Chroma's own query on the collection the assistant serves from, with a plain model's
    # question vector: what a minimal vector-search service does.
    embed = plain_query_embedder(settings, spec["fake"])
    collection = assistant.index.chunk_collection

    def plain(q: str) -> object:
        return collection.query(query_embeddings=[embed(q)], n_results=settings.k)

    for q in warm:
        plain(q)
    plain_ms = _timed(plain, timed)
    r50, r95 = _percentiles(retrieval)
    q50, q95 = _percentiles(full)
    p50, p95 = _percentiles(plain_ms)
    out = {
        "chunks": assistant.index.count(),
        "retrieval_p50_ms": r50,
        "retrieval_p95_ms": r95,
        "query_p50_ms": q50,
        "query_p95_ms": q95,
        "plain_search_p50_ms": p50,
        "plain_search_p95_ms": p95,
        "query_ratio_vs_plain_search": round(q50 / p50, 2) if p50 else None,
        "peak_rss_mb": round(peak, 1),
    }
    print(RESULT + json.dumps(out), flush=True)
    if spec["serve_page"]:
        _serve_until_told(assistant)
    return 0


def _serve_until_told(assistant: Assistant) -> None:
    """Serves the page on a free loopback port until the benchmark closes this one's stdin."""
    from .._ui import serve
    from ..drivers.chroma_server import free_port

    local = assistant.settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    app, url = serve(assistant, local, block=False)
    try:
        print(SERVING + url, flush=True)
        sys.stdin.read()
    finally:
        app.close()


def _follow(spec_path: Path) -> int:
    """The replica: a first answer, then the new question until the new document answers it."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    assistant = spec_assistant(spec)
    settings = assistant.settings
    assistant.ask(spec["question"])
    print(FIRST_ANSWER, flush=True)
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        answer = assistant.ask(spec["new_question"])
        took_ms = (time.perf_counter() - t0) * 1000
        if spec["new_source"] in {h.chunk.source for h in answer.hits[: settings.k]}:
            print(SEEN + json.dumps({"at": time.time(), "catch_up_ms": took_ms}), flush=True)
            return 0
        time.sleep(_POLL_S)
    return 1


_BODIES: dict[str, Callable[[Path], int]] = {SERVE_FLAG: _serve, FOLLOW_FLAG: _follow}

if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] in _BODIES:
    sys.exit(_BODIES[sys.argv[1]](Path(sys.argv[2])))
