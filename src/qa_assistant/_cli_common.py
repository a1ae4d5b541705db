"""What the runtime's commands (``cli.py``) and the tooling's (each subpackage's ``commands``)
share: settings read from the environment and overridden by options, a ``QAError`` shown as a
one-line message, the ``--index`` option, and the tooling's options of a count, an existing
path and a folder to keep its work in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import QAError
from .settings import Settings

__all__ = [
    "count_option",
    "existing_path_option",
    "index_option",
    "one_line_errors",
    "settings_from_options",
    "workdir_option",
]

_F = TypeVar("_F", bound=Callable[..., Any])

index_option = click.option(
    "--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR)."
)


def count_option(
    name: str, default: int, *, minimum: int = 1, help: str | None = None
) -> Callable[[_F], _F]:
    """A whole number of at least ``minimum``, its default shown in ``--help``."""
    return click.option(
        name, type=click.IntRange(minimum), default=default, show_default=True, help=help
    )


def existing_path_option(
    name: str, *, folder: bool, help: str, default: Path | None = None
) -> Callable[[_F], _F]:
    """A folder (or a file) that must exist; required where it has no default."""
    return click.option(
        name,
        type=click.Path(exists=True, file_okay=not folder, dir_okay=folder, path_type=Path),
        default=default,
        required=default is None,
        show_default=default is not None,
        help=help,
    )


def workdir_option(help: str) -> Callable[[_F], _F]:
    """``--workdir``: where a tool keeps its work for inspection (a temporary folder without)."""
    return click.option("--workdir", type=click.Path(path_type=Path), help=help)


def settings_from_options(index: Path | None = None, **overrides: Any) -> Settings:
    """The ``QA_*`` settings, with each option given (not ``None``) in place of its setting."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if index is not None:
        values["index_dir"] = index
    try:
        return Settings(**values)
    except Exception as exc:  # pydantic's ValidationError: show it as a settings problem
        raise click.ClickException(f"Invalid setting: {exc}") from exc


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A ``QAError`` becomes click's one-line message and exit status 1, never a traceback."""
    try:
        yield
    except QAError as exc:
        raise click.ClickException(str(exc)) from exc
