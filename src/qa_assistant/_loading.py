"""Files → :class:`~qa_assistant.types.Document`: find, decode, extract, clean, normalise.

``Document.text`` is the cleaned, NFC-normalised text that every span in the pipeline
points into. Cleaning removes the parts of saved web pages that are not the article itself
(navigation, teaser links, "read more" lists, author sign-offs, doubled image captions) with
general rules, and lists what it removed in ``Document.notes`` so nothing vanishes silently.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ._convert import read_doc
from ._ocr import INSTALL_HINT, Deadline, PageProgress, image_frames, ocr_page, tesseract_missing
from ._pdf import read_pdf, reflow
from ._tables import table_lines
from ._vietnamese import normalize_text, word_set
from .errors import LoadError
from .settings import IngestSettings
from .types import Document

__all__ = ["SUPPORTED_SUFFIXES", "decode_text", "discover", "load_document"]

# About 2,500 printed pages, several times the longest Vietnamese law code. A larger "document"
# is almost always an export or a log, and indexing it would hold the ingest lock for tens of
# minutes (word segmentation reads about 60 kB/s).
MAX_DOCUMENT_CHARS = 5_000_000

_FORMATS = {
    ".txt": "txt",
    ".md": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".doc": "doc",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)


# --------------------------------------------------------------------------- discovery


def _is_hidden(parts: Sequence[str]) -> bool:
    # "~$name.docx" is the lock file Word leaves beside an open document.
    return any(p.startswith((".", "~$")) for p in parts)


def discover(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Supported files under ``paths``, each with its ``source`` name.

    Folders are searched recursively (hidden files and folders skipped) and their files are
    named relative to the folder, with forward slashes. A file given directly is named by its
    file name and kept whatever its suffix, so that loading it reports why it is unsupported.
    """
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for root in paths:
        if root.is_dir():
            entries = []
            for path in root.rglob("*"):
                rel = path.relative_to(root)
                if (
                    path.suffix.lower() in SUPPORTED_SUFFIXES
                    and not _is_hidden(rel.parts)
                    and path.is_file()
                ):
                    entries.append((path, rel.as_posix()))
            entries.sort(key=lambda e: e[1])
        elif root.is_file():
            entries = [(root, root.name)]
        else:
            raise LoadError(f"{root} does not exist; check the path and try again.")
        for path, source in entries:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((path, source))
    return found


# --------------------------------------------------------------------------- decoding

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


def _not_text(source: str) -> LoadError:
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
        raise _not_text(source)
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
                raise _not_text(source) from exc
    utf16 = _utf16_without_bom(raw)
    if utf16 is not None:
        try:
            return raw.decode(utf16)
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw[:_SAMPLE] or b"\x00" in raw[-_SAMPLE:]:
        raise _not_text(source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _decode_legacy(raw, source)


# --------------------------------------------------------------------------- formats


@dataclass
class _Extracted:
    text: str  # "" when the format has pages: then they are in ``pages``
    title: str = ""  # from the format's own metadata (<title>, PDF info, DOCX properties)
    notes: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # 1-based


@dataclass(frozen=True)
class _Reading:
    """What an extractor may need besides the bytes: the limits, the per-page progress."""

    limits: IngestSettings
    on_page: PageProgress | None = None


_CHARSET_META = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def _extract_html(raw: bytes, source: str, reading: _Reading) -> _Extracted:
    from bs4 import BeautifulSoup
    from bs4.element import Comment, Doctype, NavigableString, ProcessingInstruction, Tag

    m = _CHARSET_META.search(raw[:4096])
    text: str | None = None
    if m and not raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode(m.group(1).decode("ascii"))
        except (UnicodeDecodeError, LookupError):
            text = None
    if text is None:
        text = decode_text(raw, source)
    soup = BeautifulSoup(text, "html.parser")
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ") if isinstance(h1, Tag) else ""

    out: list[str] = []
    skip = (Comment, Doctype, ProcessingInstruction)

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, skip):
                    out.append(str(child) if _in_pre(child) else re.sub(r"\s+", " ", child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name == "br":
                    out.append("\n")
                    continue
                block = name in _HTML_BLOCKS
                heading = _HEADING_TAG.fullmatch(name)
                if block:
                    out.append("\n\n")
                if heading:
                    out.append("#" * int(heading.group(1)) + " ")
                if name in ("td", "th"):
                    out.append(" | ")
                walk(child)
                if block:
                    out.append("\n\n")

    body = soup.body or soup
    walk(body)
    return _Extracted(text=_tidy_lines("".join(out)), title=title)


_HTML_DROP = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "iframe",
    "svg",
    "button",
    "select",
    "head",
]
_HTML_BLOCKS = word_set(
    "p div section article main h1 h2 h3 h4 h5 h6 ul ol li table tr thead tbody tfoot"
    " blockquote pre figure figcaption dl dt dd hr address"
)
_HEADING_TAG = re.compile(r"h([1-6])")


def _in_pre(node: Any) -> bool:
    return any(getattr(p, "name", None) == "pre" for p in node.parents)


def _tidy_lines(text: str) -> str:
    """Trim each line and keep at most one blank line between blocks."""
    lines = [line.strip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(?m)^\| | \|$", "", text).strip()


def _extract_pdf(raw: bytes, source: str, reading: _Reading) -> _Extracted:
    pdf = read_pdf(raw, source, reading.limits, reading.on_page)
    return _Extracted(
        text="", title=pdf.title, notes=pdf.notes, pages=pdf.pages, ocr_pages=pdf.ocr_pages
    )


def _extract_image(raw: bytes, source: str, reading: _Reading) -> _Extracted:
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
    return _Extracted(text="", pages=pages, ocr_pages=list(range(1, len(pages) + 1)))


_DOCX_HEADING = re.compile(r"(?:heading|đề mục)\s*(\d)", re.IGNORECASE)


def _extract_docx(raw: bytes, source: str, reading: _Reading) -> _Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # zipfile, lxml and KeyError on damaged or foreign files
        raise LoadError(
            f"{source} is not a readable .docx (it may be damaged, password-protected or an "
            "old .doc renamed); open it in Word or LibreOffice, save as .docx and try again."
        ) from exc
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(_docx_paragraph(Paragraph(block, document)))
        elif tag == "tbl":
            rows = [[c.text for c in row.cells] for row in Table(block, document).rows]
            lines.append("\n".join(table_lines(rows)))
    title = document.core_properties.title or ""
    return _Extracted(text=_tidy_lines("\n\n".join(lines)), title=title)


def _docx_paragraph(paragraph: Any) -> str:
    text = str(paragraph.text).strip()
    style = str(paragraph.style.name) if paragraph.style is not None else ""
    if not text:
        return ""
    if style.lower() == "title":
        return "# " + text
    m = _DOCX_HEADING.search(style)
    if m:
        return "#" * min(int(m.group(1)) + 1, 6) + " " + text
    return text


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 files are OLE containers
_ZIP_MAGIC = b"PK\x03\x04"


def _extract_doc(raw: bytes, source: str, reading: _Reading) -> _Extracted:
    """A Word 97-2003 file, read by catdoc (docs/ARCHITECTURE.md says why catdoc)."""
    if raw.startswith(_ZIP_MAGIC):  # a .docx saved under the old name
        return _extract_docx(raw, source, reading)
    if not raw.startswith(_OLE_MAGIC):
        raise LoadError(
            f"{source} is not a Word 97-2003 document (it may be RTF or text renamed .doc); "
            "open it in Word or LibreOffice, save it as .docx and ingest that."
        )
    text = read_doc(raw, source, reading.limits.converter_timeout_s)
    return _Extracted(text=_tidy_lines(text))


def _extract_plain(raw: bytes, source: str, reading: _Reading) -> _Extracted:
    return _Extracted(text=decode_text(raw, source))


_EXTRACTORS: dict[str, Callable[[bytes, str, _Reading], _Extracted]] = {
    "txt": _extract_plain,
    "md": _extract_plain,
    "html": _extract_html,
    "pdf": _extract_pdf,
    "docx": _extract_docx,
    "doc": _extract_doc,
    "image": _extract_image,
}

# --------------------------------------------------------------------------- cleaning

_DATE_MARKER = re.compile(r"\A\s*(?:date|ngày)\s*[:=]?\s*(\d{4})-(\d{2})-(\d{2})\b[ \t]*\n?")
_BYLINE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})(?:\s*[-,|]?\s*\d{1,2}:\d{2}(?::\d{2})?)?")
_FORMAL_DATE = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})", re.IGNORECASE)
# Headings of the "more articles" block that news sites append after the article.
_MORE_ARTICLES = re.compile(
    r"(?:đọc thêm|xem thêm|tin liên quan|bài liên quan|bài viết liên quan|tin cùng chuyên mục"
    r"|tin khác|có thể bạn quan tâm|tin mới nhất|tin đọc nhiều|related articles|read more)"
    r"\s*:?",
    re.IGNORECASE,
)
_SENTENCE_END = tuple(".!?:;…\"'”’)»")
_HEAD_LINES = 12  # how far from the top a byline is looked for
_LEAD_WORDS = 15  # a line this long is prose: the navigation area ends before it


@dataclass
class _Cleaned:
    text: str
    date: date | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)


def _make_date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_prose(line: str) -> bool:
    return len(line.split()) >= _LEAD_WORDS


def _strip_date_marker(c: _Cleaned) -> None:
    m = _DATE_MARKER.match(c.text)
    if not m:
        return
    c.date = c.date or _make_date(m.group(1), m.group(2), m.group(3))
    c.text = c.text[m.end() :]
    c.notes.append(f"removed the date marker {m.group(0).strip()!r} from the start of the text")


def _clean_head(c: _Cleaned, lines: list[str]) -> list[str]:
    """Drop the navigation above a news article (section name, byline, "Tag", font buttons).

    Only runs when a byline with a dd/mm/yyyy date sits above the first paragraph of prose:
    that is what tells a saved web page from a law, whose first lines are its title and
    first article and must stay.
    """
    head_end = next(
        (i for i, line in enumerate(lines[:_HEAD_LINES]) if _is_prose(line)),
        min(len(lines), _HEAD_LINES),
    )
    byline = next(
        (i for i in range(head_end) if _BYLINE.search(lines[i]) and len(lines[i].split()) <= 12),
        None,
    )
    if byline is None:
        return lines
    m = _BYLINE.search(lines[byline])
    assert m is not None
    c.date = c.date or _make_date(m.group(3), m.group(2), m.group(1))
    candidates = [i for i in range(head_end) if i != byline and len(lines[i].split()) >= 3]
    title_at = max(candidates, key=lambda i: len(lines[i]), default=None)
    removed = [lines[i].strip() for i in range(head_end) if i != title_at and lines[i].strip()]
    if title_at is not None:
        c.title = lines[title_at].strip()
    if removed:
        c.notes.append("removed page navigation above the article: " + " | ".join(removed))
    kept = [lines[title_at], ""] if title_at is not None else []
    return kept + lines[head_end:]


def _cut_more_articles(c: _Cleaned, lines: list[str]) -> list[str]:
    """Cut the "Đọc thêm"/"Xem thêm" list of other articles and everything after it."""
    for i, line in enumerate(lines):
        if i >= len(lines) // 3 and _MORE_ARTICLES.fullmatch(line.strip()):
            tail = [x for x in lines[i:] if x.strip()]
            c.notes.append(
                f"removed the {line.strip()!r} list of other articles after the article "
                f"({len(tail)} lines)"
            )
            return lines[:i]
    return lines


def _drop_teaser_lines(c: _Cleaned, lines: list[str]) -> list[str]:
    """Drop lines of links to other articles glued under a paragraph.

    Such a line follows a prose line directly (no blank line between), is long, and does not
    end like a sentence; the article's own subheadings and captions stand between blank lines.
    """
    out: list[str] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        prev = lines[i - 1].strip() if i else ""
        if (
            stripped
            and _is_prose(prev)
            and prev.endswith(_SENTENCE_END)
            and len(stripped.split()) >= 10
            and not stripped.endswith(_SENTENCE_END)
            and (i + 1 == len(lines) or not lines[i + 1].strip())
        ):
            c.notes.append(f"removed a line of links to other articles: {_short(stripped)!r}")
            continue
        out.append(line)
    return out


def _collapse_doubled_lines(c: _Cleaned, lines: list[str]) -> list[str]:
    """Keep one copy of a line repeated on the next line (image captions saved twice).

    One copy stays because captions carry facts the article states nowhere else; two copies
    would only weigh them double in search and quote them twice.
    """
    out: list[str] = []
    doubled = 0
    for line in lines:
        if out and line.strip() and line.strip() == out[-1].strip():
            doubled += 1
            continue
        out.append(line)
    if doubled:
        c.notes.append(f"kept one copy of {doubled} line(s) repeated twice (image captions)")
    return out


def _drop_signoff(c: _Cleaned, lines: list[str]) -> list[str]:
    """Drop the author's name closing a news article (a short capitalised line, no sentence)."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if len(lines) < 3:
        return lines
    last = lines[-1].strip()
    words = last.split()
    if (
        1 <= len(words) <= 4
        and len(last) <= 40
        and all(w[:1].isupper() for w in words)
        and not any(ch.isdigit() for ch in last)
        and not last.endswith(_SENTENCE_END)
        and not lines[-2].strip()
    ):
        c.notes.append(f"removed the author sign-off {last!r}")
        return lines[:-1]
    return lines


def _looks_like_news(c: _Cleaned, lines: list[str]) -> bool:
    return c.date is not None or any(_MORE_ARTICLES.fullmatch(x.strip()) for x in lines)


def _find_formal_date(text: str) -> date | None:
    # "Hà Nội, ngày 15 tháng 5 năm 2020" in the header of official documents.
    for line in text[:3000].split("\n")[:15]:
        m = _FORMAL_DATE.search(line)
        if m and len(line.split()) <= 15:
            return _make_date(m.group(3), m.group(2), m.group(1))
    return None


def _clean(text: str) -> _Cleaned:
    c = _Cleaned(text=text)
    _strip_date_marker(c)
    lines = c.text.split("\n")
    lines = _clean_head(c, lines)
    if _looks_like_news(c, lines):
        lines = _cut_more_articles(c, lines)
        lines = _drop_teaser_lines(c, lines)
        lines = _drop_signoff(c, lines)
    lines = _collapse_doubled_lines(c, lines)
    c.text = "\n".join(line.rstrip() for line in lines).strip()
    c.date = c.date or _find_formal_date(c.text)
    return c


# --------------------------------------------------------------------------- titles

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


def _pick_title(text: str, cleaned: _Cleaned, extracted: _Extracted, source: str) -> str:
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


# --------------------------------------------------------------------------- entry point


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
    fmt = _FORMATS.get(path.suffix.lower())
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
    reading = _Reading(limits or IngestSettings.model_validate({}), on_page)
    extracted = _EXTRACTORS[fmt](raw, source, reading)
    raw_text = _join_pages(extracted.pages) if extracted.pages else extracted.text
    if len(raw_text) > MAX_DOCUMENT_CHARS:
        raise LoadError(
            f"{source} is too large: {len(raw_text) / 1e6:.1f} million characters of text, "
            f"more than the {MAX_DOCUMENT_CHARS / 1e6:g} million one document may hold; split it "
            "into smaller files (e.g. one per chapter) and ingest those."
        )
    text = normalize_text(raw_text)
    if "\x00" in raw_text or _mostly_unprintable(_PAGE_MARK.sub("", text)):
        raise _not_text(source)
    cleaned = _clean(text)
    pages: tuple[int, ...] = ()
    if extracted.pages:
        cleaned.text, pages = _split_pages(cleaned.text, len(extracted.pages))
    if not cleaned.text.strip():
        if extracted.ocr_pages:
            raise LoadError(
                f"{source}: OCR found no text on its {len(extracted.pages)} page(s) (a blank or "
                "illegible scan); check that the scan is the right way up and legible, and scan "
                "it again if not."
            )
        raise LoadError(f"{source} is empty (no text once cleaned); check its content.")
    title = _pick_title(cleaned.text, cleaned, extracted, source)
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


# Page n > 1 opens with a line "\ue000n\ue001" (private-use characters no document writes)
# while the text is normalised and cleaned, so that page starts are found in the final text
# whatever cleaning removed; the lines are taken out before the text is stored.
_PAGE_MARK = re.compile("\ue000(\\d+)\ue001\n?")
_MARK_CHARS = re.compile("[\ue000\ue001]")


def _join_pages(pages: Sequence[str]) -> str:
    parts = [_MARK_CHARS.sub("", pages[0])]
    for number, page in enumerate(pages[1:], start=2):
        parts.append(f"\n\n\ue000{number}\ue001\n{_MARK_CHARS.sub('', page)}")
    return "".join(parts)


def _split_pages(text: str, count: int) -> tuple[str, tuple[int, ...]]:
    """The text without its page marks, and where each page starts in it."""
    starts: dict[int, int] = {1: 0}
    out: list[str] = []
    at = 0
    length = 0
    for m in _PAGE_MARK.finditer(text):
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


def _mostly_unprintable(text: str) -> bool:
    sample = text[:_SAMPLE]
    if not sample:
        return False
    bad = sum(1 for ch in sample if ch == "\ufffd" or (not ch.isprintable() and ch not in "\n\t"))
    return bad / len(sample) > 0.1
