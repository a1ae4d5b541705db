"""Evaluation: question-set loading, metrics on hand-made cases, the runner and its report,
and the project's own question set (eval/questions.jsonl)."""

from __future__ import annotations

import difflib
import json
import math
import random
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from qa_assistant import __version__
from qa_assistant.errors import AnswererError, QuestionSetError
from qa_assistant.evaluation import (
    ALL_METRICS,
    PER_QUESTION_METRICS,
    Question,
    abstention_metrics,
    auc,
    best_token_f1,
    citation_support,
    citation_validity,
    containment,
    evaluate,
    format_value,
    gold_match_threshold,
    has_common_run,
    hit_at,
    load_question_set,
    matches_gold,
    mrr_at,
    ndcg_at,
    percentile,
    question_metrics,
    retrieval_metrics,
    run_evaluation,
    short_answer_match,
    token_f1,
)
from qa_assistant.types import Answer, Chunk, Citation, Hit

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.jsonl"
DOCUMENTS = ROOT / "documents"

EVIDENCE = (
    "Theo đó, UBND tỉnh Quảng Ninh quyết định hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố để tổ "
    "chức các hoạt động đón Tết Nguyên đán Bính Ngọ 2026. Nguồn kinh phí được sử dụng cho việc "
    "trang trí cảnh quan, tổ chức các hoạt động văn hóa, văn nghệ, thể thao, trò chơi dân gian."
)
OTHER = (
    "Trong năm 2025, tỉnh đã hoàn thành xây dựng, sửa chữa nhà ở cho 104/104 hộ nghèo, "
    "cận nghèo theo chuẩn nghèo đa chiều của tỉnh và 273/273 hộ người có công với cách mạng, "
    "thân nhân liệt sĩ."
)
FILLER = "Đoạn văn khác không liên quan nói về thời tiết và giao thông trong dịp cuối tuần. " * 20


# --- the gold match ------------------------------------------------------------------------------


def test_evidence_inside_large_passage_matches_the_gold() -> None:
    assert matches_gold(FILLER + EVIDENCE + FILLER, EVIDENCE)


def test_passage_inside_long_evidence_matches_the_gold() -> None:
    # A chunker may split a long gold paragraph: each substantial piece still counts.
    assert matches_gold(EVIDENCE[:120], EVIDENCE)
    assert matches_gold(EVIDENCE[-150:], EVIDENCE)


def test_tiny_passage_inside_evidence_does_not_match_the_gold() -> None:
    assert not matches_gold("Quảng Ninh", EVIDENCE)
    assert not matches_gold("hỗ trợ 10 triệu đồng", EVIDENCE)


def test_tiny_evidence_inside_passage_matches_the_gold() -> None:
    assert matches_gold(FILLER + "10 triệu đồng" + FILLER, "10 triệu đồng")


def test_partial_overlap_counts_when_it_covers_half_of_the_shorter_text() -> None:
    cut = len(EVIDENCE) * 6 // 10
    assert matches_gold(FILLER + EVIDENCE[:cut], EVIDENCE)  # 60 % of the evidence
    small = len(EVIDENCE) * 3 // 10
    assert not matches_gold(FILLER + EVIDENCE[:small], EVIDENCE)  # 30 %, passage much longer


def test_whitespace_case_and_unicode_form_do_not_matter() -> None:
    messy = EVIDENCE.replace(" ", "  \n").upper()
    assert matches_gold(messy, EVIDENCE)
    decomposed = unicodedata.normalize("NFD", EVIDENCE)
    assert matches_gold(FILLER + decomposed, EVIDENCE)


def test_a_table_row_matches_its_printed_row_by_its_cells() -> None:
    from qa_assistant._loading.tables import table_lines

    rows = [
        ["Nội dung hỗ trợ", "Ngân sách trung ương", "Ngân sách tỉnh hỗ trợ thêm", "Tổng mức"],
        ["Xây dựng mới nhà ở", "60.000.000", "20.000.000", "80.000.000"],
        ["Sửa chữa, cải tạo nhà ở", "30.000.000", "10.000.000", "40.000.000"],
    ]
    passage = "Điều 3. Mức hỗ trợ\n" + "\n".join(table_lines(rows))
    assert matches_gold(passage, "Sửa chữa, cải tạo nhà ở 30.000.000 10.000.000 40.000.000")
    # Another row's values are not this row's.
    assert not matches_gold(passage, "Sửa chữa, cải tạo nhà ở 60.000.000 20.000.000 80.000.000")


def test_unrelated_and_empty_texts_match_no_gold() -> None:
    assert not matches_gold(OTHER, EVIDENCE)
    assert not matches_gold("", EVIDENCE)
    assert not matches_gold(EVIDENCE, "   ")


def test_threshold_uses_the_shorter_text_and_a_floor() -> None:
    assert gold_match_threshold(1000, 400) == 200
    assert gold_match_threshold(60, 400) == 40  # the floor, not 30
    assert gold_match_threshold(500, 12) == 12  # a tiny evidence must appear whole


def test_common_run_search_agrees_with_difflib() -> None:
    rng = random.Random(7)
    for _ in range(300):
        # A small alphabet makes many repeated blocks: the hard case for the block search.
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 80)))
        b = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 80)))
        if rng.random() < 0.5 and a:
            i = rng.randrange(len(a))
            b = b[: len(b) // 2] + a[i : i + rng.randint(1, 40)] + b[len(b) // 2 :]
        longest = (
            difflib.SequenceMatcher(None, a, b, autojunk=False)
            .find_longest_match(0, len(a), 0, len(b))
            .size
        )
        for length in (1, 3, 8, 15, 30):
            assert has_common_run(a, b, length) == (longest >= length), (a, b, length)


def test_the_gold_match_is_fast_enough_for_a_full_benchmark() -> None:
    rng = random.Random(1)
    text = (FILLER + EVIDENCE + OTHER) * 10
    pairs = []
    for _ in range(700):
        i, j = rng.randrange(len(text) - 3000), rng.randrange(len(text) - 800)
        pairs.append((text[i : i + 3000], text[j : j + 800]))
    started = time.perf_counter()
    for passage, evidence in pairs:
        matches_gold(passage, evidence)
    # 700 pairs is a tenth of a 700-question run; difflib takes ~15 s for these.
    assert time.perf_counter() - started < 2.0


# --- retrieval metrics --------------------------------------------------------------------------


def test_hit_mrr_ndcg_on_hand_made_rankings() -> None:
    flags = [False, False, True, False]
    assert hit_at(flags, 1) == 0.0
    assert hit_at(flags, 5) == 1.0
    assert mrr_at(flags) == pytest.approx(1 / 3)
    assert ndcg_at(flags) == pytest.approx(1 / math.log2(4))
    assert ndcg_at([True, False, True]) == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )
    assert mrr_at([False] * 10) == 0.0
    assert ndcg_at([]) == 0.0
    assert mrr_at([False] * 10 + [True]) == 0.0  # beyond rank 10


def test_retrieval_metrics_penalise_a_missing_second_evidence() -> None:
    found_one = retrieval_metrics([EVIDENCE, FILLER], [EVIDENCE, OTHER])
    assert found_one["hit@1"] == 1.0
    assert found_one["ndcg@10"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # One passage holding both evidence texts is a perfect ranking.
    both = retrieval_metrics([EVIDENCE + " " + OTHER], [EVIDENCE, OTHER])
    assert both["ndcg@10"] == pytest.approx(1.0)
    nothing = retrieval_metrics([FILLER], [EVIDENCE])
    assert nothing == {"hit@1": 0.0, "hit@5": 0.0, "hit@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}


# --- answer metrics -----------------------------------------------------------------------------


def test_containment_normalises_and_ignores_markers() -> None:
    assert containment("Mỗi thôn được hỗ trợ 10 TRIỆU\n đồng [1].", ["10 triệu đồng"]) == 1.0
    assert containment("hỗ trợ 10 triệu [1] đồng", ["10 triệu đồng"]) == 1.0
    nfd = unicodedata.normalize("NFD", "10 triệu đồng")
    assert containment(f"được {nfd}", ["10 triệu đồng"]) == 1.0
    assert containment("hỗ trợ 20 triệu đồng", ["10 triệu đồng"]) == 0.0
    assert containment("bất kỳ", []) == 0.0


def test_containment_lets_a_quote_end_at_its_marker() -> None:
    # The answer's quote gives its closing stop to the marker; the gold span keeps its own.
    answer = "Theo tài liệu, công bố bài giảng trên trang web môn học [1]."
    assert containment(answer, ["trên trang web môn học."]) == 1.0
    assert containment(answer, ["trên trang web môn học;"]) == 1.0
    # Only the closing punctuation gives way, not words.
    assert containment(answer, ["trên trang web môn học trước"]) == 0.0
    assert containment(answer, [" . "]) == 0.0


def test_token_f1_on_hand_made_cases() -> None:
    assert token_f1("10 triệu đồng", "10 triệu đồng") == 1.0
    # predicted 5 tokens, gold 3, 3 shared: P = 3/5, R = 1, F1 = 0.75
    assert token_f1("hỗ trợ 10 triệu đồng [1]", "10 triệu đồng") == pytest.approx(0.75)
    assert token_f1("không biết", "10 triệu đồng") == 0.0
    assert best_token_f1("95%", ["khoảng 97%", "95%"]) == 1.0
    assert token_f1("", "") == 1.0


def test_auc_counts_pairs_ranked_right_and_ties_as_half() -> None:
    assert auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert auc([0.1, 0.9], [True, False]) == 0.0
    # pairs (positive, negative): (0.5, 0.5) tie, (0.5, 0.2) right, (0.1, 0.5) and (0.1, 0.2)
    # wrong: (0.5 + 1) / 4
    assert auc([0.5, 0.1, 0.5, 0.2], [True, True, False, False]) == pytest.approx(0.375)
    assert auc([0.3, 0.7], [True, True]) is None
    with pytest.raises(ValueError):
        auc([0.3, 0.7], [True])


# --- citation metrics ---------------------------------------------------------------------------


def _citation(marker: int, passage: str, quote: str) -> Citation:
    start = passage.find(quote)
    return Citation(
        marker=marker,
        source="doc.txt",
        title="Tài liệu",
        heading="",
        passage=passage,
        quote=quote,
        start=max(start, 0),
        end=max(start, 0) + len(quote),
    )


def test_citation_validity() -> None:
    good = _citation(1, EVIDENCE, "hỗ trợ 10 triệu đồng")
    assert citation_validity("Tỉnh hỗ trợ 10 triệu đồng [1].", [good]) == 1.0
    assert citation_validity("Tỉnh hỗ trợ 10 triệu đồng [2].", [good]) == 0.0  # no citation 2
    assert citation_validity("Tỉnh hỗ trợ 10 triệu đồng.", [good]) == 0.0  # cites nothing
    forged = _citation(1, EVIDENCE, "hỗ trợ 50 triệu đồng")
    assert citation_validity("Tỉnh hỗ trợ 50 triệu đồng [1].", [forged]) == 0.0
    nfd = _citation(1, EVIDENCE, unicodedata.normalize("NFD", "hỗ trợ 10 triệu đồng"))
    assert citation_validity("[1]", [nfd]) == 1.0


def test_citation_support() -> None:
    assert citation_support([_citation(1, FILLER + EVIDENCE, "Theo đó")], [EVIDENCE]) == 1.0
    assert citation_support([_citation(1, OTHER, "104/104")], [EVIDENCE]) == 0.0
    assert citation_support([], [EVIDENCE]) == 0.0


# --- abstention, latency, applicability ---------------------------------------------------------


def test_abstention_metrics() -> None:
    answerable = [True, True, True, False, False]
    abstained = [False, True, False, True, False]
    figures = abstention_metrics(answerable, abstained)
    assert figures["abstention_precision"] == pytest.approx(0.5)
    assert figures["abstention_recall"] == pytest.approx(0.5)
    assert figures["false_abstention_rate"] == pytest.approx(1 / 3)
    none = abstention_metrics([True], [False])
    assert none["abstention_precision"] is None
    assert none["abstention_recall"] is None


def test_percentile_interpolates() -> None:
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == pytest.approx(25.0)
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(map(float, range(1, 101))), 95) == pytest.approx(95.05)
    assert percentile([], 50) is None


def test_metrics_that_do_not_apply_are_none() -> None:
    unanswerable = Question(id="u", question="?", answerable=False)
    answer = Answer(question="?", text="10 triệu đồng [1]", abstained=False)
    values = question_metrics(unanswerable, answer)
    assert values["wrong_answer"] == 1.0  # an unanswerable question answered is wrong
    assert all(v is None for k, v in values.items() if k != "wrong_answer")
    no_gold = Question(id="r", question="?", evidence=(EVIDENCE,))
    values = question_metrics(no_gold, Answer(question="?", text="", abstained=True))
    assert values["containment"] is None and values["token_f1"] is None
    assert values["hit@1"] == 0.0
    assert values["citation_validity"] is None  # it abstained: nothing to check


def test_wrong_answers_count_answers_without_gold_and_unanswerable_answered() -> None:
    asked = Question(id="a", question="?", answers=("10 triệu đồng",))
    right = Answer(
        question="?", text="Theo tài liệu, mỗi thôn được 10 Triệu  đồng [1].", abstained=False
    )
    wrong = Answer(
        question="?", text="Theo tài liệu, mỗi hộ được 2 triệu đồng [1].", abstained=False
    )
    honest = Answer(question="?", text="Không tìm thấy.", abstained=True)
    assert question_metrics(asked, right)["wrong_answer"] == 0.0
    assert question_metrics(asked, wrong)["wrong_answer"] == 1.0
    assert question_metrics(asked, honest)["wrong_answer"] == 0.0
    near_miss = Question(id="n", question="?", answerable=False)
    assert question_metrics(near_miss, honest)["wrong_answer"] == 0.0
    assert question_metrics(near_miss, wrong)["wrong_answer"] == 1.0
    no_gold = Question(id="r", question="?", evidence=(EVIDENCE,))
    assert question_metrics(no_gold, wrong)["wrong_answer"] is None  # nothing to judge it by


def test_short_answer_precision_judges_only_shown_spans() -> None:
    asked = Question(id="a", question="?", answers=("10 triệu đồng cho mỗi thôn",))

    def shown(span: str) -> float | None:
        answer = Answer(question="?", text=f"… {span} … [1]", abstained=False, answer_span=span)
        return question_metrics(asked, answer)["short_answer_precision"]

    assert shown("10 triệu đồng") == 1.0  # held by the gold answer
    assert shown("hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố") == 1.0  # holds it
    assert shown("2 triệu đồng") == 0.0
    assert shown("") is None
    near_miss = Question(id="n", question="?", answerable=False)
    spanned = Answer(question="?", text="10 triệu đồng [1]", abstained=False, answer_span="10")
    assert question_metrics(near_miss, spanned)["short_answer_precision"] == 0.0
    assert short_answer_match("10 Triệu  đồng.", ["10 triệu đồng"]) == 1.0


# --- question-set files -------------------------------------------------------------------------


def _line(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "q",
        "question": "Bao nhiêu?",
        "answers": ["10 triệu đồng"],
        "evidence": [EVIDENCE],
        "sources": ["a.txt"],
        "answerable": True,
    }
    base.update(fields)
    return json.dumps(base, ensure_ascii=False)


def test_malformed_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        "\n".join(
            [
                _line(id="a"),
                "{not json",
                "",
                _line(id="b", question=""),
                _line(id="c", answers="10 triệu đồng"),
                _line(id="a"),
                _line(id="d", answerable="no"),
                "[1, 2]",
                _line(id="e", answerable=False),
                _line(id="f", answers=[], evidence=[], answerable=False, kind="unanswerable"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    qs = load_question_set(path)
    assert [q.id for q in qs.questions] == ["a", "f"]
    assert [n for n, _ in qs.errors] == [2, 4, 5, 6, 7, 8, 9]
    reasons = dict(qs.errors)
    assert "JSON" in reasons[2]
    assert "question" in reasons[4]
    assert "answers" in reasons[5]
    assert "duplicate" in reasons[6]
    assert "unanswerable" in reasons[9]
    assert qs.questions[1].kind == "unanswerable" and not qs.questions[1].answerable


def test_unusable_files_raise(tmp_path: Path) -> None:
    with pytest.raises(QuestionSetError, match="does not exist"):
        load_question_set(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(QuestionSetError, match="empty"):
        load_question_set(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n[]\n", encoding="utf-8")
    with pytest.raises(QuestionSetError, match="line 1"):
        load_question_set(bad)


def test_bom_nfc_and_split_selection(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    nfd = unicodedata.normalize("NFD", "Bao nhiêu tiền?")
    path.write_text(
        "\ufeff" + _line(id="a", question=nfd, split="dev") + "\n" + _line(id="b", split="holdout"),
        encoding="utf-8",
    )
    qs = load_question_set(path)
    assert qs.questions[0].question == unicodedata.normalize("NFC", nfd)
    assert qs.splits == ("dev", "holdout")
    assert [q.id for q in qs.select("holdout")] == ["b"]
    assert len(qs.select(None)) == 2
    with pytest.raises(QuestionSetError, match="split"):
        qs.select("test")


# --- the runner end to end ----------------------------------------------------------------------


def _chunk(n: int, text: str) -> Chunk:
    return Chunk(id=f"c{n}", source="doc.txt", title="Tài liệu", text=text, start=0, end=len(text))


CORPUS = [
    _chunk(0, FILLER),
    _chunk(1, EVIDENCE),
    _chunk(2, OTHER),
    _chunk(3, "Một đoạn khác về giáo dục và học phí ở vùng khó khăn, miền núi, hải đảo xa xôi."),
]


def _answer(question: str, order: Sequence[int], text: str, cite: int | None, ms: float) -> Answer:
    hits = tuple(
        Hit(chunk=CORPUS[i], score=1.0 - rank / 10, rank=rank + 1) for rank, i in enumerate(order)
    )
    citations: tuple[Citation, ...] = ()
    if cite is not None:
        passage = CORPUS[cite].text
        citations = (_citation(1, passage, passage[:40]),)
    return Answer(
        question=question,
        text=text,
        abstained=cite is None and not text.startswith("Sai"),
        citations=citations,
        hits=hits,
        latency_ms=ms,
    )


SCRIPT = {
    # question -> (ranking, answer text, cited chunk or None (abstain), latency)
    "Mỗi thôn được bao nhiêu?": ([1, 0, 2], "Hỗ trợ 10 triệu đồng [1].", 1, 120.0),
    "Bao nhiêu hộ nghèo được sửa nhà?": ([0, 3, 2], "Sai: 20 hộ [1].", 3, 80.0),
    "Hộ người có công?": ([3, 0], "Không tìm thấy.", None, 60.0),
    "Hà Nội hỗ trợ bao nhiêu?": ([0, 1], "Không tìm thấy.", None, 40.0),
    "Lạng Sơn hỗ trợ bao nhiêu?": ([1], "Sai: 10 triệu đồng [1].", 1, 200.0),
}


def fake_ask(question: str) -> Answer:
    if question not in SCRIPT:
        raise AnswererError("The language model did not answer; check the server.")
    order, text, cite, ms = SCRIPT[question]
    return _answer(question, order, text, cite, ms)


def _questions() -> list[Question]:
    def q(i: str, text: str, kind: str, split: str, answers=(), evidence=(), ok=True) -> Question:  # type: ignore[no-untyped-def]
        return Question(i, text, tuple(answers), tuple(evidence), ("doc.txt",), ok, kind, split)

    return [
        q("q1", "Mỗi thôn được bao nhiêu?", "number", "dev", ["10 triệu đồng"], [EVIDENCE]),
        q("q2", "Bao nhiêu hộ nghèo được sửa nhà?", "number", "holdout", ["104/104"], [OTHER]),
        q("q3", "Hộ người có công?", "eligibility", "dev", ["273/273"], [OTHER]),
        q("q4", "Hà Nội hỗ trợ bao nhiêu?", "unanswerable", "dev", ok=False),
        q("q5", "Lạng Sơn hỗ trợ bao nhiêu?", "unanswerable", "holdout", ok=False),
        q("q6", "Câu hỏi làm máy chủ lỗi?", "number", "dev", ["x"], [EVIDENCE]),
    ]


def _table(report: str, heading: str) -> dict[str, dict[str, str]]:
    """The metric table under a report heading: column -> metric -> cell."""
    section = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    table: dict[str, dict[str, str]] = {col: {} for col in header[1:]}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for col, cell in zip(header[1:], cells[1:], strict=True):
            table[col][cells[0]] = cell
    return table


def _recompute(rows: list[dict[str, object]]) -> dict[str, str]:
    """Report cells recomputed from results.jsonl alone, independently of the library."""
    cells: dict[str, str] = {"questions": str(len(rows))}
    for name in PER_QUESTION_METRICS:
        values = [r["metrics"][name] for r in rows if r["metrics"][name] is not None]  # type: ignore[index]
        cells[name] = (
            f"{format_value(name, sum(values) / len(values) if values else None)} ({len(values)})"
        )
    abst = [r for r in rows if r["abstained"]]
    unans = [r for r in rows if not r["answerable"]]
    ans = [r for r in rows if r["answerable"]]
    right = sum(1 for r in abst if not r["answerable"])

    def ratio(num: int, den: int) -> str:
        return format_value("rate", num / den if den else None) + f" ({den})"

    cells["abstention_precision"] = ratio(right, len(abst))
    cells["abstention_recall"] = ratio(right, len(unans))
    cells["false_abstention_rate"] = ratio(sum(1 for r in ans if r["abstained"]), len(ans))
    lat = sorted(float(r["latency_ms"]) for r in rows)  # type: ignore[arg-type]

    def pct(q: float) -> float:
        pos = (len(lat) - 1) * q
        lo = math.floor(pos)
        hi = min(lo + 1, len(lat) - 1)
        return lat[lo] + (lat[hi] - lat[lo]) * (pos - lo)

    cells["latency_p50_ms"] = f"{pct(0.5):.1f} ({len(lat)})"
    cells["latency_p95_ms"] = f"{pct(0.95):.1f} ({len(lat)})"
    return cells


def test_runner_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = {"model": "fake", "retriever": "hybrid", "k": 5, "index_chunks": len(CORPUS)}
    summary = evaluate(_questions(), fake_ask, out, config, progress=False)

    names = {p.name for p in summary.files}
    assert {"results.jsonl", "summary.json", "report.md"} <= names
    for png in ("hit_rate_by_rank.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    shown = fake_ask("Mỗi thôn được bao nhiêu?").to_dict()
    for key in ("answer", "abstained", "citations", "retrieved"):
        assert rows[0][key] == shown[key]
    assert rows[0]["metrics"]["hit@1"] == 1.0 and rows[0]["metrics"]["containment"] == 1.0
    assert rows[1]["metrics"]["mrr@10"] == pytest.approx(1 / 3)
    assert rows[1]["metrics"]["citation_support"] == 0.0
    assert rows[5]["error"] and "language model" in rows[5]["error"]
    assert rows[5]["metrics"]["hit@1"] == 0.0  # a failed question counts as a failure

    data = json.loads((out / "summary.json").read_text("utf-8"))
    assert data["version"] == __version__
    assert data["config"]["retriever"] == "hybrid" and data["config"]["k"] == 5
    assert data["questions"] == 6 and data["unanswerable"] == 2 and data["errors"] == 1
    assert set(data["by_split"]) == {"dev", "holdout"}
    assert set(data["by_kind"]) == {"number", "eligibility", "unanswerable"}
    assert set(data["metrics"]) == set(ALL_METRICS)
    assert data["metrics"]["abstention_precision"] == pytest.approx(0.5)
    assert data["metrics"]["abstention_recall"] == pytest.approx(0.5)
    assert data["metrics"]["false_abstention_rate"] == pytest.approx(0.25)

    assert "hit@1" in summary.format_table()

    report = (out / "report.md").read_text("utf-8")
    table = _table(report, "Metrics")
    assert table["all"] == _recompute(rows)
    for split in ("dev", "holdout"):
        assert table[f"split: {split}"] == _recompute([r for r in rows if r["split"] == split])
    kinds = _table(report, "By kind")
    assert kinds["number"] == _recompute([r for r in rows if r["kind"] == "number"])
    worst = report.split("## Worst questions", 1)[1]
    assert "q6" in worst and "q5" in worst  # the failed one and the answered unanswerable one


def test_run_evaluation_reports_skipped_lines_and_filters_split(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(
        _line(id="a", question="Mỗi thôn được bao nhiêu?", split="dev")
        + "\n{broken\n"
        + _line(id="b", question="Hộ người có công?", split="holdout")
        + "\n",
        encoding="utf-8",
    )
    seen: list[tuple[int, str]] = []
    summary = run_evaluation(
        path,
        fake_ask,
        tmp_path / "out",
        {"k": 5},
        split="dev",
        progress=False,
        on_skipped_line=lambda n, e: seen.append((n, e)),
    )
    assert [n for n, _ in seen] == [2]
    assert [r.question.id for r in summary.results] == ["a"]
    data = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert data["skipped_lines"][0]["line"] == 2
    assert data["config"]["split"] == "dev"
    assert "line 2" in (tmp_path / "out" / "report.md").read_text("utf-8")


# --- the project's question set -----------------------------------------------------------------


def _documents() -> dict[str, str]:
    return {
        p.name: unicodedata.normalize("NFC", p.read_text(encoding="utf-8"))
        for p in DOCUMENTS.iterdir()
        if p.is_file()
    }


def _article_body(name: str, text: str) -> tuple[int, int]:
    """Where an article's own content lies: after its header, before the "Đọc thêm" list."""
    end = text.find("\nĐọc thêm\n")
    start = text.find("TTTĐ - ") if name.startswith("quang-ninh-an-sinh") else 0
    return max(start, 0), end if end != -1 else len(text)


def test_project_question_set_is_valid() -> None:
    qs = load_question_set(QUESTIONS)
    assert qs.errors == ()
    questions = qs.questions
    assert len(questions) >= 80
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) / len(questions) >= 0.15
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == {
        "number",
        "eligibility",
        "name",
        "list",
        "paraphrase",
        "no_diacritics",
        "multi_passage",
        "unanswerable",
    }
    assert all(q.kind == "unanswerable" for q in unanswerable)
    assert {q.split for q in questions} == {"dev", "holdout"}
    holdout = [q for q in questions if q.split == "holdout"]
    assert 8 <= len(holdout) <= 15
    assert {q.kind for q in holdout} == set(kinds)  # every kind is checked on unseen questions

    required = [
        q
        for q in questions
        if q.question == "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"
    ]
    assert required and "10 triệu đồng" in required[0].answers

    documents = _documents()
    # Image captions are repeated lines in the article; they are page furniture, not content.
    captions = {
        line
        for text in documents.values()
        for line, following in zip(text.splitlines(), text.splitlines()[1:], strict=False)
        if line.strip() and line == following
    }
    for q in questions:
        if not q.answerable:
            assert not q.answers and not q.evidence and not q.sources, q.id
            continue
        assert q.answers and q.evidence and q.sources, q.id
        assert set(q.sources) <= set(documents), q.id
        for evidence in q.evidence:
            holders = [s for s in q.sources if evidence in documents[s]]
            assert holders, f"{q.id}: evidence not verbatim in {q.sources}"
            text = documents[holders[0]]
            start, end = _article_body(holders[0], text)
            position = text.find(evidence)
            assert start <= position and position + len(evidence) <= end, f"{q.id}: debris"
            assert evidence not in captions, f"{q.id}: caption used as evidence"
        for answer in q.answers:
            assert any(answer in e for e in q.evidence), f"{q.id}: {answer!r} not in evidence"
        if q.kind == "multi_passage":
            assert len(q.evidence) >= 2, q.id
        if q.kind == "no_diacritics":
            assert unicodedata.normalize("NFD", q.question).isascii(), q.id


def test_question_ids_are_stable_and_ordered() -> None:
    ids = [q.id for q in load_question_set(QUESTIONS).questions]
    assert ids == sorted(ids) and all(re.fullmatch(r"qn-\d{3}", i) for i in ids)


def test_citation_validity_ignores_brackets_inside_a_quote() -> None:
    from qa_assistant.evaluation import citation_validity
    from qa_assistant.types import Citation

    quote = "Với Anh văn 1 (TOEIC[400],IELTS[4.0])."
    cite = Citation(1, "s.md", "t", "h", f"Chi tiết: {quote}", quote, 0, len(quote))
    assert citation_validity(f"Theo tài liệu, {quote} [1]", [cite]) == 1.0
    # The answer may write the quote without its closing full stop.
    assert citation_validity(f"Theo tài liệu, {quote[:-1]} [1].", [cite]) == 1.0
    # The answer lowers the quote's first letter after "Theo tài liệu," and writes it on one line.
    lowered = "Chi tiết thang điểm:\nVới Anh văn 1 (TOEIC[400])."
    scale = Citation(1, "s.md", "t", "h", lowered, lowered, 0, len(lowered))
    answer = "Theo tài liệu, chi tiết thang điểm: Với Anh văn 1 (TOEIC[400]) [1]."
    assert citation_validity(answer, [scale]) == 1.0
    # A real stray marker outside the quote still fails.
    assert citation_validity(f"Theo tài liệu, {quote} [1] [400].", [cite]) == 0.0


def test_a_statement_is_scored_by_whether_its_provision_is_quoted() -> None:
    statement = Question(
        "s", "Mỗi thôn được hỗ trợ tiền đón Tết, đúng hay sai?", evidence=(EVIDENCE,)
    )
    quoted = _answer(statement.question, [1, 0], "Quy định để đối chiếu …", cite=1, ms=1.0)
    assert question_metrics(statement, quoted)["statement_provision"] == 1.0
    another = _answer(statement.question, [2, 1], "Quy định để đối chiếu …", cite=2, ms=1.0)
    assert question_metrics(statement, another)["statement_provision"] == 0.0
    turned_away = _answer(statement.question, [1, 0], "Không tìm thấy", cite=None, ms=1.0)
    assert question_metrics(statement, turned_away)["statement_provision"] == 0.0
    # Its gold passage below the top 3, or a question that states nothing: not measured.
    deep = _answer(statement.question, [0, 2, 3, 1], "Không tìm thấy", cite=None, ms=1.0)
    assert question_metrics(statement, deep)["statement_provision"] is None
    asked = replace(statement, question="Mỗi thôn được hỗ trợ bao nhiêu tiền?")
    assert question_metrics(asked, quoted)["statement_provision"] is None
    # A question set may label its statements, however they are worded.
    labelled = replace(asked, kind="Đúng/Sai")
    assert question_metrics(labelled, quoted)["statement_provision"] == 1.0
