"""Documents that amend others: the provision in force first, the one it replaced beside it.

A decision that amends another names it by number in its title ("Quyết định số 08/2026/QĐ-UBND
sửa đổi, bổ sung một số điều của Quyết định số 45/2025/QĐ-UBND …"). When an answer quotes the
older document, the assistant asks the newer one the same question; where it answers, its quote
leads, as the provision in force, and the older quote follows as the one it replaces, both
cited. Asked about a time before the newer document (“hồi tháng 11 năm 2025”), the older answer
stands: it was in force then.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from .._retrieval.question import folded_syllables
from ..types import Answer, DocumentInfo

__all__ = ["amendments", "asked_before", "document_number", "in_force", "restates"]

# "45/2025/QĐ-UBND", "12/2025/NQ-HĐND", "318/KH-UBND": a number, an optional year, the kind.
_NUMBER = re.compile(r"\b\d{1,5}/(?:\d{4}/)?[A-ZĐ][A-ZĐa-z0-9]*(?:-[A-ZĐa-z0-9]+)*")
_AMENDS = re.compile(r"sửa đổi|bổ sung|thay thế", re.IGNORECASE)
_MONTH = re.compile(r"tháng\s+(\d{1,2})\s*(?:năm|/)\s*(\d{4})", re.IGNORECASE)
_YEAR = re.compile(r"năm\s+(\d{4})", re.IGNORECASE)


def document_number(title: str) -> str | None:
    """The document's own number, the first its title names; None without one."""
    found = _NUMBER.search(title)
    return found.group(0) if found else None


def amendments(documents: Sequence[DocumentInfo]) -> dict[str, DocumentInfo]:
    """Each amended document's source and the newest document whose title says it amends it
    (by its number)."""
    by_number = {n: d.source for d in documents if (n := document_number(d.title))}
    newest: dict[str, DocumentInfo] = {}
    for d in documents:
        if not _AMENDS.search(d.title):
            continue
        for number in _NUMBER.findall(d.title)[1:]:
            source = by_number.get(number)
            if source is None or source == d.source:
                continue
            known = newest.get(source)
            if known is None or (d.date or date.min) > (known.date or date.min):
                newest[source] = d
    return newest


def asked_before(question: str, when: date) -> bool:
    """Whether the question asks about a month or year before ``when``."""
    month = _MONTH.search(question)
    if month:
        return (int(month.group(2)), int(month.group(1))) < (when.year, when.month)
    year = _YEAR.search(question)
    return year is not None and int(year.group(1)) < when.year


# Share of the two quotes' words (figures aside) the newer must have in common with the older
# to restate it: an amending clause repeats the one it replaces with its new figure.
_RESTATES = 0.5


def restates(newer: str, older: str) -> bool:
    """Whether the newer quote restates the older provision. On the staffdocs dev set the one
    true replacement shares 0.9 of its words, the four answers the amending decision gave about
    something else (the standard rate asked, another group's figure quoted) 0.08-0.38."""
    a, b = ({s for s in folded_syllables(t) if not s.isdigit()} for t in (newer, older))
    return bool(a | b) and len(a & b) / len(a | b) >= _RESTATES


def in_force(newer: Answer, older: Answer, newer_title: str) -> Answer:
    """The newer document's answer, with the older document's first quote cited after it as
    the provision it replaces."""
    replaced = replace(older.citations[0], marker=len(newer.citations) + 1)
    clause = " ".join(replaced.quote.split()).rstrip(" .;:")
    number = _NUMBER.search(newer_title)
    name = newer_title[: number.end()] if number else newer_title
    note = f"Quy định trên theo {name}, thay cho quy định trước đó: “{clause}” [{replaced.marker}]."
    return replace(
        newer,
        text=f"{newer.text}\n{note}",
        citations=(*newer.citations, replaced),
        hits=older.hits,
        reason=f"{newer.reason}; in force, replacing {older.citations[0].source}",
    )
