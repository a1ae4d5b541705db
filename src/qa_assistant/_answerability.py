"""The answerability model at run time: the probability that a sentence answers a question.

A cross-encoder like the relevance model (:mod:`._reranker`), trained further on answers
against near misses (:mod:`.training.answerability_train`); only its trained layers ship
(``models/answerability-e5-small.safetensors``), rebuilt once into int8 ONNX in the cache as
the relevance model is. :func:`make_answerability` is the one factory; it returns None when
the model is switched off.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ._reranker import ensure_cross_encoder, load_cross_encoder
from .protocols import AnswerabilityModel

if TYPE_CHECKING:
    from .settings import Settings

__all__ = ["answerability_weights", "ensure_answerability_model", "make_answerability"]

_WEIGHTS = "answerability-e5-small.safetensors"
_SWITCH_OFF = "QA_ANSWERABILITY__ENABLED=false"


def answerability_weights() -> Path:
    """The trained layers that ship with the package."""
    return Path(str(resources.files("qa_assistant") / "models" / _WEIGHTS))


def ensure_answerability_model(cache_dir: Path, weights: Path | None = None) -> Path:
    """Build the int8 ONNX answerability model once (under a lock) and return its folder."""
    return ensure_cross_encoder(
        cache_dir,
        weights or answerability_weights(),
        answerability_weights(),
        name="answerability",
        retrain="qa-assistant train-answerability",
        switch_off=_SWITCH_OFF,
    )


def make_answerability(settings: Settings) -> AnswerabilityModel | None:
    """The answerability model the settings ask for, or None when it is off."""
    if not settings.answerability.enabled:
        return None
    folder = ensure_answerability_model(settings.cache_dir, settings.answerability.weights)
    return load_cross_encoder(
        folder,
        settings.answerability.max_tokens,
        settings.serving.onnx_threads,
        failure=f"The answerability model failed; set {_SWITCH_OFF} to answer without it",
    )
