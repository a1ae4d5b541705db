"""The command line: the runtime's ``qa-assistant ingest | ask | eval | serve``, plus the
``feedback`` and ``audit`` exports; and the tooling's ``bench``, ``deploy-check`` and ``train*``
commands, which their subpackages add as llm's plugins do (:data:`TOOLING`).

Settings are read here (``QA_*`` environment variables) and overridden by options; every
``QAError`` becomes a one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from ._cli_common import index_option, one_line_errors, settings_from_options
from .settings import RETRIEVER_NAMES, Settings
from .types import OCR_NOTICE, Answer, Filters, IngestReport

if TYPE_CHECKING:
    from .assistant import Assistant

__all__ = [
    "CACHE_COUNTS_LINE",
    "RETRIEVERS",
    "TOOLING",
    "format_answer",
    "main",
    "report_dict",
]

RETRIEVERS = click.Choice(RETRIEVER_NAMES)


def _warm_up(assistant: Any) -> None:
    click.echo("Loading the models (a first start builds them into the cache: about a minute) …")
    assistant.warm_up()


# What ``serve`` prints on SIGUSR1 (as dd prints its progress), then the JSON of the
# models' cache counts so far, e.g. {"relevance": {"hits": 3, "misses": 9}}: how much of
# their work the citizens' questions left to the caches. ``deploy-check`` reads it.
CACHE_COUNTS_LINE = "Model caches: "


def _print_cache_counts_on_signal(assistant: Any) -> None:
    from ._models.onnx_runtime import CacheCounted

    def report(signum: int, frame: object) -> None:
        models = {"relevance": assistant.relevance_model, "span": assistant.span_model}
        counts = {
            name: asdict(model.cache_counts())
            for name, model in models.items()
            if isinstance(model, CacheCounted)
        }
        click.echo(CACHE_COUNTS_LINE + json.dumps(counts))

    # Only the main thread may set a handler; Windows has no SIGUSR1.
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, report)


def _assistant(settings: Settings) -> Any:
    from .assistant import Assistant

    return Assistant(settings)


def _progress_bar(label: str) -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int, source: str) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=label, unit="file", file=sys.stderr)
        b = bar["bar"]
        b.n = done
        b.set_postfix_str(source[-40:], refresh=True)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return update, close


def _ingest(
    assistant: Assistant, paths: Sequence[Path] | None = None, *, rebuild: bool = False
) -> IngestReport:
    """The assistant's ingest, with a progress bar on stderr."""
    update, close = _progress_bar("Ingest")
    try:
        return assistant.ingest(paths, rebuild=rebuild, progress=update)
    finally:
        close()


def _echo_ingested(report: IngestReport) -> None:
    click.echo(f"Indexed {report.documents} documents, {report.chunks} chunks.")
    _echo_skipped(report)


def _ingest_meanwhile(assistant: Assistant) -> None:
    """``serve --ingest``'s ingest while the page serves: a failure is the operator's to read
    in the log, as the command's own would be; the page goes on serving what is committed."""
    from .errors import QAError

    try:
        _echo_ingested(_ingest(assistant))
    except QAError as exc:
        click.echo(f"Error: {exc}", err=True)


def _echo_skipped(report: IngestReport) -> None:
    for f in report.failed:
        click.echo(f"  skipped {f.path}: {f.error}", err=True)


def report_dict(report: IngestReport) -> dict[str, Any]:
    data = asdict(report)
    data["failed"] = [asdict(f) for f in report.failed]
    return data


# The tooling's commands, by the module whose ``register_commands(cli)`` adds them, as llm's
# plugins add theirs. A module is imported only when one of its commands runs or the help lists
# them, so that ``ask`` and ``serve`` load no benchmark, training or deploy code.
TOOLING = {
    "bench": "qa_assistant.bench.commands",
    "deploy-check": "qa_assistant.deploy.commands",
    "train-relevance": "qa_assistant.training.commands",
    "train": "qa_assistant.training.commands",  # train-relevance's old name, for one release
    "train-embedder": "qa_assistant.training.commands",
    "train-span-model": "qa_assistant.training.commands",
    # train-span-model's old name, for one release
    "train-reader": "qa_assistant.training.commands",
    "train-answerability": "qa_assistant.training.commands",
}


class _CommandLine(click.Group):
    """The runtime's commands, and the tooling's registered on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *TOOLING})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            # One of the tooling's, or a mistyped name: click's "did you mean" then compares it
            # with the registered commands, so all of them are registered.
            wanted = [TOOLING[cmd_name]] if cmd_name in TOOLING else TOOLING.values()
            for module in dict.fromkeys(wanted):
                import_module(module).register_commands(self)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_CommandLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qa-assistant")
def main() -> None:
    """Answer questions about Vietnamese policy documents, citing the exact passages."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@index_option
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def ingest(paths: tuple[Path, ...], index: Path | None, rebuild: bool, as_json: bool) -> None:
    """Index files or folders (default: the documents folder), incrementally."""
    settings = settings_from_options(index)
    with one_line_errors():
        report = _ingest(_assistant(settings), list(paths) or None, rebuild=rebuild)
    if as_json:
        click.echo(json.dumps(report_dict(report), ensure_ascii=False))
        return
    if report.reembedded:
        click.echo(
            f"The index was embedded by another model: re-embedded its {report.reembedded} "
            "chunks for the configured one."
        )
    click.echo(
        f"{report.documents} documents, {report.chunks} chunks in the index "
        f"(added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.skipped}) in {report.seconds:.1f} s"
    )
    _echo_skipped(report)


def _filters(sources: tuple[str, ...], date_from: str | None, date_to: str | None) -> Filters:
    from datetime import date

    try:
        return Filters(
            sources=sources,
            date_from=date.fromisoformat(date_from) if date_from else None,
            date_to=date.fromisoformat(date_to) if date_to else None,
        )
    except ValueError as exc:
        raise click.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc


def format_answer(answer: Answer) -> str:
    lines = [answer.text]
    if answer.answer_span:
        lines.append(f"\nTrả lời ngắn: {answer.answer_span}")
    for c in answer.citations:
        where = c.heading or c.title
        page = f", {c.page_label}" if c.page else ""
        scanned = f" ({OCR_NOTICE})" if c.ocr else ""
        lines.append(f"\n[{c.marker}] {c.source}{page}: {where}{scanned}")
        lines.append(f"    “{c.quote}”")
    if answer.note:
        lines.append(f"\n({answer.note})")
    for w in answer.warnings:
        lines.append(f"\n(!) {w}")
    return "\n".join(lines)


@main.command()
@click.argument("question")
@index_option
@click.option("-k", type=click.IntRange(1, 50), help="Passages given to the answerer.")
@click.option("--retriever", type=RETRIEVERS, help="Retrieval strategy (default: hybrid).")
@click.option("--source", "sources", multiple=True, help="Only these documents (repeatable).")
@click.option("--from", "date_from", help="Only documents dated on or after YYYY-MM-DD.")
@click.option("--to", "date_to", help="Only documents dated on or before YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def ask(
    question: str,
    index: Path | None,
    k: int | None,
    retriever: str | None,
    sources: tuple[str, ...],
    date_from: str | None,
    date_to: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the indexed documents, with citations."""
    settings = settings_from_options(index)
    filters = _filters(sources, date_from, date_to)
    with one_line_errors():
        answer = _assistant(settings).ask(question, k=k, retriever=retriever, filters=filters)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        click.echo(format_answer(answer))


@main.command(name="eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--docs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Ingest this folder (incrementally) before evaluating.",
)
@index_option
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Folder for results.jsonl, summary.json, report.md.",
)
@click.option("--retriever", type=RETRIEVERS, help="Retrieval strategy (default: hybrid).")
@click.option("-k", type=click.IntRange(1, 50), help="Passages given to the answerer.")
@click.option("--split", help="Only questions of this split (e.g. dev or holdout).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option(
    "--strip-diacritics",
    "strip",
    is_flag=True,
    help="Ask every question with its diacritics removed, as citizens often type them.",
)
def eval_(
    questions: Path,
    docs: Path | None,
    index: Path | None,
    output: Path,
    retriever: str | None,
    k: int | None,
    split: str | None,
    limit: int | None,
    strip: bool,
) -> None:
    """Score the assistant on a question set (JSON Lines) and write a report."""
    from .evaluation import run_evaluation

    settings = settings_from_options(index, retriever=retriever, k=k)
    with one_line_errors():
        assistant = _assistant(settings)
        if docs is not None:
            _echo_skipped(_ingest(assistant, [docs]))
        # Latency figures describe a running service, not the first question's model load.
        _warm_up(assistant)
        config = {
            "model": settings.model,
            "embedder": assistant.embedder.name,  # with the fine-tuned weights' hash
            "retriever": settings.retriever,
            "k": settings.k,
            "answerer": settings.answerer,
            "relevance_model": settings.relevance.mode,
            "relevance_threshold": assistant.relevance_threshold,
            "settings": settings.model_dump(mode="json"),
            "index_chunks": assistant.index.count(),
            "index_documents": len(assistant.documents()),
        }
        summary = run_evaluation(
            questions,
            lambda q: assistant.ask(q, k=settings.k, retriever=settings.retriever),
            output_dir=output,
            config=config,
            split=split,
            limit=limit,
            strip_diacritics=strip,
            on_skipped_line=lambda line, problem: click.echo(
                f"{questions}:{line}: skipped: {problem}", err=True
            ),
        )
    click.echo(summary.format_table())
    click.echo(f"Report: {output / 'report.md'}")


@main.command()
@click.option("--host", help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 7860).")
@index_option
@click.option(
    "--ingest",
    "ingest_first",
    is_flag=True,
    help="Ingest the documents folder if the index is missing or stale: while serving where "
    "the store already answers, else first.",
)
def serve(host: str | None, port: int | None, index: Path | None, ingest_first: bool) -> None:
    """Serve the Gradio page (and its HTTP API)."""
    # The page's modules (Gradio) take seconds to import: they import while the models load,
    # which shortens a start on busy cores (a replica restarted while the others serve).
    page = threading.Thread(target=import_module, args=(f"{__package__}._ui",), daemon=True)
    page.start()
    settings = settings_from_options(index, host=host, port=port)
    with one_line_errors():
        if settings.feedback.url is not None:
            # A shared database is part of the deployment: a wrong URL stops the start with what
            # to check, rather than failing every rating later. This also creates the tables.
            from ._state.audit import open_audit_store
            from ._state.feedback import open_feedback_store

            open_feedback_store(settings)
            open_audit_store(settings)
        assistant = _assistant(settings)
        problem = assistant.answerer_problem()
        if problem:
            # Served all the same: each answer falls back to the extractive one meanwhile.
            click.echo(f"Warning: {problem} Until then the extractive answer is shown.", err=True)
        # Each document's registry record is its commit, so questions answered while an
        # ingest runs read none half ingested (as on every replica while another ingests):
        # a store that answers as it is serves at once, its ingest finished meanwhile.
        stale = ingest_first and assistant.is_stale()
        meanwhile = stale and assistant.answers_as_is()
        if stale and not meanwhile:
            _echo_ingested(_ingest(assistant))
        _warm_up(assistant)
        _print_cache_counts_on_signal(assistant)
        page.join()
        from ._ui import serve as serve_ui

        if meanwhile:
            # Started once the models are loaded: its embedding would slow the start.
            click.echo("Serving while the documents folder is ingested …")
            threading.Thread(
                target=_ingest_meanwhile, args=(assistant,), name="ingest", daemon=True
            ).start()
        click.echo(f"Serving on http://{settings.host}:{settings.port}")
        serve_ui(assistant, settings)


@main.group()
def feedback() -> None:
    """Feedback that users gave on answers in the page."""


@feedback.command("export")
@index_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "questions"]),
    default="jsonl",
    show_default=True,
    help="questions = evaluation-set lines built from the feedback.",
)
@click.option("--rating", type=click.Choice(["up", "down"]), help="Only this rating.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def feedback_export(index: Path | None, fmt: str, rating: str | None, output: Any) -> None:
    """Write the stored feedback (question, answer, citations, rating, comment)."""
    from ._state.feedback import export_feedback, open_feedback_store

    settings = settings_from_options(index)
    with one_line_errors():
        store = open_feedback_store(settings, existing=True)
        count = export_feedback(store, output, fmt, rating=rating)
    click.echo(f"{count} feedback rows written.", err=True)


@main.group()
def audit() -> None:
    """The log of staff actions in the page (uploads, deletes, re-ingests, logins)."""


@audit.command("export")
@index_option
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def audit_export(index: Path | None, fmt: str, output: Any) -> None:
    """Write the audit log (time, action, file, result, detail, client), oldest first."""
    from ._state.audit import export_audit, open_audit_store

    settings = settings_from_options(index)
    with one_line_errors():
        count = export_audit(open_audit_store(settings, existing=True), output, fmt)
    click.echo(f"{count} audit rows written.", err=True)


if __name__ == "__main__":
    main()
