"""Running the project's int8 ONNX encoders on the CPU: the embedder, the relevance model and
the span model.

All are XLM-R encoders fed padded batches of token ids, on a session sized to the cores this
process may use; the two cross-encoders read (question, passage) pairs laid out alike. They
read one vocabulary, loaded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import ModelError

__all__ = [
    "PAD_ID",
    "CacheCounted",
    "CacheCounts",
    "LoadedOnce",
    "cpu_session",
    "load_tokenizer",
    "pad",
    "pair_row",
    "run_batch",
    "unlimited",
    "usable_cores",
]

PAD_ID = 1  # XLM-R's <pad>; masked out, so its value only has to be a valid id
_BOS, _EOS = 0, 2  # XLM-R's <s>, </s>


_T = TypeVar("_T")


class LoadedOnce(Generic[_T]):
    """A model loaded at its first use, once however many threads ask (the first use may build
    it into the cache, a minute or two), so that making an answerer costs nothing."""

    def __init__(self, load: Callable[[], _T]) -> None:
        self._load = load
        self._model: _T | None = None
        self._lock = threading.Lock()

    def get(self) -> _T:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def loaded(self) -> _T | None:
        """The model if it was loaded, without loading it."""
        with self._lock:
            return self._model


@dataclass(frozen=True)
class CacheCounts:
    """A cross-encoder's calls since its process started: answered from its cache of recent
    batches (``hits``), or run (``misses``)."""

    hits: int
    misses: int


@runtime_checkable
class CacheCounted(Protocol):
    """A model that keeps its recent batches' results and counts what they answered."""

    def cache_counts(self) -> CacheCounts: ...


def pair_row(question: Sequence[int], passage: Sequence[int]) -> list[int]:
    """A (question, passage) pair as the cross-encoders read it, in training and at run time:
    ``<s> question </s></s> passage </s>``; each caller cuts the two to its own room."""
    return [_BOS, *question, _EOS, _EOS, *passage, _EOS]


_tokenizers: dict[str, Any] = {}  # by the file's digest
_tokenizers_lock = threading.Lock()


def load_tokenizer(path: Path) -> Any:
    """The tokenizer of ``path`` without padding or truncation, one per process however many
    models ship the same file: XLM-R's 250k-piece vocabulary takes ~290 MB a copy, and the
    embedder, the relevance, span and answerability models all read it (four copies were 1.16
    GB of a replica's 1.6-1.9 GB peak)."""
    from tokenizers import Tokenizer

    text = path.read_bytes()
    key = hashlib.sha256(text).hexdigest()
    with _tokenizers_lock:
        if key not in _tokenizers:
            _tokenizers[key] = unlimited(Tokenizer.from_str(text.decode("utf-8")))
        return _tokenizers[key]


def unlimited(tokenizer: Any) -> Any:
    """``tokenizer`` with no padding and no truncation: token counts need full lengths, and
    each model cuts its input by hand. Changed only where set: a shared tokenizer being used
    by another thread refuses to change ("Already borrowed")."""
    if tokenizer.padding is not None:
        tokenizer.no_padding()
    if tokenizer.truncation is not None:
        tokenizer.no_truncation()
    return tokenizer


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_session(model: Path, threads: int = 0) -> Any:
    """An ONNX Runtime session running each batch on ``threads`` (0: this process's cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or usable_cores()
    options.inter_op_num_threads = 1
    # Spinning worker threads steal the cores from everything else in the process (word
    # segmentation, Chroma) and from other processes; measured slower under shared load.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    _share_one_arena(ort)
    options.add_session_config_entry("session.use_env_allocators", "1")
    _share_tables(ort, options, model)
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


SHARED_TABLE_BYTES = 1 << 20  # tables below this are not worth comparing
_tables: dict[tuple[int, tuple[int, ...]], list[tuple[np.ndarray, Any]]] = {}
_tables_lock = threading.Lock()


def _share_tables(ort: Any, options: Any, model: Path) -> None:
    """Each large table that ``model`` only looks rows up in, given to its session from one
    copy per process where another model holds the same bytes.

    The four models start from the same e5 base and keep its word embeddings: a 96 MB int8
    table each, identical in all four. Only tables read by ``Gather`` are shared: a session
    packs the weights of its matrix products for its own kernels, and would leave a shared
    one unpacked.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model), load_external_data=False).graph
    readers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    with _tables_lock:
        for tensor in graph.initializer:
            if readers.get(tensor.name) != {"Gather"}:
                continue
            raw = memoryview(tensor.raw_data)
            if raw.nbytes < SHARED_TABLE_BYTES:
                continue
            same = _tables.setdefault((tensor.data_type, tuple(tensor.dims)), [])
            value = next((v for a, v in same if a.data.cast("B") == raw), None)
            if value is None:
                table = numpy_helper.to_array(tensor)
                value = ort.OrtValue.ortvalue_from_numpy(table)
                same.append((table, value))  # the session reads the table: kept for good
            options.add_initializer(tensor.name, value)


@functools.cache
def _share_one_arena(ort: Any) -> None:
    """One memory arena for every session of the process, registered once.

    Each session's own arena keeps the most its largest batch ever took; the embedder's (an
    ingest's batches), the relevance model's and the span model's then add up, where one shared
    arena holds the most any of them takes: the three models at a few large batches each, a
    peak of 2.05 GB alone, 0.99 GB shared; the deploy check's busier replica, 1.96 GB and
    1.85 GB (docs/DEPLOY.md).
    """
    cpu = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    ort.create_and_register_allocator(cpu, ort.OrtArenaCfg(0, -1, -1, -1))


def pad(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of a batch, padded to its longest row."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def run_batch(
    session: Any, rows: Sequence[Sequence[int]], failed: str, error: type[ModelError]
) -> tuple[np.ndarray, np.ndarray]:
    """The session's output for a padded batch of ``rows``, and the batch's attention mask.

    ONNX Runtime raises its own exception types; they become the model's ``error`` that
    starts with ``failed`` (which model, and what to do about it) and ends with the cause.
    """
    ids, mask = pad(rows)
    try:
        (out,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
    except Exception as exc:
        raise error(f"{failed} (batch of {len(rows)}: {exc})") from exc
    return out, mask
