"""The speed-and-scale benchmark behind ``qa-assistant bench``.

It answers the questions a deployment asks: how fast do folders of decrees ingest, how long
does a citizen wait for an answer on a collection of 1k, 10k or 100k chunks, how much memory
and disk does serving take, and how long from process start to the first answer. Each figure
is printed next to the plain approach a user would otherwise take (sentence-transformers
``encode`` with default settings; Chroma's own ``query`` on the same collection) as a ratio.

How the collections are built:

* **Ingest** is timed on the real pipeline (load, chunk, embed, tokenise, write, lexical
  index) over a subset of the laws of ``--docs`` of about the smallest size asked for.
* **Collections** of each size repeat those ingested chunks: copy 0 is the laws as they are;
  copy r > 0 gets its own document and chunk ids, about 8 % of its words swapped for words of
  other chunks (in the text and in the lexical tokens alike), and the ingested vector plus a
  little Gaussian noise (cosine about 0.98 to the original), so building 100k chunks takes
  minutes, not hours of embedding.
* **Serving** is measured in a fresh process per collection (the assistant as ``serve``
  runs it): time to the first answer, then query latencies, then peak RSS; then it serves the
  page, and ``--clients`` citizens ask it at once over HTTP (``clients.py``).
* **Replicas** (``replicas.py``): a Chroma server serves the collection; a replica that
  has never seen it starts (cold start), and the time from another process's commit of a new
  document until that running replica answers from it is taken.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._chunking import chunk_token_budget
from .._manifest import Manifest
from ..protocols import Embedder
from ..settings import Settings
from ..types import Chunk, DocumentInfo
from .clients import QUESTIONS_PER_CLIENT, ask_concurrently
from .replicas import measure_replica
from .worker import fake_reranker, spec_assistant, start_worker

if TYPE_CHECKING:
    from numpy.typing import NDArray


__all__ = [
    "DEFAULT_SIZES",
    "BenchConfig",
    "BenchResult",
    "RecordingEmbedder",
    "SizeResult",
    "build_collection",
    "format_table",
    "measure_ingest",
    "measure_serving",
    "parse_sizes",
    "run_benchmark",
    "size_label",
]

DEFAULT_SIZES = (1000, 10_000, 100_000)
_WORKER_FLAG = "--serve-worker"
_FIRST_ANSWER = "FIRST-ANSWER"
_RESULT = "RESULT "
_SERVING = "SERVING "
_WRITE_BATCH = 1000  # chunks per Chroma write when building the larger collections
_SWAP_RATE = 0.08  # share of words replaced in each repeated chunk
_VECTOR_COSINE = 0.98  # expected cosine of a repeated chunk's vector to the original
_FALLBACK_QUESTIONS = (
    "Công dân có quyền tự do cư trú như thế nào?",
    "Điều kiện đăng ký thường trú là gì?",
    "Người lao động được nghỉ hằng năm bao nhiêu ngày?",
    "Thanh niên có quyền và nghĩa vụ gì?",
    "Ai có quyền tiếp cận thông tin?",
)


@dataclass(frozen=True)
class BenchConfig:
    docs: Path
    sizes: tuple[int, ...] = DEFAULT_SIZES
    queries: int = 40  # questions timed per collection (after a few warm-up ones)
    plain_sample: int = 200  # chunks the plain encode is timed on (it is the slow side)
    clients: int = 20  # citizens asking the served page at once (0: no concurrent figure)
    fake: bool = False  # FakeEmbedder and FakeReranker, no answer reader (tests)
    workdir: Path | None = None  # kept when given; a temporary folder otherwise
    settings: Settings = field(default_factory=lambda: Settings(_env_file=None))  # type: ignore[call-arg]


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


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


# ---------------------------------------------------------------------------------------------
# Embedders


class RecordingEmbedder:
    """Passes calls through and keeps every passage vector, so the ingested chunks can be
    repeated into larger collections without embedding them again."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.vectors: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.inner.embed_passages(texts)
        self.vectors.update(zip(texts, vectors, strict=True))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _embedder(config: BenchConfig) -> Embedder:
    if config.fake:
        from ..testing import FakeEmbedder

        return FakeEmbedder()
    from .._embedding import make_embedder
    from .._model_build import tuned_weights_of

    s = config.settings
    return make_embedder(
        s.model,
        s.cache_dir,
        s.device,
        precision=s.precision,
        tuned=tuned_weights_of(s),
        threads=s.serving.onnx_threads,
    )


def _plain_encoder(config: BenchConfig) -> Callable[[list[str]], Any]:
    """What a user would write: SentenceTransformer(model).encode(texts), default settings."""
    if config.fake:
        from ..testing import FakeEmbedder

        return FakeEmbedder().embed_passages
    from sentence_transformers import SentenceTransformer

    s = config.settings
    if s.model_is_default:
        from .._model_build import ensure_default_model

        model = SentenceTransformer(str(ensure_default_model(s.cache_dir)), device=s.device)
    else:
        model = SentenceTransformer(s.model, device=s.device)
    return lambda texts: model.encode(texts)


# ---------------------------------------------------------------------------------------------
# Ingest


@dataclass(frozen=True)
class _Base:
    """The ingested chunks that every collection is made of."""

    chunks: list[Chunk]
    tokens: list[str]
    vectors: np.ndarray  # float32, one unit row per chunk
    content_hash: dict[str, str]  # source -> hash
    manifest: Manifest  # as the real ingest wrote it


def _pick_files(docs: Path, target: int, embedder: Embedder, max_tokens: int) -> list[Path]:
    """Smallest laws first, skipping any that would overshoot: many laws, about ``target``."""
    from .._chunking import chunk_document
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


def measure_ingest(config: BenchConfig, workdir: Path, result: BenchResult) -> _Base:
    from .._answering.factory import make_answerer
    from ..assistant import Assistant

    embedder = RecordingEmbedder(_embedder(config))
    shutil.rmtree(workdir / "ingest", ignore_errors=True)  # a kept workdir: ingest afresh
    settings = _settings(config, workdir / "ingest")
    reranker = fake_reranker(settings) if config.fake else None
    # A fake run gives the answerer, so no answer reader is built either.
    answerer = make_answerer(settings) if config.fake else None
    assistant = Assistant(settings, embedder=embedder, reranker=reranker, answerer=answerer)
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
    encode = _plain_encoder(config)
    encode([prefix + t for t in sample[:4]])  # first-call setup is not throughput
    t0 = time.perf_counter()
    encode([prefix + t for t in sample])
    plain_s = time.perf_counter() - t0
    ours = report.chunks / seconds
    plain = len(sample) / plain_s
    result.ingest = {
        "ingest_files": len(files),
        "ingest_chunks": report.chunks,
        "ingest_mb": round(mb, 2),
        "ingest_s": round(seconds, 2),
        "ingest_chunks_per_s": round(ours, 2),
        "ingest_mb_per_s": round(mb / seconds, 3),
        "plain_encode_chunks": len(sample),
        "plain_encode_chunks_per_s": round(plain, 2),
        "ingest_ratio_vs_plain_encode": round(ours / plain, 2),
    }
    return _Base(chunks, [s.tokens for s in stored], vectors, hashes, manifest)


def _evenly(items: Sequence[str], n: int) -> list[str]:
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


# ---------------------------------------------------------------------------------------------
# Building a collection of a given size


def _settings(config: BenchConfig, index_dir: Path) -> Settings:
    return config.settings.model_copy(update={"index_dir": index_dir, "chroma_url": None})


def _swap(words: list[str], pool: Sequence[str], rng: random.Random) -> list[str]:
    out = list(words)
    if not out or not pool:
        return out
    for i in rng.sample(range(len(out)), k=max(1, round(len(out) * _SWAP_RATE))):
        if "\n" not in out[i]:  # keep line breaks: sentences and clauses end there
            out[i] = rng.choice(pool)
    return out


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dim = vectors.shape[1]
    # For unit v and noise of norm s, cosine ≈ 1 / sqrt(1 + s²).
    sigma = math.sqrt((1.0 / _VECTOR_COSINE**2 - 1.0) / dim)
    out = vectors + rng.normal(0.0, sigma, vectors.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _documents(base: _Base) -> list[list[int]]:
    """Chunk positions grouped by source document, in order."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(base.chunks):
        groups.setdefault(c.source, []).append(i)
    return list(groups.values())


def _copies(base: _Base, size: int) -> Iterator[tuple[int, list[int]]]:
    """(copy number, chunk positions) per document until ``size`` chunks are reached."""
    left = size
    for r in range(math.ceil(size / max(len(base.chunks), 1))):
        for positions in _documents(base):
            if left <= 0:
                return
            take = positions[:left]
            left -= len(take)
            yield r, take


def build_collection(config: BenchConfig, base: _Base, size: int, folder: Path) -> float:
    """Write a ``size``-chunk collection into ``folder``; returns the seconds it took."""
    from .._follow import sync_lexical
    from .._index import ChromaIndex

    started = time.perf_counter()
    settings = _settings(config, folder)
    index = ChromaIndex(folder, collection=settings.collection)
    index.check_manifest(base.manifest)
    words = [w for c in base.chunks[:500] for w in c.text.split(" ") if "\n" not in w]
    terms = [t for tokens in base.tokens[:500] for t in tokens.split()]
    rng = random.Random(size)
    nprng = np.random.default_rng(size)
    pending: list[tuple[list[Chunk], list[str], NDArray[np.float32], DocumentInfo]] = []

    def flush() -> None:
        # One write for many documents: Chroma's cost per write call dominates at ~80 chunks.
        # Documents are committed only after all their chunks are written, as an ingest does.
        index.add_chunks(
            [c for p in pending for c in p[0]],
            np.concatenate([p[2] for p in pending]).tolist(),
            [t for p in pending for t in p[1]],
            [p[3].content_hash for p in pending for _ in p[0]],
        )
        for chunks, _tokens, _vectors, info in pending:
            index.commit_document(info, root="", text="\n\n".join(c.text for c in chunks))
        pending.clear()

    for r, positions in _copies(base, size):
        chunks = [base.chunks[i] for i in positions]
        tokens = [base.tokens[i] for i in positions]
        vectors = base.vectors[positions]
        source = chunks[0].source
        digest = base.content_hash[source]
        if r > 0:
            source = f"copy-{r:03d}/{source}"
            digest = f"{digest[:56]}-{r:07d}"
            chunks = [
                replace(
                    c,
                    id=f"{c.id}~{r}",
                    source=source,
                    text=" ".join(_swap(c.text.split(" "), words, rng)),
                )
                for c in chunks
            ]
            tokens = [" ".join(_swap(t.split(), terms, rng)) for t in tokens]
            vectors = _noisy(vectors, nprng)
        info = DocumentInfo(
            source=source,
            title=chunks[0].title,
            date=chunks[0].date,
            chunks=len(chunks),
            content_hash=digest,
            ingested_at="2026-01-01T00:00:00+00:00",
        )
        pending.append((chunks, tokens, vectors, info))
        if sum(len(p[0]) for p in pending) >= _WRITE_BATCH:
            flush()
    if pending:
        flush()
    lexical_dir = folder / "lexical" / settings.collection  # where Assistant looks for it
    sync_lexical(index, lexical_dir)
    return time.perf_counter() - started


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


# ---------------------------------------------------------------------------------------------
# Serving, in a fresh process


def _questions(docs: Path, n: int) -> list[str]:
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
    with (folder / "serve-stderr.txt").open("w") as err:
        started = time.perf_counter()
        proc = start_worker(
            "qa_assistant.bench.benchmark",
            _WORKER_FLAG,
            folder / "serve-spec.json",
            config.settings,
            spec,
            err,
            stdin=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        cold: float | None = None
        result: dict[str, Any] = {}
        concurrent: dict[str, Any] = {}
        try:
            for line in proc.stdout:
                if line.startswith(_FIRST_ANSWER) and cold is None:
                    cold = time.perf_counter() - started
                elif line.startswith(_RESULT):
                    result = json.loads(line[len(_RESULT) :])
                elif line.startswith(_SERVING):
                    url = line[len(_SERVING) :].strip()
                    concurrent = ask_concurrently(url, questions, config.clients)
                    proc.stdin.close()
        finally:
            if not proc.stdin.closed:
                proc.stdin.close()
        code = proc.wait()
    if code != 0 or not result:
        tail = (folder / "serve-stderr.txt").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"The serving process failed (exit {code}):\n{tail}")
    result["cold_start_s"] = round(cold or 0.0, 2)
    return {**result, **concurrent}


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


def _worker(spec_path: Path) -> int:
    """The serving process: first answer, then latencies, then the plain baseline."""
    from .._retrieval import clear_caches

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    questions: list[str] = spec["questions"]
    assistant = spec_assistant(spec)
    settings = assistant.settings
    assistant.ask(questions[0])
    print(_FIRST_ANSWER, flush=True)
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
    plain = _plain_search(assistant, settings, spec["fake"])
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
    print(_RESULT + json.dumps(out), flush=True)
    if spec["serve_page"]:
        _serve_until_told(assistant)
    return 0


def _serve_until_told(assistant: Any) -> None:
    """Serves the page on a free loopback port until the benchmark closes this one's stdin."""
    from .._ui import serve
    from ..drivers.chroma_server import free_port

    local = assistant.settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    app, url = serve(assistant, local, block=False)
    try:
        print(_SERVING + url, flush=True)
        sys.stdin.read()
    finally:
        app.close()


def _plain_search(assistant: Any, settings: Settings, fake: bool) -> Callable[[str], object]:
    """Chroma's own ``query`` on the same collection, with a plain model embedding the
    question: what a minimal vector-search service does."""
    if fake:
        from ..testing import FakeEmbedder

        embed: Callable[[str], list[float]] = FakeEmbedder().embed_query
    else:
        from sentence_transformers import SentenceTransformer

        if settings.model_is_default:
            from .._model_build import ensure_default_model

            path = str(ensure_default_model(settings.cache_dir))
        else:
            path = settings.model
        model = SentenceTransformer(path, device=settings.device)
        prefix = "query: " if "e5" in settings.model.lower() else ""

        def embed(text: str) -> list[float]:
            return [float(x) for x in model.encode(prefix + text)]

    # The same client and collection the assistant serves from (one client per path).
    collection = assistant.index._client.get_collection(settings.collection)
    return lambda q: collection.query(query_embeddings=[embed(q)], n_results=settings.k)


# ---------------------------------------------------------------------------------------------
# The run and its report


def run_benchmark(config: BenchConfig, progress: Callable[[str], None] = print) -> BenchResult:
    result = BenchResult(config)
    own_tmp = config.workdir is None
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        progress(f"Ingesting about {min(config.sizes)} chunks of {config.docs} …")
        base = measure_ingest(config, workdir, result)
        questions = _questions(config.docs, config.queries + 3)
        embedder: Embedder | None = None
        for size in sorted(config.sizes):
            folder = workdir / f"collection-{size_label(size)}"
            shutil.rmtree(folder, ignore_errors=True)
            progress(f"Building a {size}-chunk collection …")
            build_s = build_collection(config, base, size, folder)
            progress(f"Serving {size} chunks in a fresh process …")
            serve = measure_serving(config, folder, questions)
            progress(f"A replica on a Chroma server over {size} chunks …")
            embedder = embedder or _embedder(config)
            serve.update(
                measure_replica(
                    _settings(config, folder), embedder, folder, config.fake, questions[0]
                )
            )
            result.sizes.append(SizeResult(size, _folder_mb(folder), build_s, serve))
        result.notes = _notes(config, base)
    finally:
        if own_tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def _notes(config: BenchConfig, base: _Base) -> list[str]:
    model = "FakeEmbedder" if config.fake else config.settings.model
    return [
        f"model {model}, retriever {config.settings.retriever}, k {config.settings.k}, "
        f"learned stage {config.settings.relevance.mode}, answer reader "
        f"{'on' if config.settings.reader.enabled and not config.fake else 'off'}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        f"ingest: the real pipeline over the {len(base.content_hash)} smallest laws of "
        f"{config.docs}; plain encode timed on {min(config.plain_sample, len(base.chunks))} "
        "of the same chunk texts",
        f"collections repeat those {len(base.chunks)} chunks: copy 0 as ingested, later "
        f"copies with new ids, {_SWAP_RATE:.0%} of the words swapped (text and lexical "
        f"tokens) and their vectors reused with noise (cosine ≈ {_VECTOR_COSINE})",
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


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in re.split(r"[,\s]+", text.strip()):
        if part:
            m = re.fullmatch(r"(\d+)(k?)", part.lower())
            if not m:
                raise ValueError(f"{part!r} is not a size such as 1000 or 10k")
            sizes.append(int(m.group(1)) * (1000 if m.group(2) else 1))
    if not sizes or min(sizes) < 1:
        raise ValueError("give at least one positive size")
    return tuple(sorted(set(sizes)))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == _WORKER_FLAG:
    sys.exit(_worker(Path(sys.argv[2])))
