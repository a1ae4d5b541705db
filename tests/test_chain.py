"""The question pipeline is one LangChain runnable (``Assistant.chain``), and its retrieval a
``BaseRetriever`` a chain of one's own can take (fake embedder, real Chroma, extractive)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

import qa_assistant._retrieval.question as question_module
from conftest import TET_QUESTION
from qa_assistant._answering.llm import LLMAnswerer
from qa_assistant._retrieval.hybrid_retriever import as_document, as_hit
from qa_assistant.assistant import HELP_MESSAGE, Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder, FakeOpenAIServer
from qa_assistant.types import Answer, Chunk, Filters, Hit, Question

OTHER_QUESTION = "Năm 2025 tỉnh sửa chữa nhà ở cho bao nhiêu hộ nghèo?"


def _same(a: Answer, b: Answer) -> bool:
    return (a.text, a.abstained, a.citations, a.hits) == (b.text, b.abstained, b.citations, b.hits)


class _Runs(BaseCallbackHandler):
    """The names of the runs a chain started, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.names.append(kwargs.get("name") or "")

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.names.append(f"retriever:{query}")


def test_ask_answers_as_the_chain_does_and_the_chain_runs_every_step(
    ingested: Assistant,
) -> None:
    runs = _Runs()
    invoked = ingested.chain.invoke(Question(TET_QUESTION), {"callbacks": [runs]})
    asked = ingested.ask(TET_QUESTION)
    assert _same(invoked, asked) and "10 triệu đồng" in asked.text
    assert invoked.latency_ms > 0
    steps = ["prepare", "route", "retrieve", "answer", "second_look", "in_force", "finish"]
    assert [n for n in runs.names if n in steps] == steps
    assert f"retriever:{TET_QUESTION}" in runs.names


def test_the_chain_batches_and_runs_async_with_the_same_answers(ingested: Assistant) -> None:
    questions = [Question(TET_QUESTION), Question(OTHER_QUESTION, k=3), Question("Xin chào")]
    expected = [ingested.ask(q.text, k=q.k) for q in questions]
    assert expected[2].text == HELP_MESSAGE

    async def run_async() -> tuple[list[Answer], Answer, list[Answer | str]]:
        batched = await ingested.chain.abatch(questions)
        one = await ingested.chain.ainvoke(questions[0])
        streamed = [item async for item in ingested.chain.astream(questions[1])]
        return batched, one, streamed

    batched, one, streamed = asyncio.run(run_async())
    for got in (ingested.chain.batch(questions), batched):
        assert all(_same(a, b) for a, b in zip(got, expected, strict=True))
    assert _same(one, expected[0])
    [last] = streamed
    assert isinstance(last, Answer) and _same(last, expected[1])


def test_the_chain_streams_an_llm_reply_then_the_answer(
    settings: Settings, ingested: Assistant
) -> None:
    reply = "Mỗi thôn được hỗ trợ 10 triệu đồng để đón Tết [1]."
    with FakeOpenAIServer(reply) as server:
        answerer = LLMAnswerer.openai(base_url=server.base_url, model="fake", max_retries=0)
        streaming = Assistant(settings, embedder=FakeEmbedder(), answerer=answerer)
        *pieces, answer = streaming.chain.stream(Question(TET_QUESTION, k=3))
        invoked = streaming.chain.invoke(Question(TET_QUESTION, k=3))
    assert len(pieces) > 1 and "".join(str(p) for p in pieces) == reply
    assert isinstance(answer, Answer) and answer.text == reply == invoked.text
    assert answer.hits == invoked.hits and len(answer.hits) >= 3


def test_the_retriever_serves_a_chain_of_ones_own(ingested: Assistant) -> None:
    retriever = ingested.as_retriever(k=3)

    def quoted(documents: list[Document]) -> str:
        return "\n\n".join(f"[{d.metadata['title']}] {d.page_content}" for d in documents)

    context = (retriever | RunnableLambda(quoted)).invoke(TET_QUESTION)
    assert "10 triệu đồng" in context

    documents = retriever.invoke(TET_QUESTION)
    hits = ingested.retriever().retrieve(TET_QUESTION, 3)[:3]
    assert [as_hit(d) for d in documents] == hits
    assert [d.id for d in documents] == [h.chunk.id for h in hits]
    assert documents[0].metadata["rank"] == 1 and "dense" in documents[0].metadata["scores"]
    assert asyncio.run(retriever.ainvoke(TET_QUESTION)) == documents

    source = ingested.documents()[0].source
    only = ingested.as_retriever(k=5, filters=Filters(sources=(source,)))
    assert {d.metadata["source"] for d in only.invoke("hỗ trợ")} == {source}


def test_a_hit_comes_back_whole_from_its_document() -> None:
    chunk = Chunk(
        id="c1",
        source="a/b.pdf",
        title="Quyết định 12/2025",
        text="Mỗi thôn được hỗ trợ 10 triệu đồng.",
        start=40,
        end=76,
        heading=("Quyết định", "Điều 2"),
        ordinal=3,
        date=date(2025, 12, 1),
        page=2,
        page_breaks=(60,),
        ocr=True,
        boilerplate=True,
    )
    hit = Hit(chunk, 0.75, 2, (("dense", 0.5), ("bm25", 7.25), ("relevance", 0.9)))
    assert as_hit(as_document(hit)) == hit
    assert hit.relevance == 0.9 and Hit(chunk, 0.1).relevance is None


def test_a_question_is_analysed_once_per_ask(
    ingested: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    question_module.analyse_question.cache_clear()
    analysed: list[str] = []
    read = question_module._words_and_openers

    def counted(text: str) -> Any:
        analysed.append(text)
        return read(text)

    monkeypatch.setattr(question_module, "_words_and_openers", counted)
    for question in (TET_QUESTION, OTHER_QUESTION):
        analysed.clear()
        ingested.ask(question)
        assert analysed.count(question) == 1, analysed
