"""The metrics: metric names, the gold match, and the retrieval, answer and citation metrics.

Small pure functions over plain values (strings, :class:`Answer`), so they can be unit-tested on
hand-made cases and recomputed from ``results.jsonl`` by anyone. Every definition here is
documented for users in ``eval/README.md``; keep the two in step.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .._loading.tables import CELL_SEPARATOR, cell_values
from .._retrieval.question import analyse_question
from ..types import CITATION_MARKER, Answer, Citation
from .questions import Question, nfc

# --- metric names, in report order -------------------------------------------------------------

RETRIEVAL_METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")
# Risk first: an answer that holds no gold answer (or any answer to an unanswerable question)
# costs the asker more than an honest "not found", and a bold short answer is trusted most.
RISK_METRICS = ("wrong_answer", "short_answer_precision")
ANSWER_METRICS = ("containment", "token_f1")
CITATION_METRICS = ("citation_validity", "citation_support")
# A statement ("…, đúng hay sai?") whose gold passage retrieval ranks in the top 3: answered
# with a quote from that passage, the provision that decides it.
STATEMENT_METRICS = ("statement_provision",)
PER_QUESTION_METRICS = (
    RISK_METRICS + RETRIEVAL_METRICS + ANSWER_METRICS + CITATION_METRICS + STATEMENT_METRICS
)
ABSTENTION_METRICS = ("abstention_precision", "abstention_recall", "false_abstention_rate")
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms")
ALL_METRICS = PER_QUESTION_METRICS + ABSTENTION_METRICS + LATENCY_METRICS

RETRIEVAL_DEPTH = 10  # hits looked at by the retrieval metrics (and kept in results.jsonl)
STATEMENT_DEPTH = 3  # a statement's gold passage within these ranks should be quoted
STATEMENT_KINDS = frozenset({"Đúng/Sai"})  # question sets' kinds that are statements
HIT_RANKS = (1, 5, 10)

# A retrieved passage is a gold match for an evidence text when they share one unbroken run of
# characters (after normalisation) at least this share of the shorter of the two ...
GOLD_MATCH_SHARE = 0.5
# ... and at least this many characters (or the whole evidence, when it is shorter), so that a
# heading or a stray phrase that happens to sit inside the evidence does not count as finding it.
GOLD_MATCH_MIN_CHARS = 40

WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


# --- normalisation ------------------------------------------------------------------------------


def normalize_for_match(text: str) -> str:
    """NFC, case-folded, whitespace collapsed: the form every comparison here works on."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return WHITESPACE.sub(" ", folded).strip()


def strip_markers(text: str) -> str:
    """Removes ``[n]`` markers, which may sit inside a quoted span and split a gold answer."""
    return CITATION_MARKER.sub(" ", text)


def tokens(text: str) -> list[str]:
    """Word tokens for F1: runs of letters/digits (Vietnamese syllables) of the normalised text."""
    return _WORD.findall(normalize_for_match(strip_markers(text)))


# --- gold match ---------------------------------------------------------------------------------


def _common_prefix_len(a: str, i: int, b: str, j: int) -> int:
    """Length of the longest common prefix of a[i:] and b[j:] (binary search on C-level slices)."""
    lo, hi = 0, min(len(a) - i, len(b) - j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i : i + mid] == b[j : j + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix_len(a: str, i: int, b: str, j: int) -> int:
    """Length of the longest common suffix of a[:i] and b[:j]."""
    lo, hi = 0, min(i, j)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[i - mid : i] == b[j - mid : j]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def has_common_run(a: str, b: str, length: int) -> bool:
    """Whether ``a`` and ``b`` share a substring of at least ``length`` characters.

    A full longest-common-substring search (difflib) costs ~20 ms per passage pair, too slow for
    700 questions × 10 passages. Deciding the threshold is cheaper: any shared run of
    ``length`` characters contains a whole block of ``ceil(length / 2)`` characters at a block
    boundary of the shorter string, so only those blocks are searched for (``str.find``) and
    each occurrence is extended both ways.
    """
    if length <= 0:
        return True
    if len(a) > len(b):
        a, b = b, a
    if len(a) < length:
        return False
    if a in b:
        return True
    block = (length + 1) // 2
    for i in range(0, len(a) - block + 1, block):
        piece = a[i : i + block]
        j = b.find(piece)
        while j != -1:
            run = (
                _common_suffix_len(a, i, b, j)
                + block
                + _common_prefix_len(a, i + block, b, j + block)
            )
            if run >= length:
                return True
            j = b.find(piece, j + 1)
    return False


def gold_match_threshold(passage_len: int, evidence_len: int) -> int:
    """Characters of shared run a passage needs to be a gold match for an evidence text."""
    share = math.ceil(GOLD_MATCH_SHARE * min(passage_len, evidence_len))
    return max(1, share, min(GOLD_MATCH_MIN_CHARS, evidence_len))


def matches_gold(passage: str, evidence: str) -> bool:
    """The gold match: whether ``passage`` counts as finding ``evidence`` (a gold passage
    for the retrieval metrics); see the module constants and eval/README.md. A table row is
    also read by its cells' values alone: the loader names each cell by its column ("Tổng mức
    hỗ trợ: 40.000.000"), while an evidence text quotes the row as printed."""
    e = normalize_for_match(evidence)
    if not e:
        return False
    forms = [passage, cell_values(passage)] if CELL_SEPARATOR in passage else [passage]
    for form in forms:
        p = normalize_for_match(form)
        if p and has_common_run(p, e, gold_match_threshold(len(p), len(e))):
            return True
    return False


def matches_any_gold(passage: str, evidence: Sequence[str]) -> bool:
    """Whether ``passage`` is a gold match for some evidence text."""
    return any(matches_gold(passage, e) for e in evidence)


# --- retrieval metrics --------------------------------------------------------------------------


def hit_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def mrr_at(flags: Sequence[bool], k: int = RETRIEVAL_DEPTH) -> float:
    for rank, gold in enumerate(flags[:k], start=1):
        if gold:
            return 1.0 / rank
    return 0.0


def ndcg_at(flags: Sequence[bool], k: int = RETRIEVAL_DEPTH, missing: int = 0) -> float:
    """nDCG@k, a passage's gain 1 where it matches the gold evidence, else 0.

    The collection's true number of gold passages is unknown, so the ideal ranking holds the
    gold passages that were retrieved plus one per evidence text that no retrieved passage
    covers (``missing``): a multi-passage question that finds only one of its passages cannot
    score 1, while one passage that holds all the evidence can.
    """
    dcg = sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(flags[:k], start=1) if rel)
    ideal_count = min(k, sum(flags[:k]) + missing)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_count + 1))
    return dcg / idcg if idcg else 0.0


def retrieval_metrics(passages: Sequence[str], evidence: Sequence[str]) -> dict[str, float]:
    """hit@1/5/10, MRR@10 and nDCG@10 of passages (in rank order) against gold evidence."""
    top = list(passages[:RETRIEVAL_DEPTH])
    matrix = [[matches_gold(p, e) for e in evidence] for p in top]
    flags = [any(row) for row in matrix]
    missing = sum(1 for col in range(len(evidence)) if not any(row[col] for row in matrix))
    figures = {f"hit@{k}": hit_at(flags, k) for k in HIT_RANKS}
    figures["mrr@10"] = mrr_at(flags)
    figures["ndcg@10"] = ndcg_at(flags, missing=missing)
    return figures


# --- answer metrics -----------------------------------------------------------------------------


# Punctuation that closes a gold span and that an answer's quote gives way to its marker.
_SPAN_END = " .,;:"


def containment(answer: str, golds: Sequence[str]) -> float:
    """1.0 when the answer (markers removed, normalised) contains some gold answer.

    A gold span's closing stop, comma, colon or semicolon is not asked of the answer: a quote
    inside an answer ends at its marker ("… trên trang web môn học [1]."), which holds the span
    "trên trang web môn học." all the same.
    """
    text = normalize_for_match(strip_markers(answer))
    spans = (normalize_for_match(g).rstrip(_SPAN_END) for g in golds)
    return 1.0 if any(span and span in text for span in spans) else 0.0


def short_answer_match(span: str, golds: Sequence[str]) -> float:
    """1.0 when the short answer holds a gold answer or is held by one (after normalising):
    "10 triệu đồng" for the gold "10 triệu đồng/thôn", or the reverse."""
    shown = normalize_for_match(span).strip(_SPAN_END)
    if not shown:
        return 0.0
    for gold in golds:
        g = normalize_for_match(gold).strip(_SPAN_END)
        if g and (g in shown or shown in g):
            return 1.0
    return 0.0


def token_f1(answer: str, gold: str) -> float:
    """SQuAD-style F1 over word tokens (bags, so repeated words count as often as they occur)."""
    predicted, expected = tokens(answer), tokens(gold)
    if not predicted or not expected:
        return 1.0 if predicted == expected else 0.0
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_token_f1(answer: str, golds: Sequence[str]) -> float:
    return max((token_f1(answer, g) for g in golds), default=0.0)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """The area under the ROC curve: the chance that a positive scores above a negative (a
    tie counts half); None without both."""
    x = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if len(x) != len(y):
        raise ValueError("auc: one label per score")
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return None
    # By ranks (ties share their mean rank): the same as counting every pair, in n log n.
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


# --- citation metrics ---------------------------------------------------------------------------


def citation_validity(answer_text: str, citations: Sequence[Citation]) -> float:
    """1.0 when the answer cites, every ``[n]`` names a returned citation, and every quote
    occurs verbatim in its passage. An answer without any marker fails: answers must cite.

    Bracketed numbers inside a quoted passage ("TOEIC[400]") are the document's own text, not
    markers: the quotes are taken out of the answer before markers are read."""
    # The answer quotes on one line and may lower the first letter after "Theo tài liệu,".
    text = " ".join(answer_text.split()).casefold()
    for c in citations:
        # Answers may drop the quote's closing punctuation before the marker.
        quoted = " ".join(c.quote.split()).casefold().rstrip(" .;:!?…")
        if quoted:
            text = text.replace(quoted, " ")
    markers = {int(m) for m in CITATION_MARKER.findall(text)}
    if not markers:
        return 0.0
    known = {c.marker for c in citations}
    if not markers <= known:
        return 0.0
    for c in citations:
        if not c.quote or nfc(c.quote) not in nfc(c.passage):
            return 0.0
    return 1.0


def citation_support(citations: Sequence[Citation], evidence: Sequence[str]) -> float:
    """1.0 when some cited passage is a gold match for the gold evidence."""
    return 1.0 if any(matches_any_gold(c.passage, evidence) for c in citations) else 0.0


# --- per question -------------------------------------------------------------------------------


def question_metrics(question: Question, answer: Answer) -> dict[str, float | None]:
    """Every per-question metric; None where it does not apply to this question.

    Retrieval metrics need evidence; answer metrics need gold answers; citation validity needs
    an answer that did not abstain; citation support needs both evidence and such an answer.
    Unanswerable questions are judged only by the abstention metrics.
    """
    values: dict[str, float | None] = dict.fromkeys(PER_QUESTION_METRICS)
    values.update(risk_metrics(question, answer))
    if not question.answerable:
        return values
    if question.evidence:
        passages = [h.chunk.text for h in answer.hits[:RETRIEVAL_DEPTH]]
        values.update(retrieval_metrics(passages, question.evidence))
    if question.answers:
        # An abstention answers nothing, whatever related passage it offers.
        replied = "" if answer.abstained else answer.text
        values["containment"] = containment(replied, question.answers)
        values["token_f1"] = best_token_f1(replied, question.answers)
    if not answer.abstained:
        values["citation_validity"] = citation_validity(answer.text, answer.citations)
        if question.evidence:
            values["citation_support"] = citation_support(answer.citations, question.evidence)
    if is_statement(question) and question.evidence:
        top = answer.hits[:STATEMENT_DEPTH]
        if any(matches_any_gold(h.chunk.text, question.evidence) for h in top):
            quoted = not answer.abstained and citation_support(answer.citations, question.evidence)
            values["statement_provision"] = 1.0 if quoted else 0.0
    return values


def risk_metrics(question: Question, answer: Answer) -> dict[str, float | None]:
    """``wrong_answer``: 1.0 for an unanswerable question answered, or an answerable one answered
    without any gold answer in the text; 0.0 for an abstention or a right answer; None where
    the set gives no gold answers to judge by. ``short_answer_precision``: for a shown short
    answer, whether it is a gold answer (an unanswerable question has none); else None."""
    values: dict[str, float | None] = dict.fromkeys(RISK_METRICS)
    if not question.answerable:
        values["wrong_answer"] = 0.0 if answer.abstained else 1.0
        values["short_answer_precision"] = 0.0 if answer.answer_span else None
        return values
    if not question.answers:
        return values
    values["wrong_answer"] = (
        0.0 if answer.abstained else 1.0 - containment(answer.text, question.answers)
    )
    if answer.answer_span:
        values["short_answer_precision"] = short_answer_match(answer.answer_span, question.answers)
    return values


def is_statement(question: Question) -> bool:
    """A statement to check: so labelled by its question set, or worded as one."""
    return question.kind in STATEMENT_KINDS or analyse_question(question.question).statement


# --- how a value is shown ----------------------------------------------------------------------


def format_value(name: str, value: float | None) -> str:
    """How report.md shows a metric: 3 decimals for rates, 1 decimal for milliseconds."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if name.endswith("_ms") else f"{value:.3f}"
