"""PDF → one text per printed page: the text layer (pypdf), ruled tables as rows with their
header (pdfplumber), and OCR (``_loading/ocr.py``) for pages that have no text layer.

pypdf reads the text of pages without tables, as it always has; pdfplumber is asked only for
the tables, since its layout analysis is what finds a table's rows and columns.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LoadError
from .ocr import (
    INSTALL_HINT,
    Deadline,
    PageProgress,
    check_page_count,
    ocr_page,
    pdf_page_image,
    tesseract_missing,
)
from .tables import table_lines

if TYPE_CHECKING:
    from ..settings import IngestSettings

__all__ = ["PdfPages", "read_pdf", "reflow"]


@dataclass
class PdfPages:
    pages: list[str]
    title: str = ""
    ocr_pages: list[int] = field(default_factory=list)  # 1-based
    notes: list[str] = field(default_factory=list)


_CONTINUATION = re.compile(r"(?<=(.))[ \t]*\n[ \t]*(?=(\w))")
# Tesseract may put a blank line under every printed line of widely spaced text.
_OCR_CONTINUATION = re.compile(r"(?<=(.))[ \t]*\n(?:[ \t]*\n)*[ \t]*(?=(\w))")
# A list item or a numbered article starts its own line ("2. Hỗ trợ…", "3) …").
_ITEM_START = re.compile(r"\d{1,3}[.)]\s")


def reflow(text: str, *, ocr: bool = False) -> str:
    """PDF and OCR text come one printed line per line; a line that continues the sentence
    above is joined back to keep sentences whole: one starting in lower case, or with a
    number after a line that stopped mid-sentence ("…trước ngày" / "30 tháng 9 năm 2025"),
    unless the number opens a list item."""
    pattern = _OCR_CONTINUATION if ocr else _CONTINUATION

    def join(m: re.Match[str]) -> str:
        before, after = m.group(1), m.group(2)
        if after.islower():
            return " "
        wrapped = before.isalpha() and after.isdigit()
        return " " if wrapped and not _ITEM_START.match(text, m.end()) else m.group(0)

    return pattern.sub(join, text)


def _has_text(text: str) -> bool:
    # A scan may still carry a few drawn characters (a page number): letters make a text layer.
    return sum(ch.isalpha() for ch in text) >= 3


def _damaged(source: str, exc: Exception) -> LoadError:
    if "password" in str(exc).lower() or "decrypt" in str(exc).lower():
        return LoadError(
            f"{source} is password-protected; save an unprotected copy and ingest that."
        )
    return LoadError(
        f"{source} could not be read as a PDF ({type(exc).__name__}: {exc}); the file may "
        "be truncated or damaged. Download or export it again."
    )


# Path operators: a rectangle, or a line segment. A page drawing neither has no ruled table,
# so pdfplumber's layout analysis (about 125 ms a page, 15 times pypdf's text) is skipped.
_DRAWS_LINES = re.compile(rb"(?<![A-Za-z])(?:re|l)\s")


def _draws_lines(page: Any) -> bool:
    try:
        contents = page.get_contents()
        return contents is not None and bool(_DRAWS_LINES.search(contents.get_data()))
    except Exception:  # noqa: BLE001 - unsure: let pdfplumber look
        return True


def _text_layer(raw: bytes, source: str) -> tuple[list[str], str, set[int]]:
    """Each page's text layer, the info title and the pages that draw lines. (A long PDF with
    text is bounded by the characters one document may hold, as every format is.)"""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(
                f"{source} is password-protected; save an unprotected copy of the PDF "
                "and ingest that."
            )
        texts = [page.extract_text() or "" for page in reader.pages]
        ruled = {i for i, page in enumerate(reader.pages) if _draws_lines(page)}
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise _damaged(source, exc) from exc
    try:
        meta = reader.metadata
        title = str(meta.title) if meta and meta.title else ""
    except Exception:  # noqa: BLE001 - a broken info dictionary only costs the title
        title = ""
    return texts, title, ruled


def _page_with_tables(page: Any, tables: list[Any]) -> str:
    """The page's text with each table written as rows, in reading order from the top."""
    x0, top, x1, bottom = page.bbox
    parts: list[str] = []
    for table in sorted(tables, key=lambda t: t.bbox[1]):
        t_top, t_bottom = max(table.bbox[1], top), max(table.bbox[3], top)
        if t_top > top:
            parts.append(reflow(page.crop((x0, top, x1, t_top)).extract_text()))
        parts.append("\n".join(table_lines(table.extract())))
        if t_bottom > t_top:
            # Text beside the table (a note in the margin) follows its rows.
            band = page.crop((x0, t_top, x1, t_bottom))
            parts.append(reflow(band.outside_bbox(table.bbox, strict=False).extract_text()))
        top = t_bottom
    if top < bottom:
        parts.append(reflow(page.crop((x0, top, x1, bottom)).extract_text()))
    return "\n\n".join(p.strip() for p in parts if p.strip())


def _tables(raw: bytes, wanted: list[int]) -> dict[int, str]:
    """The text of each page in ``wanted`` that has ruled tables, tables written as rows."""
    import pdfplumber

    found: dict[int, str] = {}
    if not wanted:
        return found
    with pdfplumber.open(io.BytesIO(raw)) as pdf:
        for index in wanted:
            page = pdf.pages[index]
            tables = page.find_tables()
            if tables:
                found[index] = _page_with_tables(page, tables)
            page.close()  # pdfplumber keeps each parsed page's objects until closed
    return found


def read_pdf(
    raw: bytes, source: str, limits: IngestSettings, on_page: PageProgress | None = None
) -> PdfPages:
    """The PDF's pages as text; raises :class:`LoadError` with what to do."""
    texts, title, ruled = _text_layer(raw, source)
    result = PdfPages(pages=[], title=title)
    with_text = [i for i, t in enumerate(texts) if _has_text(t)]
    try:
        tables = _tables(raw, [i for i in with_text if i in ruled])
    except Exception as exc:  # noqa: BLE001 - pypdf read the text; only the tables' layout is lost
        tables = {}
        result.notes.append(f"tables not laid out as rows ({type(exc).__name__}: {exc})")
    result.pages = [tables.get(i) or reflow(t) for i, t in enumerate(texts)]
    scanned = [i for i in range(len(texts)) if i not in set(with_text)]
    if scanned:
        _ocr_pages(raw, source, limits, scanned, result, on_page)
    return result


def _ocr_pages(
    raw: bytes,
    source: str,
    limits: IngestSettings,
    scanned: list[int],
    result: PdfPages,
    on_page: PageProgress | None,
) -> None:
    missing = tesseract_missing(limits.ocr_languages)
    if missing and len(scanned) == len(result.pages):
        raise LoadError(
            f"{source} has no text layer (it looks like a scanned image) and OCR is not "
            f"available: {missing}; {INSTALL_HINT} and ingest again."
        )
    if missing:
        numbers = ", ".join(str(i + 1) for i in scanned)
        result.notes.append(
            f"pages {numbers} have no text layer and were not read ({missing}); "
            f"{INSTALL_HINT} and ingest the file again"
        )
        return
    check_page_count(source, len(scanned), limits)
    import pypdfium2

    deadline = Deadline(limits.ocr_timeout_s)
    try:
        document = pypdfium2.PdfDocument(raw)
    except Exception as exc:  # pypdfium2 raises PdfiumError on files pypdf forgave
        raise _damaged(source, exc) from exc
    try:
        for done, index in enumerate(scanned):
            if on_page:
                on_page(done, len(scanned))
            try:
                image = pdf_page_image(document, index, limits)
            except Exception as exc:  # PdfiumError on a page it cannot draw
                raise _damaged(source, exc) from exc
            text = ocr_page(image, source=source, page=index + 1, limits=limits, deadline=deadline)
            result.pages[index] = reflow(text, ocr=True)
            result.ocr_pages.append(index + 1)
        if on_page:
            on_page(len(scanned), len(scanned))
    finally:
        document.close()
