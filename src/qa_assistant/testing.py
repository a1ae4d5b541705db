"""Test fakes shipped with the package, so tests (ours and users') need no model or server.

:class:`FakeEmbedder` is a deterministic bag-of-syllables hasher: texts that share words get
similar vectors, which is enough to exercise retrieval, fusion and the index offline.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold()).replace("đ", "d")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class FakeEmbedder:
    """Implements :class:`qa_assistant.protocols.Embedder` without any model."""

    def __init__(self, dimension: int = 64, max_tokens: int = 120, name: str = "fake-embedder"):
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._name = name
        self.calls = 0  # how many embed calls were made: lets tests check for waste

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        # Roughly like a subword model on Vietnamese: one token per syllable, plus the prefix.
        return len(_WORD.findall(text)) + 2

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dimension
        for word in _WORD.findall(_fold(text)):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self._dimension
            vec[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return self._vector(text)
