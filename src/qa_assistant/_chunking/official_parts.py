"""The parts of an official document around its provisions: the header (issuing body, number,
date, kind, subject), the "Căn cứ …" preamble with its enacting line, and the "Nơi nhận:" /
signature tail. Each is found as a span of the text, to be set apart as boilerplate.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .headings import Span, is_caps_name, line_bounds

__all__ = [
    "HEADER",
    "PREAMBLE",
    "SIGNATURE",
    "header_span",
    "preamble_label",
    "preamble_span",
    "signature_span",
]

# The preamble of a decision or resolution: its "Căn cứ …", "Xét …", "Theo đề nghị …" lines
# (a PDF may wrap one onto the next line) and the enacting line after them ("QUYẾT ĐỊNH:").
_PREAMBLE_START = re.compile(r"[*_ \t]*Căn cứ\b")
_PREAMBLE_LINE = re.compile(r"[*_ \t]*(?:Căn cứ|Xét|Theo đề nghị|Thực hiện)\b")
# A letter's, plan's or notice's opening under its header: "Kính gửi:" with the recipients
# listed, and the line announcing what follows ("Thực hiện Quyết định số …, Sở … hướng dẫn
# như sau:", "Ủy ban nhân dân xã … thông báo … như sau:").
_OPENING_START = re.compile(r"[*_ \t]*Kính gửi\b")
_ANNOUNCES = re.compile(r".*\bnhư sau\s*:[*_ \t]*")
_LIST_LINE = re.compile(r"[*_ \t]*[-+•]\s")
# Where the recipients and the signature start: "Nơi nhận:", "TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH".
_TAIL_START = re.compile(r"[*_ \t]*(?:Nơi nhận\s*:|(?:TM|KT|TL|TUQ|Q|T/M)\.\s*[A-ZĐ])")
_HEADER_LINES = 20
# The lines of an official header: the number, the national motto, the place and date, a
# letter's "V/v …", the dividers under the issuing body; and the kind of document, whose
# subject follows it.
_HEADER_MARK = re.compile(
    r"Số\s*:|CỘNG HÒA XÃ HỘI|Độc lập\s*-\s*Tự do|\w\s*,\s*ngày\s+\d|V/v\b|-{3,}\s*$"
)
_KIND = re.compile(
    r"(?:QUYẾT ĐỊNH|NGHỊ QUYẾT|KẾ HOẠCH|THÔNG BÁO|HƯỚNG DẪN|CÔNG VĂN|CHỈ THỊ|BÁO CÁO|TỜ TRÌNH)"
    r"(?![:\w]).*"
)
_NOT_SUBJECT = re.compile(r"(?:Căn cứ|Điều|ĐIỀU|Kính gửi|Chương|Phần|Xét|Theo|Thực hiện)\b|-{3,}")
_SUBJECT_LINES = 3
HEADER = "Phần mở đầu"
PREAMBLE = "Căn cứ"
SIGNATURE = "Nơi nhận"


def _line_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    for a, b in line_bounds(text):
        if a >= end:
            return
        if b > start:
            yield a, b


def header_span(text: str, first_heading: int) -> Span | None:
    """The header of an official document: issuing body, number, date, kind and subject."""
    lines = [(a, b) for a, b in _line_spans(text, 0, first_heading) if text[a:b].strip()]
    end = None
    marks = 0
    for i, (a, b) in enumerate(lines[:_HEADER_LINES]):
        line = text[a:b].strip().strip("*_#").strip()
        if _KIND.fullmatch(line):
            # The kind is the surest mark; the subject under it (up to a blank line, a
            # divider or the preamble) belongs to the header too.
            marks += 2
            end = b
            for c, d in lines[i + 1 : i + 1 + _SUBJECT_LINES]:
                if _NOT_SUBJECT.match(text[c:d].strip()) or text[end:c].count("\n") > 1:
                    break
                end = d
            break
        if _HEADER_MARK.search(line):
            marks += 1
            end = b
    return (0, end) if end is not None and marks >= 2 else None


def _is_enacting(line: str) -> bool:
    """A few words in capitals ending with a colon: "QUYẾT ĐỊNH:", "QUYẾT NGHỊ:"."""
    line = line.strip("*_ \t")
    return line.endswith(":") and len(line.split()) <= 4 and is_caps_name(line)


def preamble_span(text: str, first_heading: int) -> Span | None:
    """The "Căn cứ …" lines before the first heading, with the enacting line after them; in
    a document with an official header, also its "Kính gửi:" recipients and the line that
    announces what follows."""
    begin = end = None
    official: bool | None = None  # whether it has a header: asked only when needed
    for a, b in _line_spans(text, 0, first_heading):
        line = text[a:b].strip()
        if not line:
            continue
        announces = bool(_ANNOUNCES.fullmatch(line))  # what follows is the document's body
        if begin is None:
            if _PREAMBLE_START.match(line):
                begin, end = a, b
                continue
            if _OPENING_START.match(line) or announces:
                if official is None:
                    official = header_span(text, first_heading) is not None
                if official:
                    begin, end = a, b
                    if announces:
                        break
            continue
        assert end is not None
        wrapped = not text[:end].rstrip().endswith((";", ".", ":"))
        if _PREAMBLE_LINE.match(line) or _LIST_LINE.match(line) or wrapped:
            end = b
            if announces:
                break
            continue
        if _is_enacting(line) or announces:
            end = b
        break
    if begin is None or end is None:
        return None
    # The header above it (issuing body, number, date, kind and subject) names the document,
    # which its title already does: set apart with it, not carried into the first article.
    header = [line for line in text[:begin].split("\n") if line.strip()]
    return (0 if len(header) <= _HEADER_LINES else begin), end


def preamble_label(text: str, span: Span) -> str:
    """ "Căn cứ" for a preamble that cites its grounds; a letter's or plan's opening is part of
    its header."""
    lines = text[span[0] : span[1]].split("\n")
    return PREAMBLE if any(_PREAMBLE_START.match(line) for line in lines) else HEADER


def signature_span(text: str, last_heading: int) -> Span | None:
    """The recipients and the signature after the last provision: "Nơi nhận:", "TM. …"."""
    # In the second half only: a short notice's "TM." cannot be its opening.
    after = max(last_heading, len(text) // 2)
    begin = next(
        (a for a, b in _line_spans(text, after, len(text)) if _TAIL_START.match(text, a, b)),
        None,
    )
    return (begin, len(text)) if begin is not None and begin > last_heading else None
