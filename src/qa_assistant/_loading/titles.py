"""A document's title: the cleaned page's, the format's own metadata, a Markdown heading, a
short first line, or else the file name; ALL-CAPS law titles tidied."""

from __future__ import annotations

import re
from pathlib import Path

from .._vietnamese import normalize_text
from .cleaning import Cleaned
from .extracted import Extracted

_MD_TITLE = re.compile(r"^#{1,2}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_DOC_TYPES = ("bộ luật", "luật", "nghị định", "nghị quyết", "thông tư", "quyết định", "pháp lệnh")


def _display_title(title: str) -> str:
    """Tidy a title; ALL-CAPS titles of laws become "Luật Cư trú" style."""
    title = re.sub(r"\s+", " ", title).strip().strip("#").strip()
    letters = [ch for ch in title if ch.isalpha()]
    if len(letters) < 2 or not all(ch.isupper() for ch in letters):
        return title
    lower = title.lower()
    for kind in _DOC_TYPES:
        if lower.startswith(kind + " ") and len(lower) > len(kind) + 1:
            rest = lower[len(kind) + 1 :]
            return kind.capitalize() + " " + rest[:1].upper() + rest[1:]
    return lower[:1].upper() + lower[1:]


def _title_from_name(source: str) -> str:
    stem = Path(source).stem
    words = re.sub(r"[-_.]+", " ", stem).split()
    name = " ".join(words)
    return name[:1].upper() + name[1:] if name else source


def _first_line_title(text: str) -> str:
    for line in text[:5000].split("\n")[:5]:
        line = line.strip()
        if not line:
            continue
        words = line.split()
        # A short first line without a sentence ending reads as a title ("LUẬT CƯ TRÚ").
        if len(words) <= 20 and not line.endswith((".", ";", ",")):
            return line
        return ""
    return ""


def pick_title(text: str, cleaned: Cleaned, extracted: Extracted, source: str) -> str:
    m = _MD_TITLE.search(text[:20000])
    for candidate in (
        cleaned.title,
        extracted.title,
        m.group(1) if m else "",
        _first_line_title(text),
    ):
        candidate = normalize_text(candidate).strip()
        if candidate and len(candidate) <= 300:
            return _display_title(candidate)
    return _title_from_name(source)
