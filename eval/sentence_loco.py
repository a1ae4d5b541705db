"""Which sentence to quote, chosen by one learned scorer instead of the rules' word score:
fit on the training sets' held-out shares, chosen by leave-one-corpus-out.

Usage: python eval/sentence_loco.py [--work DIR] [--output FILE]
(after ``eval/scorer_loco.py``, whose held-out indexes and records it reuses)

Where the shipped answer misses on the regulation sets, the gold answer most often sits in
one sentence of the top passage that the rules did not quote, ranked second or third by
their score (``eval/scorer_loco.json``, ``oracle_misses``). The rules still decide *whether*
to answer here; only *which* sentence leads the quote changes: among the sentences that pass
the rules' hard checks (names, number, year), the one a logistic scorer rates best. Its
features are the rules' own (score, coverage, phrase, rank), the reader's span (does it fall
in the sentence, with what margin), the passage's relevance score, and the sentence's place
and length. It is fit (L2 logistic regression, labelled 1 where the sentence holds a gold
answer) on the held-out shares of ViRHE4QA train/val, UIT Wikipedia, ALQAC 2022 and Zalo
2019. Each variant is replayed with the project's answerer over the records of
``reader_loco.py``'s corpora and scored by ``qa-assistant eval``'s metrics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from loco import change
from loco import choose as choose_by_worst
from loco import folds as loco_folds
from reader_loco import CORPORA, Record, collect, figures
from scorer_loco import arguments, fit, heldout_corpora, probability, shipped_answerer

from qa_assistant._answering.extractive import ExtractiveAnswerer
from qa_assistant._evidence import SentenceScore
from qa_assistant._question import QuestionTerms, analyse_question
from qa_assistant.evaluation import auc, containment
from qa_assistant.types import Answer, Hit, Span

FEATURES = (
    "score",
    "score_share",
    "coverage",
    "sentence_coverage",
    "phrase",
    "passage_rank",
    "order",
    "order_in_passage",
    "span_inside",
    "span_margin",
    "chars",
    "position",
    "number_asked_held",
    "quoted_match",
    "relevance",
)


def sentence_features(
    scored: Sequence[SentenceScore],
    hits: Sequence[Hit],
    q: QuestionTerms,
    span: tuple[int, Span] | None,
) -> list[tuple[float, ...]]:
    best = max((s.score for s in scored), default=1.0) or 1.0
    rows = []
    seen: dict[int, int] = {}
    for order, s in enumerate(scored):
        in_passage = seen.get(s.hit_index, 0)
        seen[s.hit_index] = in_passage + 1
        inside = (
            span is not None
            and span[0] == s.hit_index
            and s.start < span[1].end
            and span[1].start < s.end
        )
        relevance = hits[s.hit_index].leg("relevance")
        length = max(len(hits[s.hit_index].chunk.text), 1)
        rows.append(
            (
                s.score,
                s.score / best,
                s.coverage,
                s.sentence_coverage,
                s.phrase,
                float(s.rank),
                float(min(order, 10)),
                float(min(in_passage, 10)),
                float(inside),
                max(-10.0, min(10.0, span[1].margin)) if inside and span else 0.0,
                len(s.text) / 100,
                s.start / length,
                float(q.wants_number and s.has_number),
                float(s.quoted_match),
                relevance if relevance is not None else 0.0,
            )
        )
    return rows


class _Labelled:
    """A row for :func:`scorer_loco.fit`: features, and whether the sentence holds gold."""

    candidate = True

    def __init__(self, x: tuple[float, ...], right: bool) -> None:
        self.x = x
        self.candidate_right = right


def fitting_rows(
    records: dict[str, Record], answers: dict[str, tuple[str, ...]], answerer: ExtractiveAnswerer
) -> list[_Labelled]:
    """Every sentence of the passages the answerer reads, for the questions whose gold answer
    one of them holds."""
    rows = []
    for text, (question, k, hits, _) in records.items():
        golds = answers.get(text)
        if not golds:
            continue
        top = hits[:k]
        scored = answerer.sentences(question, top)
        labels = [bool(containment(s.text, golds)) for s in scored]
        if not any(labels):
            continue
        q = analyse_question(question)
        span = answerer._read(question, top)
        for x, y in zip(sentence_features(scored, top, q, span), labels, strict=True):
            rows.append(_Labelled(x, y))
    return rows


class LearnedChoice(ExtractiveAnswerer):
    """The shipped answerer, but the sentence that leads the quote is the scorer's best among
    those passing the hard checks (``scope``: all passages, or the rules' best one's)."""

    def __init__(self, model: Any, scope: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.scope = scope
        self._asked: tuple[str, Sequence[Hit]] = ("", ())

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        self._asked = (question, hits)
        return super().answer(question, hits)

    def _best(self, scored: Sequence[SentenceScore], q: QuestionTerms) -> SentenceScore | None:
        rule = super()._best(scored, q)
        if rule is None or q.statement:
            return rule
        question, hits = self._asked
        span = self._read(question, hits)
        rows = sentence_features(scored, hits, q, span)
        best, value = rule, -np.inf
        for s, x in zip(scored, rows, strict=True):
            if self.scope == "passage" and s.hit_index != rule.hit_index:
                continue
            if not self.admissible(s, q):
                continue
            v = probability(self.model, x)
            if v > value:
                best, value = s, v
        return best


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], "eval/sentence_loco.json")
    settings, reader, shipped = shipped_answerer()
    fitting: list[_Labelled] = []
    for corpus in heldout_corpora(args.work):
        answers = {q.question: q.answers for q in corpus.questions_asked() if q.answerable}
        got = fitting_rows(collect(corpus, args.work), answers, shipped)
        print(f"{corpus.name}: {len(got)} sentences", flush=True)
        fitting += got
    records = {c.name: collect(c, args.reader_work) for c in CORPORA}
    names = [c.name for c in CORPORA]
    right: dict[str, dict[str, float]] = {
        "shipped": {
            c.name: float(figures(c, records[c.name], shipped)["right"] or 0.0) for c in CORPORA
        }
    }
    print("shipped", right["shipped"], flush=True)
    weights = {}
    aucs = {}
    for l2 in (1.0, 10.0, 100.0):
        model = fit(fitting, l2)  # type: ignore[arg-type]
        weights[f"l2 {l2:g}"] = dict(
            zip(FEATURES, np.round(model[2][:-1], 3).tolist(), strict=True)
        )
        probs = [probability(model, r.x) for r in fitting]
        aucs[f"l2 {l2:g}"] = round(auc(probs, [r.candidate_right for r in fitting]) or 0.0, 3)
        for scope in ("passage", "all"):
            answerer = LearnedChoice(
                model,
                scope,
                tuning=settings.answer,
                weights=settings.scoring,
                reader=reader,
                reading=settings.reader,
                relevance_threshold=shipped.relevance_threshold,
            )
            label = f"learned choice in {scope}, l2 {l2:g}"
            right[label] = {
                c.name: float(figures(c, records[c.name], answerer)["right"] or 0.0)
                for c in CORPORA
            }
            print(label, right[label], flush=True)
    changed = change(right, "shipped")
    folds = loco_folds(changed, names, choose_by_worst)
    report = {
        "fit_sentences": len(fitting),
        "fit_auc": aucs,
        "weights": weights,
        "right": {s: {c: round(v, 3) for c, v in f.items()} for s, f in right.items()},
        "left_out": {c: {"chosen": s, "right": round(right[s][c], 3)} for c, s in folds.items()},
        "chosen": choose_by_worst(changed, names),
    }
    print(json.dumps(report["left_out"], ensure_ascii=False))
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
