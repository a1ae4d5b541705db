"""A document's title: the cleaned page's headline, an official document's header ("Quyết định
số 123/QĐ-UBND về việc …"), the format's own metadata, a Markdown heading, a short first line,
or else the file name; ALL-CAPS law titles tidied."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

from .._vietnamese import fold, has_diacritics, normalize_text
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


# The kinds of administrative document and how a title names them.
_KINDS = {
    "QUYẾT ĐỊNH": "Quyết định",
    "NGHỊ QUYẾT": "Nghị quyết",
    "KẾ HOẠCH": "Kế hoạch",
    "THÔNG BÁO": "Thông báo",
    "HƯỚNG DẪN": "Hướng dẫn",
    "CÔNG VĂN": "Công văn",
    "CHỈ THỊ": "Chỉ thị",
    "BÁO CÁO": "Báo cáo",
    "TỜ TRÌNH": "Tờ trình",
}
_KIND_LINE = re.compile(rf"({'|'.join(_KINDS)})(?![:\w])\s*(.*)")
_NUMBER = re.compile(r"\bSố\s*:?\s*(\d[^\s,;|]*)")
_ABOUT = re.compile(r"V/v\s*:?\s*(.+)", re.IGNORECASE)  # a letter's "V/v …": về việc …
_DIVIDER = re.compile(r"[-_=*.\s]+")
# Lines that follow the subject and are not part of it.
_NOT_SUBJECT = re.compile(r"(?:Căn cứ|Điều|Kính gửi|Chương|Phần)\b")
_AFTER_SUBJECT = re.compile(r"(?:Căn cứ|Điều|Kính gửi|Xét|Theo|Thực hiện|Chương|Phần)\b")
_HEADER_LINES = 40
_SUBJECT_LINES = 3


def _plain(line: str) -> str:
    """The line without Markdown emphasis or heading marks."""
    return line.strip().strip("*_#").strip()


def _subject(lines: list[str]) -> str:
    """The subject under the kind line: the first line and those that go on with it."""
    parts: list[str] = []
    # A Word file puts a blank line between paragraphs: skip those before the subject.
    lines = list(itertools.dropwhile(lambda line: not line, lines))
    for line in lines[:_SUBJECT_LINES]:
        if not line or _DIVIDER.fullmatch(line) or _NOT_SUBJECT.match(line):
            break
        letters = [ch for ch in line if ch.isalpha()]
        if parts and (_AFTER_SUBJECT.match(line) or all(ch.isupper() for ch in letters)):
            break
        parts.append(line)
    return " ".join(parts).rstrip(" .;")


def header_title(text: str) -> str:
    """An official document's title from its header: the kind, the number and the subject
    ("Quyết định số 123/QĐ-UBND về việc hỗ trợ hộ cận nghèo"); "" without a header."""
    lines = [_plain(line) for line in text[:5000].split("\n")[:_HEADER_LINES]]
    number = next((m.group(1) for line in lines if (m := _NUMBER.search(line))), "")
    kind = subject = ""
    for i, line in enumerate(lines):
        m = _KIND_LINE.match(line)
        if m:
            kind = _KINDS[m.group(1)]
            subject = m.group(2).strip() or _subject(lines[i + 1 :])
            break
        about = _ABOUT.match(line)
        if about and number:
            kind, subject = "Công văn", "về việc " + about.group(1).strip()
            break
    if not kind:
        return ""
    if subject.casefold().startswith(kind.casefold()):
        return _display_title(subject)  # "Quyết định số 123/QĐ-UBND ngày … về …"
    if subject and all(ch.isupper() for ch in subject if ch.isalpha()):
        subject = subject.lower()
    subject = subject[:1].lower() + subject[1:]
    return " ".join(p for p in (kind, f"số {number}" if number else "", subject) if p)


def _title_from_name(source: str, text: str) -> str:
    """The file name as words; a word typed without its marks ("giam ngheo") is written as
    the text writes it ("giảm nghèo"), where the text has it."""
    stem = Path(source).stem
    # Each unmarked form's most frequent spelling: "giam" is "giảm" in a text about poverty
    # even if it also names a "Giám đốc" once.
    counts = Counter(re.findall(r"\w+", text[:20000]))
    spelled: dict[str, str] = {}
    for word, _ in counts.most_common():
        spelled.setdefault(fold(word), word)
    words = [
        spelled.get(fold(w), w) if not has_diacritics(w) else w
        for w in re.sub(r"[-_.]+", " ", stem).split()
    ]
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
        header_title(text),
        extracted.title,
        m.group(1) if m else "",
        _first_line_title(text),
    ):
        candidate = normalize_text(candidate).strip()
        if candidate and len(candidate) <= 300:
            return _display_title(candidate)
    return _title_from_name(source, text)
