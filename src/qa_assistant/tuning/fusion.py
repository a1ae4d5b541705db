"""Choose the hybrid's fusion settings by leave-one-corpus-out, and report the table.

For each corpus (its documents and its question set) and each embedder (plain e5 and the
fine-tuned one), an index is built once, then, for every answerable question with evidence,
both legs' candidates and their scores are recorded with which candidates hold the gold
evidence (eval's gold match). Every candidate setting (fusion kind and weights, the evidence
step's depth and weights, the embedder) is then replayed over those records with the
retriever's own functions (fusion, evidence step, diversity), so a setting's hit@1 here is what
``qa-assistant eval`` measures with it.

Selection: for each corpus left out, the setting whose *worst* corpus among the others is best
(ties: the better mean) is measured on the corpus left out. The shipped setting is chosen by
the same rule over all corpora. Nothing here trains: the records come from the assistant's
retrieval over the corpora, and the questions only score.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from unittest.mock import patch

from .. import Assistant, Settings
from .._retrieval import retriever as retrieval
from .._retrieval.evidence import SentenceScore, score_sentences
from .._retrieval.retriever import Query, diversify, order_by_evidence, rrf_fuse, weighted_fuse
from ..evaluation import matches_any_gold
from ..evaluation.metrics import RETRIEVAL_DEPTH
from ..protocols import Embedder
from ..settings import ScoringSettings
from ..types import Hit
from .loco import Corpus, choose, project_corpora, report

__all__ = [
    "CORPORA",
    "Record",
    "Replay",
    "Setting",
    "collect",
    "default_setting",
    "grid",
    "legs_hit1",
    "main",
    "replay_grid",
    "select",
]

CANDIDATES = 40  # the retriever's default candidate depth per leg

CORPORA = ("seed", "uitreg", "alqac", "virhe4qa-test")


@dataclass(frozen=True)
class Record:
    question: str
    dense: tuple[tuple[str, float], ...]
    bm25: tuple[tuple[str, float], ...]
    gold: frozenset[str]  # candidate ids holding the evidence


@dataclass(frozen=True)
class Setting:
    tuned: bool
    fusion: str
    dense_weight: float
    evidence_depth: int
    evidence_weight: float
    phrase_weight: float

    def label(self) -> str:
        embedder = "tuned" if self.tuned else "plain"
        second = (
            f"evidence step {self.evidence_depth} (coverage {self.evidence_weight:g}, "
            f"phrases {self.phrase_weight:g})"
            if self.evidence_depth > 1
            else "no evidence step"
        )
        return f"{embedder} e5, {self.fusion} dense {self.dense_weight:g}, {second}"


BM25_ALONE = Setting(False, "weighted", 0.0, 0, 0, 0)


def default_setting() -> Setting:
    """The setting the assistant runs with by default."""
    defaults = Settings.model_validate({})
    r = defaults.retrieval
    return Setting(
        defaults.embedder.tuned,
        r.fusion,
        r.dense_weight,
        r.evidence_depth,
        r.evidence_weight,
        r.phrase_weight,
    )


def _settings(index_dir: Path, tuned: bool, weights: Path | None) -> Settings:
    embedder = {"tuned": tuned, "weights": weights if tuned else None}
    return Settings.model_validate(
        {"index_dir": index_dir, "embedder": embedder, "relevance": {"enabled": False}}
    )


def collect(
    corpus: Corpus,
    tuned: bool,
    work: Path,
    weights: Path | None = None,
    embedder: Embedder | None = None,
) -> tuple[list[Record], Assistant]:
    """Both legs' candidates for each question of ``corpus``, over an index built once."""
    index_dir = work / f"{corpus.name}-{'tuned' if tuned else 'plain'}"
    assistant = Assistant(_settings(index_dir, tuned, weights), embedder=embedder)
    assistant.ingest([corpus.documents])
    retriever = assistant.retriever()
    # Plain tuples: the cache stays readable whichever module defines Record.
    cache = index_dir / "fusion-records.pkl"
    if cache.exists():
        return [Record(*fields) for fields in pickle.loads(cache.read_bytes())], assistant
    questions = [q for q in corpus.questions_asked() if q.answerable and q.evidence]
    records = []
    for q in questions:
        query = Query.prepare(q.question)
        dense = retriever.dense(query, CANDIDATES)
        bm25 = retriever.bm25(query, CANDIDATES)
        gold = set()
        for cid in {cid for cid, _ in (*dense, *bm25)}:
            chunk = retriever.lexical.chunk(cid)
            if chunk is not None and matches_any_gold(chunk.text, q.evidence):
                gold.add(cid)
        records.append(Record(query.text, tuple(dense), tuple(bm25), frozenset(gold)))
    cache.write_bytes(pickle.dumps([astuple(r) for r in records]))
    return records, assistant


class Replay:
    """One corpus's records replayed under a setting with the retriever's functions."""

    def __init__(self, records: Sequence[Record], assistant: Assistant):
        self.records = records
        self.lexical = assistant.retriever().lexical

    def fused(self, record: Record, s: Setting) -> list[Hit]:
        """Both legs' candidates fused as ``s`` fuses them, before the evidence step."""
        legs = {"dense": dict(record.dense), "bm25": dict(record.bm25)}
        weights = [s.dense_weight, 1.0]
        if s.dense_weight == 0:
            fused = list(record.bm25)
        elif s.fusion == "weighted":
            fused = weighted_fuse(list(legs.values()), weights)
        else:
            fused = rrf_fuse([[c for c, _ in v.items()] for v in legs.values()], weights)
        hits = []
        for cid, score in fused:
            chunk = self.lexical.chunk(cid)
            if chunk is not None:
                hits.append(Hit(chunk=chunk, score=score))
        return hits

    def ranking(self, record: Record, s: Setting) -> list[str]:
        hits = self.fused(record, s)
        if s.evidence_depth > 1:
            hits = order_by_evidence(
                record.question, hits, s.evidence_depth, s.evidence_weight, s.phrase_weight
            )
        hits = diversify(hits, k=RETRIEVAL_DEPTH)
        return [h.chunk.id for h in hits[:RETRIEVAL_DEPTH]]

    def figures(self, s: Setting) -> dict[str, float]:
        hit1 = mrr = 0.0
        for record in self.records:
            ranking = self.ranking(record, s)
            for rank, cid in enumerate(ranking, start=1):
                if cid in record.gold:
                    hit1 += rank == 1
                    mrr += 1.0 / rank
                    break
        n = max(len(self.records), 1)
        return {"hit@1": hit1 / n, "mrr@10": mrr / n}


def _memoised_sentence_scores() -> AbstractContextManager[object]:
    """The evidence step's sentence scores depend on the question and its top passages only, not
    on the weights replayed: each such pair is scored once while the grid is replayed."""
    scored: dict[tuple[str, tuple[str, ...]], list[SentenceScore]] = {}

    def memoised(
        question: str,
        hits: Sequence[Hit],
        *,
        max_passages: int = 5,
        scoring: ScoringSettings | None = None,
    ) -> list[SentenceScore]:
        # The replay always scores with the default scoring settings: keyed without them.
        key = (question, tuple(h.chunk.id for h in hits[:max_passages]))
        if key not in scored:
            scored[key] = score_sentences(
                question, hits, max_passages=max_passages, scoring=scoring
            )
        return scored[key]

    return patch.object(retrieval, "score_sentences", memoised)


def grid() -> Iterable[Setting]:
    for tuned, fusion, dense_weight in itertools.product(
        (False, True), ("weighted", "rrf"), (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
    ):
        if dense_weight == 0 and fusion == "rrf":
            continue  # the same ranking as weighted with no dense weight
        for depth, weight, phrase in itertools.chain(
            [(0, 0.0, 0.0)],
            itertools.product((10, 20), (0.5, 1.0, 2.0), (0.0, 1.0, 2.0, 3.0)),
        ):
            yield Setting(tuned, fusion, dense_weight, depth, weight, phrase)


Table = dict[Setting, dict[str, float]]


def replay_grid(
    replays: dict[tuple[str, bool], Replay], names: Sequence[str], settings: Sequence[Setting]
) -> tuple[Table, Table]:
    """Every setting's hit@1 and MRR@10 on every corpus."""
    hit1: Table = {}
    mrr: Table = {}
    with _memoised_sentence_scores():
        for i, s in enumerate(settings):
            hit1[s], mrr[s] = {}, {}
            for name in names:
                f = replays[(name, s.tuned)].figures(s)
                hit1[s][name], mrr[s][name] = f["hit@1"], f["mrr@10"]
            if i % 20 == 0:
                print(f"{i}/{len(settings)} settings", file=sys.stderr, flush=True)
    return hit1, mrr


def legs_hit1(
    replays: dict[tuple[str, bool], Replay], names: Sequence[str], hit1: Table
) -> dict[str, dict[str, float]]:
    """Each leg's hit@1 alone on every corpus: the dense leg with either embedder, BM25."""
    legs: dict[str, dict[str, float]] = {}
    for name in names:
        for tuned in (False, True):
            replay = replays[(name, tuned)]
            n = max(len(replay.records), 1)
            legs.setdefault(name, {})[f"dense ({'tuned' if tuned else 'plain'})"] = (
                sum(bool(r.dense) and r.dense[0][0] in r.gold for r in replay.records) / n
            )
        legs[name]["bm25"] = hit1[BM25_ALONE][name]
    return legs


def select(
    hit1: Table,
    mrr: Table,
    names: Sequence[str],
    settings: Sequence[Setting],
    legs: dict[str, dict[str, float]],
) -> dict[str, object]:
    """The report: the left-out folds (all settings, and the plain embedder's alone), the
    chosen settings, each leg alone and the shipped default's figures."""
    out: dict[str, object] = {"corpora": list(names), "settings": len(settings)}
    plain = [s for s in settings if not s.tuned]
    for key, among in (("loco", settings), ("loco_plain", plain)):
        held_out = {}
        for held in names:
            chosen = choose(hit1, [n for n in names if n != held], among)
            held_out[held] = {
                "setting": chosen.label(),
                "hit@1": hit1[chosen][held],
                "mrr@10": mrr[chosen][held],
            }
        out[key] = held_out
    best_plain = choose(hit1, names, plain)
    out["chosen_plain"] = {
        "setting": best_plain.label(),
        "hit@1": hit1[best_plain],
        "mrr@10": mrr[best_plain],
    }
    shipped = choose(hit1, names, settings)
    out["chosen"] = {"setting": shipped.label(), "hit@1": hit1[shipped], "mrr@10": mrr[shipped]}
    out["chosen_fields"] = asdict(shipped)
    out["legs_hit@1"] = legs
    current = default_setting()
    out["current"] = {"setting": current.label(), "hit@1": hit1[current], "mrr@10": mrr[current]}
    out["top"] = [
        {"setting": s.label(), "hit@1": hit1[s]}
        for s in sorted(hit1, key=lambda s: -min(hit1[s].values()))[:15]
    ]
    return out


def main(argv: Sequence[str] | None = None, *, root: Path, embedder: Embedder | None = None) -> int:
    """``python eval/fusion_loco.py``; ``root`` is the project's folder, beside ``shared``;
    ``embedder`` replaces both configured ones (tests)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-loco"))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="Every setting's figures (JSON).")
    parser.add_argument(
        "--weights", type=Path, default=None, help="A fine-tuned embedder to try instead."
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    known = project_corpora(root)
    corpora = [known[name] for name in CORPORA]
    replays: dict[tuple[str, bool], Replay] = {}
    for corpus in corpora:
        for tuned in (False, True):
            records, assistant = collect(corpus, tuned, args.work, args.weights, embedder)
            replays[(corpus.name, tuned)] = Replay(records, assistant)
            print(
                f"{corpus.name} ({'tuned' if tuned else 'plain'}): {len(records)} questions",
                file=sys.stderr,
                flush=True,
            )
    names = [c.name for c in corpora]
    settings = list(grid())
    hit1, mrr = replay_grid(replays, names, settings)
    if args.table:
        rows = [{**asdict(s), "hit@1": hit1[s], "mrr@10": mrr[s]} for s in settings]
        args.table.write_text(json.dumps(rows, ensure_ascii=False) + "\n", encoding="utf-8")
    out = select(hit1, mrr, names, settings, legs_hit1(replays, names, hit1))
    report(out, args.output)
    return 0
