"""The relevance model: ordering by relevance, abstaining and quoting by it, its training data
split and calibration. The real model is exercised in the integration tests at the end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa_assistant._answering.common import ABSTAIN_MESSAGE
from qa_assistant._answering.extractive import ExtractiveAnswerer
from qa_assistant._retrieval.retriever import order_by_relevance
from qa_assistant.settings import RelevanceSettings, Settings, default_cache_dir
from qa_assistant.testing import FakeRelevanceModel
from qa_assistant.training.data import HELDOUT_SHARE, Group, Pair, is_heldout
from qa_assistant.training.loop import trainable
from qa_assistant.training.relevance import calibrate_threshold
from qa_assistant.types import Chunk, Hit


def chunk(ordinal: int, text: str, heading: tuple[str, ...] = ()) -> Chunk:
    return Chunk(
        id=f"c{ordinal}",
        source="luat.txt",
        title="Luật",
        text=text,
        start=0,
        end=len(text),
        heading=heading,
        ordinal=ordinal,
    )


STUDY = chunk(0, "Sinh viên được bảo lưu kết quả học tập trong thời gian tối đa 2 năm.")
FEES = chunk(1, "Sinh viên sư phạm được miễn học phí trong toàn khóa học.")
SUPPORT = chunk(
    2,
    "Hộ nghèo được hỗ trợ các khoản sau:\na) Tiền mặt 2 triệu đồng;\nb) Một suất quà Tết;\n"
    "c) Thẻ bảo hiểm y tế.\nCác xã tổ chức trao quà trước Tết.",
)


def ranked(*chunks: Chunk) -> list[Hit]:
    return [Hit(c, 1.0 - 0.1 * i, i + 1) for i, c in enumerate(chunks)]


def with_relevance(hits: list[Hit], probabilities: list[float]) -> list[Hit]:
    return [
        Hit(h.chunk, h.score, h.rank, (*h.scores, ("relevance", p)))
        for h, p in zip(hits, probabilities, strict=True)
    ]


# -- ordering by relevance ----------------------------------------------------------------------


def test_ordering_by_relevance_puts_the_answering_passage_first_and_keeps_its_probability() -> None:
    relevance_model = FakeRelevanceModel()
    hits = ranked(FEES, STUDY, SUPPORT)
    out = order_by_relevance(
        "bảo lưu kết quả học tập", hits, relevance_model, depth=2, fusion_weight=0.3
    )
    assert [h.chunk.id for h in out] == ["c0", "c1", "c2"]
    assert out[0].leg("relevance") == pytest.approx(1.0)
    assert out[2].leg("relevance") is None  # below the depth: not scored, order kept
    assert out[2].score <= out[1].score
    assert relevance_model.calls == [("bảo lưu kết quả học tập", 2)]  # one call for all the pairs


def test_ordering_by_relevance_weighs_retrievals_score_on_ties() -> None:
    out = order_by_relevance("không khớp", ranked(FEES, STUDY), FakeRelevanceModel(), 5, 0.3)
    assert [h.chunk.id for h in out] == ["c1", "c0"]


def test_ordering_by_relevance_of_nothing_is_nothing() -> None:
    assert order_by_relevance("câu hỏi", [], FakeRelevanceModel(), 5, 0.3) == []


# -- answering by relevance ---------------------------------------------------------------------


def test_answerer_abstains_when_the_rules_and_the_model_both_turn_the_passages_down() -> None:
    answerer = ExtractiveAnswerer(relevance_threshold=0.6)
    hits = with_relevance(ranked(STUDY, FEES), [0.4, 0.2])
    # A near miss: the passages speak of students, not of Hà Nội's.
    answer = answerer.answer("Sinh viên Hà Nội được bảo lưu kết quả bao lâu?", hits)
    # The nearest sentence may be offered as related, never as the answer.
    assert answer.abstained and answer.text.startswith(ABSTAIN_MESSAGE)
    assert not answer.answer_span and answer.reason.startswith("abstained")


def test_the_rules_answer_stands_however_unsure_the_model_is() -> None:
    answerer = ExtractiveAnswerer(relevance_threshold=0.6)
    hits = with_relevance(ranked(STUDY, FEES), [0.1, 0.05])
    answer = answerer.answer("Sinh viên được bảo lưu kết quả học tập tối đa bao lâu?", hits)
    assert not answer.abstained
    assert "2 năm" in answer.citations[0].quote


def test_answerer_quotes_the_most_relevant_passage_even_with_few_shared_words() -> None:
    answerer = ExtractiveAnswerer(relevance_threshold=0.5)
    hits = with_relevance(ranked(FEES, STUDY), [0.3, 0.9])
    answer = answerer.answer("Tôi nghỉ học thì giữ điểm được mấy năm, đúng hay sai?", hits)
    assert not answer.abstained
    assert [c.source for c in answer.citations] == ["luat.txt"]
    assert "2 năm" in answer.citations[0].quote


def test_a_confident_relevance_model_does_not_answer_for_another_year() -> None:
    # The model reads "năm 2023" and "năm 2024" alike; the year asked must be in the passage.
    livelihood = chunk(
        4, "Năm 2024, toàn tỉnh hỗ trợ sinh kế cho 978 hộ, mức hỗ trợ tối đa 20 triệu đồng/hộ."
    )
    answerer = ExtractiveAnswerer(relevance_threshold=0.5)
    hits = with_relevance(ranked(livelihood), [0.9])
    asked = "Năm {} mỗi hộ được hỗ trợ sinh kế tối đa bao nhiêu tiền?"
    assert not answerer.answer(asked.format(2024), hits).abstained
    assert answerer.answer(asked.format(2023), hits).abstained


@pytest.mark.parametrize("relevance", [None, 0.9])
def test_answerer_quotes_the_items_of_a_list_the_question_asks_for(
    relevance: float | None,
) -> None:
    hits = ranked(SUPPORT) if relevance is None else with_relevance(ranked(SUPPORT), [relevance])
    answer = ExtractiveAnswerer(relevance_threshold=0.5).answer(
        "Hộ nghèo được hỗ trợ những gì?", hits
    )
    quoted = " ".join(c.quote for c in answer.citations)
    for item in ("Tiền mặt 2 triệu đồng", "Một suất quà Tết", "Thẻ bảo hiểm y tế"):
        assert item in quoted
    assert "trao quà trước Tết" not in quoted  # the list ended before it


def test_list_items_come_from_the_quoted_passage_only() -> None:
    items = chunk(3, "a) Miễn phí xe buýt;\nb) Giảm giá vé tàu.")
    hits = ranked(SUPPORT, items)
    answer = ExtractiveAnswerer().answer("Hộ nghèo được hỗ trợ những gì?", hits)
    assert "xe buýt" not in answer.text


def test_answerer_without_relevance_scores_takes_the_fast_path() -> None:
    answer = ExtractiveAnswerer(relevance_threshold=0.99).answer(
        "Sinh viên được bảo lưu kết quả học tập tối đa bao lâu?", ranked(STUDY)
    )
    assert not answer.abstained  # the threshold only applies to scored hits


# -- training data and calibration --------------------------------------------------------------


def test_heldout_share_is_fixed_by_question_id() -> None:
    ids = [f"q-{i}" for i in range(2000)]
    held = [i for i in ids if is_heldout(i)]
    assert held == [i for i in ids if is_heldout(i)]
    assert abs(len(held) / len(ids) - 1 / HELDOUT_SHARE) < 0.03


def test_only_the_top_layers_and_the_head_are_trained() -> None:
    head = ("classifier.",)
    assert trainable("classifier.out_proj.weight", 12, 6, head)
    assert trainable("roberta.encoder.layer.6.attention.self.query.weight", 12, 6, head)
    assert not trainable("roberta.encoder.layer.5.output.dense.weight", 12, 6, head)
    assert not trainable("roberta.embeddings.word_embeddings.weight", 12, 6, head)
    assert not trainable("qa_head.weight", 12, 6, head)


def test_calibrated_threshold_lets_through_the_chosen_share_of_misses() -> None:
    law = [
        Group("law", (Pair("q", "gold", 1.0), Pair("q", "near", 0.0)), ranked=True)
        for _ in range(19)
    ]
    zalo = Group("zalo", (Pair("a", "p", 1.0), Pair("b", "p", 0.0)), ranked=False)
    # Misses: the law groups' negatives at 0.05…0.95 and Zalo's unanswerable pair at 0.
    scores = np.array([v for i in range(1, 20) for v in (0.97, i / 20)] + [0.8, 0.0])
    threshold, answers = calibrate_threshold(scores, [*law, zalo], miss_share=0.1)
    assert 0.85 < threshold < 0.9  # 0.9 and 0.95 pass: two misses in twenty
    assert answers == pytest.approx(19 / 20)  # the Zalo answer (0.8) falls short


def _word_tokenizer() -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"<unk>": 3, "a": 4, "b": 5}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer


def test_relevance_model_failure_says_how_to_answer_without_it() -> None:
    from qa_assistant._models.relevance import OnnxCrossEncoder
    from qa_assistant.errors import RelevanceModelError

    class Broken:
        def run(self, *_args: object) -> list[np.ndarray]:
            raise RuntimeError("bad allocation")

    relevance_model = OnnxCrossEncoder(Broken(), _word_tokenizer(), max_tokens=16)
    with pytest.raises(RelevanceModelError, match=r"ENABLED=false.*\(batch of 2: bad alloc"):
        relevance_model.score("a", ["a", "a a"])


def test_a_batch_asked_again_is_read_once_and_scores_the_same() -> None:
    from qa_assistant._models.relevance import OnnxCrossEncoder

    class Counting:
        def __init__(self) -> None:
            self.batches: list[int] = []

        def run(self, _outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            ids = feeds["input_ids"]
            self.batches.append(len(ids))
            return [ids.sum(axis=1).astype(np.float32) / 100]  # a logit per pair

    session = Counting()
    relevance_model = OnnxCrossEncoder(session, _word_tokenizer(), max_tokens=16)
    first = relevance_model.score("a", ["a", "b b"])
    assert (
        relevance_model.score("a", ["a", "b b"]) == first
    )  # the same question over the same passages
    assert session.batches == [2]
    relevance_model.score("a", ["b b", "a"])  # another batch: its own call, whatever it shares
    relevance_model.score("b", ["a", "b b"])
    assert session.batches == [2, 2, 2]


def _fake_builds(monkeypatch: pytest.MonkeyPatch, models: Path) -> list[Path]:
    import qa_assistant._models.relevance as relevance_model

    built: list[Path] = []

    def build(_base: Path, _weights: Path, folder: Path, _error: object) -> None:
        (folder / "model_int8.onnx").write_bytes(b"onnx")
        built.append(folder)

    monkeypatch.setattr(relevance_model, "ensure_default_model", lambda _cache: models / "base")
    monkeypatch.setattr(relevance_model, "build_cross_encoder_onnx", build)
    return built


def test_relevance_model_is_built_once_and_replaces_builds_of_other_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa_assistant._models.relevance import (
        _build_name,
        ensure_relevance_model,
        relevance_weights,
    )

    models = tmp_path / "models"
    models.mkdir()
    built = _fake_builds(monkeypatch, models)
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    first.write_bytes(b"first weights")
    second.write_bytes(b"second weights")
    (models / f".{_build_name(second)}.tmp-x").mkdir()  # left by a build that was killed
    (models / ".relevance-other.tmp-x").mkdir()  # perhaps being built by another process

    packaged = ensure_relevance_model(tmp_path)
    one = ensure_relevance_model(tmp_path, first)
    assert ensure_relevance_model(tmp_path, first) == one and len(built) == 2  # reused
    two = ensure_relevance_model(tmp_path, second)

    assert packaged.name.startswith("relevance-") and packaged != one != two
    assert relevance_weights().is_file()
    # The packaged weights' build stays; the other weights' build gives way to the new one.
    assert sorted(p.name for p in models.glob("relevance-*")) == sorted([packaged.name, two.name])
    assert (two / "model_int8.onnx").is_file()
    assert [p.name for p in models.glob(".*.tmp-*")] == [".relevance-other.tmp-x"]


def test_relevance_model_in_an_unwritable_cache_says_what_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa_assistant._models.relevance import ensure_relevance_model
    from qa_assistant.errors import RelevanceModelError

    models = tmp_path / "models"
    models.write_text("a file where the folder should be")  # root may write anywhere else
    _fake_builds(monkeypatch, models)
    with pytest.raises(RelevanceModelError, match=r"writable.*QA_RELEVANCE__ENABLED=false"):
        ensure_relevance_model(tmp_path)


def test_relevance_settings_come_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_RELEVANCE__DEPTH", "5")
    monkeypatch.setenv("QA_RELEVANCE__ENABLED", "true")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.relevance.depth == 5 and settings.relevance.enabled


def test_the_relevance_model_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_RELEVANCE__ENABLED", raising=False)  # conftest turns it off
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.relevance.enabled and not settings.relevance.every_question


# -- the real model -----------------------------------------------------------------------------


@pytest.mark.integration
def test_packaged_model_scores_the_answering_passage_higher(tmp_path: Path) -> None:
    from qa_assistant._models.relevance import make_relevance_model, relevance_threshold

    settings = Settings(
        cache_dir=default_cache_dir(),
        relevance=RelevanceSettings(enabled=True),
        _env_file=None,  # type: ignore[call-arg]
    )
    relevance_model = make_relevance_model(settings)
    assert relevance_model is not None
    question = "Sinh viên được bảo lưu kết quả học tập tối đa bao lâu?"
    yes, no = relevance_model.score(question, [STUDY.text, FEES.text])
    assert yes > no
    assert 0.0 < relevance_threshold(settings) < 1.0


@pytest.mark.integration
def test_pairs_are_laid_out_as_in_training() -> None:
    from transformers import AutoTokenizer

    from qa_assistant._models.build import ensure_default_model
    from qa_assistant._models.relevance import ensure_relevance_model, load_cross_encoder

    cache = default_cache_dir()
    folder = ensure_relevance_model(cache)
    relevance_model = load_cross_encoder(folder, 64)
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_default_model(cache)))
    question, passage = "Học phí là bao nhiêu?", SUPPORT.text * 4
    expected = tokenizer(question, passage, truncation="only_second", max_length=64)
    assert relevance_model._rows(question, [passage]) == [expected["input_ids"]]


def test_assistant_orders_every_question_with_every_question_on(settings: Settings) -> None:
    from qa_assistant.assistant import Assistant
    from qa_assistant.testing import FakeEmbedder

    relevance_model = FakeRelevanceModel()
    relevance = settings.relevance.model_copy(update={"every_question": True})
    settings = settings.model_copy(update={"relevance": relevance})
    assistant = Assistant(settings, embedder=FakeEmbedder(), relevance_model=relevance_model)
    try:
        assistant.ingest()
        answer = assistant.ask("Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?")
    finally:
        assistant.close()
    assert relevance_model.calls, "the relevance model was not asked"
    assert answer.hits[0].leg("relevance") is not None
    assert not answer.abstained
    assert "10 triệu đồng" in answer.citations[0].quote


@pytest.mark.integration
def test_training_writes_trained_layers_and_a_threshold_calibrated_as_it_runs(
    tmp_path: Path,
) -> None:
    from qa_assistant._models.build import ensure_default_model, weights_metadata
    from qa_assistant.training.data import TrainingData
    from qa_assistant.training.relevance import TrainConfig, train_relevance_model

    def group(i: int) -> Group:
        gold = Pair(f"Sinh viên bảo lưu kết quả {i} năm?", STUDY.text, 1.0)
        return Group("law", (gold, Pair(gold.question, FEES.text, 0.0)), ranked=True)

    data = TrainingData(train=tuple(group(i) for i in range(8)), heldout=(group(9), group(10)))
    output = tmp_path / "relevance.safetensors"
    meta = train_relevance_model(
        Path("unused"),
        ensure_default_model(default_cache_dir()),
        output,
        TrainConfig(train_layers=1),
        data=data,
        log=lambda _: None,
    )

    assert meta["steps"] == 2
    stored = weights_metadata(output)
    assert stored["heldout"] == meta["heldout"]
    assert 0.0 <= stored["heldout"]["threshold"] <= 1.0
    assert stored["config"]["miss_share"] == 0.10


def test_a_confident_model_does_not_answer_for_a_place_the_passages_never_name() -> None:
    answerer = ExtractiveAnswerer(relevance_threshold=0.5)
    hits = with_relevance(ranked(STUDY), [0.95])
    answer = answerer.answer("Sinh viên Hà Nội được bảo lưu kết quả học tập bao lâu?", hits)
    assert answer.abstained


def test_a_question_the_rules_turn_away_gets_a_second_look_from_the_model(
    settings: Settings,
) -> None:
    from qa_assistant.assistant import Assistant
    from qa_assistant.testing import FakeEmbedder

    statement = "Tỉnh chi tiền cho các thôn tổ chức đón Tết từ nguồn xã hội hóa, đúng hay sai?"
    rules_only = Assistant(settings, embedder=FakeEmbedder())
    try:
        rules_only.ingest()
        assert rules_only.ask(statement).abstained
    finally:
        rules_only.close()
    relevance_model = FakeRelevanceModel()
    assistant = Assistant(settings, embedder=FakeEmbedder(), relevance_model=relevance_model)
    try:
        answered = assistant.ask("Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?")
        before = len(relevance_model.calls)
        checked = assistant.ask(statement)
        streamed = list(assistant.ask_stream(statement))
        near_miss = assistant.ask("Hà Nội hỗ trợ mỗi thôn bao nhiêu tiền đón Tết?")
    finally:
        assistant.close()
    assert not answered.abstained and before == 0  # the rules answered: the model never ran
    assert not checked.abstained and "10 triệu đồng" in checked.text
    assert checked.hits[0].leg("relevance") is not None
    assert streamed[-1] == replace(checked, latency_ms=streamed[-1].latency_ms)
    assert near_miss.abstained  # a name the passages lack: the model cannot vouch for it


def test_the_relevance_model_can_leave_any_of_its_sets_out(tmp_path: Path) -> None:
    from qa_assistant.errors import QAError
    from qa_assistant.training.data import RELEVANCE_SET_NAMES, build_training_data

    with pytest.raises(QAError, match="Unknown training set"):
        build_training_data(tmp_path, len, seed=1, leave_out=("virhe4q",))
    # With every set left out, nothing under the folder is read (it holds no data here).
    data = build_training_data(tmp_path, len, seed=1, leave_out=RELEVANCE_SET_NAMES, log=str)
    assert data.train == () and data.heldout == ()
