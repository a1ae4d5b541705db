"""Where a document's sections start: Markdown headings, the tiers of Vietnamese legal texts
(Phần / Chương / Mục / Điều), the "I. MỤC ĐÍCH" parts and "2. Người thuộc hộ cận nghèo" titles
of plans, guidance and notices, and, in plain text without any of those, short lines between
blank lines. An article that states its rule on its own line ("Điều 2. Hỗ trợ … 5.000.000
đồng/ha.") is named "Điều 2" and its line stays under the heading as quotable text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "CLAUSE",
    "POINT",
    "Heading",
    "Span",
    "find_headings",
    "is_caps_name",
    "line_bounds",
    "plain_headings",
]

# A slice of the text: its start and end offsets.
Span = tuple[int, int]


# An ATX heading may be empty ("##", "## ##"): it still ends the section before it.
_MD_HEADING = re.compile(r"(#{1,6})(?:[ \t]+(.*?)[ \t#]*)?")
# Heading levels: Markdown 1-6, then the legal tiers nested below them.
_LEGAL = (
    (7, re.compile(r"(?:Phần|PHẦN)\s+(?:thứ\s+\S+|THỨ\s+\S+|[IVXLC]+|\d+)\b.*")),
    (8, re.compile(r"(?:Chương|CHƯƠNG)\s+(?:[IVXLC]+|\d+)\b.*")),
    (9, re.compile(r"(?:Mục|MỤC)\s+(?:\d+|[IVXLC]+)\b.*")),
    (10, re.compile(r"(?:Điều|ĐIỀU)\s+\d+[a-z]?\s*[.:].*")),
)
_ARTICLE_LEVEL = 10
# The parts of plans and guidance, in capitals: "I. MỤC ĐÍCH, YÊU CẦU", "II. ĐỐI TƯỢNG, MỨC QUÀ".
_PART = re.compile(r"[IVX]{1,5}\.[ \t]+\S.*")
_PART_LEVEL = 9
# A numbered title of its own ("2. Người thuộc hộ cận nghèo", as guidance and notices name
# their sections, and as a Word file's heading styles read once their marks are gone): short,
# in sentence case, no sentence ending, and not wrapped onto the next line. A clause states a
# rule and ends like a sentence.
_NUMBERED_TITLE = re.compile(r"\d{1,2}\.[ \t]+([A-ZĐÀ-Ỹ]).*")
_NUMBERED_LEVEL = 11
_MAX_NUMBERED_WORDS = 20
_NOT_A_TITLE_END = tuple(".;:,!?…)")
_ARTICLE = re.compile(r"((?:Điều|ĐIỀU)\s+\d+[a-z]?)\s*[.:]\s*(.*)")
# What ends a rule but never an article's title: a law writes "Điều 5. Quyền và nghĩa vụ của
# công dân" as a name, a decision writes "Điều 2. Hỗ trợ … 5.000.000 đồng/ha." as the rule.
# A lead-in to a list ("… có những nhiệm vụ sau đây:") is a rule as well, and so is a line a
# PDF wrapped mid-sentence: the next line then goes on in lower case.
_RULE_END = tuple(".;:!?…")
CLAUSE = re.compile(r"\d{1,3}\.\s", re.ASCII)
POINT = re.compile(r"[a-zđ]\)\s")
_MAX_HEADING_WORDS = 30


@dataclass(frozen=True)
class Heading:
    level: int
    label: str
    start: int  # where the heading line starts
    body: int  # where the text under it starts (after its name line, if any)


def line_bounds(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, without its newline."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield start, end
        start = end + 1


def is_caps_name(line: str) -> bool:
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) >= 3 and all(ch.isupper() for ch in letters)


def _goes_on(text: str, end: int) -> bool:
    """The line ending at ``end`` was wrapped: the next one goes on in lower case (a point
    "a) …" starts a list instead)."""
    after = text[end + 1 : end + 12].lstrip()
    return after[:1].islower() and not POINT.match(after)


def _legal_heading(text: str, start: int, end: int) -> tuple[int, str, bool] | None:
    """The line's level, its label, and whether the line is also the article's rule."""
    line = text[start:end].strip()
    article = _ARTICLE.fullmatch(line)
    if article is not None:
        rest = article.group(2).strip()
        if (
            rest.endswith(_RULE_END)
            or _goes_on(text, end)
            or CLAUSE.match(rest)
            or len(line.split()) > _MAX_HEADING_WORDS
        ):
            return _ARTICLE_LEVEL, article.group(1), True
    if len(line.split()) > _MAX_HEADING_WORDS:
        return None
    if _PART.fullmatch(line):
        # "I. Mục đích" in sentence case is an item of a list, not a part.
        return (_PART_LEVEL, line, False) if is_caps_name(line) else None
    numbered = _NUMBERED_TITLE.fullmatch(line)
    if numbered is not None:
        titled = numbered.group(1).isupper() and not line.endswith(_NOT_A_TITLE_END)
        if titled and len(line.split()) <= _MAX_NUMBERED_WORDS and not _goes_on(text, end):
            return _NUMBERED_LEVEL, line, False
        return None
    for level, pattern in _LEGAL:
        if pattern.fullmatch(line):
            return level, line, False
    return None


def find_headings(text: str) -> list[Heading]:
    lines = list(line_bounds(text))
    headings: list[Heading] = []
    for i, (start, end) in enumerate(lines):
        if start == end:
            continue
        line = text[start:end]
        md = _MD_HEADING.fullmatch(line.strip()) if end - start <= 400 else None
        if md:
            label = (md.group(2) or "").strip()
            headings.append(Heading(len(md.group(1)), label, start, end))
            continue
        legal = _legal_heading(text, start, end)
        if legal is None:
            continue
        level, label, quotable = legal
        # A one-line article's text is its rule: the section's body starts with the line.
        body = start if quotable else end
        if level < _ARTICLE_LEVEL:
            # "Chương II" is usually followed by its name in capitals on the next line(s).
            nxt = next(((s, e) for s, e in lines[i + 1 : i + 3] if s < e), None)
            if nxt and is_caps_name(text[nxt[0] : nxt[1]]) and not _legal_heading(text, *nxt):
                label = f"{label}. {text[nxt[0] : nxt[1]].strip()}"
                body = nxt[1]
        headings.append(Heading(level, label, start, body))
    return headings


def plain_headings(text: str) -> list[Heading]:
    """Subheadings of plain text (news): a short line without a sentence ending, between
    blank lines. Only used when a document has no Markdown or legal headings."""
    headings: list[Heading] = []
    lines = list(line_bounds(text))
    for i, (start, end) in enumerate(lines):
        line = text[start:end].strip()
        words = line.split()
        if not (2 <= len(words) <= 12) or line.endswith((".", "!", "?", ";", ":", ",", "”", '"')):
            continue
        before = i == 0 or lines[i - 1][0] == lines[i - 1][1]
        after = i + 1 < len(lines) and lines[i + 1][0] == lines[i + 1][1]
        if before and after and line[:1].isupper():
            headings.append(Heading(1, line, start, end))
    return headings
