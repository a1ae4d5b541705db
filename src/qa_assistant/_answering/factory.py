"""The factory: :func:`make_answerer` builds the answerer the settings name."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..protocols import Answerer, SpanModel
    from ..settings import Settings

__all__ = ["make_answerer"]


def make_answerer(settings: Settings, span_model: SpanModel | None = None) -> Answerer:
    """The configured answerer: ``settings.answerer`` is extractive, openai or ollama.

    ``span_model``: the span model the extractive answerer quotes by (the assistant makes it
    once, :func:`~qa_assistant._models.span.make_span_model`, and warms it up); None: the
    rules alone.
    """
    # Imported once asked for: a process loads only the answerer it runs.
    if settings.answerer == "extractive":
        return _extractive(settings, span_model)
    if not settings.llm.base_url:
        raise ConfigError(
            f"QA_ANSWERER={settings.answerer} needs the server's address: set QA_LLM__BASE_URL "
            "(e.g. http://localhost:8000/v1 for an OpenAI-compatible server, "
            "http://localhost:11434 for Ollama)."
        )
    from .llm import LLMAnswerer

    llm = settings.llm
    common: dict[str, Any] = {
        "base_url": str(llm.base_url),
        "model": llm.model,
        "timeout_s": llm.timeout_s,
        "max_tokens": llm.max_tokens,
        "max_passages": max(settings.k, 1),
        "min_overlap": llm.min_claim_overlap,
    }
    builders: dict[str, Callable[[], LLMAnswerer]] = {
        # Where the model's reply cannot be shown, the visitor gets the extractive answer.
        "openai": lambda: LLMAnswerer.openai(
            api_key=_secret(llm.api_key), fallback=_extractive(settings, span_model), **common
        ),
        "ollama": lambda: LLMAnswerer.ollama(fallback=_extractive(settings, span_model), **common),
    }
    if settings.answerer not in builders:
        raise ConfigError(
            f"Unknown answerer {settings.answerer!r}: set QA_ANSWERER to extractive, "
            "openai or ollama."
        )
    return builders[settings.answerer]()


def _extractive(settings: Settings, span_model: SpanModel | None) -> Answerer:
    from .._models.answerability import make_answerability
    from .extractive import ExtractiveAnswerer

    make = functools.partial(
        ExtractiveAnswerer,
        rules=settings.answer,
        scoring=settings.scoring,
        span_model=span_model,
        spanning=settings.span,
        answerability=make_answerability(settings),
        answerability_threshold=settings.answerability.threshold,
    )
    if not settings.relevance.enabled:
        return make()
    from .._models.relevance import relevance_threshold

    return make(relevance_threshold=relevance_threshold(settings))


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)
