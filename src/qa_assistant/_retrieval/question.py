"""Question analysis: a question's content syllables, adjacent pairs and the kind of answer
it asks for (an amount, a sum of money, a time; a statement to check), shared by the evidence
scorer, the answerers and the evaluation. Also the syllable helpers the scorer reads passages
with, so that questions and passages are compared through the same functions."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .._vietnamese import canonical_spelling, fold, sentence_spans, strip_diacritics, word_set

__all__ = [
    "QuestionTerms",
    "Term",
    "analyse_question",
    "fold_each",
    "folded_syllables",
    "is_small_talk",
    "name_syllables",
    "syllables_of",
]

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words, diacritics folded. Questions are matched on what is left: the content
# syllables. Folding merges some content words into these (e.g. "cơ" into "có"); the list
# leaves out folds that would swallow common policy words (văn, bảo, thời, thể, lực, y…).
_STOPWORD_LIST = (
    "a ai anh bi boi cac cho co con cua cung da dang day de den deu di do duoc em gi "
    "gio hay hoac hon khi khong la lam ma minh moi mot muon nao nay neu nen nhe nhi nhieu "
    "nhu nhung o oi ong phai ra rang roi sao se sau toi tren trong va vao ve vi voi xin"
)
_STOPWORDS = word_set(_STOPWORD_LIST)
# Light verbs that only carry weight unaccented in other words ("nhân dân"): matched as typed.
# "cần" (need) and its unaccented "can" are function words, but folding them would also drop
# "cận" ("hộ cận nghèo" against "hộ nghèo"), "cán" (cán bộ) and "căn" (căn cứ).
_EXACT_STOPWORDS = frozenset({"nhận", "cần", "can"})
# Question frames: multi-syllable phrases that only shape the question.
_FRAME_LIST = (
    "cho toi hoi|cho em hoi|cho minh hoi|xin hoi|muon biet|bao nhieu|bao lau|bao gio|"
    "nhu the nao|the nao|la gi|o dau|ra sao|hien nay|co phai|phai khong|hay khong|duoc khong|"
    "doi tuong nao|thoi gian nao|thoi diem nao|dung hay sai"
)
_FRAMES = tuple(tuple(f.split()) for f in _FRAME_LIST.split("|"))
# Frames asking when or how long: a moment or stretch of the calendar ("đầu mỗi học kỳ",
# "trong một học kỳ") answers them as well as a date or a number.
_TIME_CUES = (
    "khi nao",
    "luc nao",
    "ngay nao",
    "thang nao",
    "nam nao",
    "thoi gian nao",
    "thoi diem nao",
    "bao lau",
)
# Frames asking for an amount, a count, a rate or a time: the answer should hold a number.
_AMOUNT_CUES = ("bao nhieu", "may", *_TIME_CUES)
# Nouns naming an amount: they ask for one unless the question asks who or what instead
# ("tỷ lệ bao phủ cao giúp nhóm người nào…" asks for the people, not the rate).
_AMOUNT_NOUNS = ("so tien", "so luong", "ty le", "ti le", "tong so")
# Frames asking for a sum of money: words like "hàng trăm nghìn (suất quà)" count things.
_MONEY_CUES = ("bao nhieu tien", "bao nhieu dong", "so tien", "tri gia", "kinh phi bao nhieu")
# "nào" after these asks for a time (an amount cue above); after anything else, for a thing.
_TIME_NOUNS = frozenset({"nam", "khi", "luc", "ngay", "thang"})
# In an amount question these are answered by the number itself ("bao nhiêu tiền", "tỷ lệ").
_AMOUNT_FRAMES = tuple(
    tuple(f.split())
    for f in ("bao nhieu tien", "bao nhieu dong", "so tien", "so luong", "ty le", "ti le")
)
# Frames asking for a share: "bao nhiêu phần trăm", "tỷ lệ", "mấy %".
_SHARE_CUES = ("phan tram", "ty le", "ti le")
# Words of a payment, with their marks and without: asked "bao nhiêu" after one of them with
# no unit of its own ("trợ cấp bao nhiêu?", "tặng bao nhiêu một người"), the answer is a sum of
# money. Matched as typed where the asker typed marks: "kết quả" is no "quà".
_PAYMENT_CUES = tuple(
    (tuple(c.split()), tuple(strip_diacritics(c).split()))
    for c in (
        "tiền",
        "trợ cấp",
        "hỗ trợ",
        "phụ cấp",
        "đóng",
        "quà",
        "tặng",
        "mức hưởng",
        "kinh phí",
        "cho thêm",
        "bù",
    )
)
# The units that make "bao nhiêu" a sum of money; any other word after it that is no function
# word names the unit counted instead ("bao nhiêu hộ", "bao nhiêu tín chỉ", "bao nhiêu suất").
_MONEY_UNITS = frozenset({"tien", "dong"})
_NO_UNIT = frozenset({"thi", "lai", "nua", "vay", "the", "nhi", "a"})
# Signs that the question asks about several things.
_MULTI_CUES = (" va ", " cung nhu ", " nhung gi ", " bao gom ", " gom nhung ", " hoac ")


def _canonical(text: str) -> str:
    # One spelling per variant ("học kì"/"học kỳ", "quản lí"/"quản lý"), as in the lexical
    # leg: the question and the passages are compared through the same function.
    return canonical_spelling(unicodedata.normalize("NFC", text))


def syllables_of(text: str) -> list[str]:
    return _WORD.findall(_canonical(text))


def folded_syllables(text: str) -> list[str]:
    """Folded syllables of ``text``."""
    return fold_each(syllables_of(text))


def fold_each(words: Sequence[str]) -> list[str]:
    """``fold`` of every word, in one pass: folding maps character to character, so the
    words can be folded joined (by a character no word holds) and split again."""
    return fold("\x00".join(words)).split("\x00") if words else []


@functools.lru_cache(maxsize=16384)
def name_syllables(text: str) -> frozenset[str]:
    """Folded syllables written capitalised inside a sentence: places, bodies, programmes."""
    names: set[str] = set()
    for start, end in sentence_spans(text):
        for word in syllables_of(text[start:end])[1:]:
            if word[:1].isupper():
                names.add(fold(word))
    return frozenset(names)


@dataclass(frozen=True)
class Term:
    """A content syllable of the question."""

    exact: str  # lower-case, with the diacritics the asker typed
    folded: str
    name: bool  # capitalised inside the question: a place, body or programme

    @property
    def accented(self) -> bool:
        return self.exact != self.folded


@dataclass(frozen=True)
class QuestionTerms:
    """What the scorer looks for: content syllables, adjacent pairs and the answer type."""

    terms: tuple[Term, ...]  # distinct content syllables in question order
    pairs: tuple[tuple[str, str], ...]  # adjacent content syllables, folded (likely words)
    numbers: tuple[str, ...]  # numbers written in the question
    wants_number: bool  # "bao nhiêu", "khi nào", "tỷ lệ"… → the answer should hold a number
    multi_part: bool  # asks about several things → quote from more than one place
    wants_money: bool = False  # "bao nhiêu tiền", "trị giá"…: money in so many words
    asks_left: bool = False  # "còn bao nhiêu…": "không còn" is an answer
    wants_time: bool = False  # "khi nào"…: "đầu mỗi học kỳ" answers too
    statement: bool = False  # "…, đúng hay sai?": a case to check against a provision
    wants_share: bool = False  # "bao nhiêu phần trăm", "tỷ lệ": the answer is a share
    # A sum of money, asked in so many words (``wants_money``) or as the amount of a benefit,
    # fee or gift ("trợ cấp bao nhiêu", "đóng bao nhiêu một năm"): the answer holds one.
    asks_money: bool = False


def _words_and_openers(text: str) -> tuple[list[str], list[bool]]:
    """:func:`_words`, each with whether it opens a sentence: its capital then marks the
    sentence, not a name ("…văn bản. Đúng hay sai?")."""
    canonical = _canonical(text)
    words: list[str] = []
    openers: list[bool] = []
    before, end = "", 0  # the last character before the word that is not a space
    for m in _WORD.finditer(canonical):
        before = canonical[end : m.start()].rstrip()[-1:] or before
        words.append(m.group(0))
        openers.append(before in ("", ".", "?", "!"))
        before, end = m.group(0)[-1], m.end()
    return words, openers


# The retrieval's evidence step, the answerer and its checks each read the question: one
# analysis serves them all (and a question asked again).
@functools.lru_cache(maxsize=1024)
def analyse_question(question: str) -> QuestionTerms:
    words, openers = _words_and_openers(question)
    exact = [w.casefold() for w in words]
    folded = [strip_diacritics(e) for e in exact]
    joined = " " + " ".join(folded) + " "
    wants_number = any(f" {cue} " in joined for cue in _AMOUNT_CUES) or (
        any(f" {cue} " in joined for cue in _AMOUNT_NOUNS)
        and not _asks_for_a_thing(folded)
        and not _asks_yes_no(joined)
    )
    keep = _content_mask(folded, wants_number)
    keep = [k and e not in _EXACT_STOPWORDS for k, e in zip(keep, exact, strict=True)]
    shouting = question.upper() == question  # all capitals: capitalisation says nothing
    terms: dict[str, Term] = {}
    pairs: list[tuple[str, str]] = []
    for i, word in enumerate(words):
        if not keep[i]:
            continue
        name = not openers[i] and word[:1].isupper() and not shouting
        previous = terms.get(exact[i])
        terms[exact[i]] = Term(exact[i], folded[i], name or bool(previous and previous.name))
        if i + 1 < len(words) and keep[i + 1]:
            pairs.append((folded[i], folded[i + 1]))
    numbers = tuple(t.folded for t in terms.values() if t.folded.isdigit())
    multi = any(cue in joined for cue in _MULTI_CUES)
    money = wants_number and any(f" {cue} " in joined for cue in _MONEY_CUES)
    left = wants_number and "còn" in exact
    time = wants_number and any(f" {cue} " in joined for cue in _TIME_CUES)
    return QuestionTerms(
        tuple(terms.values()),
        tuple(pairs),
        numbers,
        wants_number,
        multi,
        money,
        left,
        time,
        _is_statement(joined),
        wants_number and any(f" {cue} " in joined for cue in _SHARE_CUES),
        money or (wants_number and not time and _asks_a_payment(exact, folded)),
    )


def _asks_a_payment(exact: Sequence[str], folded: Sequence[str]) -> bool:
    """Whether "bao nhiêu" asks a sum of money: its unit is money ("bao nhiêu tiền"), or it
    has none and follows a payment ("được trợ cấp bao nhiêu?")."""
    for i in range(len(folded) - 1):
        if (folded[i], folded[i + 1]) != ("bao", "nhieu"):
            continue
        unit = folded[i + 2] if i + 2 < len(folded) else ""
        if unit in _MONEY_UNITS:
            return True
        if unit and unit not in _STOPWORDS and unit not in _NO_UNIT:
            return False
        return any(_names(exact[:i], folded[:i], cue, bare) for cue, bare in _PAYMENT_CUES)
    return False


def _names(
    exact: Sequence[str], folded: Sequence[str], phrase: tuple[str, ...], bare: tuple[str, ...]
) -> bool:
    """Whether the words hold the phrase (``bare``: without its marks), compared with marks
    where the asker typed them."""
    n = len(phrase)
    for i in range(len(exact) - n + 1):
        typed = tuple(exact[i : i + n])
        marked = any(e != f for e, f in zip(typed, folded[i : i + n], strict=True))
        if typed == phrase if marked else tuple(folded[i : i + n]) == bare:
            return True
    return False


# Greetings, thanks and the words around them, diacritics folded: a message of nothing else is
# no question of the documents ("Chào bạn", "Cảm ơn bạn nhiều nhé!", "ok").
_SMALL_TALK = word_set(
    "chao xin cam on cam ban nhe nha nhieu lam a da vang u ok oke okay hello hi helo alo "
    "thanks thank you tks tam biet bye good morning em anh chi minh toi chu bac co ad admin "
    "nhe a ha hi hihi test thu"
)
# Markup a page or a copy-paste may carry: a script's or style's body is code, not words.
_CODE_BLOCK = re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def is_small_talk(question: str) -> bool:
    """Whether the message asks nothing of the documents: a greeting, thanks, a number or
    markup alone. Such a message gets a short help reply, never a quote."""
    text = _TAG.sub(" ", _CODE_BLOCK.sub(" ", question))
    words = [w for w in folded_syllables(text) if not w.isdigit()]
    return all(w in _SMALL_TALK for w in words)


def _asks_for_a_thing(folded: Sequence[str]) -> bool:
    """Whether the question asks who or what ("ai", "gì", "nhóm nào"), not when or how much."""
    return any(
        f in ("ai", "gi") or (f == "nao" and i > 0 and folded[i - 1] not in _TIME_NOUNS)
        for i, f in enumerate(folded)
    )


# How a statement to be checked ends, folded: "…, đúng hay sai?", "…, phải không?".
_STATEMENT_ENDINGS = (
    " dung hay sai ",
    " dung hay khong ",
    " dung khong ",
    " co dung khong ",
    " phai khong ",
    " sai khong ",
)


def _is_statement(joined: str) -> bool:
    """Whether the question (folded words, space-joined and padded) states a case and asks
    whether it holds. No sentence of a provision repeats the case's names, dates and sums, so
    such a question is answered by the provision that decides it."""
    return joined.endswith(_STATEMENT_ENDINGS)


def _asks_yes_no(joined: str) -> bool:
    """Whether the question asks yes or no ("… có phụ thuộc vào số lượng tín chỉ không?"):
    an amount it names is then the topic, not what it asks for."""
    return joined.endswith((" khong ", " chua ")) or " co phai " in joined


def _content_mask(folded: list[str], wants_number: bool) -> list[bool]:
    keep = [f not in _STOPWORDS for f in folded]
    frames = _FRAMES + (_AMOUNT_FRAMES if wants_number else ())
    for frame in frames:
        for i in range(len(folded) - len(frame) + 1):
            if tuple(folded[i : i + len(frame)]) == frame:
                keep[i : i + len(frame)] = [False] * len(frame)
    return keep
