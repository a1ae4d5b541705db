"""What the training commands share: which parameters train, and the optimiser loop (step,
clip, log, stop on the time budget)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["run_steps", "trainable"]


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
    params: Sequence[Any],
    optimizer: Any,
    schedule: Any,
    *,
    started: float,
    max_minutes: float,
    log: Callable[[str], None],
    log_every: int,
    decay: float,
) -> int:
    """Runs up to ``steps`` optimiser steps on ``loss_at(step)``, gradients clipped to norm 1.

    Logs the loss (an average decaying by ``decay`` a step) every ``log_every`` steps and at
    the last; stops early once ``max_minutes`` have passed since ``started`` (a
    ``time.monotonic()``). Returns the steps done.
    """
    import torch

    done = 0
    running = 0.0
    for step in range(steps):
        loss = loss_at(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        done = step + 1
        value = float(loss.detach())
        running = decay * running + (1 - decay) * value if step else value
        elapsed = (time.monotonic() - started) / 60
        if done % log_every == 0 or done == steps:
            log(f"step {done}/{steps} loss {running:.3f} ({elapsed:.1f} min)")
        if elapsed > max_minutes:
            log(f"stopping at step {done}: the {max_minutes:.0f}-minute budget is spent")
            break
    return done
