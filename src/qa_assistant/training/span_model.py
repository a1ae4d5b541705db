"""Train the span model: multilingual-e5-small with its top layers fine-tuned to find the
answer span in a passage, or to say the passage holds none (SQuAD 2.0 style).

The windows come from :mod:`.spans`. The loss is the cross-entropy of the start token and of
the end token over the window (the first token for "no answer"). The embeddings and lower
layers stay as the rebuilt base; what ships is the trained layers' change over it as int8
(:mod:`.._models.tuned_delta`) and the head in float32. Seeded and single-process on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._models.onnx_runtime import pad
from .._models.span import HEAD_PREFIX, load_trained, read_spans, torch_span_model
from ..evaluation import auc, normalize_for_match, token_f1
from .data import passage_tokens
from .loop import minutes_since, run_steps, seeded_tokenizer, trainable, write_change
from .spans import HeldoutSpan, SpanData, SpanExample, build_span_data

__all__ = ["SpanTrainConfig", "heldout_figures", "train_span_model"]


@dataclass(frozen=True)
class SpanTrainConfig:
    seed: int = 13
    train_layers: int = 8  # top encoder layers fine-tuned; the rest stay frozen
    max_tokens: int = 256  # a training window, question and special tokens included
    max_question: int = 48
    batch_size: int = 16
    max_steps: int = 950  # about 5 s a step on 2 cores; one pass over the windows is fewer
    lr: float = 5e-5
    head_lr: float = 5e-4
    warmup_share: float = 0.06
    max_per_set: int = 6000  # training questions kept per set (ViRHE4QA alone has 7,000)
    negative_share: float = 0.5  # questions that also give a window without the answer
    heldout_per_set: int = 150  # held-out questions read per set, before the figures
    read_tokens: int = 384  # the window held-out passages are read in, as at run time
    max_answer: int = 64
    max_minutes: float = 80.0  # stop early rather than overrun the 90-minute budget
    leave_out: tuple[str, ...] = ()


def _loss(model: Any, batch: Sequence[SpanExample]) -> Any:
    import torch
    import torch.nn.functional as F

    ids, mask = pad([e.ids for e in batch])
    mask_t = torch.from_numpy(mask)
    logits = model(torch.from_numpy(ids), mask_t).masked_fill(mask_t[..., None] == 0, -1e4)
    starts = torch.tensor([e.start for e in batch])
    ends = torch.tensor([e.end for e in batch])
    return (F.cross_entropy(logits[..., 0], starts) + F.cross_entropy(logits[..., 1], ends)) / 2


def heldout_figures(
    model: Any, tokenizer: Any, heldout: Sequence[HeldoutSpan], cfg: SpanTrainConfig
) -> dict[str, dict[str, float | int | None]]:
    """Per set: the share of answerable held-out questions whose span overlaps the gold one,
    token F1, and where a set has unanswerable questions, the AUC of the margin between the
    two kinds."""
    import torch

    def run(rows: list[list[int]]) -> Any:
        ids, mask = pad(rows)
        with torch.inference_mode():
            return model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    by_set: dict[str, list[HeldoutSpan]] = {}
    for item in heldout:
        by_set.setdefault(item.set_name, []).append(item)
    figures: dict[str, dict[str, float | int | None]] = {}
    for name, items in by_set.items():
        items = items[: cfg.heldout_per_set]
        found, f1, margins, labels = [], [], [], []
        for item in items:
            q = tokenizer(item.question, add_special_tokens=False)["input_ids"][: cfg.max_question]
            p = tokenizer(item.passage, add_special_tokens=False, return_offsets_mapping=True)
            (span,) = read_spans(
                q,
                [(p["input_ids"], p["offset_mapping"])],
                run,
                max_tokens=cfg.read_tokens,
                max_answer=cfg.max_answer,
            )
            margins.append(span.margin if span else -1e9)
            labels.append(bool(item.answers))
            if item.answers:
                text = item.passage[span.start : span.end] if span else ""
                found.append(_overlaps(text, item.answers))
                f1.append(max(token_f1(text, a) for a in item.answers))
        figures[name] = {
            "questions": len(items),
            "span_found": round(float(np.mean(found)), 3) if found else None,
            "token_f1": round(float(np.mean(f1)), 3) if f1 else None,
            "no_answer_auc": auc(margins, labels),
        }
    return figures


def _overlaps(text: str, answers: Sequence[str]) -> bool:
    """The span read holds a gold answer, or lies inside one."""
    t = normalize_for_match(text)
    return bool(t) and any((g := normalize_for_match(a)) in t or t in g for a in answers)


def train_span_model(
    shared: Path,
    base: Path,
    output: Path,
    cfg: SpanTrainConfig,
    *,
    data: SpanData | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train on ``shared/training`` (or on ``data``), write the shipped change and head to
    ``output`` and return the figures."""
    started = time.monotonic()
    tokenizer = seeded_tokenizer(cfg.seed, base)
    if data is None:
        data = build_span_data(
            shared,
            passage_tokens(tokenizer),
            tokenizer,
            seed=cfg.seed,
            max_tokens=cfg.max_tokens,
            max_question=cfg.max_question,
            max_per_set=cfg.max_per_set,
            negative_share=cfg.negative_share,
            leave_out=cfg.leave_out,
            log=log,
        )
    model = torch_span_model(base)
    layers = model.encoder.config.num_hidden_layers
    body: list[Any] = []
    head: list[Any] = []
    for name, param in model.named_parameters():
        param.requires_grad = trainable(name, layers, cfg.train_layers, (HEAD_PREFIX,))
        if param.requires_grad:
            (head if name.startswith("qa_head.") else body).append(param)
    train = data.train
    steps = min(cfg.max_steps, len(train) // cfg.batch_size)
    log(f"{len(train)} training windows, {steps} steps of {cfg.batch_size}")
    model.train()
    size = cfg.batch_size
    done = run_steps(
        steps,
        lambda step: _loss(model, train[step * size : (step + 1) * size]),
        [(body, cfg.lr), (head, cfg.head_lr)],
        cfg,
        started=started,
        log=log,
        log_every=20,
        decay=0.95,
    )
    trained = {
        n.removeprefix("encoder."): p.detach().numpy()
        for n, p in model.named_parameters()
        if p.requires_grad and n.startswith("encoder.")
    }
    meta: dict[str, Any] = {
        "config": asdict(cfg),
        "steps": done,
        "windows_trained": done * size,
        "minutes": minutes_since(started),
    }
    held = data.heldout

    def shipped() -> dict[str, dict[str, float | int | None]]:
        # Figures of the weights as shipped: the int8 change put back on the base.
        load_trained(model, base, output)
        model.eval()
        return heldout_figures(model, tokenizer, held, cfg)

    write_change(
        base,
        trained,
        output,
        meta,
        shipped,
        key="heldout",
        label="held-out",
        started=started,
        log=log,
        head={HEAD_PREFIX + n: p.detach().numpy() for n, p in model.qa_head.named_parameters()},
    )
    return meta
