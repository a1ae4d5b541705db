"""The answerability model: its near misses, its training pairs and figures, its runtime
factory and the packaged model's verdict on an answer against a near miss."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from qa_assistant._models.answerability import (
    answerability_weights,
    ensure_answerability_model,
    make_answerability,
)
from qa_assistant.errors import QAError
from qa_assistant.protocols import AnswerabilityModel
from qa_assistant.settings import AnswerabilitySettings, Settings, default_cache_dir
from qa_assistant.testing import FakeAnswerability
from qa_assistant.training.answerability import build_answerability_data, sentences
from qa_assistant.training.answerability_train import heldout_figures
from qa_assistant.training.data import Pair, is_heldout
from qa_assistant.training.near_miss import ConstraintPool, constraints, near_misses

PASSAGE = (
    "Điều 5. Trợ cấp xã hội\n"
    "Người cao tuổi được hưởng trợ cấp xã hội hằng tháng từ năm 2021. "
    "Mức trợ cấp do Ủy ban nhân dân tỉnh quyết định. "
    "Hồ sơ nộp tại Hà Nội trong 30 ngày."
)
QUESTION = "Người cao tuổi được hưởng trợ cấp xã hội từ năm nào?"


# -- near misses -------------------------------------------------------------------------------


def test_a_question_names_its_constraints_by_kind() -> None:
    found = {
        (c.kind, c.text)
        for c in constraints(
            "Sinh viên năm nhất ở Hà Nội nhận trợ cấp xã hội năm 2020 bao nhiêu tháng?"
        )
    }
    assert ("group", "Sinh viên năm nhất") in found
    assert ("place", "Hà Nội") in found
    assert ("benefit", "trợ cấp xã hội") in found
    assert ("year", "2020") in found
    assert ("quantity", "tháng") in found
    assert {c.kind for c in constraints("Hồ sơ nộp trong 30 ngày?")} == {"number"}


def test_a_near_miss_swaps_a_constraint_the_passage_fixes_for_one_it_lacks() -> None:
    pool = ConstraintPool([QUESTION, "Người khuyết tật được hỗ trợ gì?", "Hộ nghèo ở đâu?"])
    swapped = near_misses(QUESTION, PASSAGE, pool, random.Random(1), most=1)
    assert swapped[0][0] == "group"
    assert swapped[0][1] in {
        "Người khuyết tật được hưởng trợ cấp xã hội từ năm nào?",
        "Hộ nghèo được hưởng trợ cấp xã hội từ năm nào?",
    }


def test_no_near_miss_from_a_constraint_the_passage_does_not_fix_or_a_narrower_one() -> None:
    # The passage never names "người khuyết tật": swapping it says nothing about the passage.
    pool = ConstraintPool(["Người cao tuổi được gì?"])
    assert near_misses("Người khuyết tật được gì?", PASSAGE, pool, random.Random(1), 2) == []
    # A narrower group may still be answered by the passage on the wider one.
    pool = ConstraintPool(["Người cao tuổi neo đơn được gì?"])
    assert near_misses(QUESTION, PASSAGE, pool, random.Random(1), 2) == []


def test_a_quantity_is_swapped_for_another_dimension_the_passage_lacks() -> None:
    question = "Hồ sơ nộp trong bao nhiêu ngày?"
    swapped = near_misses(question, PASSAGE, ConstraintPool([question]), random.Random(3), 1)
    kind, text = swapped[0]
    assert kind == "quantity"
    assert text.startswith("Hồ sơ nộp trong bao nhiêu ")
    assert not any(text.endswith(f" {unit}?") for unit in ("năm", "tháng", "tuần", "ngày"))


# -- training pairs ------------------------------------------------------------------------------


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def _shared(tmp_path: Path) -> Path:
    shared = tmp_path / "shared"
    wiki = [
        {
            "id": f"w{i}",
            "question": q,
            "answers": ["năm 2021"],
            "evidence": [PASSAGE],
        }
        for i, q in enumerate(
            [QUESTION, "Người khuyết tật được hưởng trợ cấp xã hội từ năm nào?"] * 10
        )
    ]
    _write(shared / "training/uitwiki/questions.jsonl", wiki)
    zalo = [
        {
            "id": f"z{i}",
            "question": "Ai là thủ tướng Ấn Độ?",
            "answers": [],
            "answerable": False,
            "context": "Ấn Độ là một quốc gia. Thủ đô của Ấn Độ là New Delhi.",
        }
        for i in range(6)
    ]
    _write(shared / "training/zalo2019/pairs.jsonl", zalo)
    return shared


def test_pairs_put_the_answer_sentence_against_its_neighbours_and_near_misses(
    tmp_path: Path,
) -> None:
    data = build_answerability_data(
        _shared(tmp_path),
        seed=1,
        max_per_set=100,
        log=lambda _: None,
        leave_out=("alqac2022", "virhe4qa"),
    )
    questions = data.train + data.heldout
    answered = [q for q in questions if q.kinds[0] == "answer"]
    assert len(answered) == 20
    for q in answered:
        answer = q.pairs[0]
        assert answer.label == 1.0 and "năm 2021" in answer.passage
        assert answer.passage in sentences(PASSAGE)
        for pair, kind in zip(q.pairs[1:], q.kinds[1:], strict=True):
            assert pair.label == 0.0 and kind in {"sentence", "near_miss"}
            if kind == "near_miss":  # the same sentence, another question
                assert pair.passage == answer.passage and pair.question != answer.question
            else:
                assert "năm 2021" not in pair.passage
    assert any("near_miss" in q.kinds for q in answered)
    unanswerable = [p for q in questions if q.kinds[0] == "unanswerable" for p in q.pairs]
    # Each against the sentence of its paragraph that shares most words with it.
    assert [p.passage for p in unanswerable] == ["Thủ đô của Ấn Độ là New Delhi."] * 6
    heldout_ids = {f"w{i}" for i in range(20) if is_heldout(f"w{i}")}
    assert len([q for q in data.heldout if q.kinds[0] == "answer"]) == len(heldout_ids)


def test_a_set_to_leave_out_must_be_one_the_model_trains_on(tmp_path: Path) -> None:
    with pytest.raises(QAError, match="Unknown training set"):
        build_answerability_data(tmp_path, seed=1, max_per_set=10, leave_out=("virhe4q",))


def test_heldout_figures_count_each_kind_on_its_side_of_one_half() -> None:
    from qa_assistant.training.answerability import Question

    questions = [
        Question(
            "s",
            (Pair("q", "yes", 1.0), Pair("q", "other", 0.0), Pair("q2", "yes", 0.0)),
            ("answer", "sentence", "near_miss"),
        ),
        Question("z", (Pair("q3", "no", 0.0),), ("unanswerable",)),
    ]
    probability = {"yes": 0.9, "other": 0.3, "no": 0.6}

    def score(qs: list[str], ps: list[str]) -> list[float]:
        # The near miss reads the same sentence; its question makes it lower.
        return [probability[p] - (0.7 if q == "q2" else 0.0) for q, p in zip(qs, ps, strict=True)]

    figures = heldout_figures(score, questions, pos_weight=3.0)
    assert figures["auc"] == 1.0 and figures["auc_answer_vs_near_miss"] == 1.0
    assert figures["answers_above_half"] == 1.0
    assert figures["near_miss_below_half"] == 1.0
    assert figures["sentence_below_half"] == 1.0
    assert figures["unanswerable_below_half"] == 0.0
    top = figures["calibration"][-1]
    assert top == {
        "bin": "0.8-1.0",
        "pairs": 1,
        "mean_probability": 0.9,
        "observed": 1.0,
        "observed_even": 1.0,
    }
    assert sum(b["pairs"] for b in figures["calibration"]) == 4


# -- the runtime ---------------------------------------------------------------------------------


def test_the_model_can_be_switched_off_or_pointed_at_other_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QA_ANSWERABILITY__ENABLED", "false")
    monkeypatch.setenv("QA_ANSWERABILITY__WEIGHTS", "/tmp/other.safetensors")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.answerability.weights == Path("/tmp/other.safetensors")
    assert make_answerability(settings) is None


def test_the_fake_is_an_answerability_model() -> None:
    fake = FakeAnswerability(["2021"])
    assert isinstance(fake, AnswerabilityModel)
    assert fake.score("q", ["từ năm 2021", "khác"]) == [0.9, 0.1]
    assert fake.calls == [("q", 2)]


def test_missing_weights_say_how_to_do_without_them(tmp_path: Path) -> None:
    from qa_assistant.errors import AnswerabilityModelError

    with pytest.raises(AnswerabilityModelError, match=r"train-answerability.*__ENABLED=false"):
        ensure_answerability_model(tmp_path, tmp_path / "none.safetensors")


def test_answerability_builds_leave_the_relevance_builds_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa_assistant._models.relevance as relevance_model

    models = tmp_path / "models"
    models.mkdir()
    (models / "relevance-abc").mkdir()
    monkeypatch.setattr(relevance_model, "ensure_default_model", lambda _cache: models / "base")
    monkeypatch.setattr(
        relevance_model,
        "build_cross_encoder_onnx",
        lambda _base, _weights, folder, _error: (folder / "model_int8.onnx").write_bytes(b"onnx"),
    )
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"other weights")
    packaged = ensure_answerability_model(tmp_path)
    built = ensure_answerability_model(tmp_path, other)
    assert packaged.name.startswith("answerability-") and built != packaged
    builds = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
    assert builds == sorted(["relevance-abc", packaged.name, built.name])


# -- the real model -----------------------------------------------------------------------------


@pytest.mark.integration
def test_packaged_model_scores_an_answer_above_its_near_miss() -> None:
    assert answerability_weights().stat().st_size < 25_000_000
    settings = Settings(
        cache_dir=default_cache_dir(),
        answerability=AnswerabilitySettings(enabled=True),
        _env_file=None,  # type: ignore[call-arg]
    )
    model = make_answerability(settings)
    assert model is not None
    sentence = "Người cao tuổi được hưởng trợ cấp xã hội hằng tháng từ năm 2021."
    (answer,) = model.score("Người cao tuổi được hưởng trợ cấp xã hội từ năm nào?", [sentence])
    (near_miss,) = model.score("Hộ nghèo được hưởng trợ cấp xã hội từ năm nào?", [sentence])
    assert answer > 0.5 and answer > near_miss
