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
import tempfile
import time
from pathlib import Path
from typing import Any

from ..drivers.chroma_server import local_chroma_server
from ..protocols import Embedder
from ..settings import Settings
from .worker import FIRST_ANSWER, FOLLOW_FLAG, FOLLOW_TIMEOUT_S, SEEN, worker_process

__all__ = ["NEW_DOCUMENT", "NEW_QUESTION", "NEW_SOURCE", "measure_replica"]

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
        spec = {
            "fake": fake,
            "question": first_question,
            "new_question": NEW_QUESTION,
            "new_source": NEW_SOURCE,
            "index_dir": str(replica_dir),
        }
        with worker_process(FOLLOW_FLAG, replica_dir, served, spec) as worker:
            proc = worker.proc
            assert proc.stdout is not None
            try:
                line = proc.stdout.readline()
                if not line.startswith(FIRST_ANSWER):
                    raise RuntimeError(worker.failure("replica"))
                cold = time.perf_counter() - worker.started
                committed = _ingest_new_document(served, embedder, replica_dir)
                seen = json.loads(proc.stdout.readline()[len(SEEN) :] or "{}")
            finally:
                if proc.poll() is None:
                    proc.wait(timeout=FOLLOW_TIMEOUT_S + 10)
            if "at" not in seen:
                raise RuntimeError(worker.failure("replica"))
        _remove_new_document(served, replica_dir)
    return {
        "replica_cold_start_s": round(cold, 2),
        "follow_s": round(float(seen["at"]) - committed, 3),
        "follow_catch_up_ms": round(float(seen["catch_up_ms"]), 1),
    }


def _ingest_new_document(settings: Settings, embedder: Embedder, workdir: Path) -> float:
    """Ingest the new document through the server, as another replica would; the wall-clock
    time its commit returned."""
    from .._chunking.chunker import chunk_token_budget
    from .._store.index import ChromaIndex
    from .._store.ingest import ingest
    from .._store.lease import make_ingest_lock

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
    from .._store.index import ChromaIndex
    from .._store.lease import make_ingest_lock

    index = ChromaIndex(workdir, collection=settings.collection, chroma_url=settings.chroma_url)
    with make_ingest_lock(index, settings.replicas) as lock:
        lock.check()
        index.remove_document(NEW_SOURCE)
