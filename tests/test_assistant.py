"""Questions end to end on the seed articles (fake embedder, real Chroma, extractive answers)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from conftest import TET_QUESTION
from qa_assistant._answering.llm import LLMAnswerer
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder, FakeOpenAIServer
from qa_assistant.types import Answer


def _check_citations(assistant: Assistant, answer_text: str, citations: tuple) -> None:  # type: ignore[type-arg]
    for c in citations:
        assert f"[{c.marker}]" in answer_text
        assert c.quote in c.passage
        assert assistant.document_text(c.source)[c.start : c.end] == c.quote


def test_tet_question_answers_ten_million_with_its_source(ingested: Assistant) -> None:
    answer = ingested.ask(TET_QUESTION)
    assert not answer.abstained
    assert "10 triệu đồng" in answer.text
    assert any("10 triệu đồng" in c.quote for c in answer.citations)
    _check_citations(ingested, answer.text, answer.citations)
    assert len(answer.hits) >= 1 and answer.latency_ms > 0


def test_the_same_question_in_nfd_and_without_diacritics(ingested: Assistant) -> None:
    nfd = ingested.ask(unicodedata.normalize("NFD", TET_QUESTION))
    assert "10 triệu đồng" in nfd.text
    bare = ingested.ask("Quang Ninh ho tro moi thon bao nhieu tien de don Tet?")
    assert "10 triệu đồng" in bare.text


def test_unrelated_question_abstains(ingested: Assistant) -> None:
    answer = ingested.ask("Giá vé máy bay từ Hà Nội đi Paris là bao nhiêu?")
    assert answer.abstained
    assert answer.citations == ()
    assert "Không tìm thấy" in answer.text


def test_empty_question_gets_a_message_not_an_error(ingested: Assistant) -> None:
    answer = ingested.ask("   ")
    assert answer.abstained and answer.text


def test_to_dict_has_the_json_shape(ingested: Assistant) -> None:
    data = ingested.ask(TET_QUESTION).to_dict()
    assert set(data) >= {"question", "answer", "abstained", "citations", "retrieved", "latency_ms"}
    assert set(data["citations"][0]) >= {
        "marker",
        "source",
        "title",
        "heading",
        "text",
        "quote",
        "start",
        "end",
    }
    assert set(data["retrieved"][0]) >= {"source", "heading", "text", "score"}
    scores = [r["score"] for r in data["retrieved"]]
    assert scores == sorted(scores, reverse=True)


def test_each_retriever_answers(ingested: Assistant) -> None:
    for mode in ("bm25", "dense", "hybrid"):
        answer = ingested.ask(TET_QUESTION, retriever=mode)
        assert answer.hits, mode


def test_follow_up_uses_the_previous_question(ingested: Assistant) -> None:
    first = "Năm 2025 tỉnh sửa chữa nhà ở cho bao nhiêu hộ nghèo?"
    follow = ingested.ask("Còn hộ người có công thì sao?", history=[first])
    assert any("273/273" in h.chunk.text for h in follow.hits[:3])


def test_ask_stream_gives_the_extractive_answer_whole_and_at_once(ingested: Assistant) -> None:
    [answer] = ingested.ask_stream(TET_QUESTION)
    assert isinstance(answer, Answer)
    asked = ingested.ask(TET_QUESTION)
    assert (answer.text, answer.citations, answer.hits) == (asked.text, asked.citations, asked.hits)
    assert answer.latency_ms > 0


def test_ask_stream_passes_an_llm_reply_on_as_it_is_written(
    settings: Settings, ingested: Assistant
) -> None:
    reply = "Mỗi thôn được hỗ trợ 10 triệu đồng để đón Tết [1]."
    with FakeOpenAIServer(reply) as server:
        answerer = LLMAnswerer.openai(base_url=server.base_url, model="fake", max_retries=0)
        streaming = Assistant(settings, embedder=FakeEmbedder(), answerer=answerer)
        *pieces, answer = streaming.ask_stream(TET_QUESTION, k=3)
    assert len(pieces) > 1 and "".join(pieces) == reply
    assert isinstance(answer, Answer) and answer.text == reply
    assert answer.citations and answer.hits and len(answer.hits) >= 3
    assert answer.latency_ms > 0


def test_delete_document_can_remove_its_file_but_nothing_outside_the_folder(
    ingested: Assistant, tmp_path: Path
) -> None:
    folder = ingested.settings.documents_dir
    source = ingested.documents()[0].source
    ingested.delete_document(source, remove_file=True)
    assert source not in {d.source for d in ingested.documents()}
    assert not (folder / source).exists()

    kept = ingested.documents()[0].source
    ingested.delete_document(kept)  # the store only: the file stays for a re-ingest
    assert (folder / kept).exists() and kept not in {d.source for d in ingested.documents()}

    outside = tmp_path / "outside.txt"
    outside.write_text("giữ nguyên", encoding="utf-8")
    ingested.delete_document(f"../{outside.name}", remove_file=True)
    assert outside.exists()


def test_a_store_answers_as_it_is_once_it_holds_chunks_embedded_as_questions_are(
    assistant: Assistant, settings: Settings
) -> None:
    assert not assistant.answers_as_is()  # nothing ingested yet
    assistant.ingest()
    assert assistant.answers_as_is()
    other = Assistant(settings, embedder=FakeEmbedder(name="another-embedder"))
    try:
        assert not other.answers_as_is()  # its questions' vectors would not match the store's
    finally:
        other.close()
