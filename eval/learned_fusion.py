"""Measure a learned fusion against the chosen one: a linear scorer over the legs' and the
second stage's features, fit on held-out training questions, replayed over the corpora of
``fusion_loco.py``.

Usage: python eval/learned_fusion.py [--work DIR] [--weights FILE] [--output FILE]

The scorer re-orders the fused top 20 (the second stage's pool) by w · x, where x holds, for
each passage: both legs' min-max scores and reciprocal ranks, the dense cosine's gap to the
best, the BM25 score's share of the best, whether both legs found it, and its best
sentence's coverage and phrase scores (the second stage's). It is fit by a softmax over the
pool (the gold passages' share) with an L2 penalty, on training questions no model was trained
on: the held-out share of ViRHE4QA train/val (regulations), of ALQAC 2022 (codes) and of UIT
Wikipedia. To say what a new corpus gets, each benchmark corpus is also scored by a scorer fit
without the training set of its own genre (regulations for uitreg and ViRHE4QA, laws for ALQAC).
Nothing is fit on the benchmark questions: they only score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import fusion_loco as fl
from loco import ALQAC, SEED, SHARED, UITREG, VIRHE4QA_TEST, Corpus, heldout_set
from loco import report as write_report

from qa_assistant._evidence import score_sentences
from qa_assistant._retrieval import diversify, min_max
from qa_assistant.evaluation.metrics import RETRIEVAL_DEPTH
from qa_assistant.types import Hit

POOL = 20
FEATURES = (
    "dense",
    "bm25",
    "dense_rr",
    "bm25_rr",
    "dense_gap",
    "bm25_share",
    "both",
    "coverage",
    "phrase",
)
GENRE = {"virhe4qa-heldout": "regulations", "alqac2022-heldout": "laws", "uitwiki-heldout": "wiki"}
OWN_GENRE = {"uitreg": "regulations", "virhe4qa-test": "regulations", "alqac": "laws"}


def features(
    record: fl.Record, replay: fl.Replay, shipped: fl.Setting
) -> tuple[list[Hit], np.ndarray, np.ndarray]:
    """The pool (the shipped fusion's top hits), their feature rows and gold labels."""
    dense, bm25 = dict(record.dense), dict(record.bm25)
    hits = replay.fused(record, shipped)
    pool = hits[:POOL]
    dn, bn = min_max(dense), min_max(bm25)
    drank = {c: i for i, (c, _) in enumerate(record.dense, start=1)}
    brank = {c: i for i, (c, _) in enumerate(record.bm25, start=1)}
    dtop = max(dense.values(), default=0.0)
    btop = max(bm25.values(), default=1.0) or 1.0
    best: dict[int, tuple[float, float]] = {}
    for s in score_sentences(record.question, pool, max_passages=len(pool)):
        if s.heading:
            continue
        c, p = best.get(s.hit_index, (0.0, 0.0))
        best[s.hit_index] = (max(c, s.coverage), max(p, s.phrase))
    rows = []
    for i, h in enumerate(pool):
        cid = h.chunk.id
        rows.append(
            [
                dn.get(cid, 0.0),
                bn.get(cid, 0.0),
                1.0 / drank[cid] if cid in drank else 0.0,
                1.0 / brank[cid] if cid in brank else 0.0,
                dtop - dense[cid] if cid in dense else 0.2,
                bm25[cid] / btop if cid in bm25 else 0.0,
                float(cid in dense and cid in bm25),
                *best.get(i, (0.0, 0.0)),
            ]
        )
    gold = np.array([h.chunk.id in record.gold for h in pool], dtype=float)
    return hits, np.array(rows, dtype=float), gold


def fit(data: Sequence[tuple[np.ndarray, np.ndarray]], l2: float) -> np.ndarray:
    usable = [(x, y) for x, y in data if y.sum() > 0]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in usable:
            z = x @ w
            z = z - z.max()
            p = np.exp(z) / np.exp(z).sum()
            pg = p * y / (p * y).sum()
            total -= np.log((p * y).sum())
            grad -= x.T @ (pg - p)
        n = len(usable)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    w0 = np.zeros(len(FEATURES))
    w0[:2] = 1.0
    return minimize(loss, w0, jac=True, method="L-BFGS-B").x  # type: ignore[no-any-return]


def hit_at_1(
    data: Sequence[tuple[list[Hit], np.ndarray, np.ndarray, frozenset[str]]], w: np.ndarray
) -> float:
    right = 0
    for hits, x, _, gold in data:
        order = np.argsort(-(x @ w), kind="stable")
        ranked = [hits[i] for i in order] + hits[POOL:]
        top = diversify(ranked, k=RETRIEVAL_DEPTH)
        right += bool(top) and top[0].chunk.id in gold
    return right / max(len(data), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-loco"))
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    training = [
        Corpus(
            "virhe4qa-heldout",
            heldout_set("virhe4qa-heldout", "virhe4qa", args.work, ("train", "val")),
            SHARED / "training/virhe4qa/documents",
        ),
        Corpus(
            "alqac2022-heldout",
            heldout_set("alqac2022-heldout", "alqac2022", args.work),
            SHARED / "training/alqac2022/documents",
        ),
        Corpus(
            "uitwiki-heldout",
            heldout_set("uitwiki-heldout", "uitwiki", args.work),
            SHARED / "training/uitwiki/documents",
        ),
    ]
    shipped = fl.default_setting()
    data: dict[str, list[tuple[list[Hit], np.ndarray, np.ndarray, frozenset[str]]]] = {}
    baseline: dict[str, float] = {}
    for corpus in (*training, SEED, UITREG, ALQAC, VIRHE4QA_TEST):
        records, assistant = fl.collect(corpus, shipped.tuned, args.work, args.weights)
        replay = fl.Replay(records, assistant)
        data[corpus.name] = [(*features(rec, replay, shipped), rec.gold) for rec in records]
        baseline[corpus.name] = replay.figures(shipped)["hit@1"]
        print(f"{corpus.name}: {len(records)} questions", file=sys.stderr, flush=True)
    report: dict[str, object] = {"features": FEATURES, "shipped": baseline}
    benchmarks = [c.name for c in (SEED, UITREG, ALQAC, VIRHE4QA_TEST)]
    for l2 in (0.0, 0.01, 0.1):
        fits = {}
        for without in (None, "regulations", "laws"):
            used = [c for c in training if GENRE[c.name] != without]
            pairs = [(x, y) for c in used for _, x, y, _ in data[c.name]]
            fits[without] = fit(pairs, l2)
        row = {}
        for name in benchmarks:
            own = OWN_GENRE.get(name)
            row[name] = {
                "all": hit_at_1(data[name], fits[None]),
                "without own genre": hit_at_1(data[name], fits[own]) if own else None,
            }
        report[f"l2 {l2:g}"] = {
            "weights": dict(zip(FEATURES, np.round(fits[None], 3).tolist(), strict=True)),
            "hit@1": row,
        }
        print(l2, json.dumps(row), file=sys.stderr, flush=True)
    write_report(report, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
