"""Saved web pages → text: the page's own charset, the article's blocks, headings and table
cells kept; scripts, navigation, forms and the like dropped (news-page cleaning is
:mod:`.cleaning`'s, for every format)."""

from __future__ import annotations

import codecs
import re
from typing import Any

from .._vietnamese import word_set
from .decoding import decode_text
from .extracted import Extracted, Reading, tidy_lines

_CHARSET_META = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def extract_html(raw: bytes, source: str, reading: Reading) -> Extracted:
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
    return Extracted(text=tidy_lines("".join(out)), title=title)


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
