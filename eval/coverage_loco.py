"""Check the answerer's coverage thresholds by leave-one-corpus-out, the answer reader on.

Usage: python eval/coverage_loco.py [--work DIR] [--output FILE]

The thresholds (``QA_ANSWER__MIN_COVERAGE``, ``__TOP_COVERAGE``, ``__TOP_SENTENCE_COVERAGE``)
were tuned on the dev split of eval/questions.jsonl. This replays a grid of them over the
records and corpora of ``reader_loco.py`` (same indexes, same measure: the share of questions
answered right), with the reader as shipped, and keeps, for each corpus left out and over all
of them, the thresholds whose worst change against the defaults is best. Nothing here trains.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from loco import ROOT, change, choose, folds, report
from reader_loco import CORPORA, CachedReader, collect, figures

from qa_assistant import Settings
from qa_assistant._answering.factory import make_answerer
from qa_assistant._reader import ensure_reader_model, load_span_reader

Thresholds = tuple[float, float, float]  # min, top passage's, top passage's sentence alone
KEYS = ("min_coverage", "top_coverage", "top_sentence_coverage")
GRID: list[Thresholds] = list(itertools.product((0.6, 0.7, 0.8), (0.25, 0.35, 0.45), (0.15, 0.25)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "out/reader-loco")
    parser.add_argument("--output", type=Path, default=ROOT / "eval/coverage_loco.json")
    args = parser.parse_args()
    settings = Settings.model_validate({})
    reader = CachedReader(load_span_reader(ensure_reader_model(settings.cache_dir), settings))
    records = {c.name: collect(c, args.work) for c in CORPORA}
    names = [c.name for c in CORPORA]
    a = settings.answer
    default = (a.min_coverage, a.top_coverage, a.top_sentence_coverage)
    table: dict[Thresholds, dict[str, float]] = {}
    for t in sorted({default, *GRID}):
        answer = a.model_copy(update=dict(zip(KEYS, t, strict=True)))
        answerer = make_answerer(settings.model_copy(update={"answer": answer}), reader)
        table[t] = {c.name: float(figures(c, records[c.name], answerer)["right"]) for c in CORPORA}
        print(t, {c: round(v, 3) for c, v in table[t].items()}, flush=True)
    against_default = change(table, default)
    chosen = folds(against_default, names)
    report(
        {
            "default": default,
            "folds": {c: {"chosen": t, "right": table[t][c]} for c, t in chosen.items()},
            "chosen": choose(against_default, names),
            "table": [{"thresholds": t, "right": table[t]} for t in table],
        },
        args.output,
    )


if __name__ == "__main__":
    main()
