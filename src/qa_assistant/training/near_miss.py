"""Near misses for the answerability model: a question with one constraint its passage fixes
swapped for one the passage does not support.

A constraint is a group of people (a head word such as ``người`` or ``sinh viên`` and the words
after it), a year, a place or other proper name, a number with its unit, the kind of quantity
asked (``bao nhiêu năm`` against ``bao nhiêu tiền``) or a benefit (``trợ cấp …``, ``học
bổng …``). The replacement comes from another question of the same corpus, so it reads like
a real question; the swap is kept only where the passage holds the old constraint and not the
new one, and neither contains the other (``sinh viên`` against ``sinh viên năm nhất`` may well
still be answered).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["KINDS", "Constraint", "ConstraintPool", "constraints", "near_misses"]

KINDS = ("group", "year", "place", "number", "quantity", "benefit")

_GROUP_HEADS = (
    "người",
    "hộ",
    "học sinh",
    "sinh viên",
    "học viên",
    "nghiên cứu sinh",
    "trẻ em",
    "phụ nữ",
    "thanh niên",
    "thương binh",
    "bệnh binh",
    "cựu chiến binh",
    "công chức",
    "viên chức",
    "cán bộ",
    "giảng viên",
    "bệnh nhân",
    "công dân",
)
_BENEFIT_HEADS = (
    "trợ cấp",
    "phụ cấp",
    "học bổng",
    "bảo hiểm",
    "học phí",
    "hỗ trợ",
    "chế độ",
    "tiền lương",
    "tiền thưởng",
    "ưu đãi",
    "miễn",
    "giảm",
)
# Words that end a group or benefit phrase: what follows is the question's verb or frame.
_STOP_WORDS = """
được có là bị phải thì khi nếu đã sẽ đang trong tại theo của cho với và hoặc bao nào gì
ai không muốn cần nên mà để về từ đến trên dưới sau trước này đó các những một ở do bởi
như thế sao đăng làm nhận hưởng đóng nộp xin đi ra vào thi tham xét đạt nghỉ chuyển hoàn
học tốt cùng mỗi bằng hay vẫn còn rồi chưa đều cũng tối đa thiểu mức
"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"\w+")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_UNITS = (
    "phần trăm|tín chỉ|học kỳ|năm|tháng|tuần|ngày|giờ|phút|tuổi|lần|người|triệu|tỷ|nghìn|ngàn|"
    "đồng|điểm|km|kg|%"
)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\s*(?:" + _UNITS + r")(?!\w)")
# Capitalised words that open a title, not a place or a name.
_TITLE_WORDS = "Luật Bộ Điều Khoản Nghị Thông Quyết Chương Mục Tiếng Theo Năm Tháng"
_NOT_NAMES = frozenset(_TITLE_WORDS.split())
# The kinds of quantity a question may ask for; a swap goes to another dimension (a question
# asking how many months is still answered by a sentence in years).
_QUANTITIES = {
    "năm": "time",
    "tháng": "time",
    "ngày": "time",
    "tuần": "time",
    "tuổi": "age",
    "tiền": "money",
    "phần trăm": "share",
    "tín chỉ": "count",
    "lần": "count",
    "điểm": "count",
    "người": "count",
}
_QUANTITY = re.compile(
    r"\bbao nhiêu (" + "|".join(sorted(_QUANTITIES, key=len, reverse=True)) + r")\b"
)


@dataclass(frozen=True)
class Constraint:
    kind: str
    text: str  # as the question has it
    start: int
    end: int


def _words(text: str) -> str:
    """Lower-case words joined by single spaces and padded, to test whole-word containment."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def _phrases(question: str, heads: Sequence[str], kind: str) -> list[Constraint]:
    out: list[Constraint] = []
    lower = question.lower()
    for head in heads:
        for m in re.finditer(r"\b" + head + r"((?:\s+\w+){0,2})", lower):
            end = m.start(1)
            for w in re.finditer(r"\s+(\w+)", m.group(1)):
                if w.group(1) in _STOP or not (w.group(1).isalpha() and w.group(1).islower()):
                    break
                end = m.start(1) + w.end()
            if end > m.start(1):  # a bare head (``người``) names no group
                out.append(Constraint(kind, question[m.start() : end], m.start(), end))
    return out


def _names(question: str) -> list[Constraint]:
    """Runs of two to four capitalised words after the question's first word: places, people,
    organisations."""
    out: list[Constraint] = []
    run: list[re.Match[str]] = []
    for m in [*_WORD.finditer(question), None]:
        word = m.group(0) if m is not None and m.start() > 0 else ""
        if word[:1].isupper() and word[1:].islower() and (run or word not in _NOT_NAMES):
            run.append(m)  # type: ignore[arg-type]  # a word was found
            continue
        if 2 <= len(run) <= 4:
            out.append(
                Constraint(
                    "place", question[run[0].start() : run[-1].end()], run[0].start(), run[-1].end()
                )
            )
        run = []
    return out


def constraints(question: str) -> list[Constraint]:
    """The constraints a question states, each with its place in the question."""
    found = _phrases(question, _GROUP_HEADS, "group") + _phrases(
        question, _BENEFIT_HEADS, "benefit"
    )
    found += [Constraint("year", m.group(0), m.start(), m.end()) for m in _YEAR.finditer(question)]
    found += [
        Constraint("number", m.group(0), m.start(), m.end())
        for m in _NUMBER.finditer(question)
        if not _YEAR.fullmatch(m.group(0))
    ]
    found += _names(question)
    found += [
        Constraint("quantity", m.group(1), m.start(1), m.end(1))
        for m in _QUANTITY.finditer(question.lower())
    ]
    return found


class ConstraintPool:
    """The constraints of a corpus's questions, by kind: where a near miss's new one comes
    from."""

    def __init__(self, questions: Sequence[str]) -> None:
        seen: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        for question in questions:
            for c in constraints(question):
                seen[c.kind].setdefault(_words(c.text), c.text)
        self.by_kind = {kind: sorted(texts.values()) for kind, texts in seen.items()}

    def replacements(self, old: Constraint, passage: str) -> list[str]:
        held = _words(passage)
        old_words = _words(old.text)
        if old.kind == "quantity":
            dimension = _QUANTITIES[old.text.lower()]
            return [
                q
                for q, d in _QUANTITIES.items()
                if d != dimension and _words(q) not in held and q not in passage.lower()
            ]
        if old_words not in held:  # the passage does not fix this constraint
            return []
        out = []
        for new in self.by_kind[old.kind]:
            new_words = _words(new)
            if new_words in held or new_words in old_words or old_words in new_words:
                continue
            out.append(new)
        return out


def near_misses(
    question: str, passage: str, pool: ConstraintPool, rng: random.Random, most: int
) -> list[tuple[str, str]]:
    """Up to ``most`` near misses of ``question`` against ``passage``, each with the kind of
    constraint swapped, kinds different where the question offers several."""
    options: dict[str, list[tuple[Constraint, list[str]]]] = {}
    for c in constraints(question):
        found = pool.replacements(c, passage)
        if found:
            options.setdefault(c.kind, []).append((c, found))
    kinds = sorted(options)
    rng.shuffle(kinds)
    out: list[tuple[str, str]] = []
    for kind in kinds[:most]:
        old, found = rng.choice(options[kind])
        new = rng.choice(found)
        # The swapped words take the case of the words they replace (a sentence's first word).
        new = (str.upper if old.text[0].isupper() else str.lower)(new[0]) + new[1:]
        out.append((kind, question[: old.start] + new + question[old.end :]))
    return out
