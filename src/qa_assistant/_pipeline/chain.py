"""A question's one pipeline, as a LangChain runnable: what ``ask``, ``ask_stream`` and the page
run.

    Question → Asked → Retrieved → Answered → second look → in force → Answer

Each step takes and gives a frozen dataclass. Retrieval is a :class:`HybridRetriever` (the
``BaseRetriever`` a user's own chain can take too). Where the answerer abstains and takes a
second look (the extractive one), the relevance model re-scores the hits and it answers again;
where the answer quotes a document that a newer one amends, the newer one is asked. A
question that asks nothing of the documents (empty, a greeting) is answered at once.

Streamed (``stream``), a streaming answerer's draft text comes first, in pieces (``str``), as
the model writes it: the steps after the answer pass the pieces on untouched, and the checked
:class:`Answer` comes last, as ``invoke`` returns it. The async forms run the steps in a
worker thread and yield the answer whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from .._retrieval.hybrid_retriever import HybridRetriever, retrieve_hits
from .._retrieval.retriever import Retriever
from ..errors import AnswererError
from ..protocols import Answerer, StreamingAnswerer
from ..settings import Settings
from ..types import Answer, DocumentInfo, Filters, Hit, Question
from .amendments import amendments, asked_before, document_number, in_force, restates
from .asking import Asked, prepare

__all__ = ["Answered", "Pipeline", "Retrieved"]


@dataclass(frozen=True)
class Retrieved:
    """Every passage retrieval ranked for the question, best first."""

    asked: Asked
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Answered:
    """An answer and the ranked hits it was written from (the answerer read the top k)."""

    asked: Asked
    hits: tuple[Hit, ...]
    answer: Answer


In = TypeVar("In")
Out = TypeVar("Out")


class _Step(Runnable[In, Out], Generic[In, Out]):
    """One step of the pipeline. Streamed, a draft's text pieces (``str``) before its value
    pass through untouched; ``drafts``, where given, is the step that writes them."""

    def __init__(
        self,
        name: str,
        step: Callable[[In, RunnableConfig], Out],
        drafts: Callable[[In], Iterator[str | Out]] | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self._drafts = drafts

    def invoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        return self._call_with_config(self._run, input, config)

    def stream(
        self, input: In, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Out]:
        return self.transform(iter([input]), config)

    def transform(
        self, input: Iterator[In], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Out]:
        return self._transform_stream_with_config(input, self._run_all, config)

    # LangChain passes the run's callbacks and config to these by their parameters' names.
    def _run(
        self, value: In, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Out:
        return self._step(value, config)

    def _run_all(
        self, values: Iterator[In], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[Out]:
        for value in values:
            if isinstance(value, str):
                yield cast(Out, value)  # a draft's piece: for the reader, not for this step
            elif self._drafts is not None:
                yield from cast(Iterator[Out], self._drafts(value))
            else:
                yield self._step(value, config)


class Pipeline:
    """Builds the chain over an assistant's parts; keeps which documents amend which."""

    def __init__(
        self,
        settings: Settings,
        answerer: Answerer,
        store: Callable[[], Retriever],
        documents: Callable[[], list[DocumentInfo]],
        location: str,
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        self._store = store
        self._documents = documents
        self._location = location
        # Which documents amend which, as of a store's retriever: worked out again only once
        # the store moved on (it reads the whole document registry).
        self._amendments: tuple[Retriever, dict[str, DocumentInfo]] | None = None
        answering: _Step[Retrieved, Answered] = _Step(
            "answer",
            self._answer,
            self._streamed if isinstance(answerer, StreamingAnswerer) else None,
        )
        pipeline = (
            _Step("retrieve", self._retrieve)
            | answering
            | _Step("second_look", self._second_look)
            | _Step("in_force", self._in_force)
            | _Step("finish", _finish)
        )
        self._pipeline: Runnable[Asked, Answer] = pipeline
        chain = RunnableLambda(self._prepare, name="prepare") | RunnableLambda(
            self._route, name="route"
        )
        # The runnable that route gives runs on: what comes out is always an Answer.
        self.chain = cast(Runnable[Question, Answer], chain)

    def _prepare(self, question: Question) -> Asked | Answer:
        return prepare(question, self.settings, self._store, self._location)

    def _route(self, asked: Asked | Answer) -> Answer | Runnable[Asked, Answer]:
        # A runnable returned here runs with the same input: LangChain's way to branch.
        return asked if isinstance(asked, Answer) else self._pipeline

    def _retrieve(self, asked: Asked, config: RunnableConfig) -> Retrieved:
        retriever = self._retriever_of(asked, asked.filters, whole_ranking=True)
        return Retrieved(asked, tuple(retrieve_hits(retriever, asked.text, config)))

    def _retriever_of(
        self, asked: Asked, filters: Filters | None, *, whole_ranking: bool
    ) -> HybridRetriever:
        return HybridRetriever(
            store=lambda: asked.store,
            k=asked.k,
            mode=asked.mode,
            filters=filters,
            history=asked.history,
            whole_ranking=whole_ranking,
        )

    def _answer(self, retrieved: Retrieved, config: RunnableConfig) -> Answered:
        asked = retrieved.asked
        answer = self.answerer.answer(asked.text, retrieved.hits[: asked.k])
        return Answered(asked, retrieved.hits, answer)

    def _streamed(self, retrieved: Retrieved) -> Generator[str | Answered, None, None]:
        """:meth:`_answer`, the reply's text first as the streaming answerer writes it."""
        asked = retrieved.asked
        answerer = cast(StreamingAnswerer, self.answerer)
        answer = yield from _drafted(answerer, asked.text, retrieved.hits[: asked.k])
        yield Answered(asked, retrieved.hits, answer)

    def _second_look(self, answered: Answered, config: RunnableConfig) -> Answered:
        """Where the answerer abstained and takes a second look, the hits re-scored by the
        relevance model (:meth:`Retriever.second_look`: only with it on, and
        only where it did not score them already) and the answer from them."""
        if not (answered.answer.abstained and self.answerer.second_look):
            return answered
        asked = answered.asked
        rescored = asked.store.second_look(asked.text, answered.hits, asked.history)
        if rescored is None:
            return answered
        return Answered(
            asked, tuple(rescored), self.answerer.answer(asked.text, rescored[: asked.k])
        )

    def _in_force(self, answered: Answered, config: RunnableConfig) -> Answered:
        """The answer from the document that amends the one it quotes, where that document
        answers too and the question asks about no time before it (:mod:`.amendments`)."""
        answer, asked = answered.answer, answered.asked
        if answer.abstained or answer.provision or not answer.citations:
            return answered
        if isinstance(self.answerer, StreamingAnswerer):
            return answered  # an LLM's reply is not asked twice
        if document_number(answer.citations[0].title) is None:
            return answered  # only a numbered document can be named as amended
        known = self._amendments
        if known is None or known[0] is not asked.store:
            known = self._amendments = (asked.store, amendments(self._documents()))
        newer = known[1].get(answer.citations[0].source)
        if newer is None or (newer.date is not None and asked_before(asked.text, newer.date)):
            return answered
        only_newer = Filters(sources=(newer.source,))
        retriever = self._retriever_of(asked, only_newer, whole_ranking=False)
        amended = self.answerer.answer(asked.text, retrieve_hits(retriever, asked.text, config))
        if amended.abstained or not amended.citations:
            return answered
        if not restates(amended.citations[0].quote, answer.citations[0].quote):
            return answered  # the newer document answers about something else
        return replace(answered, answer=in_force(amended, answer, newer.title))


def _finish(answered: Answered, config: RunnableConfig) -> Answer:
    """The answer with every hit retrieval ranked (the answerer saw the top k) and the time
    the question took."""
    latency_ms = (time.perf_counter() - answered.asked.started) * 1000
    return replace(answered.answer, hits=answered.hits, latency_ms=latency_ms)


def _drafted(
    answerer: StreamingAnswerer, question: str, hits: Sequence[Hit]
) -> Generator[str, None, Answer]:
    """Yields the reply's text as the answerer writes it; returns the answer it ends with."""
    answer: Answer | None = None
    for step in answerer.stream(question, hits):
        if isinstance(step, Answer):
            answer = step
        else:
            yield step
    if answer is None:
        raise AnswererError(
            f"{type(answerer).__name__}.stream ended without an answer: "
            "check that the answerer yields its Answer last."
        )
    return answer
