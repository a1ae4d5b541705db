"""The command line: ``qa-assistant ingest | ask | eval | serve | bench | deploy-check | train``,
plus the ``feedback`` and ``audit`` exports.

Settings are read here (``QA_*`` environment variables) and overridden by options; every
``QAError`` becomes a one-line message and exit status 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import QAError
from .settings import RETRIEVER_NAMES, Settings
from .types import OCR_NOTICE, Answer, Filters, IngestReport

__all__ = [
    "RETRIEVERS",
    "format_answer",
    "main",
    "report_dict",
]

RETRIEVERS = click.Choice(RETRIEVER_NAMES)


def _warm_up(assistant: Any) -> None:
    click.echo("Loading the models (a first start builds them into the cache: about a minute) …")
    assistant.warm_up()


def _settings(index: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if index is not None:
        values["index_dir"] = index
    try:
        return Settings(**values)
    except Exception as exc:  # pydantic's ValidationError: show it as a settings problem
        raise click.ClickException(f"Invalid setting: {exc}") from exc


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except QAError as exc:
        raise click.ClickException(str(exc)) from exc


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


def report_dict(report: IngestReport) -> dict[str, Any]:
    data = asdict(report)
    data["failed"] = [asdict(f) for f in report.failed]
    return data


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qa-assistant")
def main() -> None:
    """Answer questions about Vietnamese policy documents, citing the exact passages."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def ingest(paths: tuple[Path, ...], index: Path | None, rebuild: bool, as_json: bool) -> None:
    """Index files or folders (default: the documents folder), incrementally."""
    settings = _settings(index)
    with _errors():
        assistant = _assistant(settings)
        update, close = _progress_bar("Ingest")
        try:
            report = assistant.ingest(list(paths) or None, rebuild=rebuild, progress=update)
        finally:
            close()
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
    for f in report.failed:
        click.echo(f"  skipped {f.path}: {f.error}", err=True)


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
    for c in answer.citations:
        where = c.heading or c.title
        page = f", {c.page_label}" if c.page else ""
        scanned = f" ({OCR_NOTICE})" if c.ocr else ""
        lines.append(f"\n[{c.marker}] {c.source}{page}: {where}{scanned}")
        lines.append(f"    “{c.quote}”")
    for w in answer.warnings:
        lines.append(f"\n(!) {w}")
    return "\n".join(lines)


@main.command()
@click.argument("question")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
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
    settings = _settings(index)
    filters = _filters(sources, date_from, date_to)
    with _errors():
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
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
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

    settings = _settings(index, retriever=retriever, k=k)
    with _errors():
        assistant = _assistant(settings)
        if docs is not None:
            update, close = _progress_bar("Ingest")
            try:
                report = assistant.ingest([docs], progress=update)
            finally:
                close()
            for f in report.failed:
                click.echo(f"  skipped {f.path}: {f.error}", err=True)
        # Latency figures describe a running service, not the first question's model load.
        _warm_up(assistant)
        config = {
            "model": settings.model,
            "embedder": assistant.embedder.name,  # with the fine-tuned weights' hash
            "retriever": settings.retriever,
            "k": settings.k,
            "answerer": settings.answerer,
            "learned_stage": settings.relevance.mode,
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
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
@click.option(
    "--ingest",
    "ingest_first",
    is_flag=True,
    help="First ingest the documents folder if the index is missing or stale.",
)
def serve(host: str | None, port: int | None, index: Path | None, ingest_first: bool) -> None:
    """Serve the Gradio page (and its HTTP API)."""
    from ._ui import serve as serve_ui

    settings = _settings(index, host=host, port=port)
    with _errors():
        if settings.feedback.url is not None:
            # A shared database is part of the deployment: a wrong URL stops the start with what
            # to check, rather than failing every rating later. This also creates the tables.
            from ._audit import open_audit_store
            from ._feedback import open_feedback_store

            open_feedback_store(settings)
            open_audit_store(settings)
        assistant = _assistant(settings)
        if ingest_first and assistant.is_stale():
            update, close = _progress_bar("Ingest")
            try:
                report = assistant.ingest(progress=update)
            finally:
                close()
            click.echo(f"Indexed {report.documents} documents, {report.chunks} chunks.")
            for f in report.failed:
                click.echo(f"  skipped {f.path}: {f.error}", err=True)
        _warm_up(assistant)
        click.echo(f"Serving on http://{settings.host}:{settings.port}")
        serve_ui(assistant, settings)


@main.command()
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
    from ._bench import BenchConfig, format_table, parse_sizes, run_benchmark

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
        settings=_settings(),
    )
    with _errors():
        result = run_benchmark(config, progress=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps(result.figures(), ensure_ascii=False))
    else:
        click.echo(format_table(result))


@main.command(name="deploy-check")
@click.option(
    "--documents",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("documents"),
    show_default=True,
    help="Folder the replicas start from (copied, never written).",
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
    replicas: int,
    users: int,
    questions: int,
    uploads: int,
    no_kill: bool,
    feedback_url: str | None,
    workdir: Path | None,
) -> None:
    """Start chroma run and N replicas on loopback, load them, SIGKILL one, check the store."""
    from ._deploy_check import DeployCheckConfig, run_deploy_check

    config = DeployCheckConfig(
        documents=documents,
        workdir=workdir,
        replicas=replicas,
        users=users,
        questions=questions,
        uploads=uploads,
        kill=not no_kill,
        feedback_url=feedback_url,
    )
    with _errors():
        report = run_deploy_check(config, _settings())
    click.echo(report.format())
    if not report.ok:
        sys.exit(1)


# The training commands' shared options.
_TRAINING_DATA = click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("../shared"),
    show_default=True,
    help="The shared folder holding training/ (the public QA sets) and benchmarks/.",
)
_SEED = click.option("--seed", type=int, default=13, show_default=True)


@main.command()
@_TRAINING_DATA
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the trained layers (default: the packaged model file).",
)
@_SEED
@click.option("--layers", type=click.IntRange(1, 12), default=6, show_default=True)
@click.option("--max-minutes", type=float, default=80.0, show_default=True)
def train(data: Path, output: Path | None, seed: int, layers: int, max_minutes: float) -> None:
    """Retrain the relevance model on the public QA data (see docs/MODEL.md)."""
    from ._model_build import ensure_default_model
    from ._relevance_training import TrainConfig, train_relevance_model
    from ._reranker import relevance_weights

    settings = _settings()
    with _errors():
        base = ensure_default_model(settings.cache_dir)
        target = output or relevance_weights()
        config = TrainConfig(seed=seed, train_layers=layers, max_minutes=max_minutes)
        meta = train_relevance_model(data, base, target, config)
    click.echo(json.dumps(meta, indent=2, ensure_ascii=False))
    click.echo(f"Wrote {target}")


@main.command("train-embedder")
@_TRAINING_DATA
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the trained change (default: the packaged model file).",
)
@_SEED
@click.option("--max-steps", type=click.IntRange(1), default=180, show_default=True)
@click.option("--max-minutes", type=float, default=75.0, show_default=True)
@click.option(
    "--leave-out",
    multiple=True,
    help="A training set not to train on, by name (repeatable), e.g. virhe4qa.",
)
def train_embedder(
    data: Path,
    output: Path | None,
    seed: int,
    max_steps: int,
    max_minutes: float,
    leave_out: tuple[str, ...],
) -> None:
    """Fine-tune the dense leg's embedder on the public QA data (see docs/MODEL.md)."""
    from ._embedder_training import EmbedderTrainConfig
    from ._embedder_training import train_embedder as train_dense
    from ._model_build import ensure_default_model, tuned_weights

    settings = _settings()
    with _errors():
        base = ensure_default_model(settings.cache_dir)
        target = output or tuned_weights()
        config = EmbedderTrainConfig(
            seed=seed, max_steps=max_steps, max_minutes=max_minutes, leave_out=leave_out
        )
        meta = train_dense(data, base, target, config)
    click.echo(json.dumps(meta, indent=2, ensure_ascii=False))
    click.echo(f"Wrote {target}")


@main.group()
def feedback() -> None:
    """Feedback that users gave on answers in the page."""


@feedback.command("export")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
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
    from ._feedback import export_feedback, open_feedback_store

    settings = _settings(index)
    with _errors():
        store = open_feedback_store(settings, existing=True)
        count = export_feedback(store, output, fmt, rating=rating)
    click.echo(f"{count} feedback rows written.", err=True)


@main.group()
def audit() -> None:
    """The log of staff actions in the page (uploads, deletes, re-ingests, logins)."""


@audit.command("export")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder (QA_INDEX_DIR).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
def audit_export(index: Path | None, fmt: str, output: Any) -> None:
    """Write the audit log (time, action, file, result, detail, client), oldest first."""
    from ._audit import export_audit, open_audit_store

    settings = _settings(index)
    with _errors():
        count = export_audit(open_audit_store(settings, existing=True), output, fmt)
    click.echo(f"{count} audit rows written.", err=True)


if __name__ == "__main__":
    main()
