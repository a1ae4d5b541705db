"""Train the answerability model: the relevance cross-encoder fine-tuned further on (question,
sentence) pairs (:mod:`.answerability`), so that it gives one probability that a sentence
answers a question, and knows a near miss (a question about another group, year or place than
the sentence's) from an answer.

It starts from the shipped relevance model's layers (a cross-encoder already, so a few hundred
steps do) and trains the same top layers and head, so its weights file has the relevance
file's layout and the same runtime rebuilds it (:mod:`.._models.answerability`). Loss: the pointwise
binary cross-entropy with positives weighted up to even the classes (the probability reads the
same whatever the share of negatives a caller sends), plus the listwise term within a
question's pairs. Seeded, single-process on the CPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._models.relevance import relevance_weights
from ..evaluation import auc
from .answerability import AnswerabilityData, Question, build_answerability_data
from .cross_encoder import cross_encoder, fit_groups, group_pairs, onnx_scores, save_trained
from .data import Group
from .loop import seeded_tokenizer

__all__ = ["AnswerabilityConfig", "heldout_figures", "train_answerability"]

_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class AnswerabilityConfig:
    seed: int = 13
    train_layers: int = 6  # the relevance model's trained layers, so the layout stays the same
    max_tokens: int = 128  # question and sentence together, special tokens included
    groups_per_step: int = 4  # about 18 pairs a step
    max_steps: int = 500
    max_per_set: int = 2000  # questions read per set, drawn by seed (bounds the data's size)
    # A near miss's weight in the pointwise loss: they are few beside the other negatives.
    near_miss_weight: float = 1.0
    lr: float = 3e-5
    head_lr: float = 3e-4
    warmup_share: float = 0.06
    max_minutes: float = 40.0  # stop early rather than overrun the 90-minute budget
    leave_out: tuple[str, ...] = ()  # training sets not to read, by name (licences differ)


def _share(values: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> float | None:
    return float(test(values).mean()) if len(values) else None


def _weighted(question: Question, near_miss_weight: float) -> Group:
    group = question.group
    pairs = tuple(
        replace(p, weight=near_miss_weight) if kind == "near_miss" else p
        for p, kind in zip(group.pairs, question.kinds, strict=True)
    )
    return replace(group, pairs=pairs)


def heldout_figures(
    score: Callable[[list[str], list[str]], list[float]],
    questions: Sequence[Question],
    pos_weight: float,
) -> dict[str, Any]:
    """AUC over every pair and of answers against near misses alone; the share of each kind
    on the right side of 0.5; calibration: mean probability against the observed share of
    answers in bins of probability, plainly and with answers weighted by ``pos_weight`` as in
    training (even classes)."""
    qs, ps, ys = group_pairs([q.group for q in questions])
    kinds = np.asarray([k for q in questions for k in q.kinds])
    scores = np.asarray(score(qs, ps), dtype=np.float64)
    labels = np.asarray(ys) > 0.5
    near = (kinds == "answer") | (kinds == "near_miss")
    figures: dict[str, Any] = {
        "pairs": {str(k): int((kinds == k).sum()) for k in sorted(set(kinds))},
        "auc": auc(scores.tolist(), labels.tolist()),
        "auc_answer_vs_near_miss": auc(scores[near].tolist(), labels[near].tolist()),
        "answers_above_half": _share(scores[kinds == "answer"], lambda s: s > 0.5),
    }
    for kind in ("near_miss", "sentence", "unanswerable"):
        figures[f"{kind}_below_half"] = _share(scores[kinds == kind], lambda s: s < 0.5)
    weights = np.where(labels, pos_weight, 1.0)
    bins = []
    for low, high in itertools.pairwise(_BINS):
        inside = (scores >= low) & ((scores < high) | (high == 1.0))
        if inside.any():
            bins.append(
                {
                    "bin": f"{low:.1f}-{high:.1f}",
                    "pairs": int(inside.sum()),
                    "mean_probability": round(float(scores[inside].mean()), 3),
                    "observed": round(float(labels[inside].mean()), 3),
                    "observed_even": round(
                        float((weights * labels)[inside].sum() / weights[inside].sum()), 3
                    ),
                }
            )
    figures["calibration"] = bins
    return figures


def train_answerability(
    shared: Path,
    base: Path,
    output: Path,
    cfg: AnswerabilityConfig,
    *,
    start: Path | None = None,
    data: AnswerabilityData | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train on ``shared/training`` (or ``data``) from ``start`` (default: the packaged
    relevance model), write the trained layers to ``output`` and return the held-out figures
    of the starting and the trained weights, both as they run (int8 ONNX)."""
    tokenizer = seeded_tokenizer(cfg.seed, base)
    start = start or relevance_weights()
    if data is None:
        data = build_answerability_data(
            shared, seed=cfg.seed, max_per_set=cfg.max_per_set, log=log, leave_out=cfg.leave_out
        )
    groups = [_weighted(q, cfg.near_miss_weight) for q in data.train]
    pairs = [p for g in groups for p in g.pairs]
    positives = sum(1 for p in pairs if p.label > 0.5)
    # Answers weigh as much as the (weighted) negatives together: even classes.
    pos_weight = sum(p.weight for p in pairs if p.label <= 0.5) / max(1, positives)
    log(f"{len(groups)} training groups, {len(pairs)} pairs, {positives} answers")
    meta: dict[str, Any] = {"config": asdict(cfg), "pos_weight": round(pos_weight, 3)}
    with onnx_scores(start, base) as score:
        meta["heldout_before"] = heldout_figures(score, data.heldout, pos_weight)
    log(f"held-out before: {meta['heldout_before']}")
    model = cross_encoder(base, cfg.train_layers, start)
    steps = min(cfg.max_steps, len(groups) // cfg.groups_per_step)
    meta["steps"] = fit_groups(
        model, tokenizer, groups, cfg, steps=steps, pos_weight=pos_weight, log=log
    )
    # Saved before the held-out pass too: a failure there must not lose the training.
    save_trained(model, output, meta)
    with onnx_scores(output, base) as score:
        meta["heldout"] = heldout_figures(score, data.heldout, pos_weight)
    log(f"held-out: {meta['heldout']}")
    save_trained(model, output, meta)
    return meta
