"""Export a torch module to an int8 ONNX graph that ONNX Runtime runs without torch.

Shared by the embedding model and the relevance model, which are the same e5 encoder with
different outputs. Imports torch and the quantizer inside the function: only builds need them.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["export_int8_onnx"]


def export_int8_onnx(module: Any, target: Path, output: str, *, per_token: bool) -> None:
    """Write ``module(input_ids, attention_mask) -> output`` as int8 ONNX to ``target``.

    ``per_token``: the output has a row per input token (hidden states), not one per text.

    Weights are quantized per output channel (per-tensor scales put some passages below cosine
    0.99 to fp32), the 250k-row vocabulary table too (Gather: 407 MB → 118 MB); activations
    are quantized per call by ONNX Runtime.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    sample = torch.tensor([[0, 6, 2]])
    axes = {0: "batch", 1: "tokens"}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "model.onnx"
        with warnings.catch_warnings(), torch.inference_mode():
            # The TorchScript exporter is marked deprecated but needs no extra packages.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (sample, torch.ones_like(sample)),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=[output],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    output: axes if per_token else {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        # The quantizer logs advice about pre-processing to the root logger; it does not apply.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                str(fp32),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul", "Gather"],
            )
        finally:
            root.setLevel(level)
