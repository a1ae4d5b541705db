"""What a format's reader is given besides the bytes, and what it gives back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..settings import IngestSettings
from .ocr import PageProgress


@dataclass
class Extracted:
    text: str  # "" when the format has pages: then they are in ``pages``
    title: str = ""  # from the format's own metadata (<title>, PDF info, DOCX properties)
    notes: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based


@dataclass(frozen=True)
class Reading:
    """What an extractor may need besides the bytes: the limits, the per-page progress."""

    limits: IngestSettings
    on_page: PageProgress | None = None


def tidy_lines(text: str) -> str:
    """Trim each line and keep at most one blank line between blocks."""
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(?m)^\| | \|$", "", text).strip()
