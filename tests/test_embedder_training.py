"""The fine-tuned embedder: its training data, its shipped change, and its build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa_assistant._models.tuned_delta import apply_delta, pack_delta
from qa_assistant.errors import EmbeddingError, QAError
from qa_assistant.testing import FakeEmbedder
from qa_assistant.training.data import TRAINING_SETS, is_heldout
from qa_assistant.training.embedder import (
    EmbedderExample,
    EmbedderTrainConfig,
    _batches,
    _positive,
    build_examples,
)
from qa_assistant.types import Chunk
from support.training_sets import write_virhe4qa_set

_ALL_BUT_VIRHE4QA = tuple(s.name for s in TRAINING_SETS if s.name != "virhe4qa")


def test_the_shipped_change_puts_the_trained_weights_back_within_int8_steps() -> None:
    rng = np.random.default_rng(0)
    base = {
        "encoder.w": rng.normal(size=(8, 16)).astype(np.float32),
        "encoder.b": rng.normal(size=16).astype(np.float32),
        "embeddings.word": rng.normal(size=(4, 16)).astype(np.float32),
    }
    change = 0.01 * rng.normal(size=(8, 16)).astype(np.float32)
    trained = {"encoder.w": base["encoder.w"] + change, "encoder.b": base["encoder.b"] + 1.0}
    packed = pack_delta(base, trained)
    assert packed["encoder.w.delta"].dtype == np.int8 and "embeddings.word" not in packed
    state = apply_delta(base, packed)
    step = np.abs(change).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(state["encoder.w"] - trained["encoder.w"]) <= step / 2 + 1e-7)
    assert np.array_equal(state["encoder.b"], trained["encoder.b"])
    assert state["embeddings.word"] is base["embeddings.word"]  # frozen: not shipped


def test_a_change_for_another_model_says_to_retrain() -> None:
    packed = pack_delta({"other.w": np.ones((2, 2), np.float32)}, {"other.w": np.zeros((2, 2))})
    with pytest.raises(EmbeddingError, match="train-embedder"):
        apply_delta({"encoder.w": np.ones((2, 2), np.float32)}, packed)


def test_batches_hold_distinct_gold_passages_and_keep_every_question() -> None:
    examples = [EmbedderExample("s", f"q{i}", f"q{i}", f"p{i % 3}", "n") for i in range(9)]
    batches = _batches(examples, 4)
    assert all(len({e.positive for e in b}) == len(b) for b in batches)
    assert sorted(e.question for b in batches for e in b) == sorted(e.question for e in examples)


def _chunk(i: int) -> Chunk:
    return Chunk(f"c{i}", "doc.txt", "Doc", f"text {i}", 0, 6, ("Doc",), i, None)


def test_the_positive_is_the_best_ranked_gold_chunk_holding_the_answer() -> None:
    gold = [_chunk(1), _chunk(2), _chunk(3)]
    assert _positive(gold, [_chunk(3), _chunk(2)]) == _chunk(2)
    assert _positive(gold, []) == _chunk(1)  # no span given: the best gold chunk
    assert _positive(gold[:1], [_chunk(4)]) == _chunk(4)  # retrieval missed the span's chunk


def test_an_unknown_set_to_leave_out_names_the_sets() -> None:
    cfg = EmbedderTrainConfig(leave_out=("virhe4q",))
    with pytest.raises(QAError, match="virhe4qa"):
        build_examples(Path("unused"), FakeEmbedder().count_tokens, cfg, log=lambda _: None)


def test_leaving_every_set_out_is_refused() -> None:
    cfg = EmbedderTrainConfig(leave_out=tuple(s.name for s in TRAINING_SETS))
    with pytest.raises(QAError, match="leave at least one"):
        build_examples(Path("unused"), FakeEmbedder().count_tokens, cfg, log=lambda _: None)


def _regulation_set(shared: Path) -> None:
    articles = [
        f"Điều {n}. Quy định số {n}\n1. Sinh viên được bảo lưu kết quả học tập tối đa {n} "
        f"năm học khi có lý do chính đáng.\n2. Học phí học kỳ {n} được nộp trước ngày "
        f"{n + 10} của tháng đầu tiên."
        for n in range(1, 7)
    ]
    write_virhe4qa_set(shared, articles)


def test_examples_skip_the_untouched_split_and_hold_out_a_fixed_share(tmp_path: Path) -> None:
    _regulation_set(tmp_path)
    cfg = EmbedderTrainConfig(leave_out=_ALL_BUT_VIRHE4QA)
    counter = FakeEmbedder().count_tokens
    train, heldout = build_examples(tmp_path, counter, cfg, log=lambda _: None)
    assert len(train) + len(heldout) == 6  # the test split is never read
    assert {e.question_id for e in heldout} == {
        f"virhe4qa-train-{n}" for n in range(1, 7) if is_heldout(f"virhe4qa-train-{n}")
    }
    for example in train + heldout:
        n = int(example.question_id.rsplit("-", 1)[1])
        assert f"ngày {n + 10}" in example.positive and example.negative != example.positive
    assert build_examples(tmp_path, counter, cfg, log=lambda _: None) == (train, heldout)


@pytest.mark.integration
def test_training_ships_only_the_encoders_change_with_held_out_figures(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from qa_assistant._models.build import ensure_default_model, weights_metadata
    from qa_assistant.settings import default_cache_dir
    from qa_assistant.training.embedder import train_embedder

    def example(i: int) -> EmbedderExample:
        return EmbedderExample(
            "virhe4qa",
            f"q{i}",
            f"Học phí học kỳ {i} nộp trước ngày nào?",
            f"Học phí học kỳ {i} được nộp trước ngày {i + 10} của tháng đầu tiên.",
            f"Sinh viên được bảo lưu kết quả học tập tối đa {i} năm học.",
        )

    examples = ([example(i) for i in range(8)], [example(i) for i in range(8, 11)])
    output = tmp_path / "embedder.safetensors"
    cfg = EmbedderTrainConfig(batch_size=4, max_steps=2, passage_tokens=48, query_tokens=24)
    meta = train_embedder(
        Path("unused"),
        ensure_default_model(default_cache_dir()),
        output,
        cfg,
        examples=examples,
        log=lambda _: None,
    )
    assert meta["steps"] == 2
    shipped = load_file(str(output))
    assert all(name.startswith("encoder.layer.") for name in shipped)
    assert sum(v.nbytes for v in shipped.values()) < 25 * 2**20
    stored = weights_metadata(output)
    assert stored["heldout_after"]["virhe4qa"]["questions"] == 3.0
    assert stored["heldout_before"] == meta["heldout_before"]


def test_the_tuned_embedder_is_chosen_by_a_nested_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_assistant._models.build import tuned_weights, tuned_weights_of
    from qa_assistant.settings import Settings

    assert tuned_weights().is_file()
    # On by default (chosen by leave-one-corpus-out); off gives the plain e5 base.
    assert tuned_weights_of(Settings(_env_file=None)) == tuned_weights()  # type: ignore[call-arg]
    monkeypatch.setenv("QA_EMBEDDER__TUNED", "false")
    assert tuned_weights_of(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    monkeypatch.setenv("QA_EMBEDDER__TUNED", "true")
    monkeypatch.setenv("QA_EMBEDDER__WEIGHTS", "/tmp/other.safetensors")
    assert tuned_weights_of(Settings(_env_file=None)) == Path("/tmp/other.safetensors")  # type: ignore[call-arg]
    monkeypatch.setenv("QA_MODEL", "some/other-model")  # the change fits the default model only
    assert tuned_weights_of(Settings(_env_file=None)) is None  # type: ignore[call-arg]
