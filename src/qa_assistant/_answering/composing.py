"""The answer's text from the sentences the answerer chose: each quote as a clause that reads
inside the answer, adjacent sentences of a passage as one quote, each followed by its citation
marker ``[n]``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._retrieval.evidence import SentenceScore
from .._vietnamese import LIST_ITEM
from ..types import Citation, Hit
from .common import cite

__all__ = ["PROVISION_OPENER", "RELATED_OPENER", "as_clause", "compose"]

# An abstention offers the nearest sentence as related information, never as the answer.
RELATED_OPENER = "Thông tin liên quan"

# A statement gets the provision to check it against: the documents state rules, not verdicts.
PROVISION_OPENER = "Quy định để đối chiếu nhận định này"


def compose(
    chosen: Sequence[SentenceScore], hits: Sequence[Hit], provision: bool = False
) -> tuple[str, list[Citation]]:
    citations: list[Citation] = []
    for marker, g in enumerate(_groups(chosen, hits), start=1):
        citations.append(cite(marker, hits[g.hit_index], g.start, g.end))
    if len(citations) == 1:
        c = citations[0]
        if provision:
            return f"{PROVISION_OPENER}: {as_clause(c.quote)} [{c.marker}].", citations
        return f"Theo tài liệu, {as_clause(c.quote, lead=True)} [{c.marker}].", citations
    lines = [f"- {as_clause(c.quote)} [{c.marker}]." for c in citations]
    opener = f"{PROVISION_OPENER}:" if provision else "Theo tài liệu:"
    return opener + "\n" + "\n".join(lines), citations


# Openers that link a sentence to the one before it; they read oddly after "Theo tài liệu,".
_CONNECTIVE = re.compile(
    r"^(?:theo đó|cùng với đó|bên cạnh đó|song song với đó|đồng thời|ngoài ra|trong đó|"
    r"đặc biệt|tuy nhiên|do đó|vì vậy|qua đó|từ đó|đến nay|hiện nay)\s*,\s*",
    re.IGNORECASE,
)


def as_clause(quote: str, *, lead: bool = False) -> str:
    """The quote as it reads inside the answer: one line, no linking opener, no list number,
    no final stop; after "Theo tài liệu," (``lead``) its first letter lowered unless it starts a
    name or an acronym, else capitalised as a list item.

    The citation keeps the verbatim sentence; the answer text only drops what would not read.
    """
    clause = " ".join(quote.split()).rstrip(" .;:")
    if clause.endswith("”") and "“" not in clause:  # the close of a quotation it cut into
        clause = clause[:-1].rstrip(" .;:")
    # The clause is on one line, its spaces single: the list item's mark and its one space go.
    stripped = LIST_ITEM.sub("", _CONNECTIVE.sub("", clause, count=1), count=1) or clause
    if lead and not _starts_a_name(stripped):
        return stripped[:1].lower() + stripped[1:]
    return stripped[:1].upper() + stripped[1:]


_STRUCTURE = frozenset({"Điều", "Khoản", "Điểm", "Mục", "Chương", "Phần"})


def _starts_a_name(clause: str) -> bool:
    """Whether the clause opens with a name ("Quảng Ninh", "Sở Y tế") or an acronym ("UBND"):
    its first word is written in capitals, or the word after it is capitalised too."""
    words = clause.split(maxsplit=2)
    if not words:
        return False
    first = words[0].strip("“”\"'(")
    if len(first) > 1 and first.isupper():
        return True
    if first in _STRUCTURE and len(words) > 1 and words[1][:1].isdigit():
        return True  # "Điều 2. …", "Khoản 3": the document's own parts keep their capital
    return len(words) > 1 and words[1][:1].isupper()


@dataclass(frozen=True)
class _Group:
    hit_index: int
    start: int
    end: int


def _groups(chosen: Sequence[SentenceScore], hits: Sequence[Hit]) -> list[_Group]:
    """Adjacent chosen sentences of one passage become one quote with one marker."""
    ordered = sorted(chosen, key=lambda s: (s.hit_index, s.start))
    groups: list[_Group] = []
    for s in ordered:
        last = groups[-1] if groups else None
        text = hits[s.hit_index].chunk.text
        if last and last.hit_index == s.hit_index and not text[last.end : s.start].strip():
            groups[-1] = _Group(last.hit_index, last.start, s.end)
        else:
            groups.append(_Group(s.hit_index, s.start, s.end))
    # Answer in order of relevance: the group holding the best sentence first.
    first = {id(g): min(i for i, s in enumerate(chosen) if _inside(s, g)) for g in groups}
    return sorted(groups, key=lambda g: first[id(g)])


def _inside(s: SentenceScore, g: _Group) -> bool:
    return s.hit_index == g.hit_index and g.start <= s.start and s.end <= g.end
