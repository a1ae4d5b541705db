"""Chunking: structure-aware, exact spans, budget respected, nothing lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qa_assistant._chunking import CHUNKER_VERSION, chunk_document
from qa_assistant._loading import load_document
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
