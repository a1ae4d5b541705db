"""The answerability model at run time: the probability that a sentence answers a question.

A cross-encoder like the relevance model (:mod:`.relevance`), trained further on answers
against near misses (:mod:`..training.answerability_train`); only its trained layers ship
(``_models/weights/answerability-e5-small.safetensors``), rebuilt once into int8 ONNX in the
cache as the relevance model is. :func:`make_answerability` is the one factory; it returns None when
the model is switched off.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AnswerabilityModelError
from ..protocols import AnswerabilityModel
from .onnx_runtime import LoadedOnce
from .relevance import ensure_cross_encoder, load_cross_encoder

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["answerability_weights", "ensure_answerability_model", "make_answerability"]

_WEIGHTS = "answerability-e5-small.safetensors"
_SWITCH_OFF = "QA_ANSWERABILITY__ENABLED=false"


def answerability_weights() -> Path:
    """The trained layers that ship with the package."""
    return Path(str(resources.files("qa_assistant._models") / "weights" / _WEIGHTS))


def ensure_answerability_model(cache_dir: Path, weights: Path | None = None) -> Path:
    """Build the int8 ONNX answerability model once (under a lock) and return its folder."""
    return ensure_cross_encoder(
        cache_dir,
        weights or answerability_weights(),
        answerability_weights(),
        name="answerability",
        retrain="qa-assistant train-answerability",
        switch_off=_SWITCH_OFF,
        error=AnswerabilityModelError,
    )


class _LazyAnswerability:
    """The ONNX model, built and loaded at its first question, so that a process whose answers
    never ask it pays nothing."""

    def __init__(self, settings: Settings) -> None:
        s = settings
        self._model = LoadedOnce(
            lambda: load_cross_encoder(
                ensure_answerability_model(s.cache_dir, s.answerability.weights),
                s.answerability.max_tokens,
                s.serving.onnx_threads,
                failure=f"The answerability model failed; set {_SWITCH_OFF} to answer without it",
                error=AnswerabilityModelError,
            )
        )

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        return self._model.get().score(question, sentences)


def make_answerability(settings: Settings) -> AnswerabilityModel | None:
    """The answerability model the settings ask for (loaded at its first question), or None
    when it is off."""
    return _LazyAnswerability(settings) if settings.answerability.enabled else None
