"""``qa-assistant train-relevance``, ``train-embedder``, ``train-span-model`` and
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
    cli.add_command(train_span_model)
    cli.add_command(_renamed(train_span_model, "train-reader"))
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
_MAX_STEPS = click.option("--max-steps", type=click.IntRange(1), default=None, help=_DEFAULT)
_MAX_MINUTES = click.option("--max-minutes", type=float, default=None, help=_DEFAULT)
_LEAVE_OUT = click.option(
    "--leave-out",
    multiple=True,
    help="A training set not to train on, by name (repeatable), e.g. virhe4qa.",
)

_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _max_per_set(meaning: str) -> _Decorator:
    return click.option(
        "--max-per-set", type=click.IntRange(1), default=None, help=meaning + _DEFAULT
    )


def _training_options(what: str, *own: _Decorator) -> _Decorator:
    """Every training command's options, in this order: ``--data``, ``--output`` (where it
    writes ``what``, by default over the packaged file), ``--seed``, the command's ``own``,
    ``--leave-out``."""
    output = click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Where to write {what} (default: the packaged model file).",
    )

    options: tuple[_Decorator, ...] = (_TRAINING_DATA, output, _SEED, *own, _LEAVE_OUT)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        # Applied last to first, as stacked decorators are, so that click lists them in order.
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@click.command("train-relevance")
@_training_options(
    "the trained layers",
    # Read as the configuration's train_layers.
    click.option(
        "--layers", "train_layers", type=click.IntRange(1, 12), default=None, help=_DEFAULT
    ),
    _MAX_MINUTES,
)
def train_relevance(data: Path, output: Path | None, **options: Any) -> None:
    """Retrain the relevance model on the public QA data (see docs/MODEL.md)."""
    from .._models.relevance import relevance_weights
    from .relevance import TrainConfig, train_relevance_model

    _run(data, output, options, TrainConfig, train_relevance_model, relevance_weights)


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
@_training_options("the trained change", _MAX_STEPS, _MAX_MINUTES)
def train_embedder(data: Path, output: Path | None, **options: Any) -> None:
    """Fine-tune the dense leg's embedder on the public QA data (see docs/MODEL.md)."""
    from .._models.build import tuned_weights
    from .embedder import EmbedderTrainConfig
    from .embedder import train_embedder as train_dense

    _run(data, output, options, EmbedderTrainConfig, train_dense, tuned_weights)


@click.command("train-span-model")
@_training_options(
    "the trained change and head",
    _MAX_STEPS,
    _MAX_MINUTES,
    _max_per_set("Training questions kept per set; one pass over their windows bounds the steps. "),
)
def train_span_model(data: Path, output: Path | None, **options: Any) -> None:
    """Train the span model on the public QA sets' answer spans (see docs/MODEL.md)."""
    from .._models.span import span_weights
    from .span_model import SpanTrainConfig
    from .span_model import train_span_model as train_spans

    _run(data, output, options, SpanTrainConfig, train_spans, span_weights)


@click.command("train-answerability")
@_training_options(
    "the trained layers",
    _MAX_STEPS,
    _MAX_MINUTES,
    _max_per_set("Questions read per set, drawn by the seed. "),
    click.option(
        "--near-miss-weight",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="A near miss's weight in the loss. " + _DEFAULT,
    ),
)
def train_answerability(data: Path, output: Path | None, **options: Any) -> None:
    """Train the answerability model on answers and their near misses (see docs/MODEL.md)."""
    from .._models.answerability import answerability_weights
    from .answerability_train import AnswerabilityConfig
    from .answerability_train import train_answerability as train_pairs

    _run(data, output, options, AnswerabilityConfig, train_pairs, answerability_weights)


C = TypeVar("C")


def _run(
    data: Path,
    output: Path | None,
    options: dict[str, Any],
    config: Callable[..., C],
    train: Callable[[Path, Path, Path, C], dict[str, Any]],
    packaged: Callable[[], Path],
) -> None:
    """Every command: the training configuration with the ``options`` given (those left unset,
    None, keep its defaults); build the base model, train on ``data`` into ``output``
    (default: the packaged file), print the figures the training returns."""
    from .._models.build import ensure_default_model

    cfg = config(**{name: value for name, value in options.items() if value is not None})
    settings = settings_from_options()
    with one_line_errors():
        base = ensure_default_model(settings.cache_dir)
        target = output or packaged()
        meta = train(data, base, target, cfg)
    click.echo(json.dumps(meta, indent=2, ensure_ascii=False))
    click.echo(f"Wrote {target}")
