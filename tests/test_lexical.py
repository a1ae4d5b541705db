from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from qa_assistant._chunking.chunker import chunk_document
from qa_assistant._loading import discover, load_document
from qa_assistant._store.lexical import LexicalIndex
from qa_assistant._vietnamese import word_tokens
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import Chunk, Filters, StoreVersion
from support.corpus import write_policy_corpus

ROOT = Path(__file__).resolve().parents[1]

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


# -- following the store: an updated index against one rebuilt from the same chunks ------------


def _corpus(tmp_path: Path) -> dict[str, list[tuple[Chunk, list[str]]]]:
    """The seed documents and a generated policy corpus, chunked small: source -> rows."""
    write_policy_corpus(tmp_path / "policy", count=8)
    rows: dict[str, list[tuple[Chunk, list[str]]]] = {}
    count = FakeEmbedder().count_tokens
    for path, source in discover([ROOT / "documents", tmp_path / "policy"]):
        for c in chunk_document(load_document(path, source), max_tokens=80, count_tokens=count):
            rows.setdefault(source, []).append((c, word_tokens(c.indexed_text)))
    return rows


def _built(rows: dict[str, list[tuple[Chunk, list[str]]]], version: StoreVersion) -> LexicalIndex:
    flat = [r for source in sorted(rows) for r in rows[source]]
    return LexicalIndex([c for c, _ in flat], [w for _, w in flat], version)


def _ranking(index: LexicalIndex, question: str, folded: bool) -> list[tuple[float, str]]:
    # Equal scores may come in another row order: the whole ranking, ties broken by id.
    hits = index.search(word_tokens(question), len(index), folded=folded)
    return sorted((-round(score, 4), cid) for cid, score in hits)


def _questions() -> list[str]:
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


@pytest.mark.parametrize("merge_share", [100.0, 1e-6], ids=["segments", "folded"])
def test_an_updated_index_ranks_like_a_rebuilt_one(tmp_path: Path, merge_share: float) -> None:
    rows = _corpus(tmp_path)
    sources = sorted(rows)
    seed = [s for s in sources if s.startswith("quang-ninh")]
    assert len(seed) == 2 and len(sources) == 10
    # Start without the second seed document and two policy documents.
    held_back = [seed[1], sources[3], sources[4]]
    start = {s: r for s, r in rows.items() if s not in held_back}
    index = LexicalIndex(
        [c for s in sorted(start) for c, _ in start[s]],
        [w for s in sorted(start) for _, w in start[s]],
        StoreVersion("store", 1),
        merge_share=merge_share,
    )
    # Three commits as a replica reads them from the change log: documents added, one removed,
    # one edited (its last passage gone), the first seed document re-added unchanged.
    final = dict(start)
    steps: list[tuple[list[str], dict[str, list[tuple[Chunk, list[str]]]]]] = [
        ([seed[1], sources[3]], {seed[1]: rows[seed[1]], sources[3]: rows[sources[3]]}),
        ([sources[5], sources[6]], {sources[6]: rows[sources[6]][:-1]}),
        ([seed[0], sources[4]], {seed[0]: rows[seed[0]], sources[4]: rows[sources[4]]}),
    ]
    for generation, (changed, now) in enumerate(steps, start=2):
        for source in changed:
            final.pop(source, None)
        final.update(now)
        added = [r for s in sorted(now) for r in now[s]]
        index = index.updated(
            changed,
            [c for c, _ in added],
            [w for _, w in added],
            StoreVersion("store", generation),
        )
    assert (index.segments > 1) is (merge_share > 1)
    rebuilt = _built(final, StoreVersion("store", 4))
    assert len(index) == len(rebuilt)
    assert sorted(c.id for c in index.chunks) == sorted(c.id for c in rebuilt.chunks)
    assert index.chunk(rows[sources[5]][0][0].id) is None  # removed
    for question in _questions():
        for folded in (False, True):
            assert _ranking(index, question, folded) == _ranking(rebuilt, question, folded), (
                question
            )
    # Filters see only live rows too.
    only = Filters(sources=(sources[6],))
    hits = index.search(word_tokens("học phí"), 50, allowed=index.mask(only))
    assert hits and {index.chunk(cid).source for cid, _ in hits} == {sources[6]}  # type: ignore[union-attr]
    # Saved (folded) and loaded back: the same ranking, the same version.
    index.save(tmp_path / "saved")
    loaded = LexicalIndex.load(tmp_path / "saved")
    assert loaded is not None and loaded.is_folded
    assert loaded.version == StoreVersion("store", 4)
    for question in _questions()[:20]:
        assert _ranking(loaded, question, False) == _ranking(rebuilt, question, False)
