"""Throughput and quality of the embedding options on Vietnamese passages (CPU).

Run: ``python -m qa_assistant.bench.embedding [--cache-dir DIR] [--passages N]``. Prints
passages/s for plain ``SentenceTransformer.encode`` (fp32, default settings), for qa-assistant's
embedder in fp32 (sentence-transformers) and int8 (ONNX Runtime), and each option's cosine to
the fp32 vectors, plus query latency.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from .._models.build import ensure_default_model
from .._models.embedding import OnnxEmbedder, SentenceTransformerEmbedder, make_embedder
from ..settings import DEFAULT_MODEL, default_cache_dir

SENTENCES = [
    "Công dân có quyền tự do cư trú theo quy định của Luật này và quy định khác của pháp luật.",
    "Người lao động có đủ 12 tháng làm việc cho một người sử dụng lao động thì được nghỉ hằng năm.",
    "Hồ sơ đăng ký thường trú gồm tờ khai và giấy tờ chứng minh chỗ ở hợp pháp.",
    "Thu nhập chịu thuế từ tiền lương, tiền công là các khoản thu nhập người lao động nhận được.",
    "Cơ quan đăng ký cư trú có trách nhiệm thẩm định, cập nhật thông tin về cư trú.",
    "Trường hợp từ chối đăng ký thì phải trả lời bằng văn bản và nêu rõ lý do.",
    "Mức hưởng trợ cấp thất nghiệp hằng tháng bằng 60% mức bình quân tiền lương.",
    "Người sử dụng lao động phải thông báo bằng văn bản cho người lao động ít nhất 30 ngày trước.",
    "Học sinh, sinh viên được miễn, giảm học phí theo quy định của Chính phủ.",
    "Bảo hiểm y tế là hình thức bảo hiểm bắt buộc áp dụng đối với các đối tượng theo quy định.",
    "Thời hạn giải quyết là 07 ngày làm việc kể từ ngày nhận được hồ sơ đầy đủ và hợp lệ.",
    "Điều 20. Điều kiện đăng ký thường trú: công dân có chỗ ở hợp pháp của mình.",
]


def make_passages(n: int, seed: int = 0) -> list[str]:
    """Passages of 2 to 14 sentences (about 30 to 250 words), like real chunks."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(SENTENCES, k=rng.randint(2, 14))) for _ in range(n)]


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    similarity = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.asarray(similarity)


def report(label: str, n: int, seconds: float, vecs: np.ndarray, ref: np.ndarray) -> None:
    cos = cosine(vecs, ref)
    print(
        f"{label:<34} {n / seconds:7.2f} passages/s   cosine to fp32: "
        f"min {cos.min():.4f} mean {cos.mean():.4f}"
    )


def embedder(
    cache_dir: Path, precision: str, batch: int
) -> SentenceTransformerEmbedder | OnnxEmbedder:
    e = make_embedder(DEFAULT_MODEL, cache_dir, precision=precision)  # type: ignore[arg-type]
    assert isinstance(e, SentenceTransformerEmbedder | OnnxEmbedder)
    e._batch_size = batch
    return e


def query_latency(e: SentenceTransformerEmbedder | OnnxEmbedder, queries: Sequence[str]) -> float:
    e.embed_query(queries[0])  # warm-up
    start = time.perf_counter()
    for q in queries:
        e.embed_query(q)
    return (time.perf_counter() - start) / len(queries) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--passages", type=int, default=96)
    args = parser.parse_args()

    start = time.perf_counter()
    folder = ensure_default_model(args.cache_dir)
    print(f"model folder {folder} ready in {time.perf_counter() - start:.1f} s")
    passages = make_passages(args.passages)
    prefixed = ["passage: " + p for p in passages]
    queries = [s[:60] for s in SENTENCES]

    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    plain.encode(prefixed[:4])  # warm-up
    ref, secs = timed(lambda: plain.encode(prefixed))
    report("plain encode, fp32, batch 32", len(passages), secs, ref, ref)
    baseline = secs

    for precision, batches in (("fp32", (16,)), ("int8", (1, 16))):
        for batch in batches:
            e = embedder(args.cache_dir, precision, batch)
            e.embed_passages_array(passages[:4])
            vecs, secs = timed(partial(e.embed_passages_array, passages))
            report(f"embedder {precision}, batch {batch}", len(passages), secs, vecs, ref)
            print(f"{'':<34} speed-up vs plain: {baseline / secs:.2f}x")
        print(f"{'':<34} query latency: {query_latency(e, queries):.1f} ms")


if __name__ == "__main__":
    main()
