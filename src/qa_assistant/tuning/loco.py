"""Leave-one-corpus-out: the corpora the selection scripts replay and the rule that picks.

:mod:`.fusion` (retrieval settings) and :mod:`.span_model` (the span model's settings) replay a
grid of settings over the same corpora and keep, for each corpus left out and for the shipped
default, the setting whose worst corpus is best.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from .._vietnamese import strip_diacritics
from ..evaluation import Question, load_question_set

__all__ = ["TIE", "Corpus", "change", "choose", "folds", "project_corpora", "report"]


@dataclass(frozen=True)
class Corpus:
    name: str
    questions: Path
    documents: Path
    split: str | None = None
    stripped: bool = False  # asked without diacritics, as citizens often type

    @property
    def index_name(self) -> str:
        """One index serves a corpus asked both ways."""
        return self.name.removesuffix("-stripped")

    def questions_asked(self) -> tuple[Question, ...]:
        questions = load_question_set(self.questions).select(self.split)
        if self.stripped:
            return tuple(replace(q, question=strip_diacritics(q.question)) for q in questions)
        return questions


def project_corpora(root: Path) -> dict[str, Corpus]:
    """The corpora by name: the project's own set under ``root`` and the public sets of the
    ``shared`` folder beside it."""
    shared = root.parent / "shared"
    seed = (root / "eval/questions.jsonl", root / "documents")
    uitreg = (shared / "benchmarks/uitreg/questions.jsonl", shared / "benchmarks/uitreg/documents")
    alqac = (
        shared / "benchmarks/alqac2023/questions.jsonl",
        shared / "benchmarks/alqac2023/documents",
    )
    virhe4qa = (
        shared / "training/virhe4qa/questions.jsonl",
        shared / "training/virhe4qa/documents",
    )
    corpora = (
        Corpus("seed", *seed),
        Corpus("seed-stripped", *seed, stripped=True),
        Corpus("uitreg", *uitreg),
        Corpus("uitreg-stripped", *uitreg, stripped=True),
        Corpus("alqac", *alqac),
        Corpus("virhe4qa-test", *virhe4qa, split="test"),
    )
    return {c.name: c for c in corpora}


# Worst-corpus figures this close to the best one are ties (a question or two of the largest
# set); among them the better mean over the corpora wins.
TIE = 0.005

S = TypeVar("S", bound=Hashable)


def choose(
    table: Mapping[S, Mapping[str, float]],
    corpora: Sequence[str],
    among: Iterable[S] | None = None,
) -> S:
    """The setting whose worst figure over ``corpora`` is best (ties: the better mean)."""
    pool = list(among if among is not None else table)
    worst = {s: min(table[s][c] for c in corpora) for s in pool}
    best = max(worst.values())
    tied = [s for s in pool if worst[s] >= best - TIE]
    return max(tied, key=lambda s: (statistics.fmean(table[s][c] for c in corpora), worst[s]))


def change(table: Mapping[S, Mapping[str, float]], base: S) -> dict[S, dict[str, float]]:
    """Each setting's figures less ``base``'s, corpus by corpus."""
    return {s: {c: v - table[base][c] for c, v in figures.items()} for s, figures in table.items()}


def folds(
    table: Mapping[S, Mapping[str, float]],
    corpora: Sequence[str],
    rule: Callable[[Mapping[S, Mapping[str, float]], Sequence[str]], S] = choose,
) -> dict[str, S]:
    """For each corpus left out, the setting ``rule`` chooses over the others."""
    return {left: rule(table, [c for c in corpora if c != left]) for left in corpora}


def report(figures: object, output: Path | None) -> None:
    """Print a run's figures as JSON, and write them to ``output`` when given."""
    text = json.dumps(figures, ensure_ascii=False, indent=2)
    print(text)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
