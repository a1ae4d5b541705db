"""What the runtime's commands (``cli.py``) and the tooling's (each subpackage's ``commands``)
share: settings read from the environment and overridden by options, a ``QAError`` shown as a
one-line message, and the ``--index`` option.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .errors import QAError
from .settings import Settings

__all__ = ["index_option", "one_line_errors", "settings_from_options"]

index_option = click.option(
    "--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR)."
)


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
