"""The LLM answerer against what a real server does: claims checked against their passages,
cut and slow streams, a model the server does not serve, a closed port; and what the visitor
and the operator are each told."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from click.testing import CliRunner

from qa_assistant import cli
from qa_assistant._answering.claims import claim_of, support
from qa_assistant._answering.common import ABSTAIN_MESSAGE
from qa_assistant._answering.extractive import ExtractiveAnswerer
from qa_assistant._answering.factory import make_answerer
from qa_assistant._answering.llm import (
    NOTE_CUT,
    NOTE_FAILED,
    NOTE_QUOTED,
    NOTE_TRIMMED,
    LLMAnswerer,
)
from qa_assistant._ui.layout import _header
from qa_assistant._ui.rendering import render_answer
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder, FakeOpenAIServer
from qa_assistant.types import Answer, Chunk, Hit

API_KEY = "sk-test-never-shown-17"

FUNDS = (
    "Năm 2026, tổng kinh phí hỗ trợ Tết của tỉnh là 92,9 triệu đồng. "
    "Mỗi hộ nghèo được tặng một suất quà trị giá 500 nghìn đồng."
)
VILLAGES = (
    "Tỉnh hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố để tổ chức hoạt động đón Tết. "
    "Các thôn nhận kinh phí trước ngày 15/01/2026."
)
SCHOOLS = (
    "Học sinh mầm non được miễn 100% học phí trong năm học 2025-2026. "
    "Hộ cận nghèo được hỗ trợ 50% tiền điện."
)


def _hits(*texts: str) -> list[Hit]:
    chunks = [
        Chunk(
            id=f"c{i}",
            source=f"van-ban-{i}.txt",
            title="Chính sách của tỉnh",
            text=t,
            start=0,
            end=len(t),
        )
        for i, t in enumerate(texts, start=1)
    ]
    return [Hit(chunk=c, score=1.0 / c.end, rank=i) for i, c in enumerate(chunks, start=1)]


PASSAGES = _hits(FUNDS, VILLAGES, SCHOOLS)
QUESTION = "Mỗi thôn được hỗ trợ bao nhiêu tiền để đón Tết?"


class QuotingFallback:
    """Stands in for the extractive answerer: quotes passage 2 whole, or abstains."""

    second_look = False

    def __init__(self, *, abstains: bool = False) -> None:
        self.abstains = abstains
        self.calls = 0

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        self.calls += 1
        if self.abstains:
            return Answer(question=question, text=ABSTAIN_MESSAGE, abstained=True, hits=tuple(hits))
        return Answer(
            question=question, text=f"“{VILLAGES}” [1]", abstained=False, hits=tuple(hits)
        )


@pytest.fixture(scope="module")
def running() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=["served-model"]) as server:
        yield server


@pytest.fixture
def server(running: FakeOpenAIServer) -> FakeOpenAIServer:
    running.reply, running.status, running.delay_s = "", 200, 0.0
    running.finish_reason, running.first_token_s, running.disconnects = "stop", 0.0, 0
    running.requests.clear()
    return running


def llm(
    server: FakeOpenAIServer | str,
    *,
    model: str = "served-model",
    timeout_s: float = 10.0,
    fallback: Any = None,
) -> LLMAnswerer:
    url = server if isinstance(server, str) else server.base_url
    return LLMAnswerer.openai(
        base_url=url, model=model, api_key=API_KEY, timeout_s=timeout_s, fallback=fallback
    )


def reply_to(server: FakeOpenAIServer, reply: str, **options: Any) -> Answer:
    server.reply = reply
    return llm(server, **options).answer(QUESTION, PASSAGES)


def assert_quotes_hold(answer: Answer) -> None:
    for c in answer.citations:
        assert c.passage[c.start : c.end] == c.quote  # chunks start at 0 here
        assert f"[{c.marker}]" in answer.text


# ------------------------------------------------------------------ claims against passages


def test_a_figure_cited_to_the_wrong_passage_is_cited_to_the_one_that_holds_it(
    server: FakeOpenAIServer,
) -> None:
    answer = reply_to(server, "Tổng kinh phí hỗ trợ Tết là 92,9 triệu đồng [2].")

    assert answer.text == "Tổng kinh phí hỗ trợ Tết là 92,9 triệu đồng [1]."
    [citation] = answer.citations
    assert citation.chunk_id == "c1" and "92,9 triệu đồng" in citation.quote
    assert any("[2]" in w and "92,9" in w for w in answer.warnings)
    assert answer.note == ""
    assert_quotes_hold(answer)


def test_a_figure_no_passage_holds_is_dropped_and_the_visitor_told(
    server: FakeOpenAIServer,
) -> None:
    reply = (
        "Mỗi thôn được hỗ trợ 10 triệu đồng để đón Tết [2]. "
        "Ngoài ra mỗi hộ nghèo được 5 triệu đồng/tháng [1]."
    )
    answer = reply_to(server, reply)

    assert answer.text == "Mỗi thôn được hỗ trợ 10 triệu đồng để đón Tết [1]."
    assert [c.chunk_id for c in answer.citations] == ["c2"]
    assert answer.note == NOTE_TRIMMED
    assert any("5 triệu" in w for w in answer.warnings)
    assert_quotes_hold(answer)


def test_a_reply_that_never_names_the_group_asked_about_gives_the_fallback_answer(
    server: FakeOpenAIServer,
) -> None:
    # Held by its passage, yet about villages: asked about people with disabilities.
    server.reply = (
        "Tỉnh hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố để tổ chức hoạt động đón Tết [2]."
    )
    fallback = QuotingFallback(abstains=True)
    question = "Người khuyết tật được hỗ trợ bao nhiêu tiền mỗi tháng?"
    answer = llm(server, fallback=fallback).answer(question, PASSAGES)

    assert fallback.calls == 1 and answer.abstained
    assert any("never names the group" in w for w in answer.warnings)
    # Naming the group it asks about, the same kind of reply stands.
    server.reply = "Hộ nghèo được tặng một suất quà trị giá 500 nghìn đồng [1]."
    kept = llm(server).answer("Hộ nghèo được tặng quà bao nhiêu tiền?", PASSAGES)
    assert not kept.abstained and "500 nghìn đồng" in kept.text


@pytest.mark.parametrize(
    "reply",
    [
        "Mỗi thôn được hỗ trợ 5 triệu đồng/tháng [2].",  # a made-up figure, a real marker
        "Mỗi thôn được hỗ trợ 10 tỷ đồng [2].",  # the number is there, the amount is not
        "Hộ nghèo được hỗ trợ 50% tiền điện [3].",  # the rate is for another group
        "Mỗi thôn ở Hà Nội được hỗ trợ 10 triệu đồng [2].",  # a place no passage names
        "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết? [2][3]",  # the question back
        "Mỗi thôn được hỗ trợ 10 triệu đồng.",  # no marker: not answered from the passages
    ],
)
def test_a_reply_with_no_supported_claim_gives_the_fallback_answer(
    server: FakeOpenAIServer, reply: str
) -> None:
    fallback = QuotingFallback(abstains=True)
    answer = reply_to(server, reply, fallback=fallback)

    assert fallback.calls == 1
    assert answer.abstained and answer.text == ABSTAIN_MESSAGE and answer.citations == ()
    assert answer.warnings and answer.note == ""


@pytest.mark.parametrize(
    "reply",
    [
        "Tài liệu không đề cập đến khoản hỗ trợ này [2].",
        "Các đoạn trên không có thông tin về mức hỗ trợ cho thôn.",
    ],
)
def test_a_refusal_in_the_models_words_is_an_abstention(
    server: FakeOpenAIServer, reply: str
) -> None:
    answer = reply_to(server, reply)

    assert answer.abstained and answer.text == ABSTAIN_MESSAGE and answer.citations == ()


def test_a_list_keeps_its_lines_and_numbering(server: FakeOpenAIServer) -> None:
    reply = (
        "Theo tài liệu:\n1. Mỗi thôn được hỗ trợ 10 triệu đồng [2].\n"
        "2. Tổng kinh phí là 92,9 triệu đồng [1].\n3. Mỗi hộ được thêm 7 triệu đồng [1]."
    )
    answer = reply_to(server, reply)

    assert answer.text == (
        "1. Mỗi thôn được hỗ trợ 10 triệu đồng [1].\n2. Tổng kinh phí là 92,9 triệu đồng [2]."
    )
    assert [c.chunk_id for c in answer.citations] == ["c2", "c1"]
    assert answer.note == NOTE_TRIMMED  # the third item's figure is in no passage


def test_numbers_compare_by_value_whatever_their_writing(server: FakeOpenAIServer) -> None:
    answer = reply_to(
        server,
        "Tổng kinh phí là 92.900.000 đồng [1]. Học sinh mầm non được miễn 100 % học phí [3]. "
        "Các thôn nhận kinh phí trước ngày 15 tháng 1 năm 2026 [2].",
    )

    assert [c.chunk_id for c in answer.citations] == ["c1", "c3", "c2"]
    assert answer.warnings == () and answer.note == ""
    assert "ngày 15/01/2026" in answer.citations[2].quote  # the sentence holding the date


def test_a_passage_must_hold_every_figure_and_group_of_a_claim() -> None:
    funds, villages, schools = PASSAGES

    assert support(claim_of("Mỗi hộ nghèo được quà trị giá 500 nghìn đồng."), funds).holds
    assert not support(claim_of("Mỗi hộ nghèo được quà trị giá 500 triệu đồng."), funds).holds
    assert not support(claim_of("Hộ nghèo được hỗ trợ 50% tiền điện."), schools).holds
    assert support(claim_of("Hộ cận nghèo được hỗ trợ 50% tiền điện."), schools).holds
    assert not support(claim_of("Các thôn nhận kinh phí trước ngày 16/01/2026."), villages).holds


# ------------------------------------------------------------- a reply the server did not finish


@pytest.mark.parametrize("finish", [None, "length"])
def test_a_cut_stream_is_never_the_final_answer(
    server: FakeOpenAIServer, finish: str | None
) -> None:
    server.reply = "Mỗi thôn được hỗ trợ 10 triệu đồng [2]. Ngoài ra"
    server.finish_reason = finish
    *pieces, answer = llm(server, fallback=QuotingFallback()).stream(QUESTION, PASSAGES)

    assert "".join(str(p) for p in pieces) == server.reply  # the draft was shown as it came
    assert isinstance(answer, Answer)
    assert answer.text == f"“{VILLAGES}” [1]"  # the fallback's answer, not the draft
    assert answer.note == NOTE_CUT + NOTE_QUOTED
    assert any("QA_LLM__MAX_TOKENS" in w for w in answer.warnings)


# ------------------------------------------------------------------ a failing server


def test_a_slow_first_token_ends_at_the_budget_without_a_retry_and_the_request_closed(
    server: FakeOpenAIServer,
) -> None:
    server.reply = "Mỗi thôn được hỗ trợ 10 triệu đồng [2]."
    server.first_token_s = 1.5
    started = time.monotonic()
    answer = reply_to(server, server.reply, timeout_s=0.4, fallback=QuotingFallback())
    waited = time.monotonic() - started

    assert 0.4 <= waited < 1.2  # one budget, not the server's pace nor a second try
    assert answer.note == NOTE_FAILED + NOTE_QUOTED
    assert any("QA_LLM__TIMEOUT_S" in w for w in answer.warnings)
    assert len(server.requests) == 1
    deadline = time.monotonic() + 5
    while server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.disconnects == 1  # the abandoned request was closed, not left running


def test_a_model_the_server_does_not_serve_is_found_at_start_up(server: FakeOpenAIServer) -> None:
    wrong = llm(server, model="missing-model", fallback=QuotingFallback())
    problem = wrong.check()

    assert problem is not None
    assert "missing-model" in problem and "served-model" in problem
    assert "QA_LLM__MODEL" in problem and API_KEY not in problem
    assert llm(server).check() is None
    assert server.requests == []  # the check lists models; it asks nothing

    answer = wrong.answer(QUESTION, PASSAGES)  # the server's 404 at a question
    assert answer.text == f"“{VILLAGES}” [1]" and answer.note == NOTE_FAILED + NOTE_QUOTED
    assert any("QA_LLM__MODEL" in w for w in answer.warnings)


def test_serve_reports_a_model_the_server_lacks_before_the_first_question(
    server: FakeOpenAIServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qa_assistant._ui.serve", lambda assistant, settings: None)
    monkeypatch.setattr(cli, "_warm_up", lambda assistant: None)
    monkeypatch.setattr(
        cli,
        "_assistant",
        lambda s: Assistant(s, embedder=FakeEmbedder(), answerer=llm(server, model="x-model")),
    )
    monkeypatch.setenv("QA_DOCUMENTS_DIR", str(settings.documents_dir))
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    result = CliRunner().invoke(cli.main, ["serve"])

    assert result.exit_code == 0, result.output
    assert "x-model" in result.output and "QA_LLM__MODEL" in result.output
    assert server.requests == []  # found before anyone asked


def test_the_ollama_client_is_held_to_the_same_checks(server: FakeOpenAIServer) -> None:
    root = server.base_url.removesuffix("/v1")

    def ollama(model: str = "served-model") -> LLMAnswerer:
        return LLMAnswerer.ollama(
            base_url=root, model=model, timeout_s=5, fallback=QuotingFallback()
        )

    server.reply = "Tổng kinh phí hỗ trợ Tết là 92,9 triệu đồng [2]."
    answer = ollama().answer(QUESTION, PASSAGES)
    assert server.requests[-1].path == "/api/chat"
    assert answer.text == "Tổng kinh phí hỗ trợ Tết là 92,9 triệu đồng [1]."
    assert [c.chunk_id for c in answer.citations] == ["c1"]

    server.finish_reason = "length"  # Ollama's done_reason
    assert ollama().answer(QUESTION, PASSAGES).note == NOTE_CUT + NOTE_QUOTED
    server.finish_reason = "stop"
    missing = ollama("other-model").answer(QUESTION, PASSAGES)
    assert missing.note == NOTE_FAILED + NOTE_QUOTED
    assert any("QA_LLM__MODEL" in w for w in missing.warnings)


def test_ollama_models_are_checked_in_its_own_listing() -> None:
    with FakeOpenAIServer(models=["qwen2.5:3b", "llama3:latest"]) as server:
        root = server.base_url.removesuffix("/v1")
        assert LLMAnswerer.ollama(base_url=root, model="qwen2.5:3b").check() is None
        assert LLMAnswerer.ollama(base_url=root, model="llama3").check() is None
        problem = LLMAnswerer.ollama(base_url=root, model="qwen2.5:7b").check()
    assert problem is not None and "qwen2.5:7b" in problem and "QA_LLM__MODEL" in problem


@pytest.mark.parametrize(("status", "hint"), [(500, "server's logs"), (401, "QA_LLM__API_KEY")])
def test_an_http_error_gives_the_fallback_answer_and_the_operator_the_hint(
    server: FakeOpenAIServer, status: int, hint: str
) -> None:
    server.status = status
    answer = reply_to(server, "unused", fallback=QuotingFallback(abstains=True))

    assert answer.abstained and answer.note == NOTE_FAILED + "."
    [warning] = answer.warnings
    assert server.base_url in warning and hint in warning and API_KEY not in warning


def test_a_closed_port_gives_the_fallback_answer_and_is_reported_at_start_up() -> None:
    server = FakeOpenAIServer()
    url = server.base_url
    server.close()  # nothing listens on the port any more
    answerer = llm(url, timeout_s=3, fallback=QuotingFallback())

    answer = answerer.answer(QUESTION, PASSAGES)
    assert answer.text == f"“{VILLAGES}” [1]" and answer.note == NOTE_FAILED + NOTE_QUOTED
    assert any(url in w and "QA_LLM__BASE_URL" in w for w in answer.warnings)
    problem = answerer.check()
    assert problem is not None and "QA_LLM__BASE_URL" in problem
    assert all(API_KEY not in w for w in (*answer.warnings, problem))


def test_the_configured_llm_answerer_falls_back_to_the_extractive_one(tmp_path: Any) -> None:
    settings = Settings.model_validate(
        {"answerer": "openai", "llm": {"base_url": "http://127.0.0.1:9/v1", "timeout_s": 300}}
    )
    answerer = make_answerer(settings)

    assert isinstance(answerer, LLMAnswerer)
    assert isinstance(answerer.fallback, ExtractiveAnswerer)
    assert answerer.timeout_s == 300


# ------------------------------------------------------------------ what the visitor sees


def test_the_page_shows_the_note_and_never_the_operators_warnings(server: FakeOpenAIServer) -> None:
    server.status = 500
    answer = reply_to(server, "unused", fallback=QuotingFallback())
    html = render_answer(answer, 0)

    assert NOTE_FAILED in html
    for warning in answer.warnings:
        assert warning not in html
    assert "QA_LLM" not in html and server.base_url not in html and "failed" not in html
    shown = answer.to_dict()
    assert shown["note"] == answer.note and shown["warnings"] == list(answer.warnings)


def test_the_page_promises_quotes_only_where_the_answerer_quotes() -> None:
    assert "trích nguyên văn" in _header("extractive")
    for llm_kind in ("openai", "ollama"):
        header = _header(llm_kind)
        assert "trích nguyên văn" not in header and "[n]" in header
