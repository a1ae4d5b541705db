"""The default answerer: quotes the passage sentences that best match the question, or abstains.

Offline and deterministic. The sentences are scored by :mod:`qa_assistant._retrieval.evidence`; this
module decides whether the evidence is strong enough and composes the answer text, each quote
followed by its citation marker ``[n]``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from .._retrieval.evidence import MONEY, SentenceScore, score_sentences
from .._retrieval.question import QuestionTerms, analyse_question, folded_syllables
from .._vietnamese import LIST_ITEM, restore_diacritics, sentence_spans
from ..protocols import AnswerabilityModel, SpanModel
from ..settings import AnswerabilitySettings, AnswerSettings, ScoringSettings, SpanSettings
from ..types import Answer, Hit, Span
from .common import ABSTAIN_MESSAGE, abstain_answer, cite
from .composing import RELATED_OPENER, as_clause, compose

__all__ = ["ExtractiveAnswerer"]


class ExtractiveAnswerer:
    """Answers by quoting the best-matching passage sentences; offline and deterministic.

    Abstention rule, checked on the sentences in score order (the first that passes is quoted):
    its weighted coverage of the question's content terms (terms found only in the passage's
    title/heading or among its names count partly) must reach ``min_coverage``, the sentence
    alone must cover ``min_sentence_coverage``, no name the question capitalised may be missing
    from the sentence and its passage (``abstain_on_missing_name``), nor a two-syllable name
    capitalised in the passages, however the question typed it, unless the question has several
    parts (``abstain_on_missing_word``: asked "hà nội", the sentence speaks of Quảng Ninh) and,
    when the question asks for an amount or a date, the sentence must hold one of the kind
    asked (``require_number``): a sum of money for a benefit's or fee's amount, a percentage for
    a share, else a number other than those the question names or an amount in words such as
    "hàng trăm nghìn"; a "khi nào" question also takes a moment of the calendar such as "đầu
    mỗi học kỳ" (:mod:`qa_assistant._retrieval.evidence`). A year the question names must be in
    the sentence's passage.

    Everyday wording shares few syllables with the documents, so the best-scored sentence of
    a passage retrieval ranked within ``top_rank`` (one further for a several-part question)
    may instead pass on lower coverage (``top_coverage``, ``top_sentence_coverage``) when
    the rules on names, words and numbers hold and no better-scored sentence was turned down
    by those rules (only for its coverage). This holds for questions typed without tone marks
    too: barring them turned away three in ten answerable law questions typed so
    (eval/README.md). Tuned on the dev split of
    ``eval/questions.jsonl``: the near-miss questions fail those rules or fall below
    ``top_coverage``, while paraphrases sit at coverage 0.35–0.7 in the top passage.

    That weaker evidence must also be found to answer by the ``answerability`` model (a
    cross-encoder trained on answers against near misses): below ``answerability_threshold``
    the answerer abstains.

    The thresholds come from :class:`~qa_assistant.settings.AnswerSettings` (``rules``). Up to
    ``max_sentences`` sentences are quoted: further ones only when they add question
    terms the earlier ones lack (``min_gain``) and score within ``secondary_ratio`` of the
    best, or come from another passage of a several-part question; then the items of a list
    the best sentence opens or the question asks for.

    When the relevance model ran (the hits carry a "relevance" score) and the rules abstain, the
    passage the model gives at least ``relevance_threshold`` is quoted all the same, if a
    sentence of it holds what the model cannot check (:meth:`names_the_case`).

    With a ``span_model`` (a model trained on answer spans; its settings are ``spanning``,
    :class:`~qa_assistant.settings.SpanSettings`), where the rules answer a question that is
    not a statement, the span model reads the top ``passages`` and, when its best span's margin
    reaches ``select_margin``, the sentences holding that span are quoted beside the rules'
    choice (``add_sentence``; or instead of it). The span, when the quote holds it and its
    margin reaches ``span_margin``, is the answer's short answer (:attr:`Answer.answer_span`)
    when the question asks a sum of money (:func:`_of_kind`).
    """

    # Where the rules abstain, the relevance model's scores may still answer (see above).
    second_look = True

    def __init__(
        self,
        *,
        rules: AnswerSettings | None = None,
        require_number: bool = True,
        abstain_on_missing_name: bool = True,
        abstain_on_missing_word: bool = True,
        scoring: ScoringSettings | None = None,
        relevance_threshold: float = 0.5,
        span_model: SpanModel | None = None,
        spanning: SpanSettings | None = None,
        answerability: AnswerabilityModel | None = None,
        answerability_threshold: float | None = None,
    ) -> None:
        self.rules = rules or AnswerSettings.model_validate({})
        self.spanning = spanning or SpanSettings.model_validate({})
        self.require_number = require_number
        self.abstain_on_missing_name = abstain_on_missing_name
        self.abstain_on_missing_word = abstain_on_missing_word
        self.scoring = scoring  # None: the scorer's defaults
        self.relevance_threshold = relevance_threshold
        self.span_model = span_model
        self.answerability = answerability
        self.answerability_threshold = (
            AnswerabilitySettings.model_validate({}).threshold
            if answerability_threshold is None
            else answerability_threshold
        )

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        scored = self.sentences(question, hits)
        q = analyse_question(question)
        best = self._best(scored, q, _named_elsewhere(q, hits[: self.rules.max_passages]))
        if best is not None:
            why = f"coverage {best.coverage:.2f}, sentence {best.sentence_coverage:.2f}"
            strict = self.supports(best, q)
            # The top passage's weaker evidence: the answerability model must find it answers.
            if not strict and self.answerability is not None:
                (answers,) = self.answerability.score(question, [best.text])
                why = f"{why}, answerability {answers:.2f}"
                if answers < self.answerability_threshold:
                    why = f"top passage: {why} < {self.answerability_threshold:.2f}"
                    return self._abstained(question, hits, scored, why)
            chosen = self._quote(best, scored, hits, q)
            span = None if q.statement else self._read(question, hits)
            if span is not None and span[1].margin >= self.spanning.select_margin:
                held = _holding(span, scored)
                if self.spanning.add_sentence:
                    chosen = [*chosen, *(c for c in held if c not in chosen)]
                else:
                    chosen = held or chosen
            why = f"{'rules' if strict else 'rules, top passage'}: {why}"
            return _answered(question, chosen, hits, q, why, self._shown(span, q, hits))
        # The relevance model, when it ran, may still answer: see _answer_by_relevance.
        rated = [(p, i) for i, h in enumerate(hits) if (p := h.relevance) is not None]
        if rated:
            probability, top = max(rated, key=lambda r: r[0])
            if probability >= self.relevance_threshold:
                why = f"relevance model: {probability:.2f} >= {self.relevance_threshold:.2f}"
                return self._answer_by_relevance(question, hits, top, q, why)
        if q.statement:
            provision = self._provision(scored, q)
            if provision is not None:
                why = f"provision: coverage {provision.coverage:.2f}"
                return _answered(question, self._quote(provision, scored, hits, q), hits, q, why)
        return self._abstained(question, hits, scored, "no sentence passes the rules")

    def _abstained(
        self, question: str, hits: Sequence[Hit], scored: Sequence[SentenceScore], why: str
    ) -> Answer:
        """The honest "not found", with the nearest sentence of the top passage offered as
        related (not as the answer) when it speaks of the question's topic."""
        related = next(
            (
                s
                for s in scored
                if s.rank <= self.rules.top_rank and s.coverage >= self.rules.related_coverage
            ),
            None,
        )
        if related is None:
            return abstain_answer(question, hits, reason=f"abstained: {why}")
        citation = cite(1, hits[related.hit_index], related.start, related.end)
        text = f"{ABSTAIN_MESSAGE} {RELATED_OPENER}: “{as_clause(citation.quote)}” [1]."
        return Answer(
            question=question,
            text=text,
            abstained=True,
            citations=(citation,),
            hits=tuple(hits),
            reason=f"abstained: {why}; related: coverage {related.coverage:.2f}",
        )

    def sentences(self, question: str, hits: Sequence[Hit]) -> list[SentenceScore]:
        """The sentences of the top passages it weighs, best-scored first; a heading names what
        follows and answers nothing."""
        scored = score_sentences(
            question, hits, max_passages=self.rules.max_passages, scoring=self.scoring
        )
        return [s for s in scored if not s.heading]

    def _shown(
        self, span: tuple[int, Span] | None, q: QuestionTerms, hits: Sequence[Hit]
    ) -> tuple[int, Span] | None:
        """The span, if it may be shown as the short answer: the span model is sure enough of it,
        it lies inside one sentence (never across two, nor into a heading) and it is of the
        kind the question asks for (an amount, a share, a date)."""
        if span is None or span[1].margin < self.spanning.span_margin:
            return None
        index, s = span
        text = hits[index].chunk.text
        if not any(a <= s.start and s.end <= b for a, b in sentence_spans(text)):
            return None
        return span if _of_kind(text[s.start : s.end], q) else None

    def _read(self, question: str, hits: Sequence[Hit]) -> tuple[int, Span] | None:
        """The span model's most sure span among the top passages, with its passage's index,
        its offsets in the passage's text; None without a span model or a span."""
        if self.span_model is None or not hits:
            return None
        top = hits[: self.spanning.passages]
        # Trained on questions with their marks (some restored by pyvi), it reads them so.
        asked = restore_diacritics(question)
        spans = self.span_model.read(asked, [h.chunk.indexed_text for h in top])
        found = []
        for index, (hit, span) in enumerate(zip(top, spans, strict=True)):
            # The span model reads the heading path before the text: a span there quotes nothing.
            lead = len(hit.chunk.indexed_text) - len(hit.chunk.text)
            if span is not None and span.start >= lead and span.end > span.start:
                found.append((index, Span(span.start - lead, span.end - lead, span.margin)))
        return max(found, key=lambda f: f[1].margin, default=None)

    def _provision(self, scored: Sequence[SentenceScore], q: QuestionTerms) -> SentenceScore | None:
        """The sentence of the top passage that decides a statement, or None: abstain.

        A statement describes a case ("Ông A … ngày …, đúng hay sai?"); the provision that
        decides it states the rule, never the case's names, dates or sums, so those are not
        asked of it. Its coverage of the statement's other terms must reach
        ``statement_coverage``: below it, the documents do not speak of the case.
        """
        top = [s for s in scored if s.rank <= self.rules.top_rank]
        best = max(top, key=lambda s: s.coverage, default=None)
        if best is None or best.coverage < self.rules.statement_coverage:
            return None
        return best

    def _answer_by_relevance(
        self, question: str, hits: Sequence[Hit], top: int, q: QuestionTerms, why: str
    ) -> Answer:
        """The relevance model's answer where the word rules turned every sentence down: the
        relevance model is confident that passage ``top`` answers (a statement to check is
        decided by a provision that need not repeat its words). The quote is that passage's
        best sentence that holds what is asked, the sentences close to it, and the items of a
        list it opens or the question asks for."""
        scored = [
            s
            for s in score_sentences(question, hits, max_passages=top + 1, scoring=self.scoring)
            if s.hit_index == top and not s.heading
        ]
        # A statement's case holds names and sums no provision repeats.
        best = next((s for s in scored if q.statement or self.names_the_case(s, q)), None)
        if best is None:
            return self._abstained(
                question, hits, scored, f"{why}, no sentence holds what is asked"
            )
        return _answered(question, self._quote(best, scored, hits, q), hits, q, why)

    def _quote(
        self,
        best: SentenceScore,
        scored: Sequence[SentenceScore],
        hits: Sequence[Hit],
        q: QuestionTerms,
    ) -> list[SentenceScore]:
        """The sentences to quote: ``best``, the close ones :meth:`_select` adds, and the items
        of a list that ``best`` opens or the question asks for."""
        chosen = self._select(best, scored, q)
        text = hits[best.hit_index].chunk.text
        items = _list_items(best, scored, text, q, self.rules.list_items)
        return chosen + [s for s in items if s not in chosen]

    def _best(
        self,
        scored: Sequence[SentenceScore],
        q: QuestionTerms,
        elsewhere: Sequence[frozenset[tuple[str, str]]] = (),
    ) -> SentenceScore | None:
        """The best-scored sentence that supports an answer, or None: abstain. ``elsewhere``:
        for each passage, the question's words (two syllables) that other passages hold and it
        lacks (:func:`_named_elsewhere`); the top passage's weaker evidence needs none."""
        turned_down = False
        for s in scored:
            if self.supports(s, q):
                return s
            # Weaker evidence is quoted only as the best candidate of the top passage, and only
            # while no better sentence was turned down for lacking what the question names: a
            # weaker one would then answer another question too.
            lacks = s.hit_index < len(elsewhere) and bool(elsewhere[s.hit_index])
            if not turned_down and self.supports_as_top(s, q) and not lacks:
                return s
            turned_down = turned_down or not self.admissible(s, q)
        return None

    def admissible(self, s: SentenceScore, q: QuestionTerms) -> bool:
        """The hard rules: the sentence holds the number, names and words the question asks."""
        if not self.names_the_case(s, q):
            return False
        # A several-part question is answered by several sentences, each lacking some words.
        return not (self.abstain_on_missing_word and s.missing_words and not q.multi_part)

    def names_the_case(self, s: SentenceScore, q: QuestionTerms) -> bool:
        """What is asked (:meth:`has_what_is_asked`), in the year the question names: asked
        about 2026, a sentence on 2025 (and a passage that never says 2026) answers another
        question."""
        return self.has_what_is_asked(s, q) and not s.missing_years

    def has_what_is_asked(self, s: SentenceScore, q: QuestionTerms) -> bool:
        """The checks the relevance model does not make, so that even its confident passage
        must pass them: the names the question capitalises, and a number when it asks an
        amount or a date (asked the value of a gift in Lạng Sơn, a passage on Quảng Ninh's
        gifts is on the topic, yet no answer)."""
        if self.require_number and q.wants_number and not s.has_number:
            return False
        return not (self.abstain_on_missing_name and s.missing_names)

    def supports(self, s: SentenceScore, q: QuestionTerms) -> bool:
        """The abstention rule: is this sentence strong enough evidence to answer from?"""
        return (
            self.admissible(s, q)
            and s.coverage >= self.rules.min_coverage
            and s.sentence_coverage >= self.rules.min_sentence_coverage
        )

    def supports_as_top(self, s: SentenceScore, q: QuestionTerms) -> bool:
        """The rule for the best-scored sentence of a top-ranked passage.

        Everyday wording shares fewer syllables with the documents ("bớt tiền trường" for
        "giảm học phí"), so when retrieval ranks the passage near the top and no sentence
        scores better, less coverage is enough.
        """
        # A several-part question's best sentence often sits in its second passage.
        top_rank = self.rules.top_rank + 1 if q.multi_part else self.rules.top_rank
        return (
            s.rank <= top_rank
            and self.admissible(s, q)
            and s.coverage >= self.rules.top_coverage
            and s.sentence_coverage >= self.rules.top_sentence_coverage
        )

    def _select(
        self, best: SentenceScore, scored: Sequence[SentenceScore], q: QuestionTerms
    ) -> list[SentenceScore]:
        chosen = [best]
        covered = set(best.matched)
        # Weaker sentences add words but not the asked fact.
        secondary_coverage = self.rules.min_coverage * self.rules.secondary_coverage_share
        for s in scored:
            if len(chosen) >= self.rules.max_sentences:
                break
            if s is best or s.coverage < secondary_coverage:
                continue
            gain = _gain(s, covered, q)
            close = s.score >= self.rules.secondary_ratio * best.score
            other_passage = all(s.hit_index != c.hit_index for c in chosen)
            if gain >= self.rules.min_gain and (close or (q.multi_part and other_passage)):
                chosen.append(s)
                covered |= set(s.matched)
        return chosen


def _holding(span: tuple[int, Span], scored: Sequence[SentenceScore]) -> list[SentenceScore]:
    """The sentences of the span's passage that the span overlaps, in reading order."""
    index, s = span
    inside = [c for c in scored if c.hit_index == index and c.start < s.end and s.start < c.end]
    return sorted(inside, key=lambda c: c.start)


def _answered(
    question: str,
    chosen: Sequence[SentenceScore],
    hits: Sequence[Hit],
    q: QuestionTerms,
    reason: str,
    span: tuple[int, Span] | None = None,
) -> Answer:
    provision = q.statement
    text, citations = compose(chosen, hits, provision)
    short = ""
    if span is not None:
        index, s = span
        short = " ".join(hits[index].chunk.text[s.start : s.end].split()).strip(" .,;:")
        inside = _holding(span, chosen)
        if not inside or inside[0].start > s.start or inside[-1].end < s.end:
            short = ""  # the quote does not hold the span: it is no short answer of this text
        short = _the_sum(short)
    return Answer(
        question=question,
        text=text,
        abstained=False,
        citations=tuple(citations),
        hits=tuple(hits),
        provision=provision,
        answer_span=short if short and short in text else "",
        reason=reason,
    )


_DIGITS = re.compile(r"\d+")


def _of_kind(span: str, q: QuestionTerms) -> bool:
    """Whether a short answer may be shown: only where the question asks a sum of money in
    so many words ("bao nhiêu tiền", "trị giá") and the span is one. Short answers of every
    other kind (a benefit's amount, a share, a time, a count) were right 0.44-0.73 of the time
    on the dev sets, too often to be shown in bold (docs/decisions.md). A number the question
    itself names answers nothing."""
    if not q.wants_money or set(_DIGITS.findall(span)) <= set(q.numbers):
        return False
    return bool(MONEY.search(span))


# A sum of money as written: the number, its scale, its currency and what it is per
# ("10 triệu đồng", "1.250.000 đồng/tháng", "500.000 đồng/hộ").
_SUM = re.compile(
    r"\d[\d.,]*(?:\s*(?:triệu|tỷ|nghìn|ngàn))?(?:\s*(?:đồng|đ\b))?(?:\s*/\s*[^\W\d_]+)?",
    re.IGNORECASE,
)


def _the_sum(span: str) -> str:
    """The short answer to show: the one sum of money the span holds ("10 triệu đồng", not
    "10 triệu đồng cho mỗi thôn, khu phố để tổ chức …"); the span itself where it holds none
    or several, or a share of a wage ("40% mức lương cơ sở")."""
    sums = [m.group(0) for m in _SUM.finditer(span) if MONEY.match(m.group(0))]
    return sums[0] if len(sums) == 1 else span


def _list_items(
    best: SentenceScore, scored: Sequence[SentenceScore], text: str, q: QuestionTerms, most: int
) -> list[SentenceScore]:
    """The list items that follow ``best`` in its passage, when the question asks for several
    things or the sentence opens a list (ends with a colon)."""
    if not (q.multi_part or text[best.start : best.end].rstrip().endswith(":")):
        return []
    items: list[SentenceScore] = []
    after = (s for s in scored if s.hit_index == best.hit_index and s.start >= best.end)
    for s in sorted(after, key=lambda s: s.start):
        if len(items) >= most or not LIST_ITEM.match(text[s.start : s.end]):
            break
        items.append(s)
    return items


def _gain(s: SentenceScore, covered: set[str], q: QuestionTerms) -> float:
    new = [t for t in s.matched if t not in covered]
    return len(new) / max(len(q.terms), 1)


# The words that open a group of people: "người khuyết tật", "hộ cận nghèo".
_GROUP_HEADS = frozenset({"nguoi", "ho"})


def _named_elsewhere(q: QuestionTerms, hits: Sequence[Hit]) -> list[frozenset[tuple[str, str]]]:
    """For each passage, the groups of people the question names ("người khuyết tật", "hộ
    cận nghèo": a group word and the one after it) that another passage names and it does
    not: asked what people with disabilities get, a passage on each village's Tết money is on
    the topic, yet the documents name that group elsewhere, so it speaks of another one. A
    group no passage names asks nothing of any."""
    groups = {p for p in q.pairs if p[0] in _GROUP_HEADS}
    held = []
    for hit in hits:
        syllables = folded_syllables(f"{hit.chunk.title}\n{hit.chunk.indexed_text}")
        held.append(set(itertools.pairwise(syllables)) & groups)
    named = set().union(*held) if held else set()
    return [frozenset(named - h) for h in held]
