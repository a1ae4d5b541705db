"""How replicas on one Chroma server follow each other, for ``qa-assistant bench``.

For a collection built by the benchmark, a ``chroma run`` serves its folder and two figures
are taken:

* **Replica cold start**: a fresh serving process with no lexical cache of its own (a replica
  that has never seen this store), from process start to its first answer. It reads the whole
  collection over HTTP and builds its lexical index.
* **Follow**: that replica keeps asking a question only a new document answers while this
  process ingests the document into the server (under the ingest lease). The figure is the
  time from the document's commit until the replica's first answer from it, with the
  configured ``QA_REPLICAS__CHECK_S``; the replica's catch-up itself (reading the change log
  and the new chunks, updating the lexical index) is reported beside it.

The new document is removed again afterwards, so the collection stays as it was built.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..drivers.chroma_server import local_chroma_server
from ..protocols import Embedder
from ..settings import Settings
from .worker import spec_assistant, start_worker

__all__ = ["NEW_DOCUMENT", "NEW_QUESTION", "measure_replica"]

_WORKER_FLAG = "--follow-worker"
_FIRST_ANSWER = "FIRST-ANSWER"
_SEEN = "SEEN "
_FOLLOW_TIMEOUT_S = 300.0  # the replica gives up on the new document after this long
_POLL_S = 0.02  # the replica asks again this often: small beside the figure it measures
NEW_SOURCE = "bench-follow/xa-hoa-binh-sua-nha.txt"
NEW_DOCUMENT = (
    "Xã Hòa Bình hỗ trợ hộ nghèo sửa nhà\n\n"
    "Ủy ban nhân dân xã Hòa Bình quyết định hỗ trợ 7 triệu đồng cho mỗi hộ nghèo để sửa "
    "chữa nhà ở trước mùa mưa bão năm 2026. Hộ nghèo nộp đơn tại bộ phận một cửa của xã.\n"
)
NEW_QUESTION = "Xã Hòa Bình hỗ trợ mỗi hộ nghèo bao nhiêu tiền để sửa nhà?"


def measure_replica(
    settings: Settings, embedder: Embedder, folder: Path, fake: bool, first_question: str
) -> dict[str, Any]:
    """Replica cold start and commit-to-answer time on the collection in ``folder``."""
    with local_chroma_server(folder) as url:
        served = settings.model_copy(update={"chroma_url": url})
        replica_dir = Path(tempfile.mkdtemp(prefix="replica-", dir=folder))
        spec = {"fake": fake, "question": first_question, "index_dir": str(replica_dir)}
        with (replica_dir / "stderr.txt").open("w") as err:
            started = time.perf_counter()
            proc = start_worker(
                "qa_assistant.bench.replicas",
                _WORKER_FLAG,
                replica_dir / "spec.json",
                served,
                spec,
                err,
            )
            assert proc.stdout is not None
            try:
                line = proc.stdout.readline()
                if not line.startswith(_FIRST_ANSWER):
                    raise RuntimeError(_failed(proc, replica_dir))
                cold = time.perf_counter() - started
                committed = _ingest_new_document(served, embedder, replica_dir)
                seen = json.loads(proc.stdout.readline()[len(_SEEN) :] or "{}")
            finally:
                if proc.poll() is None:
                    proc.wait(timeout=_FOLLOW_TIMEOUT_S + 10)
            if "at" not in seen:
                raise RuntimeError(_failed(proc, replica_dir))
        _remove_new_document(served, replica_dir)
    return {
        "replica_cold_start_s": round(cold, 2),
        "follow_s": round(float(seen["at"]) - committed, 3),
        "follow_catch_up_ms": round(float(seen["catch_up_ms"]), 1),
    }


def _failed(proc: subprocess.Popen[str], replica_dir: Path) -> str:
    code = proc.wait()
    tail = (replica_dir / "stderr.txt").read_text(errors="replace")[-2000:]
    return f"The replica process failed (exit {code}):\n{tail}"


def _ingest_new_document(settings: Settings, embedder: Embedder, workdir: Path) -> float:
    """Ingest the new document through the server, as another replica would; the wall-clock
    time its commit returned."""
    from .._chunking import chunk_token_budget
    from .._index import ChromaIndex
    from .._ingest import ingest
    from .._lease import make_ingest_lock

    folder = workdir / "new" / NEW_SOURCE.split("/")[0]
    folder.mkdir(parents=True)
    (folder / NEW_SOURCE.split("/")[1]).write_text(NEW_DOCUMENT, encoding="utf-8")
    index = ChromaIndex(workdir, collection=settings.collection, chroma_url=settings.chroma_url)
    committed: list[float] = []
    commit = index.commit_document

    def timed_commit(*args: Any, **kwargs: Any) -> None:
        commit(*args, **kwargs)
        committed.append(time.time())

    index.commit_document = timed_commit  # type: ignore[method-assign]
    report = ingest(
        index,
        embedder,
        [folder.parent],
        lock=make_ingest_lock(index, settings.replicas),
        max_tokens=chunk_token_budget(settings.max_chunk_tokens, embedder.max_tokens),
    )
    if report.added != 1 or not committed:
        raise RuntimeError(f"The new document was not ingested: {report.failed}")
    return committed[-1]


def _remove_new_document(settings: Settings, workdir: Path) -> None:
    from .._index import ChromaIndex
    from .._lease import make_ingest_lock

    index = ChromaIndex(workdir, collection=settings.collection, chroma_url=settings.chroma_url)
    with make_ingest_lock(index, settings.replicas) as lock:
        lock.check()
        index.remove_document(NEW_SOURCE)


def _worker(spec_path: Path) -> int:
    """The replica: a first answer, then the new question until the new document answers it."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    assistant = spec_assistant(spec)
    settings = assistant.settings
    assistant.ask(spec["question"])
    print(_FIRST_ANSWER, flush=True)
    deadline = time.monotonic() + _FOLLOW_TIMEOUT_S
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        answer = assistant.ask(NEW_QUESTION)
        took_ms = (time.perf_counter() - t0) * 1000
        if NEW_SOURCE in {h.chunk.source for h in answer.hits[: settings.k]}:
            print(_SEEN + json.dumps({"at": time.time(), "catch_up_ms": took_ms}), flush=True)
            return 0
        time.sleep(_POLL_S)
    return 1


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == _WORKER_FLAG:
    sys.exit(_worker(Path(sys.argv[2])))
