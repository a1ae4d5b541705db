"""Vietnamese text handling: normalisation, diacritics, word segmentation, sentences.

Everything here is pure and deterministic. The word segmenter (pyvi, a CRF model) takes a
few seconds to import, so it is imported on first use only; :func:`normalize_text`,
:func:`strip_diacritics`, :func:`sentence_spans` and the diacritic checks never load it.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from types import ModuleType
from typing import Any

__all__ = [
    "LIST_ITEM",
    "canonical_spelling",
    "fold",
    "has_diacritics",
    "is_partly_unaccented",
    "is_unaccented",
    "normalize_text",
    "restore_diacritics",
    "sentence_spans",
    "strip_diacritics",
    "word_set",
    "word_tokens",
]


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of a literal list, as a set (for word lists in code)."""
    return frozenset(words.split())


# --------------------------------------------------------------------------- normalisation

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Control characters (Cc) other than \n and \t, plus the zero-width characters. \r, NEL and
# the Unicode line/paragraph separators are turned into \n before this runs.
_INVISIBLE = re.compile(
    "[" + _ZERO_WIDTH + "\x00-\x08\x0b-\x1f\x7f-\x9f" + "]",
)
_SPACES = {"\xa0": " ", "\u202f": " ", "\u2007": " "}
_LINE_BREAKS = {"\x85": "\n", "\u2028": "\n", "\u2029": "\n", "\x0c": "\n", "\x0b": "\n"}


def normalize_text(text: str) -> str:
    """NFC text with \\n line ends, plain spaces and no invisible or control characters.

    Idempotent: ``normalize_text(normalize_text(t)) == normalize_text(t)``. Removal runs
    before NFC because deleting a zero-width character can bring a letter and its combining
    tone mark together, and NFC must see them side by side to compose them.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for old, new in (*_SPACES.items(), *_LINE_BREAKS.items()):
        if old in text:
            text = text.replace(old, new)
    text = _INVISIBLE.sub("", text)
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------- diacritics


def _build_fold_table() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    for cp in (*range(0x00C0, 0x0250), *range(0x1E00, 0x1F00)):
        base = "".join(
            ch for ch in unicodedata.normalize("NFD", chr(cp)) if not unicodedata.combining(ch)
        )
        if len(base) == 1 and base != chr(cp):
            table[cp] = ord(base)
    table[ord("đ")] = ord("d")
    table[ord("Đ")] = ord("D")
    for cp in range(0x0300, 0x0370):  # stray combining marks (NFD input)
        table[cp] = None
    return table


_FOLD = _build_fold_table()
_DIACRITIC_CHARS = frozenset(chr(cp) for cp in _FOLD)


def strip_diacritics(text: str) -> str:
    """Remove tone marks and vowel marks; ``đ``/``Đ`` become ``d``/``D``.

    On NFC text (what :func:`normalize_text` returns) every character maps to exactly one
    character, so the result has the same length and offsets carry over. Only separate
    combining marks (as in NFD input) are dropped, which shortens the text.
    """
    return text.translate(_FOLD)


def fold(text: str) -> str:
    """Lower case without diacritics (``đ`` → ``d``): how bare questions meet accented text."""
    return strip_diacritics(unicodedata.normalize("NFC", text).casefold())


def has_diacritics(text: str) -> bool:
    """True when any letter carries a tone or vowel mark (or is ``đ``)."""
    return any(ch in _DIACRITIC_CHARS for ch in text)


_LETTER_WORD = re.compile(r"[^\W\d_]+")
# One Vietnamese syllable written without marks: onset, 1-3 vowels, optional coda.
_PLAIN_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ch|ng|nh|[cmnpt])?"
)
# Syllables that correct Vietnamese often writes without any mark (measured on the laws and
# regulations the project is used with); other plain syllables suggest the writer left the
# marks out (e.g. "hoc", "tro": a syllable ending in c/ch/p/t always carries a tone mark).
_COMMON_PLAIN = word_set(
    """
    quy theo quan trong cho gia sau vi tin do khi sinh a giao du an ban nam ra kinh doanh
    chi thu khai ma di dung ninh phim tham trung con thanh cung tra cao thi thay gian khu
    bao chung tranh xem cha danh sung cai nguy mua chia ghi khoa lao minh nhau e qua ba gom
    ngay trang em mang thao y ngang huy nhu hai thai trao ly sao tinh vay kia canh suy coi
    non giai hoa cam duy truy i phong anh tai sai xung tri nghe uy lai ro xin quanh hoan
    hay sang vai ai xanh binh bon khen quay nom so xong chu lo giam kim vui khung hao kho xa
    song ong ranh can dinh rung nhanh lan hoang vinh ty che in treo mai nghi chim xu ao qui
    tay xe phi thang sa linh ven khoanh tuy ca vu tu co nhi ga no lang the to la
    """
)


def _words(text: str) -> list[str]:
    return _LETTER_WORD.findall(text.lower())


def _looks_vietnamese_plain(words: list[str]) -> bool:
    plain = [w for w in words if not has_diacritics(w)]
    if not plain:
        return False
    valid = sum(1 for w in plain if _PLAIN_SYLLABLE.fullmatch(w))
    return valid / len(plain) >= 0.8


def is_unaccented(text: str) -> bool:
    """True for Vietnamese typed without any marks, e.g. ``"ho tro hoc phi"``.

    English (words that cannot be Vietnamese syllables) and text with marks give False.
    """
    words = _words(text)
    return bool(words) and not any(map(has_diacritics, words)) and _looks_vietnamese_plain(words)


def is_partly_unaccented(text: str) -> bool:
    """True when some Vietnamese words lack their marks: all of them, or a mix like
    ``"ho tro học phí"``. Correct Vietnamese (``"hỗ trợ học phí cho sinh viên"``) gives False.
    """
    words = _words(text)
    if not words or not _looks_vietnamese_plain(words):
        return False
    return any(
        not has_diacritics(w) and _PLAIN_SYLLABLE.fullmatch(w) and w not in _COMMON_PLAIN
        for w in words
    )


def _crf_without_sklearn() -> None:
    """Let pyvi's CRF models load without scikit-learn.

    sklearn_crfsuite subclasses scikit-learn's ``BaseEstimator`` only for its grid-search
    parameters, and has a plain class for when scikit-learn is missing (its ``compat``
    module): importing scikit-learn (scipy with it) would add over a second of CPU to a
    replica's start, for nothing that tagging reads.
    """
    if "sklearn_crfsuite" in sys.modules:
        return
    compat = ModuleType("sklearn_crfsuite.compat")
    compat.BaseEstimator = type("BaseEstimator", (), {})  # type: ignore[attr-defined]
    sys.modules[compat.__name__] = compat


@lru_cache(maxsize=1)
def _pyvi_accents() -> Any:
    _crf_without_sklearn()
    from pyvi import ViUtils  # slow import: only when diacritics must be restored

    return ViUtils


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:].lower()
    return word.lower()


_TOKEN_OR_SPACE = re.compile(r"\S+|\s+")


def restore_diacritics(text: str) -> str:
    """Best-effort marks for Vietnamese typed without them (pyvi's model).

    Only words without marks are replaced, so the correctly typed words of mixed input stay
    as they were; spacing, punctuation and letter case are kept. Text that is not (partly)
    unaccented Vietnamese comes back unchanged. The model guesses: treat the result as an
    extra query variant, not as a replacement for what the user typed.
    """
    if not is_partly_unaccented(text):
        return text
    pieces = _TOKEN_OR_SPACE.findall(text)
    tokens = [p for p in pieces if not p.isspace()]
    try:
        guess = _pyvi_accents().add_accents(strip_diacritics(" ".join(tokens)).lower())
    except (KeyError, IndexError):
        # pyvi's decoder has no mapping for some rare letter sequences ("o-don", "土星 dung"):
        # the question is then used as typed rather than failing.
        return text
    guessed = guess.split()
    if len(guessed) != len(tokens):
        return text  # the model re-spaced the text: no safe word-by-word alignment
    restored = iter(guessed)
    out: list[str] = []
    for piece in pieces:
        if piece.isspace():
            out.append(piece)
            continue
        new = next(restored)
        keep = has_diacritics(piece) or strip_diacritics(new).lower() != piece.lower()
        out.append(piece if keep else _match_case(piece, new))
    return "".join(out)


# --------------------------------------------------------------------------- spelling

# The five tone marks, as combining characters (NFD): grave, acute, tilde, hook, dot below.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Open syllables on "oa", "oe", "uy" carry the tone on either vowel, in the old and the new
# style alike ("hoà"/"hòa", "khoẻ"/"khỏe", "thuỷ"/"thủy"); the laws use both. After "q" the
# "u" belongs to the onset ("quý"), so that onset is left out.
_GLIDE_RHYME = re.compile(
    r"(b|c|ch|d|đ|g|gh|h|k|kh|l|m|n|ng|ngh|nh|p|ph|r|s|t|th|tr|v|x)?(oa|oe|uy)"
)
# A lone "i" after a consonant is also written "y" ("kì"/"kỳ", "lí"/"lý", "sĩ"/"sỹ",
# "công ti"/"công ty", "qui"/"quy"). Not without an onset ("y tế", "ý kiến"), nor after "g"
# ("gì": "gi" is an onset), nor where "y" follows another vowel ("tuy", "hay", "cây").
_I_OR_Y = re.compile(r"(b|c|ch|d|đ|h|k|kh|l|m|n|nh|p|ph|qu|r|s|t|th|tr|v|x)([iy])")
# "ngh"/"gh" are written only before i, e, ê, and "ng" never is: "nghành" is "ngành" and
# "ngiên" is "nghiên", common slips with one possible reading.
_NGH_BEFORE = re.compile(r"(n?gh)(?=[aou])|(ng)(?=[ie])")  # on the folded letters


def _fix_onset(word: str) -> str:
    m = _NGH_BEFORE.match(strip_diacritics(word.lower()))
    if m is None:
        return word
    if m.group(1):  # drop the "h"
        cut = len(m.group(1)) - 1
        return word[:cut] + word[cut + 1 :]
    h = "H" if word[:2].isupper() else "h"
    return word[:2] + h + word[2:]


@lru_cache(maxsize=65536)
def _canonical_syllable(word: str) -> str:
    word = _fix_onset(word)
    nfd = unicodedata.normalize("NFD", word)
    tones = [ch for ch in nfd if ch in _TONE_MARKS]
    if len(tones) > 1:  # not a well-formed syllable: nothing to move
        return word
    tone = tones[0] if tones else ""
    base = unicodedata.normalize("NFC", "".join(ch for ch in nfd if ch not in _TONE_MARKS))
    lower = base.lower()
    # Matched on the folded letters, so that a syllable and its unmarked form get the same
    # spelling ("qưy", a slip for "quy", becomes "qưi" as "quy" becomes "qui").
    m = _I_OR_Y.fullmatch(strip_diacritics(lower))
    if m:
        onset = len(m.group(1))
        vowel = "I" if base[onset].isupper() else "i"
        return unicodedata.normalize("NFC", base[:onset] + vowel + tone)
    m = _GLIDE_RHYME.fullmatch(lower)
    if m and tone:
        first = len(m.group(1) or "")  # the tone goes on the rhyme's first vowel
        return unicodedata.normalize("NFC", base[: first + 1] + tone + base[first + 1 :])
    return word


def canonical_spelling(text: str) -> str:
    """One spelling for the Vietnamese syllables that are written two ways, for matching.

    The tone of an open "oa"/"oe"/"uy" goes on the first vowel ("hoà" → "hòa", "thuỷ" →
    "thủy"), a lone "y" after a consonant becomes "i" ("kỳ" → "kì", "lý" → "lí", "quy" →
    "qui"), and "ngh"/"ng" follow the next vowel ("nghành" → "ngành"). Letter case is kept,
    and so is the length except for the "ngh"/"ng" fixes. Only for terms that are compared
    with each other (both sides must go through it): a document's own text is quoted as is.
    """
    return _LETTER_WORD.sub(lambda m: _canonical_syllable(m.group(0)), text)


# --------------------------------------------------------------------------- words

_SEGMENT_LINES = 200  # lines per CRF call: long enough for context, short for memory


@lru_cache(maxsize=1)
def _pyvi_tokenizer() -> Any:
    _crf_without_sklearn()
    from pyvi.ViTokenizer import ViTokenizer  # loads the CRF model

    return ViTokenizer


def _segment(text: str) -> list[str]:
    """pyvi word segmentation: words with their syllables joined by ``_``, original case.

    ``spacy_tokenize`` rather than ``tokenize``: the latter builds its output string by
    repeated concatenation, quadratic on long texts, and its result would be split again.
    """
    tok = _pyvi_tokenizer()
    lines = text.split("\n")
    words: list[str] = []
    for i in range(0, len(lines), _SEGMENT_LINES):
        part = " ".join(lines[i : i + _SEGMENT_LINES])
        if part.strip():  # pyvi returns its input unchanged, not a token list, for blank text
            words.extend(tok.spacy_tokenize(part)[0])
    return words


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def word_tokens(text: str) -> list[str]:
    """Vietnamese words (pyvi segmentation), lowercased, compounds joined by ``_``.

    ``"Hỗ trợ học phí."`` → ``["hỗ_trợ", "học_phí"]``. Punctuation is dropped. Words are in
    :func:`canonical_spelling`, so "hoà bình" and "hòa bình", "kỳ thi" and "kì thi" give the
    same terms on the passage side and the question side. The segmenter still sees the text
    as written (normalising before segmenting measured the same on the benchmarks).
    """
    return [canonical_spelling(w.lower()) for w in _segment(normalize_text(text)) if _is_word(w)]


# --------------------------------------------------------------------------- sentences

# A line that is an item of a list: "a) …", "1. …", "- …".
LIST_ITEM = re.compile(r"^\s*(?:[a-zđ]\)|\d{1,2}[.)]|[-•+*–])\s")

# A sentence ends at . ? ! ; … (plus closing quotes/brackets) when whitespace or the end of
# the text follows, or at a line break. Requiring whitespace after the mark keeps numbers
# such as 92,9 / 1.000 / 01/02/2026 / 3.2.1 whole.
_BOUNDARY = re.compile(r"[.?!;…]+[\"'”’)\]»]*(?=\s|\Z)|\n")
_ABBREVIATIONS = word_set(
    "tp ts ths pgs gs bs ks ls nxb tt tr ck st mr mrs ms dr no vs v.v vv ttg ubnd"
)
_BEFORE_DOT = re.compile(r"(\S+)\.$")
_NUMBERED = re.compile(
    r"[ \t]*(?:(?:Điều|Chương|Mục|Phần|Khoản|Điểm)\s+)?(?:\d+[a-z]?|[IVXLC]+)\.", re.IGNORECASE
)


def _is_abbreviation(text: str, dot: int) -> bool:
    """Does the period at ``dot`` end an abbreviation or a list number rather than a sentence?"""
    head = text[max(0, dot - 40) : dot + 1]
    m = _BEFORE_DOT.search(head)
    if not m:
        return False
    raw = m.group(1).lstrip("(\"'“‘[")
    word = raw.lower()
    if word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS:
        return True
    # Initials are capitals ("Nguyễn V. An"); "nhà ở." ends a sentence with a one-letter word.
    if len(raw) == 1 and raw.isalpha() and raw.isupper():
        return True
    line_start = text.rfind("\n", 0, dot) + 1
    # "1." or "Điều 20." opening a line numbers a clause or an article
    return dot - line_start < 20 and bool(_NUMBERED.fullmatch(text, line_start, dot + 1))


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, in order, with surrounding whitespace left out.

    Every non-whitespace character of ``text`` lies in exactly one span.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end()
        if m.group(0) != "\n" and m.group(0) == "." and _is_abbreviation(text, m.start()):
            continue
        s, e = _strip_span(text, start, end)
        if s < e:
            spans.append((s, e))
        start = end
    s, e = _strip_span(text, start, len(text))
    if s < e:
        spans.append((s, e))
    return spans
