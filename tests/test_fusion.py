from __future__ import annotations

from dataclasses import replace

import pytest

from qa_assistant._retrieval.retriever import (
    RRF_K,
    demote_boilerplate,
    diversify,
    rrf_fuse,
    weighted_fuse,
)
from qa_assistant.types import Chunk, Hit


def test_rrf_rewards_items_ranked_by_both_legs() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["c", "a", "d"]])
    assert [item for item, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))


def test_rrf_weights_scale_a_leg() -> None:
    fused = dict(rrf_fuse([["a"], ["b"]], weights=[1.0, 2.0]))
    assert fused["b"] == pytest.approx(2 * fused["a"])


def test_rrf_of_nothing_is_empty() -> None:
    assert rrf_fuse([[], []]) == []


def test_weighted_fuse_normalises_each_leg() -> None:
    # Raw scales differ wildly (cosine vs BM25); after min-max both legs count equally.
    fused = dict(weighted_fuse([{"a": 0.9, "b": 0.1}, {"a": 0.0, "b": 40.0, "c": 20.0}]))
    assert fused["a"] == pytest.approx(1.0)
    assert fused["b"] == pytest.approx(1.0)
    assert fused["c"] == pytest.approx(0.5)


def test_weighted_fuse_single_valued_leg_counts_fully() -> None:
    assert dict(weighted_fuse([{"a": 3.0}], weights=[0.5])) == {"a": pytest.approx(0.5)}


def test_weighted_fuse_ties_break_by_id() -> None:
    assert [i for i, _ in weighted_fuse([{"b": 1.0, "a": 1.0}])] == ["a", "b"]


def _hit(cid: str, text: str) -> Hit:
    return Hit(Chunk(id=cid, source="s.txt", title="t", text=text, start=0, end=len(text)), 1.0)


def test_diversify_drops_a_repeated_passage_but_keeps_order() -> None:
    caption = "Quảng Ninh hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố tổ chức hoạt động đón Tết"
    hits = [
        _hit("1", caption),
        _hit("2", caption + "."),
        _hit("3", "Một đoạn khác hẳn về y tế cơ sở."),
    ]
    assert [h.chunk.id for h in diversify(hits, k=10)] == ["1", "3"]


def test_diversify_keeps_distinct_passages() -> None:
    hits = [_hit(str(i), f"đoạn {i} nói về chủ đề số {i} khác nhau hoàn toàn") for i in range(5)]
    assert len(diversify(hits, k=10)) == 5


def test_the_evidence_step_lifts_the_passage_whose_sentence_answers() -> None:
    from qa_assistant._retrieval.retriever import order_by_evidence

    vague = _hit("vague", "Tỉnh quan tâm nhiều chính sách an sinh xã hội cho người dân.")
    exact = _hit("exact", "Trẻ em đang đi học được hỗ trợ uống sữa miễn phí đến hết năm 2030.")
    tail = _hit("tail", "Đoạn cuối.").chunk
    below = _hit("below", "Đoạn dưới ngưỡng.").chunk
    hits = [Hit(vague.chunk, 1.0, 1), Hit(exact.chunk, 0.9, 2), Hit(tail, 0.1, 3)]
    hits.append(Hit(below, 0.05, 4))
    out = order_by_evidence("Trẻ em được uống sữa miễn phí đến năm nào?", hits, depth=3, weight=1.0)
    assert [h.chunk.id for h in out] == ["exact", "vague", "tail", "below"]
    scores = [h.score for h in out]
    assert scores == sorted(scores, reverse=True)


def test_the_evidence_step_with_one_candidate_changes_nothing() -> None:
    from qa_assistant._retrieval.retriever import order_by_evidence

    hits = [_hit("a", "Một đoạn.")]
    assert order_by_evidence("câu hỏi", hits, depth=10, weight=1.0) == hits


def test_the_evidence_step_prefers_the_question_words_in_their_order() -> None:
    from qa_assistant._retrieval.retriever import order_by_evidence

    # Both passages hold every content word of the question; only one writes "điểm bảo lưu"
    # as the question does, so only that one speaks of the thing asked about.
    scattered = _hit("scattered", "Điểm của sinh viên được lưu lại và bảo đảm khi tính học phí.")
    phrased = _hit("phrased", "Điểm bảo lưu được tính vào điểm trung bình của sinh viên.")
    hits = [Hit(scattered.chunk, 1.0, 1), Hit(phrased.chunk, 0.9, 2)]
    question = "Điểm bảo lưu được tính thế nào?"
    plain = order_by_evidence(question, hits, depth=2, weight=1.0)
    assert [h.chunk.id for h in plain] == ["scattered", "phrased"]
    phrase = order_by_evidence(question, hits, depth=2, weight=1.0, phrase_weight=2.0)
    assert [h.chunk.id for h in phrase] == ["phrased", "scattered"]


def test_a_preamble_moves_below_the_provisions_that_followed_it() -> None:
    text = "Căn cứ Luật Tổ chức chính quyền địa phương;"
    preamble = replace(_hit("can-cu", text).chunk, boilerplate=True)
    hits = [Hit(preamble, 1.0)] + [_hit(str(i), f"Điều {i}. Quy định số {i}.") for i in range(4)]
    assert [h.chunk.id for h in demote_boilerplate(hits, 2)] == ["0", "1", "can-cu", "2", "3"]
    assert [h.chunk.id for h in demote_boilerplate(hits, 9)][-1] == "can-cu"
    assert demote_boilerplate(hits, 0) == hits
    # Round trip through what the stores keep beside a passage.
    assert Chunk.from_metadata("can-cu", preamble.text, preamble.metadata()).boilerplate
