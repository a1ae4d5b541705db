"""``qa-assistant bench``: the command line's hook into this package (:func:`register_commands`).

Only click is imported here; the benchmark itself loads when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .._cli_common import one_line_errors, settings_from_options

__all__ = ["register_commands"]


def register_commands(cli: click.Group) -> None:
    cli.add_command(bench)


@click.command()
@click.option(
    "--docs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Laws the collections are built from, e.g. ../shared/benchmarks/alqac2023/documents "
    "(the larger collections repeat them).",
)
@click.option(
    "--sizes", default="1k,10k,100k", show_default=True, help="Collection sizes in chunks."
)
@click.option("--queries", type=click.IntRange(1), default=40, show_default=True)
@click.option(
    "--plain-sample",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Chunks the plain sentence-transformers encode is timed on.",
)
@click.option(
    "--clients",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="Citizens asking one served page at once (0: skip that figure).",
)
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the collections here.")
@click.option(
    "--fake", is_flag=True, help="Use the FakeEmbedder and FakeReranker (quick runs, tests)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench(
    docs: Path,
    sizes: str,
    queries: int,
    plain_sample: int,
    clients: int,
    workdir: Path | None,
    fake: bool,
    as_json: bool,
) -> None:
    """Measure ingest speed, query latency, memory, disk and cold start at scale."""
    from .benchmark import BenchConfig, format_table, parse_sizes, run_benchmark

    try:
        parsed = parse_sizes(sizes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sizes") from exc
    config = BenchConfig(
        docs=docs,
        sizes=parsed,
        queries=queries,
        plain_sample=plain_sample,
        clients=clients,
        fake=fake,
        workdir=workdir,
        settings=settings_from_options(),
    )
    with one_line_errors():
        result = run_benchmark(config, progress=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps(result.figures(), ensure_ascii=False))
    else:
        click.echo(format_table(result))
