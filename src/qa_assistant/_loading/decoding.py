"""Bytes → text: byte-order marks, UTF-8, UTF-16 without a mark, legacy Vietnamese code pages;
binary content refused. Plain text and Markdown files need nothing more."""

from __future__ import annotations

import codecs

from .._vietnamese import normalize_text
from ..errors import LoadError
from .extracted import Extracted, Reading

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 64 * 1024
# Letters that only Vietnamese text produces; used to tell Windows-1258 from other 8-bit
# code pages when the detector hesitates.
_VIETNAMESE_LETTERS = frozenset("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def not_text(source: str) -> LoadError:
    return LoadError(
        f"{source} looks like a binary file, not text; save it as UTF-8 text "
        "(or as .pdf/.docx if that is what it is) and ingest it again."
    )


def _utf16_without_bom(raw: bytes) -> str | None:
    sample = raw[: _SAMPLE - _SAMPLE % 2]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0) / (len(sample) / 2)
    odd_nuls = sample[1::2].count(0) / (len(sample) / 2)
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _vietnamese_score(text: str) -> float:
    sample = text[:_SAMPLE].lower()
    return sum(1 for ch in sample if ch in _VIETNAMESE_LETTERS) / max(len(sample), 1)


def _decode_legacy(raw: bytes, source: str) -> str:
    import charset_normalizer

    best = charset_normalizer.from_bytes(raw[: 4 * _SAMPLE]).best()
    candidates: list[str] = []
    if best is not None:
        candidates.append(best.encoding)
    candidates.append("cp1258")
    decoded: list[tuple[float, str]] = []
    for encoding in candidates:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        nfc = normalize_text(text[:_SAMPLE])
        # Windows-1258 writes tones as combining marks; compare after composing them.
        bonus = 0.01 if encoding == candidates[0] else 0.0
        decoded.append((_vietnamese_score(nfc) + bonus, text))
    if not decoded:
        raise not_text(source)
    return max(decoded, key=lambda d: d[0])[1]


def decode_text(raw: bytes, source: str = "the file") -> str:
    """Bytes → str: BOM, then strict UTF-8, then UTF-16 by its NUL pattern, then detection.

    Raises :class:`LoadError` for binary content (NUL bytes in what is not UTF-16/32).
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise not_text(source) from exc
    utf16 = _utf16_without_bom(raw)
    if utf16 is not None:
        try:
            return raw.decode(utf16)
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw[:_SAMPLE] or b"\x00" in raw[-_SAMPLE:]:
        raise not_text(source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_legacy(raw, source)


def mostly_unprintable(text: str) -> bool:
    sample = text[:_SAMPLE]
    if not sample:
        return False
    bad = sum(1 for ch in sample if ch == "\ufffd" or (not ch.isprintable() and ch not in "\n\t"))
    return bad / len(sample) > 0.1


def extract_plain(raw: bytes, source: str, reading: Reading) -> Extracted:
    """A .txt or .md file: its text as decoded (cleaning and headings come later)."""
    return Extracted(text=decode_text(raw, source))
