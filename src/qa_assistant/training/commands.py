"""``qa-assistant train-relevance``, ``train-embedder``, ``train-reader`` and
``train-answerability``: the command line's hook into this package (:func:`register_commands`).

Only click is imported here; torch and the training code load when a command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .._cli_common import one_line_errors, settings_from_options

__all__ = ["register_commands"]


def register_commands(cli: click.Group) -> None:
    cli.add_command(train_relevance)
    cli.add_command(_renamed(train_relevance, "train"))
    cli.add_command(train_embedder)
    cli.add_command(train_reader)
    cli.add_command(train_answerability)


# The training commands' shared options.
_TRAINING_DATA = click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("../shared"),
    show_default=True,
    help="The shared folder holding training/ (the public QA sets) and benchmarks/.",
)
# Options left unset keep the training configuration's default, written there once; the
# packaged models were trained with those (docs/MODEL.md).
_DEFAULT = "Default: the training configuration's (docs/MODEL.md)."
_SEED = click.option("--seed", type=int, default=None, help=_DEFAULT)
_LEAVE_OUT = click.option(
    "--leave-out",
    multiple=True,
    help="A training set not to train on, by name (repeatable), e.g. virhe4qa.",
)


def _output(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--output``: where a command writes ``what`` (by default over the packaged file)."""
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Where to write {what} (default: the packaged model file).",
    )


@click.command("train-relevance")
@_TRAINING_DATA
@_output("the trained layers")
@_SEED
@click.option("--layers", type=click.IntRange(1, 12), default=None, help=_DEFAULT)
@click.option("--max-minutes", type=float, default=None, help=_DEFAULT)
@_LEAVE_OUT
def train_relevance(
    data: Path,
    output: Path | None,
    seed: int | None,
    layers: int | None,
    max_minutes: float | None,
    leave_out: tuple[str, ...],
) -> None:
    """Retrain the relevance model on the public QA data (see docs/MODEL.md)."""
    from .._models.relevance import relevance_weights
    from .relevance import TrainConfig, train_relevance_model

    config = _configured(
        TrainConfig, seed=seed, train_layers=layers, max_minutes=max_minutes, leave_out=leave_out
    )
    _run(
        output,
        relevance_weights,
        lambda base, target: train_relevance_model(data, base, target, config),
    )


def _renamed(command: click.Command, old: str) -> click.Command:
    """``command`` under its old name, hidden from the help, with a warning: read for one
    release (CHANGELOG.md)."""

    def warned(**options: Any) -> None:
        click.echo(
            f"qa-assistant {old} is renamed {command.name}; the old name works until the next "
            f"release: run qa-assistant {command.name} instead.",
            err=True,
        )
        click.get_current_context().invoke(command, **options)

    return click.Command(
        old, callback=warned, params=command.params, help=command.help, hidden=True
    )


@click.command("train-embedder")
@_TRAINING_DATA
@_output("the trained change")
@_SEED
@click.option("--max-steps", type=click.IntRange(1), default=None, help=_DEFAULT)
@click.option("--max-minutes", type=float, default=None, help=_DEFAULT)
@_LEAVE_OUT
def train_embedder(
    data: Path,
    output: Path | None,
    seed: int | None,
    max_steps: int | None,
    max_minutes: float | None,
    leave_out: tuple[str, ...],
) -> None:
    """Fine-tune the dense leg's embedder on the public QA data (see docs/MODEL.md)."""
    from .._models.build import tuned_weights
    from .embedder import EmbedderTrainConfig
    from .embedder import train_embedder as train_dense

    config = _configured(
        EmbedderTrainConfig,
        seed=seed,
        max_steps=max_steps,
        max_minutes=max_minutes,
        leave_out=leave_out,
    )
    _run(output, tuned_weights, lambda base, target: train_dense(data, base, target, config))


@click.command("train-reader")
@_TRAINING_DATA
@_output("the trained change and head")
@_SEED
@click.option("--max-steps", type=click.IntRange(1), default=None, help=_DEFAULT)
@click.option("--max-minutes", type=float, default=None, help=_DEFAULT)
@click.option(
    "--max-per-set",
    type=click.IntRange(1),
    default=None,
    help="Training questions kept per set; one pass over their windows bounds the steps. "
    + _DEFAULT,
)
@_LEAVE_OUT
def train_reader(
    data: Path,
    output: Path | None,
    seed: int | None,
    max_steps: int | None,
    max_minutes: float | None,
    max_per_set: int | None,
    leave_out: tuple[str, ...],
) -> None:
    """Train the answer reader on the public QA sets' answer spans (see docs/MODEL.md)."""
    from .._models.span import reader_weights
    from .reader import ReaderTrainConfig
    from .reader import train_reader as train_spans

    config = _configured(
        ReaderTrainConfig,
        seed=seed,
        max_steps=max_steps,
        max_minutes=max_minutes,
        max_per_set=max_per_set,
        leave_out=leave_out,
    )
    _run(output, reader_weights, lambda base, target: train_spans(data, base, target, config))


@click.command("train-answerability")
@_TRAINING_DATA
@_output("the trained layers")
@_SEED
@click.option("--max-steps", type=click.IntRange(1), default=None, help=_DEFAULT)
@click.option("--max-minutes", type=float, default=None, help=_DEFAULT)
@click.option(
    "--max-per-set",
    type=click.IntRange(1),
    default=None,
    help="Questions read per set, drawn by the seed. " + _DEFAULT,
)
@click.option(
    "--near-miss-weight",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="A near miss's weight in the loss. " + _DEFAULT,
)
@_LEAVE_OUT
def train_answerability(
    data: Path,
    output: Path | None,
    seed: int | None,
    max_steps: int | None,
    max_minutes: float | None,
    max_per_set: int | None,
    near_miss_weight: float | None,
    leave_out: tuple[str, ...],
) -> None:
    """Train the answerability model on answers and their near misses (see docs/MODEL.md)."""
    from .._models.answerability import answerability_weights
    from .answerability_train import AnswerabilityConfig
    from .answerability_train import train_answerability as train_pairs

    config = _configured(
        AnswerabilityConfig,
        seed=seed,
        max_steps=max_steps,
        max_minutes=max_minutes,
        max_per_set=max_per_set,
        near_miss_weight=near_miss_weight,
        leave_out=leave_out,
    )
    _run(
        output,
        answerability_weights,
        lambda base, target: train_pairs(data, base, target, config),
    )


C = TypeVar("C")


def _configured(config: Callable[..., C], **given: Any) -> C:
    """A training configuration with the options given; those left unset (None) keep its
    defaults."""
    return config(**{name: value for name, value in given.items() if value is not None})


def _run(
    output: Path | None,
    packaged: Callable[[], Path],
    train: Callable[[Path, Path], dict[str, Any]],
) -> None:
    """Every command: build the base model, train into ``output`` (default: the packaged
    file), print the figures the training returns."""
    from .._models.build import ensure_default_model

    settings = settings_from_options()
    with one_line_errors():
        base = ensure_default_model(settings.cache_dir)
        target = output or packaged()
        meta = train(base, target)
    click.echo(json.dumps(meta, indent=2, ensure_ascii=False))
    click.echo(f"Wrote {target}")
