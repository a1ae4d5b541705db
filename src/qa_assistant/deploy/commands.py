"""``qa-assistant deploy-check``: the command line's hook into this package
(:func:`register_commands`).

Only click is imported here; the check itself loads when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .._cli_common import one_line_errors, settings_from_options

__all__ = ["register_commands"]


def register_commands(cli: click.Group) -> None:
    cli.add_command(deploy_check)


@click.command(name="deploy-check")
@click.option(
    "--documents",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("documents"),
    show_default=True,
    help="Folder the replicas start from (copied, never written).",
)
@click.option(
    "--question-set",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("eval/questions.jsonl"),
    show_default=True,
    help="Evaluation set over those documents: the first questions of the citizens' pool.",
)
@click.option("--replicas", type=click.IntRange(1), default=2, show_default=True)
@click.option("--users", type=click.IntRange(1), default=50, show_default=True)
@click.option("--questions", type=click.IntRange(1), default=4, show_default=True, help="Per user.")
@click.option(
    "--uploads", type=click.IntRange(0), default=4, show_default=True, help="Staff uploads."
)
@click.option("--no-kill", is_flag=True, help="Skip the SIGKILL of a replica mid-ingest.")
@click.option(
    "--feedback-url", help="PostgreSQL URL the replicas share for feedback (QA_FEEDBACK__URL)."
)
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the run's files here.")
def deploy_check(
    documents: Path,
    question_set: Path,
    replicas: int,
    users: int,
    questions: int,
    uploads: int,
    no_kill: bool,
    feedback_url: str | None,
    workdir: Path | None,
) -> None:
    """Start chroma run and N replicas on loopback, load them, SIGKILL one, check the store."""
    from .check import DeployCheckConfig, run_deploy_check

    config = DeployCheckConfig(
        documents=documents,
        question_set=question_set,
        workdir=workdir,
        replicas=replicas,
        users=users,
        questions=questions,
        uploads=uploads,
        kill=not no_kill,
        feedback_url=feedback_url,
    )
    with one_line_errors():
        report = run_deploy_check(config, settings_from_options())
    click.echo(report.format())
    if not report.ok:
        sys.exit(1)
