"""Evidence scoring shared by retrieval's evidence step and the answerers.

:func:`score_sentences` scores every distinct sentence of the retrieved passages against the
question as :func:`~qa_assistant._retrieval.question.analyse_question` reads it. Passages come back
question after question, so their analysis is cached (:func:`clear_caches` forgets it).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .._vietnamese import LIST_ITEM, sentence_spans
from ..settings import ScoringSettings
from ..types import Hit
from .question import (
    QuestionTerms,
    Term,
    analyse_question,
    fold_each,
    folded_syllables,
    name_syllables,
    syllables_of,
)

__all__ = [
    "SentenceScore",
    "clear_caches",
    "score_sentences",
]

_NUMBER = re.compile(r"\d+")
_YEAR = re.compile(r"(?:19|20)\d\d")
# Amounts written in words also answer "bao nhiêu": "hàng trăm nghìn suất quà". "tỷ lệ" is a
# rate's name, not an amount, hence the look-ahead. Sums of money are written in digits
# ("10 triệu đồng"), so a question about money needs digits.
_QUANTITY_WORDS = re.compile(
    r"\b(?:chục|trăm|nghìn|ngàn|vạn|triệu|(?:tỷ|tỉ)(?!\s+lệ))\b", re.IGNORECASE
)
# "Khi nào" in regulations is often answered by a moment of the school or work calendar, not
# a date: "đầu mỗi học kỳ", "sau mỗi buổi bảo vệ", "trong vòng 1 tháng".
_TIME_WORDS = re.compile(
    r"\b(?:đầu|cuối|giữa|sau|trước|trong|hằng|hàng|mỗi|kể từ|chậm nhất)\s+(?:\w+\s+){0,2}?"
    r"(?:ngày|tuần|tháng|năm|học kỳ|học kì|năm học|buổi|đợt|quý|khóa học|khoá học)\b",
    re.IGNORECASE,
)
# "không còn hộ nghèo" (none left) answers how many are left ("còn bao nhiêu"), nothing else.
_NONE_LEFT = re.compile(r"\bkhông còn\b", re.IGNORECASE)
# A sum of money: digits with a unit of money, a number written in thousands, or a share of a
# wage or fee ("40% mức lương cơ sở"). A year or an article's number is none.
MONEY = re.compile(
    r"\d[\d.,]*\s*(?:đồng|đ\b|triệu|tỷ|nghìn|ngàn)|\d{1,3}(?:\.\d{3})+"
    r"|\d[\d,]*\s*%\s*(?:\w+\s+){0,3}?(?:lương|học phí|phí|mức đóng)",
    re.IGNORECASE,
)
# A share: a percentage, or "phần trăm" written out.
_SHARE = re.compile(r"\d\s*%|\bph(?:ần|an) tr(?:ăm|am)\b", re.IGNORECASE)
# Names of programmes and campaigns are usually quoted: “Tết sum vầy”, "Ngày vì người nghèo".
_QUOTED = re.compile(r"[“\"«]([^”\"»\n]{2,80})[”\"»]")


@dataclass(frozen=True)
class SentenceScore:
    """One candidate sentence of a retrieved passage and the features that scored it.

    ``start``/``end`` are offsets in ``hits[hit_index].chunk.text``. Exposed so thresholds can
    be tuned against an evaluation set (see :func:`score_sentences`).
    """

    hit_index: int
    start: int
    end: int
    text: str
    score: float
    coverage: float  # weighted share of question terms in the sentence (context: part credit)
    sentence_coverage: float  # the same, counting the sentence alone
    phrase: float  # share of the question's adjacent pairs found adjacent in the sentence
    has_number: bool  # the kind asked: a sum of money (MONEY) for money, else words too
    quoted_match: bool  # a quoted name in the sentence shares words with the question
    rank: int
    matched: tuple[str, ...]  # folded question terms found in the sentence
    missing: tuple[str, ...]  # folded question terms neither in the sentence nor its context
    missing_names: tuple[str, ...]  # the missing terms the question capitalised
    missing_words: tuple[str, ...] = ()  # two-syllable names of the question (capitalised in
    # some passage, however the question typed them) that neither the sentence (no syllable)
    # nor its passage has
    # A title or heading line ("## Điểm bảo lưu", "Điều 23. …"): evidence of what the passage
    # is about, for ranking passages, but it names what follows and answers nothing itself.
    heading: bool = False
    missing_years: tuple[str, ...] = ()  # years the question names that the passage never does


# The scoring settings when none are given: read once, not at every question.
_DEFAULT_SCORING = ScoringSettings.model_validate({})


@dataclass(frozen=True)
class _Bag:
    """Syllables of a text in both forms, for accent-aware matching."""

    exact: frozenset[str]
    folded: frozenset[str]

    @classmethod
    def of(cls, words: Sequence[str]) -> _Bag:
        exact = frozenset(w.casefold() for w in words)
        return cls(exact, frozenset(fold_each(list(exact))))

    def match(self, term: Term, tone_mismatch: float) -> float:
        """1 for a match as typed; ``tone_mismatch`` when only the folded forms match."""
        if term.accented:
            if term.exact in self.exact:
                return 1.0
            return tone_mismatch if term.folded in self.folded else 0.0
        return 1.0 if term.folded in self.folded else 0.0


@dataclass(frozen=True)
class _Candidate:
    hit_index: int
    start: int
    end: int
    text: str
    bag: _Bag
    order: tuple[str, ...]  # folded syllables in order, for adjacency
    pairs: frozenset[tuple[str, str]]  # adjacent syllables of ``order``
    rank: int
    heading: bool  # the passage's title or heading line


@dataclass(frozen=True)
class _Context:
    title: _Bag  # title and heading path of the passage
    names: _Bag  # capitalised words anywhere in the passage
    pairs: frozenset[tuple[str, str]]  # adjacent folded syllables of passage, title, heading
    years: frozenset[str]  # years written anywhere in the passage, title or heading


def score_sentences(
    question: str,
    hits: Sequence[Hit],
    *,
    max_passages: int = 5,
    scoring: ScoringSettings | None = None,
) -> list[SentenceScore]:
    """Score every distinct sentence of the top ``max_passages`` hits against ``question``.

    Best first. Term weights are IDF-like within the candidate sentences: a term that few
    candidates contain (or none: the documents may not speak of it) weighs more, so missing
    it lowers coverage more; names weigh ``name_boost`` times more.
    """
    w = scoring or _DEFAULT_SCORING
    q = analyse_question(question)
    top = list(hits[:max_passages])
    candidates = _candidates(top)
    if not q.terms or not candidates:
        return []
    names = set().union(*(name_syllables(c.text) for c in candidates))
    weight = _term_weights(q, candidates, names, w)
    contexts = [_context(hit) for hit in top]
    known = set().union(*(c.pairs for c in candidates))
    # Names the passages write as a word (capitalised there: "Hà Nội", however the question
    # typed them): asked "hà nội", a sentence about Quảng Ninh answers another question. Other
    # words are left to coverage: an answer may well paraphrase them, and asking every noun of
    # the question of the sentence turned away answerable regulation questions without
    # catching one more near miss (eval/README.md).
    words = tuple(p for p in q.pairs if p in known and p[0] in names and p[1] in names)
    if q.wants_number:
        candidates = _through_the_line(candidates, top, q)
    scored = [_score(c, q, weight, contexts[c.hit_index], w, words) for c in candidates]
    return sorted(scored, key=lambda s: (-s.score, s.rank, s.hit_index, s.start))


def _through_the_line(
    candidates: list[_Candidate], hits: Sequence[Hit], q: QuestionTerms
) -> list[_Candidate]:
    """A clause that lacks what is asked and ends with ";" is read with the rest of its line
    when that holds it: "…không có lương hưu: hệ số 1,2; mức trợ cấp hằng tháng 600.000
    đồng." is one provision. A list item ("c) …") that follows on the line is a provision of
    its own. The clauses the longer one takes in are no candidates of their own."""
    out: list[_Candidate] = []
    taken: tuple[int, int] | None = None  # the hit and the end of the last clause taken in
    for c in candidates:
        if taken is not None and taken[0] == c.hit_index and c.start < taken[1]:
            continue
        if c.text.rstrip().endswith(";") and not _holds_kind(c.text, q):
            text = hits[c.hit_index].chunk.text
            line_end = text.find("\n", c.end)
            rest = text[c.end : len(text) if line_end < 0 else line_end].rstrip()
            if rest.strip() and not LIST_ITEM.match(rest) and _holds_kind(rest, q):
                end = c.end + len(rest)
                _, bag, order, pairs = _analysed(text[c.start : end])
                c = replace(c, end=end, text=text[c.start : end], bag=bag, order=order, pairs=pairs)
                taken = (c.hit_index, end)
        out.append(c)
    return out


def _holds_kind(text: str, q: QuestionTerms) -> bool:
    """Whether the text holds what the question asks: a sum of money, a share, a number (not
    only those the question names: "thương binh 81%" answers nothing), an amount in words;
    "không còn" for what is left, a moment of the calendar for a time."""
    digits = set(_NUMBER.findall(text)) - set(q.numbers)
    if q.asks_money:
        return bool(digits and MONEY.search(text))
    if q.wants_share:
        return bool(digits and _SHARE.search(text))
    found = bool(digits or _QUANTITY_WORDS.search(text))
    if q.asks_left:
        return found or bool(_NONE_LEFT.search(text))
    if q.wants_time:
        return found or bool(_TIME_WORDS.search(text))
    return found


def _candidates(hits: Sequence[Hit]) -> list[_Candidate]:
    # Sentences seen so far, by their number of distinct syllables. Jaccard similarity is at
    # most the ratio of the two sizes, so a near duplicate's size is within _NEAR of the
    # other's: only those few sizes are compared.
    seen: dict[int, list[frozenset[str]]] = {}
    out: list[_Candidate] = []
    for index, hit in enumerate(hits):
        text = hit.chunk.text
        headings = _heading_lines(hit.chunk.title, hit.chunk.heading)
        for start, end, bag, order, pairs in _sentences(text):
            size = len(bag.folded)
            sizes = range(math.ceil(_NEAR * size - 1e-9), math.floor(size / _NEAR + 1e-9) + 1)
            if any(_near_duplicate(bag.folded, o) for n in sizes for o in seen.get(n, ())):
                continue  # a caption repeated under its image, or the same line in two hits
            seen.setdefault(size, []).append(bag.folded)
            rank = hit.rank if hit.rank > 0 else index + 1
            line = text[start:end]
            heading = _heading_key(line) in headings or bool(_ENACTING.fullmatch(line))
            out.append(_Candidate(index, start, end, line, bag, order, pairs, rank, heading))
    return out


# The line a plan, letter or decision opens with, naming the document it carries out and
# announcing what follows ("Thực hiện Quyết định số …, Sở Nội vụ hướng dẫn như sau:", "Căn cứ
# Luật …;"): it holds the question's words and answers nothing, like a heading. Only a line
# that ends so: a news sentence may open "Thực hiện Nghị quyết …, năm 2025 tỉnh đã …".
_ENACTING = re.compile(
    r"[*_\s]*(?:Căn cứ|Thực hiện|Theo đề nghị của|Xét)\s+(?:các\s+)?"
    r"(?:Bộ luật|Luật|Nghị định|Nghị quyết|Quyết định|Chỉ thị|Kế hoạch|Thông tư|Công văn|"
    r"Hướng dẫn|Thông báo|Văn bản|Tờ trình|Pháp lệnh)\b.*[:;]\s*",
    re.DOTALL,
)


def _heading_key(line: str) -> str:
    return " ".join(line.lstrip("#").split()).casefold()


@functools.lru_cache(maxsize=4096)
def _heading_lines(title: str, heading: tuple[str, ...]) -> frozenset[str]:
    """The chunk's title and headings as they appear as lines of its text (Markdown's "#"
    marks dropped, spacing and case ignored)."""
    return frozenset(_heading_key(h) for h in (title, *heading) if h)


# Analysing a passage is most of a question's scoring time, and the same passages come back
# question after question (and twice within one: the second retrieval stage, then the
# answer). Keyed by text, so a re-ingested passage is analysed afresh.
@functools.lru_cache(maxsize=4096)
def _sentences(
    text: str,
) -> tuple[tuple[int, int, _Bag, tuple[str, ...], frozenset[tuple[str, str]]], ...]:
    out = []
    for start, end in sentence_spans(text):
        words, bag, order, pairs = _analysed(text[start:end])
        if len(words) < 3:  # headings like "Tag", "Xem thêm" answer nothing
            continue
        out.append((start, end, bag, order, pairs))
    return tuple(out)


def _analysed(
    sentence: str,
) -> tuple[list[str], _Bag, tuple[str, ...], frozenset[tuple[str, str]]]:
    """A sentence's syllables, as a bag, folded in order, and their adjacent pairs."""
    words = syllables_of(sentence)
    order = tuple(fold_each(words))
    return words, _Bag.of(words), order, _pairs(order)


def clear_caches() -> None:
    """Forget every analysed passage, so that the next questions are timed as if new."""
    _sentences.cache_clear()
    _passage_context.cache_clear()
    name_syllables.cache_clear()
    _heading_lines.cache_clear()


_NEAR = 0.85  # Jaccard similarity of two sentences' syllables that makes them one sentence


def _near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    return len(a & b) / max(len(a | b), 1) >= _NEAR


def _term_weights(
    q: QuestionTerms, candidates: Sequence[_Candidate], names: set[str], w: ScoringSettings
) -> dict[str, float]:
    n = len(candidates)
    weights: dict[str, float] = {}
    for term in q.terms:
        df = sum(c.bag.match(term, 0.0) for c in candidates)
        idf = math.log(1.0 + (n + 1) / (df + 0.5))
        is_name = term.name or term.folded in names
        weights[term.exact] = idf * (w.name_boost if is_name else 1.0)
    return weights


def _context(hit: Hit) -> _Context:
    chunk = hit.chunk
    return _passage_context(chunk.title, chunk.heading, chunk.text)


@functools.lru_cache(maxsize=4096)
def _passage_context(title: str, heading: tuple[str, ...], text: str) -> _Context:
    title_bag = _Bag.of(syllables_of(f"{title} {' '.join(heading)}"))
    names = [w for w in syllables_of(text) if w[:1].isupper()]
    syllables = folded_syllables(f"{title}\n{' '.join(heading)}\n{text}")
    years = frozenset(s for s in syllables if _YEAR.fullmatch(s))
    return _Context(title_bag, _Bag.of(names), _pairs(syllables), years)


def _pairs(order: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(itertools.pairwise(order))


def _score(
    c: _Candidate,
    q: QuestionTerms,
    weight: dict[str, float],
    ctx: _Context,
    w: ScoringSettings,
    words: Sequence[tuple[str, str]],
) -> SentenceScore:
    total = sum(weight.values())
    got = strict = 0.0
    matched: list[str] = []
    missing: list[Term] = []
    for term in q.terms:
        here = c.bag.match(term, w.tone_mismatch)
        around = max(
            w.context_title * ctx.title.match(term, w.tone_mismatch),
            w.context_name * ctx.names.match(term, w.tone_mismatch),
        )
        got += max(here, around) * weight[term.exact]
        strict += here * weight[term.exact]
        if here > 0:
            matched.append(term.folded)
        elif around == 0:
            missing.append(term)
    phrase = _phrase_share(q.pairs, c.pairs)
    has_number = _holds_kind(c.text, q)
    quoted = _quoted_match(c.text, [t.folded for t in q.terms])
    score = got / total + w.phrase * phrase + w.rank / c.rank
    if q.wants_number:
        score += w.number if has_number else -w.number_missing
    if q.numbers and any(n in c.bag.folded for n in q.numbers):
        score += w.number
    if quoted:
        score += w.quoted
    score -= w.long_sentence * max(0, len(c.order) - w.long_sentence_words)
    return SentenceScore(
        hit_index=c.hit_index,
        start=c.start,
        end=c.end,
        text=c.text,
        score=score,
        coverage=got / total,
        sentence_coverage=strict / total,
        phrase=phrase,
        has_number=has_number,
        quoted_match=quoted,
        rank=c.rank,
        matched=tuple(matched),
        missing=tuple(t.folded for t in missing),
        missing_names=tuple(t.folded for t in missing if t.name),
        missing_words=_missing_words(words, c, ctx),
        heading=c.heading,
        missing_years=tuple(
            t.folded for t in missing if _YEAR.fullmatch(t.folded) and t.folded not in ctx.years
        ),
    )


def _missing_words(
    words: Sequence[tuple[str, str]], c: _Candidate, ctx: _Context
) -> tuple[str, ...]:
    """Question words absent from the sentence (both syllables) and from its passage.

    "Hà Nội" asked, a sentence about Quảng Ninh found: it answers another question.
    """
    return tuple(
        f"{a} {b}"
        for a, b in words
        if a not in c.bag.folded and b not in c.bag.folded and (a, b) not in ctx.pairs
    )


def _phrase_share(pairs: Sequence[tuple[str, str]], adjacent: frozenset[tuple[str, str]]) -> float:
    if not pairs:
        return 0.0
    return sum(p in adjacent for p in pairs) / len(pairs)


def _quoted_match(text: str, terms: Sequence[str]) -> bool:
    wanted = set(terms)
    return any(wanted & set(folded_syllables(m.group(1))) for m in _QUOTED.finditer(text))
