"""The embedding models the bench runs: the assistant's own (recorded, so that its vectors can
be reused) and the plain sentence-transformers model a user would otherwise take, which the
figures are compared with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..protocols import Embedder
from ..settings import Settings
from .config import BenchConfig

__all__ = ["RecordingEmbedder", "embedder_for", "plain_encoder", "plain_query_embedder"]


class RecordingEmbedder:
    """Passes calls through and keeps every passage vector, so the ingested chunks can be
    repeated into larger collections without embedding them again."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.vectors: dict[str, list[float]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self.inner.embed_passages(texts)
        self.vectors.update(zip(texts, vectors, strict=True))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def embedder_for(config: BenchConfig) -> Embedder:
    """The assistant's embedder as the run's settings make it (the fake one for ``--fake``)."""
    if config.fake:
        from ..testing import FakeEmbedder

        return FakeEmbedder()
    from .._models.build import tuned_weights_of
    from .._models.embedding import make_embedder

    s = config.settings
    return make_embedder(
        s.model,
        s.cache_dir,
        s.device,
        precision=s.precision,
        tuned=tuned_weights_of(s),
        threads=s.serving.onnx_threads,
    )


def _plain_model(settings: Settings) -> Any:
    """What a user would write: SentenceTransformer(model), default settings."""
    from sentence_transformers import SentenceTransformer

    if settings.model_is_default:
        from .._models.build import ensure_default_model

        path = str(ensure_default_model(settings.cache_dir))
    else:
        path = settings.model
    return SentenceTransformer(path, device=settings.device)


def plain_encoder(config: BenchConfig) -> Callable[[list[str]], Any]:
    """The plain model's ``encode`` of passages, the baseline of the ingest figure."""
    if config.fake:
        from ..testing import FakeEmbedder

        return FakeEmbedder().embed_passages
    model = _plain_model(config.settings)
    return lambda texts: model.encode(texts)


def plain_query_embedder(settings: Settings, fake: bool) -> Callable[[str], list[float]]:
    """The plain model's question vector, the baseline of the serving figure."""
    if fake:
        from ..testing import FakeEmbedder

        return FakeEmbedder().embed_query
    model = _plain_model(settings)
    prefix = "query: " if "e5" in settings.model.lower() else ""

    def embed(text: str) -> list[float]:
        return [float(x) for x in model.encode(prefix + text)]

    return embed
