"""The speed-and-scale benchmark behind ``qa-assistant bench``: the run, figure by figure.

It answers the questions a deployment asks: how fast do folders of decrees ingest, how long
does a citizen wait for an answer on a collection of 1k, 10k or 100k chunks, how much memory
and disk does serving take, and how long from process start to the first answer. Each figure
is printed next to the plain approach a user would otherwise take (sentence-transformers
``encode`` with default settings; Chroma's own ``query`` on the same collection) as a ratio.

* **Ingest** (:mod:`.ingest_timing`) is timed on the real pipeline over a subset of the laws
  of ``--docs`` of about the smallest size asked for.
* **Collections** of each size (:mod:`.synthetic`) repeat those ingested chunks, with new ids,
  some words swapped and their vectors reused with a little noise.
* **Serving** (:mod:`.serving`) is measured in a fresh process per collection; then
  ``--clients`` citizens ask its page at once over HTTP (:mod:`.clients`).
* **Replicas** (:mod:`.replicas`): a Chroma server serves the collection; a replica that
  has never seen it starts (cold start), and the time from another process's commit of a new
  document until that running replica answers from it is taken.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..protocols import Embedder
from .config import BenchConfig, settings_for, size_label
from .ingest_timing import measure_ingest
from .models import embedder_for
from .replicas import measure_replica
from .report import BenchResult, SizeResult, bench_notes
from .serving import bench_questions, measure_serving
from .synthetic import build_collection, folder_mb

__all__ = ["run_benchmark"]


def run_benchmark(config: BenchConfig, progress: Callable[[str], None] = print) -> BenchResult:
    result = BenchResult(config)
    own_tmp = config.workdir is None
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        progress(f"Ingesting about {min(config.sizes)} chunks of {config.docs} …")
        result.ingest, base = measure_ingest(config, workdir)
        questions = bench_questions(config.docs, config.queries + 3)
        embedder: Embedder | None = None
        for size in sorted(config.sizes):
            folder = workdir / f"collection-{size_label(size)}"
            shutil.rmtree(folder, ignore_errors=True)
            progress(f"Building a {size}-chunk collection …")
            build_s = build_collection(config, base, size, folder)
            progress(f"Serving {size} chunks in a fresh process …")
            serve = measure_serving(config, folder, questions)
            progress(f"A replica on a Chroma server over {size} chunks …")
            embedder = embedder or embedder_for(config)
            serve.update(
                measure_replica(
                    settings_for(config, folder), embedder, folder, config.fake, questions[0]
                )
            )
            result.sizes.append(SizeResult(size, folder_mb(folder), build_s, serve))
        result.notes = bench_notes(config, base)
    finally:
        if own_tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    return result
