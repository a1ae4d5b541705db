"""The answerers: extractive quoting and abstention, and the LLM answerer's marker checks."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import pytest

from qa_assistant.answering import ABSTAIN_MESSAGE, ExtractiveAnswerer, score_sentences
from qa_assistant.types import Answer, Chunk, Hit

DOCUMENTS = Path(__file__).resolve().parent.parent / "documents"
AN_SINH = "quang-ninh-an-sinh-xa-hoi-2026.txt"
GIAM_NGHEO = "quang-ninh-giam-ngheo-2025.txt"
TITLES = {
    AN_SINH: "Quảng Ninh: Kiến tạo phát triển từ nền tảng an sinh xã hội",
    GIAM_NGHEO: "Quảng Ninh: giảm nghèo bền vững",
}


def doc_text(source: str) -> str:
    return unicodedata.normalize("NFC", (DOCUMENTS / source).read_text(encoding="utf-8"))


def make_chunk(source: str, first: str, last: str, ordinal: int = 0) -> Chunk:
    """A passage of a seed article from the words ``first`` through the words ``last``."""
    text = doc_text(source)
    start = text.index(first)
    end = text.index(last, start) + len(last)
    return Chunk(
        id=f"{source}#{ordinal}",
        source=source,
        title=TITLES[source],
        text=text[start:end],
        start=start,
        end=end,
        heading=(TITLES[source],),
        ordinal=ordinal,
        date=date(2026, 2, 1) if source == AN_SINH else date(2025, 12, 19),
    )


# Passages as a retriever would return them for questions about Tết support in Quảng Ninh.
TET_CAPTION = make_chunk(
    AN_SINH,
    "Đặc biệt, tỉnh quan tâm giải quyết việc làm",
    "khu công nghiệp phát triển bền vững.",
    ordinal=10,
)
TET_BODY = make_chunk(
    AN_SINH,
    "Lan tỏa tinh thần nhân văn",
    "bản sắc văn hóa của từng địa phương.",
    ordinal=11,
)
WORKERS = make_chunk(
    AN_SINH,
    "Cùng với đó, công tác chăm lo Tết cho người lao động",
    "vướng mắc phát sinh.",
    ordinal=12,
)
POVERTY = make_chunk(
    GIAM_NGHEO,
    "Trong năm 2025, tỉnh đã hoàn thành",
    "các mô hình sinh kế bền vững.",
    ordinal=3,
)
WOMEN = make_chunk(
    GIAM_NGHEO,
    "Các tổ chức đoàn thể giữ vai trò",
    "hiện vật và ngày công lao động.",
    ordinal=0,
)


def hits(*chunks: Chunk) -> list[Hit]:
    return [Hit(chunk=c, score=1.0 / i, rank=i) for i, c in enumerate(chunks, start=1)]


TET_HITS = hits(TET_CAPTION, TET_BODY, WORKERS, POVERTY, WOMEN)
TET_QUESTION = "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"


def assert_citations_consistent(answer: Answer) -> None:
    for citation in answer.citations:
        assert citation.quote in citation.passage
        assert doc_text(citation.source)[citation.start : citation.end] == citation.quote
        assert f"[{citation.marker}]" in answer.text
    assert [c.marker for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_amount_question_quotes_the_sentence_with_exact_spans() -> None:
    answer = ExtractiveAnswerer().answer(TET_QUESTION, TET_HITS)

    assert not answer.abstained
    assert answer.hits == tuple(TET_HITS)
    assert answer.latency_ms == 0
    assert len(answer.citations) == 1
    citation = answer.citations[0]
    assert "10 triệu đồng cho mỗi thôn" in citation.quote
    assert "10 triệu đồng cho mỗi thôn" in answer.text
    assert answer.text.startswith("Theo tài liệu")
    assert answer.text.endswith("[1].")
    assert citation.source == AN_SINH
    assert citation.title == TITLES[AN_SINH]
    assert citation.heading == TET_CAPTION.heading_path
    assert citation.date == date(2026, 2, 1)
    assert_citations_consistent(answer)


@pytest.mark.parametrize(
    "question",
    [
        unicodedata.normalize("NFD", TET_QUESTION),
        "quang ninh ho tro moi thon bao nhieu tien de don tet",
        "QUANG NINH HO TRO MOI THON BAO NHIEU TIEN DE DON TET?",
    ],
)
def test_unaccented_and_decomposed_questions_match(question: str) -> None:
    answer = ExtractiveAnswerer().answer(question, TET_HITS)

    assert not answer.abstained
    assert "10 triệu đồng cho mỗi thôn" in answer.citations[0].quote
    assert_citations_consistent(answer)


def test_no_hits_abstains() -> None:
    answer = ExtractiveAnswerer().answer(TET_QUESTION, [])

    assert answer.abstained
    assert answer.text.startswith(ABSTAIN_MESSAGE)
    assert answer.citations == ()


def test_off_topic_question_abstains() -> None:
    answer = ExtractiveAnswerer().answer("Thủ tục cấp hộ chiếu cần giấy tờ gì?", TET_HITS)

    assert answer.abstained
    assert answer.text.startswith(ABSTAIN_MESSAGE)
    assert answer.citations == ()


def test_scores_are_exposed_best_first() -> None:
    scored = score_sentences(TET_QUESTION, TET_HITS)

    assert scored == sorted(scored, key=lambda s: -s.score)
    assert "10 triệu đồng" in scored[0].text
    assert scored[0].has_number
    assert scored[0].coverage == pytest.approx(1.0)
