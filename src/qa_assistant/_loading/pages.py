"""The formats with printed pages: PDFs (read by :mod:`.pdf`) and scans or photos (read by
:mod:`.ocr`), and the marks that keep each page's start through normalising and cleaning."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import LoadError
from .extracted import Extracted, Reading
from .ocr import INSTALL_HINT, Deadline, image_frames, ocr_page, tesseract_missing
from .pdf import read_pdf, reflow


def extract_pdf(raw: bytes, source: str, reading: Reading) -> Extracted:
    pdf = read_pdf(raw, source, reading.limits, reading.on_page)
    return Extracted(
        text="", title=pdf.title, notes=pdf.notes, pages=pdf.pages, ocr_pages=pdf.ocr_pages
    )


def extract_image(raw: bytes, source: str, reading: Reading) -> Extracted:
    """A scan or photo (PNG, JPEG, TIFF with one or more pages), read by OCR."""
    missing = tesseract_missing(reading.limits.ocr_languages)
    if missing:
        raise LoadError(
            f"{source} is an image and needs OCR to be read, but {missing}; {INSTALL_HINT} "
            "and ingest again."
        )
    count, frames = image_frames(raw, source, reading.limits)
    deadline = Deadline(reading.limits.ocr_timeout_s)
    pages: list[str] = []
    for number, frame in enumerate(frames, start=1):
        if reading.on_page:
            reading.on_page(number - 1, count)
        text = ocr_page(frame, source=source, page=number, limits=reading.limits, deadline=deadline)
        pages.append(reflow(text, ocr=True))
    if reading.on_page:
        reading.on_page(count, count)
    return Extracted(text="", pages=pages, ocr_pages=list(range(1, len(pages) + 1)))


# Page n > 1 opens with a line "\ue000n\ue001" (private-use characters no document writes)
# while the text is normalised and cleaned, so that page starts are found in the final text
# whatever cleaning removed; the lines are taken out before the text is stored.
PAGE_MARK = re.compile("\ue000(\\d+)\ue001\n?")
_MARK_CHARS = re.compile("[\ue000\ue001]")


def join_pages(pages: Sequence[str]) -> str:
    parts = [_MARK_CHARS.sub("", pages[0])]
    for number, page in enumerate(pages[1:], start=2):
        parts.append(f"\n\n\ue000{number}\ue001\n{_MARK_CHARS.sub('', page)}")
    return "".join(parts)


def split_pages(text: str, count: int) -> tuple[str, tuple[int, ...]]:
    """The text without its page marks, and where each page starts in it."""
    starts: dict[int, int] = {1: 0}
    out: list[str] = []
    at = 0
    length = 0
    for m in PAGE_MARK.finditer(text):
        out.append(text[at : m.start()])
        length += m.start() - at
        starts[int(m.group(1))] = length
        at = m.end()
    out.append(text[at:])
    joined = "".join(out).rstrip()
    # A page that cleaning emptied (or a blank scan) starts where the next one does.
    offsets: list[int] = []
    following = len(joined)
    for number in range(count, 0, -1):
        following = min(starts.get(number, following), len(joined))
        offsets.append(following)
    return joined, tuple(reversed(offsets))
