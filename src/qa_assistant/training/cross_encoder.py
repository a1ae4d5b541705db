"""What the relevance and answerability models' training share: multilingual-e5-small as a
cross-encoder over (question, text) pairs with its top layers trained on groups of pairs, the
trained layers saved as the runtime rebuilds them, and the saved weights scored as they run
(int8 ONNX)."""

from __future__ import annotations

import itertools
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .._models.build import metadata_entry, weights_metadata
from .._models.onnx_runtime import pad
from .._models.relevance import build_cross_encoder_onnx, load_cross_encoder, pair_ids
from .data import Group
from .loop import Schedule, run_steps, trainable

__all__ = [
    "GroupFit",
    "cross_encoder",
    "fit_groups",
    "group_loss",
    "group_pairs",
    "onnx_scores",
    "pair_logits",
    "save_trained",
]


class GroupFit(Schedule, Protocol):
    """What :func:`fit_groups` reads of a training configuration (the relevance model's or the
    answerability model's)."""

    @property
    def seed(self) -> int: ...

    @property
    def groups_per_step(self) -> int: ...

    @property
    def lr(self) -> float: ...

    @property
    def head_lr(self) -> float: ...

    @property
    def max_tokens(self) -> int: ...


def group_pairs(groups: Sequence[Group]) -> tuple[list[str], list[str], list[float]]:
    qs = [p.question for g in groups for p in g.pairs]
    ps = [p.passage for g in groups for p in g.pairs]
    ys = [p.label for g in groups for p in g.pairs]
    return qs, ps, ys


def cross_encoder(base: Path, train_layers: int, start: Path | None = None) -> Any:
    """The base model with a one-logit head, its top ``train_layers`` layers and head set to
    train; ``start``: trained layers to begin from (a weights file as :func:`save_trained`
    writes)."""
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=1, local_files_only=True
    )
    if start is not None:
        model.load_state_dict(
            {k: v.float() for k, v in load_file(str(start)).items()}, strict=False
        )
    layers = model.config.num_hidden_layers
    for name, param in model.named_parameters():
        param.requires_grad = trainable(name, layers, train_layers, ("classifier.",))
    return model


def pair_logits(model: Any, tokenizer: Any, qs: list[str], ps: list[str], max_tokens: int) -> Any:
    import torch

    q_ids = tokenizer(qs, add_special_tokens=False)["input_ids"]
    p_ids = tokenizer(ps, add_special_tokens=False)["input_ids"]
    ids, mask = pad([pair_ids(q, p, max_tokens) for q, p in zip(q_ids, p_ids, strict=True)])
    out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    return out.logits.squeeze(-1)


def group_loss(logits: Any, groups: Sequence[Group], pos_weight: float = 1.0) -> Any:
    """Pointwise binary cross-entropy on every pair (each with its weight, a positive's also
    times ``pos_weight``), plus a listwise cross-entropy (the first
    pair against the others) for each ranked group."""
    import torch
    import torch.nn.functional as F

    labels = torch.tensor([p.label for g in groups for p in g.pairs], dtype=torch.float32)
    weights = torch.tensor([p.weight for g in groups for p in g.pairs], dtype=torch.float32)
    loss = F.binary_cross_entropy_with_logits(
        logits, labels, weight=weights, pos_weight=torch.tensor(pos_weight)
    )
    start = 0
    ranked = []
    for g in groups:
        n = len(g.pairs)
        if g.ranked:
            ranked.append(F.cross_entropy(logits[start : start + n][None], torch.tensor([0])))
        start += n
    if ranked:
        loss = loss + torch.stack(ranked).mean()
    return loss


def fit_groups(
    model: Any,
    tokenizer: Any,
    groups: Sequence[Group],
    cfg: GroupFit,
    *,
    steps: int,
    pos_weight: float = 1.0,
    log: Callable[[str], None],
) -> int:
    """Train ``model`` on ``groups`` (shuffled by seed, again each pass) for ``steps`` steps
    with a warm-up and a linear decay, or until ``cfg.max_minutes``; a positive pair weighs
    ``pos_weight`` in the pointwise loss. Returns the steps done."""
    head = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" in n]
    body = [p for n, p in model.named_parameters() if p.requires_grad and "classifier" not in n]
    rng = random.Random(cfg.seed)
    order: list[Group] = []
    while len(order) < steps * cfg.groups_per_step:
        epoch = list(groups)
        rng.shuffle(epoch)
        order += epoch
    started = time.monotonic()
    model.train()

    def loss_at(step: int) -> Any:
        batch = order[step * cfg.groups_per_step : (step + 1) * cfg.groups_per_step]
        qs, ps, _ = group_pairs(batch)
        logits = pair_logits(model, tokenizer, qs, ps, cfg.max_tokens)
        return group_loss(logits, batch, pos_weight)

    return run_steps(
        steps,
        loss_at,
        [(body, cfg.lr), (head, cfg.head_lr)],
        cfg,
        started=started,
        log=log,
        log_every=25,
        decay=0.98,
    )


def save_trained(model: Any, output: Path, meta: dict[str, Any]) -> None:
    """The trained layers and head, fp16, with ``meta`` as the file's metadata."""
    import torch
    from safetensors.torch import save_file

    trained = {
        n: p.detach().to(torch.float16).contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file(trained, str(output), metadata=metadata_entry(meta))


@contextmanager
def onnx_scores(
    weights: Path, base: Path
) -> Iterator[Callable[[list[str], list[str]], list[float]]]:
    """Probabilities of (question, text) pairs from ``weights`` as they run: exported to int8
    ONNX, one call per run of pairs with the same question, as the assistant scores them.
    (Quantisation shifts the probabilities a little, so figures of the float weights would
    not be those of the shipped model.)"""
    max_tokens = int(weights_metadata(weights)["config"]["max_tokens"])
    with tempfile.TemporaryDirectory(prefix="qa-cross-encoder-") as folder:
        build_cross_encoder_onnx(base, weights, Path(folder))
        encoder = load_cross_encoder(Path(folder), max_tokens)

        def score(qs: list[str], ps: list[str]) -> list[float]:
            out: list[float] = []
            for question, run in itertools.groupby(zip(qs, ps, strict=True), key=lambda p: p[0]):
                out += encoder.score(question, [passage for _, passage in run])
            return out

        yield score
