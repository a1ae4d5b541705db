"""What the training commands share: the seeded start, which parameters train, the optimiser
loop (AdamW with a warm-up and a linear decay; step, clip, log, stop on the time budget), and
writing a trained change over the base with its held-out figures."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .._models.build import metadata_entry
from .._models.tuned_delta import pack_delta

__all__ = [
    "Schedule",
    "minutes_since",
    "run_steps",
    "seeded_tokenizer",
    "trainable",
    "write_change",
]


class Schedule(Protocol):
    """What :func:`run_steps` reads of a training configuration. (Properties, as the
    configurations are frozen dataclasses: read-only fields.)"""

    @property
    def warmup_share(self) -> float: ...

    @property
    def max_minutes(self) -> float: ...


def seeded_tokenizer(seed: int, base: Path) -> Any:
    """How every training begins: torch's and Python's random numbers seeded with ``seed``, and
    the tokenizer of the base model in ``base``."""
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(seed)
    random.seed(seed)
    return AutoTokenizer.from_pretrained(str(base), local_files_only=True)


def trainable(name: str, layers: int, train_layers: int, heads: tuple[str, ...]) -> bool:
    """Is parameter ``name`` trained: a head's (its name starts with one of ``heads``) or one
    of the top ``train_layers`` of ``layers`` encoder layers? Embeddings and lower layers stay
    as the bundled weights, so only what trained needs shipping."""
    if name.startswith(heads):
        return True
    parts = name.split(".")
    if "layer" in parts:
        return int(parts[parts.index("layer") + 1]) >= layers - train_layers
    return False


def run_steps(
    steps: int,
    loss_at: Callable[[int], Any],
    groups: Sequence[tuple[Sequence[Any], float]],
    cfg: Schedule,
    *,
    started: float,
    log: Callable[[str], None],
    log_every: int,
    decay: float,
) -> int:
    """Runs up to ``steps`` AdamW steps (weight decay 0.01) on ``loss_at(step)``, gradients
    clipped to norm 1. ``groups``: the trained parameters, each group with its learning rate;
    the rates warm up over ``cfg.warmup_share`` of the steps, then fall linearly to 0.

    Logs the loss (an average decaying by ``decay`` a step) every ``log_every`` steps and at
    the last; stops early once ``cfg.max_minutes`` have passed since ``started`` (a
    ``time.monotonic()``). Returns the steps done.
    """
    import torch

    params = [p for group, _ in groups for p in group]
    optimizer = torch.optim.AdamW(
        [{"params": list(group), "lr": lr} for group, lr in groups], weight_decay=0.01
    )
    warmup = max(1, int(steps * cfg.warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    done = 0
    running = 0.0
    for step in range(steps):
        loss = loss_at(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        done = step + 1
        value = float(loss.detach())
        running = decay * running + (1 - decay) * value if step else value
        elapsed = (time.monotonic() - started) / 60
        if done % log_every == 0 or done == steps:
            log(f"step {done}/{steps} loss {running:.3f} ({elapsed:.1f} min)")
        if elapsed > cfg.max_minutes:
            log(f"stopping at step {done}: the {cfg.max_minutes:.0f}-minute budget is spent")
            break
    return done


def minutes_since(started: float) -> float:
    """Minutes since ``started`` (a ``time.monotonic()``), to the tenth, for a run's figures."""
    return round((time.monotonic() - started) / 60, 1)


def write_change(
    base: Path,
    trained: Mapping[str, Any],
    output: Path,
    meta: dict[str, Any],
    heldout: Callable[[], Any],
    *,
    key: str,
    label: str,
    started: float,
    log: Callable[[str], None],
    head: Mapping[str, Any] | None = None,
) -> None:
    """Writes to ``output`` the int8 change of ``trained`` (encoder parameters, by the names of
    the base model in ``base``) over the base, ``head``'s tensors as they are, and ``meta``;
    then adds ``heldout()``, the held-out figures of the weights as written, under ``key`` with
    the minutes since ``started``, logs them after ``label`` and writes again."""
    from safetensors.numpy import load_file, save_file

    packed = pack_delta(load_file(str(base / "model.safetensors")), trained) | dict(head or {})
    output.parent.mkdir(parents=True, exist_ok=True)
    # Saved before the held-out pass too: a failure there must not lose the training.
    save_file(packed, str(output), metadata=metadata_entry(meta))
    meta[key] = heldout()
    meta["minutes"] = minutes_since(started)
    log(f"{label}: {json.dumps(meta[key])}")
    save_file(packed, str(output), metadata=metadata_entry(meta))
