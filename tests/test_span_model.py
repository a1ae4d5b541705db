"""The span model: how passages are read in windows, how the answerer quotes by its span,
its training windows, and the real model (marked integration)."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa_assistant._answering.extractive import ExtractiveAnswerer
from qa_assistant._models.span import best_span, ensure_span_model, read_spans, windows
from qa_assistant._ui.rendering import render_answer
from qa_assistant.errors import QAError, SpanModelError
from qa_assistant.settings import Settings, SpanSettings, default_cache_dir
from qa_assistant.testing import FakeSpanModel
from qa_assistant.training.spans import SPAN_MODEL_SET_NAMES, _Windows, build_span_data, find_span
from qa_assistant.types import Answer, Chunk, Hit
from support.training_sets import write_virhe4qa_set

TET = Chunk(
    id="c0",
    source="tet.txt",
    title="Quà Tết",
    text=(
        "Tỉnh tổ chức nhiều hoạt động đón Tết cho người dân. "
        "UBND tỉnh quyết định hỗ trợ 10 triệu đồng cho mỗi thôn để đón Tết. "
        "Nguồn kinh phí lấy từ ngân sách tỉnh."
    ),
    start=0,
    end=150,
    heading=("Quà Tết",),
)
QUESTION = "Tỉnh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?"


# -- reading in windows -------------------------------------------------------------------------


def test_a_long_passage_is_read_in_windows_that_overlap_and_cover_it() -> None:
    question, passage = [7, 8], list(range(100, 130))
    rows = windows(question, passage, max_tokens=16)
    room = 16 - len(question) - 4
    assert all(len(r) <= 16 and r[: len(question) + 3] == [0, 7, 8, 2, 2] for r, _ in rows)
    read = {start + i for r, start in rows for i in range(len(r) - len(question) - 4)}
    assert read == set(range(len(passage)))
    assert [s for _, s in rows][:2] == [0, room // 2]
    assert windows(question, passage[:5], max_tokens=16) == [([0, 7, 8, 2, 2, *passage[:5], 2], 0)]


def test_the_best_span_ends_after_it_starts_and_is_not_too_long() -> None:
    starts = np.array([0.0, 0.0, 9.0, 0.0], dtype=np.float32)
    ends = np.array([8.0, 0.0, 0.0, 5.0], dtype=np.float32)
    assert best_span(starts, ends, max_answer=4)[:2] == (2, 3)  # not (2, 0): before its start
    assert best_span(starts, ends, max_answer=1)[:2] == (2, 2)


def test_spans_come_back_as_character_offsets_with_their_margin_over_no_answer() -> None:
    question = [5]
    ids = list(range(10, 40))  # 30 tokens, two characters each
    offsets = [(2 * i, 2 * i + 2) for i in range(30)]

    def run(rows: list[list[int]]) -> Any:
        out = np.zeros((len(rows), max(len(r) for r in rows), 2), dtype=np.float32)
        for n, row in enumerate(rows):
            out[n, 0] = (1.0, 1.0)  # "no answer" scores 2 in every window
            for t, token in enumerate(row[4:-1], start=4):
                if token == 35:  # the answer is passage token 25
                    out[n, t] = (6.0, 6.0)
        return out

    (span,) = read_spans(question, [(ids, offsets)], run, max_tokens=20, max_answer=8)
    assert span is not None and (span.start, span.end) == (50, 52)
    assert span.margin == pytest.approx(10.0)


# -- quoting by the span model -------------------------------------------------------------------


def _hits() -> list[Hit]:
    return [Hit(TET, 1.0, 1)]


def _spanning(**values: Any) -> SpanSettings:
    """Settings that quote the span model's sentence instead of the rules' from margin 0 and
    show any span in the quote, but for ``values``: each test turns on what it checks."""
    plain = {
        "select_margin": 0.0,
        "add_sentence": False,
        "span_margin": -1e9,
    }
    return SpanSettings.model_validate(plain | values)


def test_the_span_model_chooses_the_sentence_and_its_span_is_the_short_answer() -> None:
    model = FakeSpanModel(["10 triệu đồng"])
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning()).answer(QUESTION, _hits())
    assert not answer.abstained
    assert "10 triệu đồng cho mỗi thôn" in answer.citations[0].quote
    assert answer.answer_span == "10 triệu đồng" and answer.answer_span in answer.text
    assert model.calls == [(QUESTION, 1)]
    assert answer.to_dict()["answer_span"] == "10 triệu đồng"


def test_the_short_answer_is_the_sum_the_span_holds() -> None:
    model = FakeSpanModel(["10 triệu đồng cho mỗi thôn"])
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning()).answer(QUESTION, _hits())
    assert answer.answer_span == "10 triệu đồng"


def test_a_short_answer_is_of_the_kind_asked_and_inside_one_sentence() -> None:
    who = "Ai hỗ trợ mỗi thôn 10 triệu đồng để đón Tết?"
    named = ExtractiveAnswerer(span_model=FakeSpanModel(["Tỉnh"]), spanning=_spanning()).answer(
        who, _hits()
    )
    assert named.answer_span == ""  # who, what, how: no short answer
    across = FakeSpanModel(["10 triệu đồng cho mỗi thôn để đón Tết. Kinh phí"])
    answer = ExtractiveAnswerer(span_model=across, spanning=_spanning()).answer(QUESTION, _hits())
    assert answer.answer_span == ""  # it runs into the next sentence
    share = "Tỉnh hỗ trợ mỗi thôn bao nhiêu phần trăm kinh phí đón Tết?"
    percent = TET.text.replace("10 triệu đồng", "50% kinh phí")
    shares = [Hit(replace(TET, text=percent, end=len(percent)), 1.0, 1)]
    answer = ExtractiveAnswerer(span_model=FakeSpanModel(["50%"]), spanning=_spanning()).answer(
        share, shares
    )
    assert not answer.abstained and answer.answer_span == ""  # only a sum of money is bold


def test_a_span_below_the_margin_leaves_the_rules_choice() -> None:
    # The span model points at the first sentence, but not surely enough to overrule the rules.
    model = FakeSpanModel(["nhiều hoạt động"], margin=-1.0)
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning(select_margin=0.0)).answer(
        QUESTION, _hits()
    )
    assert "10 triệu đồng" in answer.citations[0].quote
    assert answer.answer_span == ""  # the span is not in the quote: no short answer


def test_with_add_sentence_the_span_models_sentence_is_quoted_after_the_rules_choice() -> None:
    model = FakeSpanModel(["ngân sách tỉnh"])  # the third sentence, which the rules do not quote
    rules = ExtractiveAnswerer().answer(QUESTION, _hits())
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning(add_sentence=True)).answer(
        QUESTION, _hits()
    )
    assert "ngân sách" not in rules.text
    assert answer.text.index("10 triệu đồng") < answer.text.index("ngân sách tỉnh")
    # Asked how much, a span that holds no amount is no short answer.
    assert answer.answer_span == ""
    # Where the span model points at the rules' own sentence, nothing is added.
    same = FakeSpanModel(["10 triệu đồng"])
    again = ExtractiveAnswerer(span_model=same, spanning=_spanning(add_sentence=True)).answer(
        QUESTION, _hits()
    )
    assert again.text == rules.text and again.answer_span == "10 triệu đồng"


def test_a_span_below_the_span_margin_is_not_shown_as_the_short_answer() -> None:
    model = FakeSpanModel(["10 triệu đồng"], margin=1.0)
    shown = ExtractiveAnswerer(span_model=model, spanning=_spanning(span_margin=0.5)).answer(
        QUESTION, _hits()
    )
    hidden = ExtractiveAnswerer(span_model=model, spanning=_spanning(span_margin=2.0)).answer(
        QUESTION, _hits()
    )
    assert shown.answer_span == "10 triệu đồng" and hidden.answer_span == ""
    assert shown.text == hidden.text


def test_without_a_span_model_there_is_no_short_answer() -> None:
    answer = ExtractiveAnswerer().answer(QUESTION, _hits())
    assert "10 triệu đồng" in answer.text and answer.answer_span == ""


def test_a_statement_is_left_to_its_provision() -> None:
    model = FakeSpanModel(["10 triệu đồng"])
    statement = "Tỉnh hỗ trợ mỗi thôn 10 triệu đồng để đón Tết, đúng hay sai?"
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning()).answer(statement, _hits())
    assert model.calls == [] and answer.answer_span == ""


def test_a_span_in_the_heading_quotes_nothing() -> None:
    model = FakeSpanModel(["Quà Tết"])  # only the heading path, read before the text, holds it
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning()).answer(QUESTION, _hits())
    assert "10 triệu đồng" in answer.text and answer.answer_span == ""


def test_the_page_shows_the_short_answer_in_bold() -> None:
    answer = Answer(
        question="q",
        text="Theo tài liệu, hỗ trợ 10 triệu đồng <b> [1].",
        abstained=False,
        answer_span="10 triệu đồng",
    )
    html = render_answer(answer, turn=1)
    assert '<strong class="qa-span">10 triệu đồng</strong>' in html
    assert "<b> [" not in html  # the text stays escaped around it


# -- building and settings ----------------------------------------------------------------------


def test_missing_span_model_weights_say_how_to_answer_without_it(tmp_path: Path) -> None:
    with pytest.raises(SpanModelError, match=r"train-span-model.*QA_SPAN__ENABLED=false"):
        ensure_span_model(tmp_path, tmp_path / "missing.safetensors")


def test_span_model_settings_come_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_SPAN__PASSAGES", "3")
    monkeypatch.setenv("QA_SPAN__SELECT_MARGIN", "1.5")
    r = Settings(_env_file=None).span  # type: ignore[call-arg]
    assert (r.passages, r.select_margin) == (3, 1.5)


def test_the_span_model_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_SPAN__ENABLED", raising=False)  # conftest turns it off
    assert Settings(_env_file=None).span.enabled  # type: ignore[call-arg]


def test_the_assistant_makes_the_span_model_once_and_builds_it_only_when_used(
    settings: Settings,
) -> None:
    from qa_assistant.assistant import Assistant
    from qa_assistant.testing import FakeEmbedder

    on = settings.model_copy(update={"span": SpanSettings(enabled=True)})
    a = Assistant(on, embedder=FakeEmbedder())
    try:
        assert a.span_model is not None and a.answerer.span_model is a.span_model  # type: ignore[attr-defined]
        assert not (on.cache_dir / "models").exists()  # nothing built before a question
    finally:
        a.close()
    b = Assistant(settings, embedder=FakeEmbedder())  # conftest turns the span model off
    try:
        assert b.span_model is None
    finally:
        b.close()


# -- training windows ---------------------------------------------------------------------------


class _WordTokenizer:
    """A tokenizer of whitespace-separated words, with character offsets."""

    def __call__(self, text: str, **kw: Any) -> dict[str, Any]:
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        out: dict[str, Any] = {"input_ids": [100 + i for i in range(len(words))]}
        if kw.get("return_offsets_mapping"):
            out["offset_mapping"] = words
        return out


def test_a_training_window_holds_the_span_and_points_at_its_tokens() -> None:
    layout = _Windows(_WordTokenizer(), max_tokens=12, max_question=3, rng=random.Random(0))
    passage = " ".join(f"w{i}" for i in range(40)) + " hai triệu đồng kết thúc"
    span = find_span(passage, "Hai  triệu đồng")
    assert span is not None and passage[span[0] : span[1]] == "hai triệu đồng"
    for _ in range(10):
        example = layout.window("s", "bao nhiêu tiền", passage, span)
        assert example is not None and len(example.ids) <= 12
        # Word ids are 100 + their place: the targets are the span's three words.
        assert (example.ids[example.start], example.ids[example.end]) == (140, 142)
    empty = layout.window("s", "bao nhiêu", passage, None)
    assert empty is not None and (empty.start, empty.end) == (0, 0)


def test_a_span_wider_than_a_window_gives_no_window() -> None:
    layout = _Windows(_WordTokenizer(), max_tokens=8, max_question=3, rng=random.Random(0))
    passage = "a b c d e f g h"
    assert layout.window("s", "q", passage, (0, len(passage))) is None


def _span_set(shared: Path) -> None:
    articles = [
        f"Điều {n}. Học phí\nHọc phí học kỳ {n} được nộp trước ngày {n + 10} của tháng đầu."
        for n in range(1, 9)
    ]
    write_virhe4qa_set(shared, articles)


def test_span_data_skips_the_untouched_split_and_holds_out_a_fixed_share(tmp_path: Path) -> None:
    from qa_assistant.training.data import is_heldout

    _span_set(tmp_path)
    tokenizer = _WordTokenizer()
    data = build_span_data(
        tmp_path,
        lambda text: len(text.split()),
        tokenizer,
        seed=13,
        max_tokens=64,
        max_question=16,
        max_per_set=100,
        negative_share=0.0,
        leave_out=("uitwiki", "alqac2022", "zalo2019"),
        log=lambda _: None,
    )
    held = {i.question for i in data.heldout}
    expected = {n for n in range(1, 9) if is_heldout(f"virhe4qa-train-{n}")}
    assert held == {f"Học phí học kỳ {n} nộp trước ngày nào?" for n in expected}
    assert len(data.train) == 8 - len(expected)  # the test split is never read
    assert all(e.start > 0 and e.end == e.start + 1 for e in data.train)


def test_an_unknown_set_to_leave_out_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(QAError, match="zalo2019"):
        build_span_data(
            tmp_path,
            len,
            _WordTokenizer(),
            seed=1,
            max_tokens=64,
            max_question=8,
            max_per_set=1,
            negative_share=0.0,
            leave_out=("virhe4",),
            log=lambda _: None,
        )
    assert "virhe4qa" in SPAN_MODEL_SET_NAMES


def test_train_span_model_keeps_as_many_questions_a_set_as_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import qa_assistant._models.build as model_build
    import qa_assistant.training.span_model as training
    from qa_assistant.cli import main

    configs: list[Any] = []

    def train(data: Path, base: Path, target: Path, cfg: Any, **_: Any) -> dict[str, Any]:
        configs.append(cfg)
        return {"steps": 0}

    monkeypatch.setattr(model_build, "ensure_default_model", lambda cache: tmp_path)
    monkeypatch.setattr(training, "train_span_model", train)
    output = str(tmp_path / "r.safetensors")
    for extra in ([], ["--max-per-set", "7", "--max-steps", "3"]):
        args = ["train-span-model", "--data", str(tmp_path), "--output", output, *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    default = training.SpanTrainConfig()
    assert [(c.max_per_set, c.max_steps) for c in configs] == [
        (default.max_per_set, default.max_steps),
        (7, 3),
    ]


# -- the real model -----------------------------------------------------------------------------


@pytest.mark.integration
def test_training_ships_the_change_and_head_and_the_build_reads_spans(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from qa_assistant._models.build import ensure_default_model, weights_metadata
    from qa_assistant._models.span import load_span_model
    from qa_assistant.training.span_model import SpanTrainConfig, train_span_model
    from qa_assistant.training.spans import HeldoutSpan, SpanData

    base = ensure_default_model(default_cache_dir())
    from transformers import AutoTokenizer

    layout = _Windows(AutoTokenizer.from_pretrained(str(base)), 96, 24, random.Random(0))
    text = TET.indexed_text
    span = find_span(text, "10 triệu đồng")
    examples = [layout.window("s", QUESTION, text, span), layout.window("s", "Ai?", text, None)]
    held = (HeldoutSpan("s", QUESTION, text, ("10 triệu đồng",)), HeldoutSpan("s", "Ai?", text, ()))
    output = tmp_path / "span.safetensors"
    cfg = SpanTrainConfig(batch_size=2, max_steps=2, train_layers=1)
    data = SpanData(tuple(e for e in examples * 2 if e is not None), held)
    meta = train_span_model(Path("unused"), base, output, cfg, data=data, log=lambda _: None)
    assert meta["steps"] == 2
    shipped = load_file(str(output))
    assert set(shipped) >= {"qa_head.weight", "qa_head.bias"}
    assert all(n.startswith(("encoder.layer.11.", "qa_head.")) for n in shipped)
    assert weights_metadata(output)["heldout"]["s"]["questions"] == 2
    settings = Settings(cache_dir=tmp_path / "cache", span=SpanSettings(weights=output))
    model = load_span_model(ensure_span_model(default_cache_dir(), output), settings)
    (found,) = model.read(QUESTION, [text])
    assert found is not None and 0 <= found.start < found.end <= len(text)


@pytest.mark.integration
def test_the_packaged_span_model_finds_the_sum_and_quotes_it() -> None:
    from qa_assistant._models.span import make_span_model

    settings = Settings(
        cache_dir=default_cache_dir(),
        span=SpanSettings(enabled=True),
        _env_file=None,  # type: ignore[call-arg]
    )
    model = make_span_model(settings)
    assert model is not None
    (span,) = model.read(QUESTION, [TET.indexed_text])
    assert span is not None and "10 triệu đồng" in TET.indexed_text[span.start : span.end]
    answer = ExtractiveAnswerer(span_model=model, spanning=_spanning()).answer(QUESTION, _hits())
    assert "10 triệu đồng" in answer.answer_span
