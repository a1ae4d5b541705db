"""Document → chunks that follow the document's structure and fit the embedding model.

Sections come from Markdown headings and from the hierarchy of Vietnamese legal texts
(Phần / Chương / Mục / Điều), and the "I. MỤC ĐÍCH" parts and "2. Người thuộc hộ cận nghèo"
titles of plans, guidance and notices. An article that states its rule on its own line
("Điều 2. Hỗ trợ … 5.000.000 đồng/ha.", as decisions and the Constitution write them) is named
"Điều 2" and its line stays quotable text. An official document's header (issuing body,
number, date, kind, subject), its "Căn cứ …" preamble and its "Nơi nhận:" / signature tail are
chunks of their own, marked as boilerplate so that retrieval prefers the provisions.

A section that fits the token budget is one chunk, otherwise it is split at the largest unit
that works: clauses (``1.``), points (``a)``), paragraphs, lines, sentences, words, and as a
last resort characters. Every chunk is an exact slice of ``Document.text``
(``doc.text[c.start:c.end] == c.text``), chunks do not overlap, and together they hold every
non-whitespace character of the document.
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

# 2: an empty Markdown heading ends a section; 3: a one-letter word ("nhà ở.") ends a sentence;
# 4: one-line articles quotable; numbered parts and titles; header, preamble and signature set
# apart as boilerplate
CHUNKER_VERSION = "structure-4"
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
# The preamble of a decision or resolution: its "Căn cứ …", "Xét …", "Theo đề nghị …" lines
# (a PDF may wrap one onto the next line) and the enacting line after them ("QUYẾT ĐỊNH:").
_PREAMBLE_START = re.compile(r"[*_ \t]*Căn cứ\b")
_PREAMBLE_LINE = re.compile(r"[*_ \t]*(?:Căn cứ|Xét|Theo đề nghị|Thực hiện)\b")
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


def _goes_on(text: str, end: int) -> bool:
    """The line ending at ``end`` was wrapped: the next one goes on in lower case (a point
    "a) …" starts a list instead)."""
    after = text[end + 1 : end + 12].lstrip()
    return after[:1].islower() and not _POINT.match(after)


def _legal_heading(text: str, start: int, end: int) -> tuple[int, str, bool] | None:
    """The line's level, its label, and whether the line is also the article's rule."""
    line = text[start:end].strip()
    article = _ARTICLE.fullmatch(line)
    if article is not None:
        rest = article.group(2).strip()
        if (
            rest.endswith(_RULE_END)
            or _goes_on(text, end)
            or _CLAUSE.match(rest)
            or len(line.split()) > _MAX_HEADING_WORDS
        ):
            return _ARTICLE_LEVEL, article.group(1), True
    if len(line.split()) > _MAX_HEADING_WORDS:
        return None
    if _PART.fullmatch(line):
        # "I. Mục đích" in sentence case is an item of a list, not a part.
        return (_PART_LEVEL, line, False) if _is_caps_name(line) else None
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


def _find_headings(text: str) -> list[_Heading]:
    lines = list(_lines(text))
    headings: list[_Heading] = []
    for i, (start, end) in enumerate(lines):
        if start == end:
            continue
        line = text[start:end]
        md = _MD_HEADING.fullmatch(line.strip()) if end - start <= 400 else None
        if md:
            label = (md.group(2) or "").strip()
            headings.append(_Heading(len(md.group(1)), label, start, end))
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
    boilerplate: bool = False  # the header, preamble or signature: kept, never preferred


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
    first_heading = headings[0].start if headings else len(text)
    last_heading = headings[-1].start if headings else 0
    preamble = _preamble(text, first_heading)
    header = _header(text, first_heading) if preamble is None or preamble[0] > 0 else None
    for span, label in (
        (header, HEADER),
        (preamble, PREAMBLE),
        (_signature(text, last_heading), SIGNATURE),
    ):
        if span is not None:
            sections = _set_apart(sections, span, label)
    return sections


def _line_spans(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    for a, b in _lines(text):
        if a >= end:
            return
        if b > start:
            yield a, b


def _header(text: str, first_heading: int) -> Span | None:
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
    return line.endswith(":") and len(line.split()) <= 4 and _is_caps_name(line)


def _preamble(text: str, first_heading: int) -> Span | None:
    """The "Căn cứ …" lines before the first heading, with the enacting line after them."""
    begin = end = None
    for a, b in _line_spans(text, 0, first_heading):
        line = text[a:b].strip()
        if not line:
            continue
        if begin is None:
            if _PREAMBLE_START.match(line):
                begin, end = a, b
            continue
        assert end is not None
        wrapped = not text[:end].rstrip().endswith((";", ".", ":"))
        if _PREAMBLE_LINE.match(line) or wrapped:
            end = b
            continue
        if _is_enacting(line):
            end = b
        break
    if begin is None or end is None:
        return None
    # The header above it (issuing body, number, date, kind and subject) names the document,
    # which its title already does: set apart with it, not carried into the first article.
    header = [line for line in text[:begin].split("\n") if line.strip()]
    return (0 if len(header) <= _HEADER_LINES else begin), end


def _signature(text: str, last_heading: int) -> Span | None:
    """The recipients and the signature after the last provision: "Nơi nhận:", "TM. …"."""
    # In the second half only: a short notice's "TM." cannot be its opening.
    after = max(last_heading, len(text) // 2)
    begin = next(
        (a for a, b in _line_spans(text, after, len(text)) if _TAIL_START.match(text, a, b)),
        None,
    )
    return (begin, len(text)) if begin is not None and begin > last_heading else None


def _set_apart(sections: list[_Section], span: Span, label: str) -> list[_Section]:
    """The sections with ``span`` cut out of them as a boilerplate section named ``label``."""
    out: list[_Section] = []
    for s in sections:
        if s.end <= span[0] or s.start >= span[1]:
            out.append(s)
            continue
        if s.start < span[0]:
            out.append(
                _Section(s.start, span[0], s.path, s.level, min(s.body, span[0]), s.boilerplate)
            )
        if not out or out[-1].start != span[0]:
            out.append(_Section(span[0], span[1], (label,), 0, span[0], True))
        if s.end > span[1]:
            out.append(
                _Section(span[1], s.end, s.path, s.level, max(s.body, span[1]), s.boilerplate)
            )
    return out


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
    pieces: list[tuple[Span, _Section]] = []
    # A lone heading (or a short preamble such as the law's name) is not a useful passage on
    # its own: it waits here and becomes the start of the next section's first chunk.
    carry: tuple[int, _Section] | None = None
    for section in _sections(doc):
        span = _strip(text, (section.start, section.end))
        if span[0] >= span[1]:
            continue
        last = section.end >= len(text)
        tiny = _body_is_empty(text, section) or (section.level == 0 and _is_title_block(text, span))
        if tiny and not last and not section.boilerplate:
            carry = carry or (span[0], section)
            continue
        if carry is not None and section.boilerplate:
            # What waits is text of the document itself: it must not be ranked down with a
            # preamble or a signature.
            pieces.extend(_split_section(packer, carry[1], _strip(text, (carry[0], span[0]))))
        elif carry is not None:
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
            heading=_heading(doc, section.path),
            ordinal=ordinal,
            date=doc.date,
            boilerplate=section.boilerplate,
            **_pages(doc, start, end),
        )
        for ordinal, ((start, end), section) in enumerate(pieces)
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


def _split_section(packer: _Packer, section: _Section, span: Span) -> list[tuple[Span, _Section]]:
    splitters = _LEGAL_SPLITTERS if _is_legal(section) else _PLAIN_SPLITTERS
    return [(p, section) for p in packer.split(span, splitters + _FINE_SPLITTERS)]
