"""Chunking: structure-aware, exact spans, budget respected, nothing lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_assistant._chunking.chunker import CHUNKER_VERSION, chunk_document
from qa_assistant._loading import load_document
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import Chunk, Document

SEEDS = Path(__file__).resolve().parent.parent / "documents"
DATA = Path(__file__).resolve().parent / "data"
COUNT = FakeEmbedder().count_tokens


def _doc(text: str, title: str = "Tài liệu") -> Document:
    return Document(source="x.txt", title=title, text=text, content_hash="h" * 64)


def _check(
    doc: Document, chunks: list[Chunk], max_tokens: int, count: Callable[[str], int]
) -> None:
    pos = 0
    for i, c in enumerate(chunks):
        assert doc.text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert count(c.text) <= max_tokens
        assert c.start >= pos and not doc.text[pos : c.start].strip()
        assert c.ordinal == i and c.source == doc.source and c.title == doc.title
        assert c.date == doc.date and c.heading[0] == doc.title
        pos = c.end
    assert not doc.text[pos:].strip()
    assert len({c.id for c in chunks}) == len(chunks)


def test_markdown_headings_form_the_path() -> None:
    text = (
        "# Quy chế\n\n## Học phí\n\nSinh viên đóng học phí.\n\n"
        "### Miễn giảm\n\nĐược miễn.\n\n## Kỷ luật\n\nBị cảnh cáo."
    )
    doc = _doc(text, title="Quy chế")
    chunks = chunk_document(doc, max_tokens=100, count_tokens=COUNT)
    _check(doc, chunks, 100, COUNT)
    assert [c.heading for c in chunks] == [
        ("Quy chế", "Học phí"),
        ("Quy chế", "Học phí", "Miễn giảm"),
        ("Quy chế", "Kỷ luật"),
    ]
    assert chunks[0].text.startswith("# Quy chế\n\n## Học phí")  # lone headings join the text


def test_empty_markdown_heading_ends_the_section_above_it() -> None:
    text = (
        "# Quy chế\n\n## Thi\n\nĐề thi do khoa ra.\n\n## \n\nEmail của sinh viên do trường cấp.\n\n"
        "##\n\nHọc bổng xét theo học kỳ."
    )
    doc = _doc(text, title="Quy chế")
    chunks = chunk_document(doc, max_tokens=100, count_tokens=COUNT)
    _check(doc, chunks, 100, COUNT)
    # The untitled parts are not filed under "Thi", nor named by an empty label.
    assert [c.heading for c in chunks] == [("Quy chế", "Thi"), ("Quy chế",), ("Quy chế",)]
    assert chunks[1].text.startswith("## \n\nEmail")


def test_hash_dividers_do_not_hide_plain_subheadings() -> None:
    text = (
        "Tin tức\n\nĐoạn mở đầu của bài viết.\n\n###\n\nHỗ trợ học phí\n\n"
        "Sinh viên được hỗ trợ học phí theo quy định."
    )
    doc = _doc(text, title="Tin tức")
    chunks = chunk_document(doc, max_tokens=100, count_tokens=COUNT)
    _check(doc, chunks, 100, COUNT)
    assert chunks[-1].heading == ("Tin tức", "Hỗ trợ học phí")


LAW = """LUẬT CƯ TRÚ

Chương I
NHỮNG QUY ĐỊNH CHUNG

Điều 1. Phạm vi điều chỉnh
Luật này quy định về cư trú.

Chương II
QUYỀN TỰ DO CƯ TRÚ

Điều 20. Điều kiện đăng ký thường trú
1. Công dân có chỗ ở hợp pháp thuộc quyền sở hữu của mình thì được đăng ký thường trú
tại chỗ ở hợp pháp đó.
2. Công dân được đăng ký thường trú tại chỗ ở hợp pháp không thuộc quyền sở hữu của mình
khi được chủ hộ đồng ý trong các trường hợp sau đây:
a) Vợ về ở với chồng; chồng về ở với vợ; con về ở với cha, mẹ; cha, mẹ về ở với con;
b) Người cao tuổi về ở với anh ruột, chị ruột, em ruột, cháu ruột;
c) Người khuyết tật đặc biệt nặng về ở với ông nội, bà nội, ông ngoại, bà ngoại.
3. Công dân được đăng ký thường trú tại chỗ ở hợp pháp do thuê, mượn, ở nhờ
khi đáp ứng các điều kiện sau đây.
"""


def test_law_heading_paths_and_long_article_split_by_clause() -> None:
    doc = _doc(LAW, title="Luật Cư trú")
    chunks = chunk_document(doc, max_tokens=60, count_tokens=COUNT)
    _check(doc, chunks, 60, COUNT)
    first = chunks[0]
    assert first.heading == (
        "Luật Cư trú",
        "Chương I. NHỮNG QUY ĐỊNH CHUNG",
        "Điều 1. Phạm vi điều chỉnh",
    )
    assert first.text.startswith("LUẬT CƯ TRÚ\n\nChương I")
    article = [c for c in chunks if c.heading[-1].startswith("Điều 20.")]
    assert len(article) >= 2
    assert all(c.heading[1] == "Chương II. QUYỀN TỰ DO CƯ TRÚ" for c in article)
    assert "Điều 20. Điều kiện đăng ký thường trú\n1. Công dân" in article[0].text
    assert any(c.text.startswith("2. Công dân") or c.text.startswith("a) ") for c in article[1:])


def test_law_excerpt_one_article_per_chunk_when_it_fits() -> None:
    doc = load_document(DATA / "luat_cu_tru_excerpt.txt", "luat_cu_tru.txt")
    chunks = chunk_document(doc, max_tokens=400, count_tokens=COUNT)
    _check(doc, chunks, 400, COUNT)
    assert [c.heading[-1].split(".")[0] for c in chunks][:2] == ["Điều 1", "Điều 2"]
    assert chunks[1].text.startswith("Điều 2. Giải thích từ ngữ")


def test_news_articles_group_paragraphs_under_subheadings() -> None:
    for name in ("quang-ninh-an-sinh-xa-hoi-2026.txt", "quang-ninh-giam-ngheo-2025.txt"):
        doc = load_document(SEEDS / name, name)
        chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
        _check(doc, chunks, 200, COUNT)
        assert 2 <= len(chunks) <= 15
    tet = [
        c
        for c in chunks_of("quang-ninh-an-sinh-xa-hoi-2026.txt")
        if "10 triệu đồng cho mỗi thôn" in c.text
    ]
    assert tet and all(
        c.heading[-1]
        in ("Lan tỏa tinh thần nhân văn", "Giảm nghèo bền vững, tạo sinh kế lâu dài cho người dân")
        for c in tet
    )


def chunks_of(name: str) -> list[Chunk]:
    return chunk_document(load_document(SEEDS / name, name), max_tokens=200, count_tokens=COUNT)


def test_ids_are_stable_and_depend_on_content() -> None:
    doc = _doc("Một đoạn.\n\nHai đoạn.")
    a = chunk_document(doc, max_tokens=50, count_tokens=COUNT)
    b = chunk_document(doc, max_tokens=50, count_tokens=COUNT)
    assert [c.id for c in a] == [c.id for c in b] and CHUNKER_VERSION
    other = Document(source="x.txt", title="Tài liệu", text=doc.text, content_hash="g" * 64)
    assert chunk_document(other, max_tokens=50, count_tokens=COUNT)[0].id != a[0].id


def test_long_sentence_and_long_word_respect_the_budget() -> None:
    text = " ".join(f"từ{i}" for i in range(500)) + " " + "x" * 5000
    doc = _doc(text)

    def by_chars(s: str) -> int:
        return len(s) // 4 + 1

    chunks = chunk_document(doc, max_tokens=50, count_tokens=by_chars)
    _check(doc, chunks, 50, by_chars)
    assert all(re.fullmatch(r"(từ\d+ ?)+|x+", c.text) for c in chunks)  # never mid-word


def test_megabyte_single_line_is_chunked_quickly() -> None:
    doc = _doc("hỗ trợ học phí " * 70_000)
    chunks = chunk_document(doc, max_tokens=120, count_tokens=COUNT)
    _check(doc, chunks, 120, COUNT)


WORDS = st.sampled_from(
    [
        "Điều 3.",
        "1.",
        "a)",
        "Chương II",
        "II. MỤC",
        "Căn cứ",
        "Số:",
        "THÔNG BÁO",
        "QUYẾT ĐỊNH:",
        "Nơi nhận:",
        "TM. UBND",
        "# Mục",
        "## Phần",
        "học",
        "phí",
        "sinh",
        "viên",
        "hỗ_trợ",
        "92,9",
        "TP.",
        "xin.",
        "chào!",
        "\n",
        "\n\n",
        " ",
        "x" * 30,
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, max_size=120), st.integers(min_value=8, max_value=60))
def test_chunks_are_exact_cover_within_budget(words: list[str], max_tokens: int) -> None:
    doc = _doc(" ".join(words))
    chunks = chunk_document(doc, max_tokens=max_tokens, count_tokens=COUNT)
    _check(doc, chunks, max_tokens, COUNT)


# A decision as provinces write them: header, preamble, one-line articles, signature.
DECISION = """ỦY BAN NHÂN DÂN
TỈNH HÒA BÌNH
-------
Số: 123/QĐ-UBND
CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM
Độc lập - Tự do - Hạnh phúc
Hòa Bình, ngày 15 tháng 3 năm 2026

QUYẾT ĐỊNH
Về việc hỗ trợ hộ cận nghèo và hộ bị thiệt hại do lũ

ỦY BAN NHÂN DÂN TỈNH HÒA BÌNH

Căn cứ Luật Tổ chức chính quyền địa phương ngày 16 tháng 6 năm
2025;
Căn cứ Nghị định số 07/2021/NĐ-CP ngày 31 tháng 01 năm 2021 của Chính phủ;
Theo đề nghị của Giám đốc Sở Tài chính.

QUYẾT ĐỊNH:

Điều 1. Mỗi hộ cận nghèo trên địa bàn tỉnh được hỗ trợ 2.500.000 đồng.
Danh sách hộ cận nghèo do Ủy ban nhân dân xã lập và niêm yết công khai.
Điều 2. Hỗ trợ hộ nuôi trồng thủy sản bị thiệt hại 5.000.000 đồng/ha.
Điều 3. Hồ sơ đề nghị hỗ trợ
1. Đơn đề nghị hỗ trợ theo mẫu.
2. Xác nhận của Ủy ban nhân dân xã.
Điều 4. Quyết định này có hiệu lực kể từ ngày ký.

Nơi nhận:
- Như Điều 4;
- Lưu: VT.
TM. ỦY BAN NHÂN DÂN
KT. CHỦ TỊCH
PHÓ CHỦ TỊCH
(Đã ký)
Nguyễn Văn An
"""


def _decision_chunks() -> tuple[Document, list[Chunk]]:
    doc = _doc(DECISION, title="Quyết định số 123/QĐ-UBND về việc hỗ trợ hộ cận nghèo")
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    return doc, chunks


def test_a_decisions_one_line_articles_are_quotable_text_named_by_their_number() -> None:
    _, chunks = _decision_chunks()
    by_article = {c.heading[-1]: c for c in chunks if c.heading[-1].startswith("Điều")}
    assert list(by_article) == ["Điều 1", "Điều 2", "Điều 3. Hồ sơ đề nghị hỗ trợ", "Điều 4"]
    assert by_article["Điều 1"].text.startswith(
        "Điều 1. Mỗi hộ cận nghèo trên địa bàn tỉnh được hỗ trợ 2.500.000 đồng.\nDanh sách"
    )
    assert by_article["Điều 2"].text.endswith("5.000.000 đồng/ha.")
    # Khoản stay with the article whose title names them.
    assert "2. Xác nhận của Ủy ban nhân dân xã." in by_article["Điều 3. Hồ sơ đề nghị hỗ trợ"].text
    assert not any(c.boilerplate for c in by_article.values())


def test_a_decisions_header_preamble_and_signature_are_boilerplate() -> None:
    _, chunks = _decision_chunks()
    preamble, signature = chunks[0], chunks[-1]
    assert preamble.boilerplate and preamble.heading[-1] == "Căn cứ"
    assert preamble.text.startswith("ỦY BAN NHÂN DÂN") and preamble.text.endswith("QUYẾT ĐỊNH:")
    assert "2025;" in preamble.text  # the line a PDF wrapped stays with its "Căn cứ"
    assert signature.boilerplate and signature.heading[-1] == "Nơi nhận"
    assert signature.text.startswith("Nơi nhận:") and signature.text.endswith("Nguyễn Văn An")
    assert [c.boilerplate for c in chunks[1:-1]] == [False] * (len(chunks) - 2)


def test_a_notice_without_articles_is_not_taken_for_its_preamble() -> None:
    text = (
        "THÔNG BÁO\nVề việc đăng ký hỗ trợ nhà ở\n"
        "Căn cứ Quyết định số 25/QĐ-UBND của Ủy ban nhân dân tỉnh;\n"
        "Ủy ban nhân dân xã thông báo như sau:\n"
        "1. Nhà bị sập đổ được hỗ trợ 40.000.000 đồng/hộ.\n"
        "2. Hồ sơ nộp tại xã trước ngày 30 tháng 9 năm 2025.\n"
        "Nơi nhận:\n- Các xóm;\n- Lưu: VT.\n"
    )
    doc = _doc(text)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    rules = [c for c in chunks if "40.000.000" in c.text]
    assert len(rules) == 1 and not rules[0].boilerplate
    assert "2. Hồ sơ nộp tại xã" in rules[0].text
    assert chunks[0].boilerplate and chunks[0].text.endswith("thông báo như sau:")


def test_an_article_line_is_a_title_in_a_law_and_a_rule_in_the_constitution() -> None:
    text = (
        "Điều 5. Quyền và nghĩa vụ của công dân\nCông dân có quyền tự do cư trú.\n"
        "Điều 6. 1. Nhà nước bảo đảm quyền tự do cư trú của công dân.\n"
        "Điều 7. Quốc hội có những nhiệm vụ và quyền hạn sau đây:\n1. Làm Hiến pháp.\n"
        "Điều 8. Công dân có nghĩa vụ chấp hành pháp luật về cư trú và phối hợp với cơ quan"
        "\nđăng ký cư trú.\n"
    )
    doc = _doc(text)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    assert [c.heading[-1] for c in chunks] == [
        "Điều 5. Quyền và nghĩa vụ của công dân",
        "Điều 6",
        "Điều 7",
        "Điều 8",  # a PDF wrapped its rule: the next line goes on in lower case
    ]


def test_the_parts_of_a_plan_name_their_sections() -> None:
    text = (
        "Số: 318/KH-UBND\nHòa Bình, ngày 05 tháng 12 năm 2025\n\nKẾ HOẠCH\nTặng quà Tết\n\n"
        "Thực hiện Chỉ thị số 15-CT/TU của Tỉnh ủy, Ủy ban nhân dân tỉnh ban hành Kế hoạch tặng "
        "quà Tết Nguyên đán cho các hộ nghèo và hộ cận nghèo trên địa bàn như sau:\n\n"
        "I. MỤC ĐÍCH, YÊU CẦU\n\n1. Bảo đảm mọi nhà đều có Tết.\n\n"
        "II. ĐỐI TƯỢNG, MỨC QUÀ\n\n1. Hộ nghèo: 500.000 đồng/hộ.\n\n"
        "III. Tổ chức thực hiện theo hướng dẫn của Sở.\n"
    )
    doc = _doc(text)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    # The header is set apart with the line that opens the plan: it names the plan's words
    # ("quà Tết", "hộ nghèo") and answers nothing.
    assert chunks[0].boilerplate and chunks[0].heading[-1] == "Phần mở đầu"
    assert chunks[0].text.endswith("trên địa bàn như sau:")
    assert chunks[1].text.startswith("I. MỤC ĐÍCH") and not chunks[1].boilerplate
    gifts = next(c for c in chunks if "500.000" in c.text)
    assert gifts.heading[-1] == "II. ĐỐI TƯỢNG, MỨC QUÀ"
    # Not in capitals: a sentence that happens to start with a numeral, not a part.
    assert "III. Tổ chức thực hiện" in gifts.text


def test_a_letters_recipients_and_opening_are_set_apart_but_not_a_news_articles() -> None:
    letter = (
        "SỞ NỘI VỤ\nSố: 3045/SNV-LĐVL\nV/v hỗ trợ người lao động mất việc làm\n\n"
        "Nghệ An, ngày 22 tháng 10 năm 2025\n\nKính gửi:\n\n- Ủy ban nhân dân các xã, phường;\n"
        "- Các doanh nghiệp trên địa bàn tỉnh.\n\nThực hiện Quyết định số 2760/QĐ-UBND của Ủy "
        "ban nhân dân tỉnh, Sở Nội vụ hướng dẫn như sau:\n\n## 1. Mức hỗ trợ\n\n"
        "Người lao động được hỗ trợ một lần 3.000.000 đồng/người.\n"
    )
    doc = _doc(letter)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    assert chunks[0].boilerplate and chunks[0].heading[-1] == "Phần mở đầu"
    assert chunks[0].text.endswith("hướng dẫn như sau:")
    assert [c.boilerplate for c in chunks[1:]] == [False]
    news = (
        "Tỉnh hỗ trợ người lao động mất việc làm\n\nThực hiện chính sách của tỉnh, mức hỗ trợ "
        "được quy định như sau:\n\nMỗi người lao động được hỗ trợ 3.000.000 đồng.\n"
    )
    doc = _doc(news)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    assert not any(c.boilerplate for c in chunks)


def test_a_decisions_table_stays_with_its_article() -> None:
    text = (
        "Điều 3. Mức trợ cấp hằng tháng\n\nĐối tượng | Mức trợ cấp\n"
        "Đối tượng: Người từ đủ 80 tuổi | Mức trợ cấp: 500.000\n"
        "Đối tượng: Trẻ em mồ côi | Mức trợ cấp: 1.000.000\n\n"
        "Điều 4. Quyết định này có hiệu lực kể từ ngày 01 tháng 10 năm 2025."
    )
    doc = _doc(text)
    chunks = chunk_document(doc, max_tokens=200, count_tokens=COUNT)
    _check(doc, chunks, 200, COUNT)
    table = next(c for c in chunks if "Trẻ em mồ côi" in c.text)
    assert table.heading[-1] == "Điều 3. Mức trợ cấp hằng tháng"
    assert chunks[-1].heading[-1] == "Điều 4" and chunks[-1].text.startswith("Điều 4.")


@pytest.mark.parametrize(
    ("question", "figure"),
    [
        ("Mỗi hộ cận nghèo được hỗ trợ bao nhiêu tiền?", "2.500.000 đồng"),
        ("Hộ nuôi trồng thủy sản bị thiệt hại được hỗ trợ bao nhiêu?", "5.000.000 đồng/ha"),
    ],
)
def test_the_rule_on_an_articles_line_is_quoted_not_the_decisions_title(
    tmp_path: Path, question: str, figure: str
) -> None:
    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "quyet-dinh-123.txt").write_text(DECISION, encoding="utf-8")
    settings = Settings(
        documents_dir=docs,
        index_dir=tmp_path / "index",
        cache_dir=tmp_path / "cache",
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    try:
        assert assistant.ingest().failed == ()
        answer = assistant.ask(question)
    finally:
        assistant.close()
    assert not answer.abstained, answer.text
    assert any(figure in c.quote for c in answer.citations), answer.text
    assert all("QUYẾT ĐỊNH" not in c.quote and "Căn cứ" not in c.quote for c in answer.citations)
