"""Document → chunks that follow the document's structure and fit the embedding model.

Sections come from Markdown headings and from the hierarchy of Vietnamese legal texts
(Phần / Chương / Mục / Điều); a section that fits the token budget is one chunk, otherwise
it is split at the largest unit that works: clauses (``1.``), points (``a)``), paragraphs,
lines, sentences, words, and as a last resort characters. Every chunk is an exact slice of
``Document.text`` (``doc.text[c.start:c.end] == c.text``), chunks do not overlap, and
together they hold every non-whitespace character of the document.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ._vietnamese import sentence_spans
from .types import Chunk, Document

__all__ = ["CHUNKER_VERSION", "HEADING_ROOM_TOKENS", "chunk_document", "chunk_token_budget"]

# 2: an empty Markdown heading ends a section; 3: a one-letter word ("nhà ở.") ends a sentence
CHUNKER_VERSION = "structure-3"
# The models read a chunk with its heading path in front (Chunk.indexed_text): this many of
# the embedder's tokens are left for it, so that the chunk's own text is not cut off.
HEADING_ROOM_TOKENS = 48

CountTokens = Callable[[str], int]
Span = tuple[int, int]

# --------------------------------------------------------------------------- structure

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
_CLAUSE = re.compile(r"\d{1,3}\.\s", re.ASCII)
_POINT = re.compile(r"[a-zđ]\)\s")
_MAX_HEADING_WORDS = 30


@dataclass(frozen=True)
class _Heading:
    level: int
    label: str
    start: int  # where the heading line starts
    body: int  # where the text under it starts (after its name line, if any)


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, without its newline."""
    start = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        yield start, end
        start = end + 1


def _is_caps_name(line: str) -> bool:
    letters = [ch for ch in line if ch.isalpha()]
    return len(letters) >= 3 and all(ch.isupper() for ch in letters)


def _legal_heading(text: str, start: int, end: int) -> tuple[int, str] | None:
    line = text[start:end].strip()
    if len(line.split()) > _MAX_HEADING_WORDS:
        return None
    for level, pattern in _LEGAL:
        if pattern.fullmatch(line):
            return level, line
    return None


def _find_headings(text: str) -> list[_Heading]:
    lines = list(_lines(text))
    headings: list[_Heading] = []
    for i, (start, end) in enumerate(lines):
        if end - start > 400 or start == end:
            continue
        line = text[start:end]
        md = _MD_HEADING.fullmatch(line.strip())
        if md:
            label = (md.group(2) or "").strip()
            headings.append(_Heading(len(md.group(1)), label, start, end))
            continue
        legal = _legal_heading(text, start, end)
        if legal is None:
            continue
        level, label = legal
        body = end
        if level < _ARTICLE_LEVEL:
            # "Chương II" is usually followed by its name in capitals on the next line(s).
            nxt = next(((s, e) for s, e in lines[i + 1 : i + 3] if s < e), None)
            if nxt and _is_caps_name(text[nxt[0] : nxt[1]]) and not _legal_heading(text, *nxt):
                label = f"{label}. {text[nxt[0] : nxt[1]].strip()}"
                body = nxt[1]
        headings.append(_Heading(level, label, start, body))
    return headings


def _plain_headings(text: str) -> list[_Heading]:
    """Subheadings of plain text (news): a short line without a sentence ending, between
    blank lines. Only used when a document has no Markdown or legal headings."""
    headings: list[_Heading] = []
    lines = list(_lines(text))
    for i, (start, end) in enumerate(lines):
        line = text[start:end].strip()
        words = line.split()
        if not (2 <= len(words) <= 12) or line.endswith((".", "!", "?", ";", ":", ",", "”", '"')):
            continue
        before = i == 0 or lines[i - 1][0] == lines[i - 1][1]
        after = i + 1 < len(lines) and lines[i + 1][0] == lines[i + 1][1]
        if before and after and line[:1].isupper():
            headings.append(_Heading(1, line, start, end))
    return headings


@dataclass(frozen=True)
class _Section:
    start: int
    end: int
    path: tuple[str, ...]
    level: int  # of its own heading; 0 for text before the first heading
    body: int  # where the text under the heading starts


def _sections(doc: Document) -> list[_Section]:
    text = doc.text
    headings = _find_headings(text)
    if not any(h.label for h in headings):
        # Lone "#" lines alone (dividers in plain text) do not make a Markdown document.
        headings = _plain_headings(text) or headings
    sections: list[_Section] = []
    if not headings or headings[0].start > 0:
        first = headings[0].start if headings else len(text)
        sections.append(_Section(0, first, (), 0, 0))
    stack: list[tuple[int, str]] = []
    for i, h in enumerate(headings):
        while stack and stack[-1][0] >= h.level:
            stack.pop()
        stack.append((h.level, h.label))
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        # An empty heading closes its level without naming the text under it, which then
        # belongs to the headings above (not to the previous section it would inherit from).
        path = tuple(label for _, label in stack if label)
        sections.append(_Section(h.start, end, path, h.level, h.body))
    return sections


# --------------------------------------------------------------------------- splitting


def _strip(text: str, span: Span) -> Span:
    start, end = span
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_at(text: str, span: Span, starts: list[int]) -> list[Span]:
    """Cut ``span`` before each offset in ``starts``; drop empty pieces."""
    cuts = [span[0], *(s for s in starts if span[0] < s < span[1]), span[1]]
    pieces = (_strip(text, (a, b)) for a, b in itertools.pairwise(cuts))
    return [p for p in pieces if p[0] < p[1]]


def _line_starts(text: str, span: Span, pattern: re.Pattern[str]) -> list[int]:
    starts: list[int] = []
    pos = span[0]
    while pos < span[1]:
        nl = text.find("\n", pos, span[1])
        line_start = pos
        stripped = line_start
        while stripped < span[1] and text[stripped] in " \t":
            stripped += 1
        if pattern.match(text, stripped, span[1]):
            starts.append(line_start)
        if nl < 0:
            break
        pos = nl + 1
    return starts


def _by_clause(text: str, span: Span) -> list[Span]:
    return _split_at(text, span, _line_starts(text, span, _CLAUSE))


def _by_point(text: str, span: Span) -> list[Span]:
    return _split_at(text, span, _line_starts(text, span, _POINT))


def _by_paragraph(text: str, span: Span) -> list[Span]:
    starts = [m.end() for m in re.finditer(r"\n[ \t]*\n", text[span[0] : span[1]])]
    return _split_at(text, span, [span[0] + s for s in starts])


def _by_line(text: str, span: Span) -> list[Span]:
    starts = [m.end() for m in re.finditer(r"\n", text[span[0] : span[1]])]
    return _split_at(text, span, [span[0] + s for s in starts])


def _by_sentence(text: str, span: Span) -> list[Span]:
    return [(span[0] + a, span[0] + b) for a, b in sentence_spans(text[span[0] : span[1]])]


def _by_word(text: str, span: Span) -> list[Span]:
    return [
        (span[0] + m.start(), span[0] + m.end())
        for m in re.finditer(r"\S+", text[span[0] : span[1]])
    ]


_Splitter = Callable[[str, Span], list[Span]]
_LEGAL_SPLITTERS: tuple[_Splitter, ...] = (_by_clause, _by_point, _by_paragraph, _by_line)
_PLAIN_SPLITTERS: tuple[_Splitter, ...] = (_by_paragraph, _by_line)
_FINE_SPLITTERS: tuple[_Splitter, ...] = (_by_sentence, _by_word)


class _Packer:
    """Splits spans into pieces that fit ``max_tokens`` under ``count_tokens``."""

    def __init__(self, text: str, max_tokens: int, count_tokens: CountTokens) -> None:
        self.text = text
        self.max_tokens = max_tokens
        self.count = count_tokens
        # What an empty passage costs (a model prefix, special tokens): counted once, so a
        # run of units can be estimated by adding their own costs.
        self.base = count_tokens("")

    def fits(self, span: Span) -> bool:
        return self.count(self.text[span[0] : span[1]]) <= self.max_tokens

    def split(self, span: Span, splitters: tuple[_Splitter, ...]) -> list[Span]:
        if self.fits(span):
            return [span]
        for i, splitter in enumerate(splitters):
            units = splitter(self.text, span)
            if len(units) > 1:
                return self._pack(units, splitters[i:])
        return self._split_chars(span)

    def _pack(self, units: list[Span], splitters: tuple[_Splitter, ...]) -> list[Span]:
        """Greedily join neighbouring units while the joined text fits."""
        costs = [max(self.count(self.text[a:b]) - self.base, 0) for a, b in units]
        budget = self.max_tokens - self.base
        if splitters[0] is _by_word:
            # Even out the pieces of an over-long sentence so none ends as a lone word.
            n = -(-sum(costs) // max(budget, 1))
            budget = min(budget, -(-sum(costs) // max(n, 1)) + max(costs))
        pieces: list[Span] = []
        run: list[Span] = []
        run_cost = 0
        for unit, cost in zip(units, costs, strict=True):
            if run and run_cost + cost > budget:
                if run_cost * 4 <= budget:
                    # A short lead such as "Điều 20. Title" must not stand alone: it opens
                    # the first piece of what follows, split one level finer.
                    unit = (run[0][0], unit[1])
                    cost = self.max_tokens  # force the finer split below
                else:
                    pieces.extend(self._close(run))
                run, run_cost = [], 0
            if self.base + cost > self.max_tokens:
                pieces.extend(self.split(unit, splitters[1:]))
                continue
            run.append(unit)
            run_cost += cost
        pieces.extend(self._close(run))
        return pieces

    def _close(self, run: list[Span]) -> list[Span]:
        """The run as one piece; if the estimate was optimistic, shed units until it fits."""
        if not run:
            return []
        out: list[Span] = []
        while run:
            take = len(run)
            while take > 1 and not self.fits((run[0][0], run[take - 1][1])):
                take -= 1
            out.append((run[0][0], run[take - 1][1]))
            run = run[take:]
        return out

    def _split_chars(self, span: Span) -> list[Span]:
        """A single word longer than the budget: cut at the longest prefix that fits."""
        pieces: list[Span] = []
        start, end = span
        while start < end:
            if self.fits((start, end)):
                pieces.append((start, end))
                break
            lo, hi = start + 1, end  # the answer lies in [lo, hi)
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                if self.fits((start, mid)):
                    lo = mid
                else:
                    hi = mid
            pieces.append((start, lo))
            start = lo
        return pieces


# --------------------------------------------------------------------------- chunks


def _chunk_id(doc: Document, ordinal: int) -> str:
    key = f"{doc.source}\x00{doc.content_hash}\x00{ordinal}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _heading(doc: Document, path: tuple[str, ...]) -> tuple[str, ...]:
    title = doc.title.strip()
    labels = [p for p in path if p.casefold() != title.casefold()]
    return (title, *labels) if title else tuple(labels)


def _is_legal(section: _Section) -> bool:
    return section.level >= 7


def _is_title_block(text: str, span: Span) -> bool:
    """A few short lines before the first heading: the document's name, not a passage."""
    lines = [line for line in text[span[0] : span[1]].split("\n") if line.strip()]
    return len(lines) <= 3 and all(len(line.split()) < 15 for line in lines)


def _body_is_empty(text: str, section: _Section) -> bool:
    return not text[section.body : section.end].strip()


def chunk_token_budget(max_chunk_tokens: int, model_max_tokens: int) -> int:
    """The most tokens a chunk's text may have: ``QA_MAX_CHUNK_TOKENS``, within what the
    embedder reads beside the heading path."""
    return min(max_chunk_tokens, model_max_tokens - HEADING_ROOM_TOKENS)


def chunk_document(
    doc: Document, *, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``max_tokens`` (as ``count_tokens`` counts them).

    Each chunk's ``heading`` is ``(document title, *section path)``, e.g.
    ``("Luật Cư trú", "Chương II. …", "Điều 20. …")``.
    """
    text = doc.text
    packer = _Packer(text, max_tokens, count_tokens)
    pieces: list[tuple[Span, tuple[str, ...]]] = []
    # A lone heading (or a short preamble such as the law's name) is not a useful passage on
    # its own: it waits here and becomes the start of the next section's first chunk.
    carry: tuple[int, _Section] | None = None
    for section in _sections(doc):
        span = _strip(text, (section.start, section.end))
        if span[0] >= span[1]:
            continue
        last = section.end >= len(text)
        tiny = _body_is_empty(text, section) or (section.level == 0 and _is_title_block(text, span))
        if tiny and not last:
            carry = carry or (span[0], section)
            continue
        if carry is not None:
            span = (carry[0], span[1])
            carry = None
        pieces.extend(_split_section(packer, section, span))
    if carry is not None:  # only possible when the last section is empty after stripping
        span = _strip(text, (carry[0], len(text)))
        pieces.extend(_split_section(packer, carry[1], span))
    return [
        Chunk(
            id=_chunk_id(doc, ordinal),
            source=doc.source,
            title=doc.title,
            text=text[start:end],
            start=start,
            end=end,
            heading=_heading(doc, path),
            ordinal=ordinal,
            date=doc.date,
            **_pages(doc, start, end),
        )
        for ordinal, ((start, end), path) in enumerate(pieces)
    ]


def _pages(doc: Document, start: int, end: int) -> dict[str, Any]:
    """The chunk's first page, the page starts inside it, and whether OCR read any of it."""
    if not doc.pages:
        return {}
    first = bisect.bisect_right(doc.pages, start)
    breaks = tuple(p for p in doc.pages[first:] if p < end)
    last = first + len(breaks)
    return {
        "page": first,
        "page_breaks": breaks,
        "ocr": any(first <= n <= last for n in doc.ocr_pages),
    }


def _split_section(
    packer: _Packer, section: _Section, span: Span
) -> list[tuple[Span, tuple[str, ...]]]:
    splitters = _LEGAL_SPLITTERS if _is_legal(section) else _PLAIN_SPLITTERS
    return [(p, section.path) for p in packer.split(span, splitters + _FINE_SPLITTERS)]
