"""The models' cache counts: kept by each model, printed by ``serve`` on SIGUSR1 for
``deploy-check`` to read."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest

from qa_assistant import cli
from qa_assistant._models.onnx_runtime import CacheCounted, CacheCounts
from qa_assistant._models.relevance import OnnxCrossEncoder
from qa_assistant._models.span import make_span_model
from qa_assistant.settings import Settings, SpanSettings


class _Logits:
    def run(self, _outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [feeds["input_ids"].sum(axis=1).astype(np.float32) / 100]


def _relevance_model() -> OnnxCrossEncoder:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"<unk>": 3, "a": 4, "b": 5}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return OnnxCrossEncoder(_Logits(), tokenizer, max_tokens=16)


def test_a_model_counts_the_batches_its_cache_answered() -> None:
    relevance_model = _relevance_model()
    assert relevance_model.cache_counts() == CacheCounts(0, 0)
    relevance_model.score("a", ["a", "b"])
    relevance_model.score("a", ["a", "b"])
    relevance_model.score("b", ["a", "b"])
    relevance_model.score("a", [])  # nothing to score: no call at all
    assert relevance_model.cache_counts() == CacheCounts(hits=1, misses=2)


def test_a_span_model_not_loaded_yet_has_read_nothing(settings: Settings) -> None:
    model = make_span_model(settings.model_copy(update={"span": SpanSettings(enabled=True)}))
    assert isinstance(model, CacheCounted)  # as serve finds it
    assert model.cache_counts() == CacheCounts(0, 0)
    assert not (settings.cache_dir / "models").exists()  # counting loads no model


@pytest.fixture
def _sigusr1() -> Iterator[None]:
    before = signal.getsignal(signal.SIGUSR1)
    yield
    signal.signal(signal.SIGUSR1, before)


@pytest.mark.usefixtures("_sigusr1")
def test_serve_prints_the_counts_when_signalled(capsys: pytest.CaptureFixture[str]) -> None:
    class Serving:
        relevance_model = _relevance_model()
        span_model = None  # off: left out of the line

    Serving.relevance_model.score("a", ["b"])
    cli._print_cache_counts_on_signal(Serving())
    os.kill(os.getpid(), signal.SIGUSR1)
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x]
    assert line.startswith(cli.CACHE_COUNTS_LINE)
    counts = json.loads(line.removeprefix(cli.CACHE_COUNTS_LINE))
    assert counts == {"relevance": {"hits": 0, "misses": 1}}
