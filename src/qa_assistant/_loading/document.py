"""One file → :class:`~qa_assistant.types.Document`: read, extract by format, normalise,
clean, find the pages and the title."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from .._vietnamese import normalize_text
from ..errors import LoadError
from ..settings import IngestSettings
from ..types import Document
from .cleaning import clean
from .decoding import extract_plain, mostly_unprintable, not_text
from .discovery import FORMATS, SUPPORTED_SUFFIXES
from .extracted import Extracted, Reading
from .html import extract_html
from .ocr import PageProgress
from .pages import PAGE_MARK, extract_image, extract_pdf, join_pages, split_pages
from .titles import pick_title
from .word import extract_doc, extract_docx

# About 2,500 printed pages, several times the longest Vietnamese law code. A larger "document"
# is almost always an export or a log, and indexing it would hold the ingest lock for tens of
# minutes (word segmentation reads about 60 kB/s).
MAX_DOCUMENT_CHARS = 5_000_000

_EXTRACTORS: dict[str, Callable[[bytes, str, Reading], Extracted]] = {
    "txt": extract_plain,
    "md": extract_plain,
    "html": extract_html,
    "pdf": extract_pdf,
    "docx": extract_docx,
    "doc": extract_doc,
    "image": extract_image,
}


def load_document(
    path: Path,
    source: str,
    limits: IngestSettings | None = None,
    on_page: PageProgress | None = None,
) -> Document:
    """Read one file as a :class:`Document` (raises :class:`LoadError` with what to do).

    ``limits`` bound what a scan, photo or .doc may cost (the defaults of
    :class:`IngestSettings` when None); ``on_page`` hears of each page OCR reads.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise LoadError(
            f"{source}: files of type {path.suffix or '(none)'!r} are not supported; "
            f"convert it to one of {supported}."
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{source} could not be read ({exc.strerror}); check the file.") from exc
    if not raw.strip():
        raise LoadError(f"{source} is empty; add text to it or remove it from the documents.")
    reading = Reading(limits or IngestSettings.model_validate({}), on_page)
    extracted = _EXTRACTORS[fmt](raw, source, reading)
    raw_text = join_pages(extracted.pages) if extracted.pages else extracted.text
    if len(raw_text) > MAX_DOCUMENT_CHARS:
        raise LoadError(
            f"{source} is too large: {len(raw_text) / 1e6:.1f} million characters of text, "
            f"more than the {MAX_DOCUMENT_CHARS / 1e6:g} million one document may hold; split it "
            "into smaller files (e.g. one per chapter) and ingest those."
        )
    text = normalize_text(raw_text)
    if "\x00" in raw_text or mostly_unprintable(PAGE_MARK.sub("", text)):
        raise not_text(source)
    cleaned = clean(text)
    pages: tuple[int, ...] = ()
    if extracted.pages:
        cleaned.text, pages = split_pages(cleaned.text, len(extracted.pages))
    if not cleaned.text.strip():
        if extracted.ocr_pages:
            raise LoadError(
                f"{source}: OCR found no text on its {len(extracted.pages)} page(s) (a blank or "
                "illegible scan); check that the scan is the right way up and legible, and scan "
                "it again if not."
            )
        raise LoadError(f"{source} is empty (no text once cleaned); check its content.")
    title = pick_title(cleaned.text, cleaned, extracted, source)
    return Document(
        source=source,
        title=title,
        text=cleaned.text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        date=cleaned.date,
        format=fmt,
        notes=(*extracted.notes, *cleaned.notes),
        pages=pages,
        ocr_pages=tuple(extracted.ocr_pages),
    )
