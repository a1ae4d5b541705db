"""Document → its sections: each heading's span and path, with the header, preamble and
signature of an official document cut out as boilerplate sections of their own."""

from __future__ import annotations

from dataclasses import dataclass

from ..types import Document
from .headings import Span, find_headings, plain_headings
from .official_parts import (
    HEADER,
    PREAMBLE,
    SIGNATURE,
    header_span,
    preamble_label,
    preamble_span,
    signature_span,
)

__all__ = ["Section", "document_sections"]


@dataclass(frozen=True)
class Section:
    start: int
    end: int
    path: tuple[str, ...]
    level: int  # of its own heading; 0 for text before the first heading
    body: int  # where the text under the heading starts
    boilerplate: bool = False  # the header, preamble or signature: kept, never preferred


def document_sections(doc: Document) -> list[Section]:
    text = doc.text
    headings = find_headings(text)
    if not any(h.label for h in headings):
        # Lone "#" lines alone (dividers in plain text) do not make a Markdown document.
        headings = plain_headings(text) or headings
    sections: list[Section] = []
    if not headings or headings[0].start > 0:
        first = headings[0].start if headings else len(text)
        sections.append(Section(0, first, (), 0, 0))
    stack: list[tuple[int, str]] = []
    for i, h in enumerate(headings):
        while stack and stack[-1][0] >= h.level:
            stack.pop()
        stack.append((h.level, h.label))
        end = headings[i + 1].start if i + 1 < len(headings) else len(text)
        # An empty heading closes its level without naming the text under it, which then
        # belongs to the headings above (not to the previous section it would inherit from).
        path = tuple(label for _, label in stack if label)
        sections.append(Section(h.start, end, path, h.level, h.body))
    first_heading = headings[0].start if headings else len(text)
    last_heading = headings[-1].start if headings else 0
    preamble = preamble_span(text, first_heading)
    header = header_span(text, first_heading) if preamble is None or preamble[0] > 0 else None
    for span, label in (
        (header, HEADER),
        (preamble, preamble_label(text, preamble) if preamble else PREAMBLE),
        (signature_span(text, last_heading), SIGNATURE),
    ):
        if span is not None:
            sections = _set_apart(sections, span, label)
    return sections


def _set_apart(sections: list[Section], span: Span, label: str) -> list[Section]:
    """The sections with ``span`` cut out of them as a boilerplate section named ``label``."""
    out: list[Section] = []
    for s in sections:
        if s.end <= span[0] or s.start >= span[1]:
            out.append(s)
            continue
        if s.start < span[0]:
            out.append(
                Section(s.start, span[0], s.path, s.level, min(s.body, span[0]), s.boilerplate)
            )
        if not out or out[-1].start != span[0]:
            out.append(Section(span[0], span[1], (label,), 0, span[0], True))
        if s.end > span[1]:
            out.append(
                Section(span[1], s.end, s.path, s.level, max(s.body, span[1]), s.boilerplate)
            )
    return out
