"""``qa-assistant deploy-check``: the command line's hook into this package
(:func:`register_commands`).

Only click is imported here; the check itself loads when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import _cli_common as common

__all__ = ["register_commands"]


def register_commands(cli: click.Group) -> None:
    cli.add_command(deploy_check)


@click.command(name="deploy-check")
@common.existing_path_option(
    "--documents",
    folder=True,
    default=Path("documents"),
    help="Folder the replicas start from (copied, never written).",
)
@common.existing_path_option(
    "--question-set",
    folder=False,
    default=Path("eval/questions.jsonl"),
    help="Evaluation set over those documents: the first questions of the citizens' pool.",
)
@common.count_option("--replicas", 2)
@common.count_option("--users", 50)
@common.count_option("--questions", 4, help="Per user.")
@common.count_option("--uploads", 4, minimum=0, help="Staff uploads.")
@click.option("--no-kill", is_flag=True, help="Skip the SIGKILL of a replica mid-ingest.")
@click.option(
    "--feedback-url", help="PostgreSQL URL the replicas share for feedback (QA_FEEDBACK__URL)."
)
@common.workdir_option("Keep the run's files here.")
def deploy_check(no_kill: bool, **options: Any) -> None:
    """Start chroma run and N replicas on loopback, load them, SIGKILL one, check the store."""
    from .check import DeployCheckConfig, run_deploy_check

    # The options left are named as DeployCheckConfig's fields.
    config = DeployCheckConfig(kill=not no_kill, **options)
    with common.one_line_errors():
        report = run_deploy_check(config, common.settings_from_options())
    click.echo(report.format())
    if not report.ok:
        sys.exit(1)
