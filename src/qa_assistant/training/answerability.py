"""Training data for the answerability model: does this sentence answer this question?

Each training question with an answer span gives a group of (question, sentence) pairs, the
first one positive: the sentence of its gold passage that holds the span (split with the
project's own sentence splitter, as the answerer quotes). The negatives are of three kinds:

* ``sentence``: other sentences of the same passage, those sharing most words with the
  question first (on the topic, not the answer);
* ``near_miss``: the same question with one constraint the passage fixes swapped for one it
  does not support (:mod:`.near_miss`), against the positive sentence: the words match, the
  question asks about something else;
* ``unanswerable``: a Zalo 2019 question its paragraph does not answer, against the sentence
  of the paragraph sharing most words with it.

One question in ten is held out by its id, as for the other models (:func:`.data.is_heldout`);
the benchmark dev sets are never read.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._vietnamese import normalize_text, sentence_spans
from ..evaluation import normalize_for_match
from .data import _ZALO, TRAINING_SETS, Group, Pair, asked, check_leave_out, is_heldout, rows
from .near_miss import ConstraintPool, near_misses

__all__ = [
    "ANSWERABILITY_SETS",
    "KINDS",
    "AnswerabilityData",
    "Question",
    "build_answerability_data",
    "sentences",
]

# The sets with answer spans; ViRHE4QA trains on its own train and val splits only.
ANSWERABILITY_SETS = ("alqac2022", "uitwiki", "virhe4qa", "zalo2019")
KINDS = ("answer", "sentence", "near_miss", "unanswerable")
_SENTENCE_NEGATIVES = 2
_NEAR_MISSES = 2
_UNANSWERABLE_GROUP = 4  # Zalo's unanswerable pairs scored together, as one step's group
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Question:
    """One question's pairs (or, for Zalo's unanswerable rows, several questions'), with the
    kind of each pair (:data:`KINDS`)."""

    set_name: str
    pairs: tuple[Pair, ...]
    kinds: tuple[str, ...]

    @property
    def group(self) -> Group:
        """As the cross-encoder trains on it: a group led by its answer is also ranked."""
        return Group(self.set_name, self.pairs, ranked=self.kinds[0] == "answer")


@dataclass(frozen=True)
class AnswerabilityData:
    train: tuple[Question, ...]
    heldout: tuple[Question, ...]


def sentences(passage: str) -> list[str]:
    """A passage's sentences as the answerer splits them, headings of fewer than three words
    left out (they answer nothing)."""
    out = [passage[s:e] for s, e in sentence_spans(passage)]
    return [s for s in out if len(_WORD.findall(s)) >= 3]


def _strings(value: object) -> list[str]:
    return [str(v) for v in value if str(v).strip()] if isinstance(value, list) else []


def _overlap(question: str, sentence: str) -> int:
    return len(set(_WORD.findall(question.lower())) & set(_WORD.findall(sentence.lower())))


def _question(
    set_name: str,
    row: dict[str, object],
    passage: str,
    pool: ConstraintPool,
    rng: random.Random,
) -> Question | None:
    """The answer sentence of ``passage`` against its neighbours and the question's near
    misses; None where no single sentence holds an answer span."""
    spans = [normalize_for_match(a) for a in _strings(row.get("answers"))]
    split = sentences(normalize_text(passage))
    holding = [s for s in split if any(span in normalize_for_match(s) for span in spans)]
    if not holding:
        return None
    qid = str(row["id"])
    question = normalize_text(str(row["question"])).strip()
    answer = holding[0]
    others = sorted((s for s in split if s not in holding), key=lambda s: -_overlap(question, s))[
        :_SENTENCE_NEGATIVES
    ]
    pairs = [Pair(asked(qid, question), answer, 1.0)]
    kinds = ["answer"]
    pairs += [Pair(asked(qid, question), s, 0.0) for s in others]
    kinds += ["sentence"] * len(others)
    for _, swapped in near_misses(question, passage, pool, rng, _NEAR_MISSES):
        pairs.append(Pair(asked(qid, swapped), answer, 0.0))
        kinds.append("near_miss")
    if len(pairs) == 1:
        return None
    return Question(set_name, tuple(pairs), tuple(kinds))


def _evidence(row: dict[str, object]) -> str:
    found = _strings(row.get("evidence"))
    return found[0] if found else ""


def _unanswerable(rows: Sequence[dict[str, object]]) -> list[Question]:
    pairs = []
    for row in rows:
        question = normalize_text(str(row["question"])).strip()
        split = sentences(normalize_text(str(row["context"])))
        if question and split:
            best = max(split, key=lambda s: _overlap(question, s))
            pairs.append(Pair(asked(str(row["id"]), question), best, 0.0))
    size = _UNANSWERABLE_GROUP
    return [
        Question(
            "zalo2019", tuple(pairs[i : i + size]), ("unanswerable",) * len(pairs[i : i + size])
        )
        for i in range(0, len(pairs), size)
    ]


def build_answerability_data(
    shared: Path,
    *,
    seed: int,
    max_per_set: int,
    log: Callable[[str], None] = print,
    leave_out: Sequence[str] = (),
) -> AnswerabilityData:
    """Every set's questions, at most ``max_per_set`` of each drawn by ``seed``, split into
    training and held-out by question id; the sets in ``leave_out`` are not read."""
    check_leave_out(leave_out, ANSWERABILITY_SETS)
    rng = random.Random(seed)
    train: list[Question] = []
    heldout: list[Question] = []
    read: list[tuple[str, list[dict[str, object]], Callable[[dict[str, object]], str]]] = []
    for spec in TRAINING_SETS:
        if spec.name in ANSWERABILITY_SETS and spec.name not in leave_out:
            kept = [r for r in rows(shared / spec.questions) if spec.admits(r)]
            read.append((spec.name, kept, _evidence))
    unanswerable: list[dict[str, object]] = []
    if "zalo2019" not in leave_out:
        zalo = [r for r in rows(shared / _ZALO) if str(r.get("context", "")).strip()]
        rng.shuffle(zalo)
        zalo = zalo[:max_per_set]
        unanswerable = [r for r in zalo if not r.get("answerable")]
        read.append(
            ("zalo2019", [r for r in zalo if r.get("answerable")], lambda r: str(r["context"]))
        )
    for name, kept, passage_of in read:
        kept = [r for r in kept if _strings(r.get("answers")) and passage_of(r).strip()]
        rng.shuffle(kept)
        kept = kept[:max_per_set]
        pool = ConstraintPool([str(r["question"]) for r in kept])
        before = len(train) + len(heldout)
        for row in kept:
            found = _question(name, row, passage_of(row), pool, rng)
            if found is not None:
                (heldout if is_heldout(str(row["id"])) else train).append(found)
        log(f"{name}: {len(train) + len(heldout) - before} questions of {len(kept)} read")
    train += _unanswerable([r for r in unanswerable if not is_heldout(str(r["id"]))])
    heldout += _unanswerable([r for r in unanswerable if is_heldout(str(r["id"]))])
    log(f"zalo2019: {len(unanswerable)} unanswerable questions")
    rng.shuffle(train)
    return AnswerabilityData(tuple(train), tuple(heldout))
