"""Whether a passage holds what a sentence of an LLM's reply asserts.

A model cites the right passage for the wrong figure, or a plausible figure no passage holds.
Each sentence is therefore checked against the passage it cites: every number, amount, date and
percentage it states, every name it capitalises and every group of people it names must be in
that passage, and enough of its content words (``min_overlap``). Numbers compare by value, so
"92,9 triệu" matches "92.900.000" and "10 triệu" does not match "10 tỷ".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._retrieval.question import analyse_question, folded_syllables, name_syllables
from ..types import Hit

__all__ = ["Claim", "Support", "claim_of", "figures_held", "is_refusal", "support"]

# "10", "92,9", "1.234.567", "15%"; a scale word after a number multiplies it.
_NUMBER = re.compile(
    r"(?<![\w/])(\d+(?:[.,]\d+)*)(?:\s*(%|phần trăm)|\s+(nghìn|ngàn|triệu|tỷ|tỉ)(?!\w))?"
)
_SCALES = {"nghìn": 1e3, "ngàn": 1e3, "triệu": 1e6, "tỷ": 1e9, "tỉ": 1e9}
# "19/12/2025", "12/2025"; "ngày 19 tháng 12 năm 2025" is rewritten to the first form.
_DATE = re.compile(
    r"(?<![\w/])(\d{1,2})/(\d{1,2})(?:/(\d{4}))?(?![\w/])|(?<![\w/])(\d{1,2})/(\d{4})(?![\w/])"
)
_WORDED_DATE = re.compile(r"(?i)ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s+năm\s+(\d{4}))?")
_WORDED_MONTH = re.compile(r"(?i)tháng\s+(\d{1,2})\s+năm\s+(\d{4})")
# A list's own numbering ("1. ", "2) ") is no figure the sentence asserts.
_ENUMERATOR = re.compile(r"^\s*(?:[-*•]\s*)?\d{1,2}[.)]\s+")
# How a reply frames its sentences ("Theo tài liệu, …", "Cụ thể, …"): words no passage needs
# to hold. A passage number the model names ("đoạn 2") is no figure of the claim either.
_FRAMES = re.compile(
    r"(?i)(?:(?:theo|dựa (?:trên|vào)|căn cứ(?: vào)?)\s+)?(?:các\s+)?(?:đoạn\s+)?tài liệu"
    r"(?:\s+(?:số\s+)?\d+|\s+trên|\s+đã cho)?|(?:theo\s+)?đoạn(?:\s+(?:số\s+)?\d+)"
    r"|\b(?:cụ thể|ngoài ra|đồng thời|tóm lại|như vậy)\b"
)
# Groups of people the policies single out, folded: one cited for another ("hộ cận nghèo"
# for "hộ nghèo") is a wrong answer that shares nearly every word with the right one.
_GROUPS = tuple(
    tuple(g.split())
    for g in (
        "ho ngheo",
        "ho can ngheo",
        "ho moi thoat ngheo",
        "nguoi co cong",
        "than nhan liet si",
        "nguoi cao tuoi",
        "nguoi khuyet tat",
        "tre em",
        "hoc sinh",
        "sinh vien",
        "nguoi lao dong",
        "cong nhan",
        "dan toc thieu so",
        "phu nu",
    )
)
# How a model says the documents do not answer, in its own words, folded.
_REFUSALS = (
    "khong tim thay thong tin",
    "khong co thong tin",
    "chua co thong tin",
    "khong de cap",
    "khong duoc de cap",
    "khong neu",
    "khong cung cap thong tin",
    "khong du thong tin",
    "khong the tra loi",
)


@dataclass(frozen=True)
class Claim:
    """What one sentence asserts, in the forms it is compared by."""

    text: str  # the sentence without its markers
    # Each figure stated, as the set of its readings: ("n" | "%" | "d", value). A passage
    # holds the figure when it holds any one reading.
    figures: tuple[frozenset[tuple[str, float]], ...]
    names: frozenset[str]  # folded capitalised syllables
    groups: frozenset[tuple[str, ...]]  # folded groups of people
    words: frozenset[str]  # folded content syllables

    @property
    def facts(self) -> str:
        """The figures and groups as written, for a warning: what a passage must hold."""
        figures = [m.group(0) for m in _NUMBER.finditer(self.text)]
        return ", ".join([*figures, *(" ".join(g) for g in sorted(self.groups))])


@dataclass(frozen=True)
class Support:
    """How well a passage backs a claim: ``holds`` every fact, and the share of its words."""

    holds: bool
    overlap: float


def _values(token: str) -> set[float]:
    """Every value a written number may stand for: "1.000" is a thousand in Vietnamese and
    one in English; "92,9" can only be a decimal."""
    parts = re.split(r"[.,]", token)
    if len(parts) == 1:
        return {float(token)}
    values: set[float] = set()
    if all(len(p) == 3 for p in parts[1:]) and len(set(re.findall(r"[.,]", token))) == 1:
        values.add(float("".join(parts)))
    if len(parts) == 2:
        values.add(float(f"{parts[0]}.{parts[1]}"))
    return values


def _readings(text: str, *, passage: bool) -> list[frozenset[tuple[str, float]]]:
    """The figures of ``text``, each as its set of readings. A passage's amount also offers
    its bare number ("10" of "10 triệu"), so that "10 thôn" is not refused for it; a claim's
    amount must match as an amount ("10 triệu" is not "10 tỷ")."""
    text = _WORDED_DATE.sub(lambda m: "/".join(g for g in m.groups() if g), text)
    text = _WORDED_MONTH.sub(r"\1/\2", text)
    found: list[frozenset[tuple[str, float]]] = []
    for m in _DATE.finditer(text):
        if m.group(2):
            day, month, year = m.group(1), m.group(2), m.group(3)
        else:
            day, month, year = None, m.group(4), m.group(5)
        number = int(year or 0) * 10000 + int(month) * 100 + int(day or 0)
        found.append(frozenset({("d", float(number))}))
    for m in _NUMBER.finditer(_DATE.sub(" ", text)):
        token, percent, scale = m.groups()
        values = _values(token)
        if percent:
            found.append(frozenset(("%", round(v, 6)) for v in values))
            continue
        readings: set[tuple[str, float]] = set()
        if scale:
            readings.update(("n", round(v * _SCALES[scale.lower()], 3)) for v in values)
        if passage or not scale:
            readings.update(("n", round(v, 6)) for v in values)
        found.append(frozenset(readings))
    return found


def _groups(folded: list[str]) -> frozenset[tuple[str, ...]]:
    found = set()
    for group in _GROUPS:
        n = len(group)
        if any(tuple(folded[i : i + n]) == group for i in range(len(folded) - n + 1)):
            found.add(group)
    return frozenset(found)


def groups_of(text: str) -> frozenset[tuple[str, ...]]:
    """The groups of people ``text`` names ("người khuyết tật"), folded."""
    return _groups(folded_syllables(text))


def claim_of(sentence: str) -> Claim:
    """The claim of a sentence whose markers were taken out."""
    text = _ENUMERATOR.sub("", sentence).strip()
    stated = _FRAMES.sub(" ", text)
    return Claim(
        text=text,
        figures=tuple(_readings(stated, passage=False)),
        names=name_syllables(stated),
        groups=_groups(folded_syllables(stated)),
        words=frozenset(t.folded for t in analyse_question(stated).terms if not t.folded.isdigit()),
    )


def support(claim: Claim, hit: Hit) -> Support:
    """Whether ``hit``'s passage (with its title and heading, which the model was shown)
    holds every fact of ``claim``, and the share of the claim's content words it holds."""
    chunk = hit.chunk
    shown = f"{chunk.title}\n{chunk.heading_path}\n{chunk.text}"
    folded = folded_syllables(shown)
    words = set(folded)
    overlap = len(claim.words & words) / len(claim.words) if claim.words else 1.0
    holds = figures_held(claim, shown) and claim.names <= words and claim.groups <= _groups(folded)
    return Support(holds, overlap)


def figures_held(claim: Claim, text: str) -> bool:
    """Whether ``text`` holds every figure of ``claim``."""
    held = frozenset().union(*_readings(text, passage=True))
    return all(readings & held for readings in claim.figures)


def is_refusal(text: str) -> bool:
    """Whether the model says, in its own words, that the documents do not answer."""
    joined = " " + " ".join(folded_syllables(text)) + " "
    return any(f" {r} " in joined for r in _REFUSALS)
