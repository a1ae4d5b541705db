"""Retrieved passages → a cited Vietnamese :class:`~qa_assistant.types.Answer`.

Two answerers implement :class:`~qa_assistant.protocols.Answerer`:

* :class:`~qa_assistant._extractive.ExtractiveAnswerer` (the default, offline): quotes the
  passage sentences that best match the question, each followed by ``[n]``, or abstains when
  the evidence is too weak.
* :class:`~qa_assistant._llm.LLMAnswerer`: asks a chat model (OpenAI-compatible server or
  Ollama, through LangChain) to answer only from numbered passages, then checks every ``[n]``
  it wrote.

This module holds what both share (the abstention, the citations) and :func:`make_answerer`.
Every citation quotes the passage verbatim and carries document offsets, so
``document.text[citation.start:citation.end] == citation.quote``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .types import Answer, Citation, Hit

if TYPE_CHECKING:
    from .protocols import Answerer
    from .settings import Settings

ABSTAIN_MESSAGE = "Không tìm thấy thông tin này trong tài liệu."

__all__ = ["ABSTAIN_MESSAGE", "abstain_answer", "cite", "make_answerer"]

# --------------------------------------------------------------------------------------------
# Citations
# --------------------------------------------------------------------------------------------


def cite(marker: int, hit: Hit, start: int, end: int) -> Citation:
    """A citation quoting ``hit.chunk.text[start:end]`` with document offsets."""
    chunk = hit.chunk
    return Citation(
        marker=marker,
        source=chunk.source,
        title=chunk.title,
        heading=chunk.heading_path,
        passage=chunk.text,
        quote=chunk.text[start:end],
        start=chunk.start + start,
        end=chunk.start + end,
        date=chunk.date,
        chunk_id=chunk.id,
        page=chunk.page_at(chunk.start + start),
        last_page=chunk.page_at(chunk.start + max(end - 1, start)),
        ocr=chunk.ocr,
    )


def abstain_answer(question: str, hits: Sequence[Hit], warnings: Sequence[str] = ()) -> Answer:
    """The answer that says the documents do not answer the question."""
    return Answer(
        question=question,
        text=ABSTAIN_MESSAGE,
        abstained=True,
        hits=tuple(hits),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def make_answerer(settings: Settings) -> Answerer:
    """The configured answerer: ``settings.answerer`` is extractive, openai or ollama."""
    # The answerers build on this module's citations and abstention: imported once asked for.
    if settings.answerer == "extractive":
        from ._extractive import ExtractiveAnswerer

        if not settings.relevance.enabled:
            return ExtractiveAnswerer(tuning=settings.answer)
        from ._reranker import relevance_threshold

        return ExtractiveAnswerer(
            tuning=settings.answer, relevance_threshold=relevance_threshold(settings)
        )
    if not settings.llm.base_url:
        raise ConfigError(
            f"QA_ANSWERER={settings.answerer} needs the server's address: set QA_LLM__BASE_URL "
            "(e.g. http://localhost:8000/v1 for an OpenAI-compatible server, "
            "http://localhost:11434 for Ollama)."
        )
    from ._llm import LLMAnswerer

    builders: dict[str, Callable[[], LLMAnswerer]] = {
        "openai": lambda: LLMAnswerer.openai(
            base_url=str(settings.llm.base_url),
            model=settings.llm.model,
            api_key=_secret(settings.llm.api_key),
            timeout_s=settings.llm.timeout_s,
            max_passages=max(settings.k, 1),
        ),
        "ollama": lambda: LLMAnswerer.ollama(
            base_url=str(settings.llm.base_url),
            model=settings.llm.model,
            timeout_s=settings.llm.timeout_s,
            max_passages=max(settings.k, 1),
        ),
    }
    if settings.answerer not in builders:
        raise ConfigError(
            f"Unknown answerer {settings.answerer!r}: set QA_ANSWERER to extractive, "
            "openai or ollama."
        )
    return builders[settings.answerer]()


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(value)
