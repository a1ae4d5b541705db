"""``qa-assistant bench``: the command line's hook into this package (:func:`register_commands`).

Only click is imported here; the benchmark itself loads when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .. import _cli_common as common

__all__ = ["register_commands"]


def register_commands(cli: click.Group) -> None:
    cli.add_command(bench)


@click.command()
@common.existing_path_option(
    "--docs",
    folder=True,
    help="Laws the collections are built from, e.g. ../shared/benchmarks/alqac2023/documents "
    "(the larger collections repeat them).",
)
@click.option(
    "--sizes", default="1k,10k,100k", show_default=True, help="Collection sizes in chunks."
)
@common.count_option("--queries", 40)
@common.count_option(
    "--plain-sample", 200, help="Chunks the plain sentence-transformers encode is timed on."
)
@common.count_option(
    "--clients",
    20,
    minimum=0,
    help="Citizens asking one served page at once (0: skip that figure).",
)
@common.workdir_option("Keep the collections here.")
@click.option(
    "--fake", is_flag=True, help="Use the FakeEmbedder and FakeRelevanceModel (quick runs, tests)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench(docs: Path, sizes: str, as_json: bool, **options: Any) -> None:
    """Measure ingest speed, query latency, memory, disk and cold start at scale."""
    from .benchmark import run_benchmark
    from .config import BenchConfig, parse_sizes
    from .report import format_table

    try:
        parsed = parse_sizes(sizes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from exc
    # The options left are named as BenchConfig's fields.
    config = BenchConfig(docs, parsed, settings=common.settings_from_options(), **options)
    with common.one_line_errors():
        result = run_benchmark(config, progress=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps(result.figures(), ensure_ascii=False))
    else:
        click.echo(format_table(result))
