"""Cleaning a document's text: the parts of saved web pages that are not the article itself
(navigation, teaser links, "read more" lists, author sign-offs, doubled image captions) removed
by general rules, and the document's date found. What is removed is listed in the notes, so
nothing vanishes silently."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

_DATE_MARKER = re.compile(r"\A\s*(?:date|ngày)\s*[:=]?\s*(\d{4})-(\d{2})-(\d{2})\b[ \t]*\n?")
_BYLINE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})(?:\s*[-,|]?\s*\d{1,2}:\d{2}(?::\d{2})?)?")
_FORMAL_DATE = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})", re.IGNORECASE)
# The header's place and date: "Nghệ An, ngày 15 tháng 01 năm 2026", "Hà Nội, ngày 15/01/2026".
_PLACE_DATE = re.compile(
    r"\w\s*,\s*ngày\s+(\d{1,2})(?:\s+tháng\s+|/)(\d{1,2})(?:\s+năm\s+|/)(\d{4})", re.IGNORECASE
)
# Lines that cite other documents' dates, never the document's own.
_CITING = re.compile(r"[*_ \t]*(?:Căn cứ|Xét|Theo|Thực hiện|Kính gửi)\b")
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
class Cleaned:
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


def _is_headline(line: str) -> bool:
    """A saved page's own headline, which the HTML reader writes as "# …"."""
    return line.startswith("# ")


def _is_prose(line: str) -> bool:
    return len(line.split()) >= _LEAD_WORDS and not _is_headline(line)


def _strip_date_marker(c: Cleaned) -> None:
    m = _DATE_MARKER.match(c.text)
    if not m:
        return
    c.date = c.date or _make_date(m.group(1), m.group(2), m.group(3))
    c.text = c.text[m.end() :]
    c.notes.append(f"removed the date marker {m.group(0).strip()!r} from the start of the text")


def _clean_head(c: Cleaned, lines: list[str]) -> list[str]:
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
        (
            i
            for i in range(head_end)
            if _BYLINE.search(lines[i])
            and len(lines[i].split()) <= 12
            # "Hà Nội, ngày 15/01/2026" dates an official document, whose header stays.
            and not _PLACE_DATE.search(lines[i])
        ),
        None,
    )
    if byline is None:
        return lines
    m = _BYLINE.search(lines[byline])
    assert m is not None
    c.date = c.date or _make_date(m.group(3), m.group(2), m.group(1))
    candidates = [i for i in range(head_end) if i != byline and len(lines[i].split()) >= 3]
    # The page's headline if it marks one, else the longest line (a breadcrumb is shorter).
    title_at = max(candidates, key=lambda i: (_is_headline(lines[i]), len(lines[i])), default=None)
    removed = [lines[i].strip() for i in range(head_end) if i != title_at and lines[i].strip()]
    if title_at is not None:
        c.title = lines[title_at].strip().lstrip("#").strip()
    if removed:
        c.notes.append("removed page navigation above the article: " + " | ".join(removed))
    kept = [lines[title_at], ""] if title_at is not None else []
    return kept + lines[head_end:]


def _cut_more_articles(c: Cleaned, lines: list[str]) -> list[str]:
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


def _drop_teaser_lines(c: Cleaned, lines: list[str]) -> list[str]:
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


def _collapse_doubled_lines(c: Cleaned, lines: list[str]) -> list[str]:
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


def _drop_signoff(c: Cleaned, lines: list[str]) -> list[str]:
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


def _looks_like_news(c: Cleaned, lines: list[str]) -> bool:
    return c.date is not None or any(_MORE_ARTICLES.fullmatch(x.strip()) for x in lines)


def _find_formal_date(text: str) -> date | None:
    # "Hà Nội, ngày 15 tháng 5 năm 2020" in the header of official documents; a Word file's
    # header table may put it on one line with the issuing body and the number.
    lines = [line for line in text[:3000].split("\n")[:25] if not _CITING.match(line)]
    for line in lines:
        m = _PLACE_DATE.search(line)
        if m:
            return _make_date(m.group(3), m.group(2), m.group(1))
    for line in lines[:15]:
        m = _FORMAL_DATE.search(line)
        if m and len(line.split()) <= 15:
            return _make_date(m.group(3), m.group(2), m.group(1))
    return None


def clean(text: str) -> Cleaned:
    c = Cleaned(text=text)
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
