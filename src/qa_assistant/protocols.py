"""The swap points: small protocols with one factory each (in their own modules)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from .types import Answer, Hit, Span

__all__ = [
    "AnswerabilityModel",
    "Answerer",
    "Embedder",
    "RelevanceModel",
    "SpanModel",
    "StreamingAnswerer",
]


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors. Made by ``_models.embedding.make_embedder``."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest passage (in model tokens, prefix included) encoded without truncation."""
        ...

    def count_tokens(self, text: str) -> int:
        """Model tokens a passage takes, its prefix included."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@runtime_checkable
class Answerer(Protocol):
    """Writes a cited answer from retrieved passages.

    Made by :func:`qa_assistant._answering.factory.make_answerer`. ``hits`` are in rank order;
    the returned :class:`Answer` carries ``hits`` unchanged and latency 0 (the assistant times
    it).
    """

    @property
    def second_look(self) -> bool:
        """Whether the assistant asks again where this answerer abstains, with the hits the
        relevance model re-scored (when it is on): true for an answerer that
        reads their "relevance" score, so the model's cost falls only on the questions it
        turned away."""
        ...

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer: ...


@runtime_checkable
class StreamingAnswerer(Answerer, Protocol):
    """An answerer that can show its reply while writing it (the LLM answerers).

    :meth:`stream` yields the reply's text in pieces as the model writes them, then the same
    checked :class:`Answer` that :meth:`answer` returns, last. The pieces are a draft: the
    answer's text may differ from them (markers checked and renumbered, abstention worded).
    """

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]: ...


@runtime_checkable
class RelevanceModel(Protocol):
    """Scores how likely each passage is to answer a question, in [0, 1].

    Made by :func:`qa_assistant._models.relevance.make_relevance_model`. One call scores all the
    passages of a question together.
    """

    def score(self, question: str, passages: Sequence[str]) -> list[float]: ...


@runtime_checkable
class AnswerabilityModel(Protocol):
    """The probability, in [0, 1], that each sentence answers a question: low for a sentence
    on the topic that does not answer, and for one that answers a near miss of the question
    (another group of people, year, place, kind of quantity or benefit).

    Made by :func:`qa_assistant._models.answerability.make_answerability`. One call scores all the
    sentences of a question together.
    """

    def score(self, question: str, sentences: Sequence[str]) -> list[float]: ...


@runtime_checkable
class SpanModel(Protocol):
    """Finds where each passage answers a question: the best span of each (character offsets
    in the passage text as given), or None where a passage has no text to read.

    Made by :func:`qa_assistant._models.span.make_span_model`. One call reads all the passages
    of a question together.
    """

    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]: ...
