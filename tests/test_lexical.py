from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from qa_assistant.lexical import LexicalIndex
from qa_assistant.types import Chunk, Filters, StoreVersion
from qa_assistant.vietnamese import word_tokens

TEXTS = [
    "Quảng Ninh hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố tổ chức hoạt động đón Tết.",
    "Tỉnh thực hiện chính sách miễn, giảm học phí, hỗ trợ chi phí học tập cho học sinh.",
    "Trẻ em đang đi học được hỗ trợ uống sữa miễn phí đến hết năm 2030.",
]


def _index() -> LexicalIndex:
    chunks = [
        Chunk(id=f"c{i}", source=f"d{i}.txt", title="t", text=t, start=0, end=len(t))
        for i, t in enumerate(TEXTS)
    ]
    return LexicalIndex(chunks, [word_tokens(t) for t in TEXTS], version=StoreVersion("s", 3))


def test_finds_the_passage_with_the_words() -> None:
    hits = _index().search(word_tokens("miễn giảm học phí"), 3)
    assert hits[0][0] == "c1"
    assert all(score > 0 for _, score in hits)


def test_question_without_diacritics_matches_the_folded_field() -> None:
    index = _index()
    assert index.search(word_tokens("mien giam hoc phi"), 3, folded=False) == []
    hits = index.search(word_tokens("mien giam hoc phi"), 3, folded=True)
    assert hits[0][0] == "c1"


def test_unknown_words_find_nothing() -> None:
    assert _index().search(["xyzzy"], 3) == []


def test_mask_restricts_results() -> None:
    index = _index()
    allowed = index.mask(Filters(sources=("d2.txt",)))
    hits = index.search(word_tokens("hỗ trợ"), 3, allowed=allowed)
    assert [cid for cid, _ in hits] == ["c2"]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = _index()
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded is not None
    assert loaded.version == StoreVersion("s", 3)
    assert loaded.chunks == index.chunks
    q = word_tokens("sữa miễn phí")
    assert loaded.search(q, 3) == index.search(q, 3)


def test_load_of_missing_or_corrupt_index_is_none(tmp_path: Path) -> None:
    assert LexicalIndex.load(tmp_path) is None
    (tmp_path / "lexical.npz").write_bytes(b"PK\x03\x04 not a whole zip file")
    assert LexicalIndex.load(tmp_path) is None


def test_differently_segmented_words_still_match_on_syllables() -> None:
    # The passage has the compound "chính_sách"; a question segmented into its syllables (or
    # holding a word the segmenter never saw) still matches through the syllable field.
    index = _index()
    assert [cid for cid, _ in index.search(["chính", "sách"], 3)] == ["c1"]
    assert index.search(["chính", "sách"], 3, syllable_weight=0.0) == []


def _dated_index() -> LexicalIndex:
    days = [date(2024, 1, 5), None, date(2025, 6, 1), date(2025, 12, 31)]
    chunks = [
        Chunk(
            id=f"c{i}",
            source=f"d{i % 2}.txt",
            title="Tiêu đề",
            text=f"hỗ trợ học phí lần {i}",
            start=0,
            end=20,
            heading=("Luật", f"Điều {i}"),
            ordinal=i,
            date=d,
        )
        for i, d in enumerate(days)
    ]
    return LexicalIndex(chunks, [word_tokens(c.text) for c in chunks], version=StoreVersion("s", 3))


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(sources=("d1.txt",)),
        Filters(sources=("d0.txt", "nowhere.txt")),
        Filters(sources=("nowhere.txt",)),
        Filters(date_from=date(2025, 1, 1)),
        Filters(date_to=date(2025, 6, 1)),
        Filters(date_from=date(2024, 1, 5), date_to=date(2025, 6, 1)),
        Filters(sources=("d0.txt",), date_from=date(2025, 1, 1)),
    ],
)
def test_mask_agrees_with_filters_admits(filters: Filters, tmp_path: Path) -> None:
    index = _dated_index()
    expected = [filters.admits(c) for c in index.chunks]
    assert index.mask(filters).tolist() == expected
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded is not None
    assert loaded.mask(filters).tolist() == expected


def test_loaded_chunks_keep_every_field(tmp_path: Path) -> None:
    index = _dated_index()
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded is not None
    assert loaded.chunk("c2") == index.chunk("c2")
    assert loaded.chunks == index.chunks
    assert loaded.chunk("missing") is None
    # Saving a loaded index writes the same index again.
    again = tmp_path / "again"
    loaded.save(again)
    reloaded = LexicalIndex.load(again)
    assert reloaded is not None and reloaded.chunks == index.chunks


def test_an_older_format_is_not_loaded_and_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "lexical.json").write_text('{"format": 2}', encoding="utf-8")
    assert LexicalIndex.load(tmp_path) is None
    _index().save(tmp_path)
    assert not (tmp_path / "lexical.json").exists()
    assert LexicalIndex.load(tmp_path) is not None


def test_an_empty_index_round_trips(tmp_path: Path) -> None:
    LexicalIndex([], []).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded is not None and len(loaded) == 0
    assert loaded.search(["học"], 3) == []
