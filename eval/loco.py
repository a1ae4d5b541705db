"""What the leave-one-corpus-out scripts share: the corpora, the training sets' held-out
shares (what the learned scripts fit on) and the selection rule.

``fusion_loco.py`` (retrieval settings) and ``reader_loco.py`` (the answer reader's settings)
replay a grid of settings over the same corpora and keep, for each corpus left out and for
the shipped default, the setting whose worst corpus is best.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from qa_assistant._vietnamese import strip_diacritics
from qa_assistant.evaluation import Question, load_question_set
from qa_assistant.training.data import is_heldout

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


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


_SEED = (ROOT / "eval/questions.jsonl", ROOT / "documents")
_UITREG = (SHARED / "benchmarks/uitreg/questions.jsonl", SHARED / "benchmarks/uitreg/documents")
SEED = Corpus("seed", *_SEED)
SEED_STRIPPED = Corpus("seed-stripped", *_SEED, stripped=True)
UITREG = Corpus("uitreg", *_UITREG)
UITREG_STRIPPED = Corpus("uitreg-stripped", *_UITREG, stripped=True)
ALQAC = Corpus(
    "alqac",
    SHARED / "benchmarks/alqac2023/questions.jsonl",
    SHARED / "benchmarks/alqac2023/documents",
)
VIRHE4QA_TEST = Corpus(
    "virhe4qa-test",
    SHARED / "training/virhe4qa/questions.jsonl",
    SHARED / "training/virhe4qa/documents",
    split="test",
)


def heldout_set(name: str, source: str, work: Path, splits: Sequence[str] | None = None) -> Path:
    """The held-out share of a training set, written as a question file."""
    out = work / f"{name}.jsonl"
    lines = []
    for line in (SHARED / "training" / source / "questions.jsonl").read_text().splitlines():
        row = json.loads(line)
        if (splits is None or row.get("split") in splits) and is_heldout(row["id"]):
            row.pop("split", None)
            lines.append(json.dumps(row, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


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
