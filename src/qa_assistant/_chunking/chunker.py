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
from collections.abc import Callable
from typing import Any

from ..types import Chunk, Document
from .headings import Span
from .packing import FINE_SPLITTERS, LEGAL_SPLITTERS, PLAIN_SPLITTERS, Packer, strip_span
from .sections import Section, document_sections

__all__ = ["CHUNKER_VERSION", "HEADING_ROOM_TOKENS", "chunk_document", "chunk_token_budget"]

# 2: an empty Markdown heading ends a section; 3: a one-letter word ("nhà ở.") ends a sentence;
# 4: one-line articles quotable; numbered parts and titles; header, preamble and signature set
# apart as boilerplate; 5: a letter's, plan's or notice's opening ("Kính gửi:", "… như sau:")
# set apart with its header
CHUNKER_VERSION = "structure-5"
# The models read a chunk with its heading path in front (Chunk.indexed_text): this many of
# the embedder's tokens are left for it, so that the chunk's own text is not cut off.
HEADING_ROOM_TOKENS = 48


def _chunk_id(doc: Document, ordinal: int) -> str:
    key = f"{doc.source}\x00{doc.content_hash}\x00{ordinal}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _heading(doc: Document, path: tuple[str, ...]) -> tuple[str, ...]:
    title = doc.title.strip()
    labels = [p for p in path if p.casefold() != title.casefold()]
    return (title, *labels) if title else tuple(labels)


def _is_legal(section: Section) -> bool:
    return section.level >= 7


def _is_title_block(text: str, span: Span) -> bool:
    """A few short lines before the first heading: the document's name, not a passage."""
    lines = [line for line in text[span[0] : span[1]].split("\n") if line.strip()]
    return len(lines) <= 3 and all(len(line.split()) < 15 for line in lines)


def _body_is_empty(text: str, section: Section) -> bool:
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
    packer = Packer(text, max_tokens, count_tokens)
    pieces: list[tuple[Span, Section]] = []
    # A lone heading (or a short preamble such as the law's name) is not a useful passage on
    # its own: it waits here and becomes the start of the next section's first chunk.
    carry: tuple[int, Section] | None = None
    for section in document_sections(doc):
        span = strip_span(text, (section.start, section.end))
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
            pieces.extend(_split_section(packer, carry[1], strip_span(text, (carry[0], span[0]))))
        elif carry is not None:
            span = (carry[0], span[1])
        carry = None
        pieces.extend(_split_section(packer, section, span))
    if carry is not None:  # only possible when the last section is empty after stripping
        span = strip_span(text, (carry[0], len(text)))
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


def _split_section(packer: Packer, section: Section, span: Span) -> list[tuple[Span, Section]]:
    splitters = LEGAL_SPLITTERS if _is_legal(section) else PLAIN_SPLITTERS
    return [(p, section) for p in packer.split(span, splitters + FINE_SPLITTERS)]
