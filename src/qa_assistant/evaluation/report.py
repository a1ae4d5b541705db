"""The report of a run: results.jsonl, summary.json, report.md and its plots."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .metrics import ALL_METRICS, RETRIEVAL_DEPTH, WHITESPACE, format_value
from .results import EvalSummary, Figures, QuestionResult

WORST_QUESTIONS = 10


def _md_cell(text: str, limit: int = 90) -> str:
    text = WHITESPACE.sub(" ", text).strip().replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _metrics_table(columns: Mapping[str, Figures]) -> list[str]:
    names = list(columns)
    lines = [
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        "| questions | " + " | ".join(str(f.questions) for f in columns.values()) + " |",
    ]
    for metric in ALL_METRICS:
        cells = [
            f"{format_value(metric, f.metrics.get(metric))} ({f.counts.get(metric, 0)})"
            for f in columns.values()
        ]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return lines


def question_score(result: QuestionResult) -> float:
    """One number per question to rank the worst ones: the mean of its metrics that apply;
    for an unanswerable question, 1 when it abstained and 0 when it answered."""
    if not result.question.answerable:
        return 1.0 if result.answer.abstained else 0.0
    keys = ("containment", "token_f1", "mrr@10", "citation_support")
    values = [v for k in keys if (v := result.metrics.get(k)) is not None]
    if not values:
        values = [v for v in result.metrics.values() if v is not None]
    return sum(values) / len(values) if values else 0.0


def render_report(summary: EvalSummary, plots: Sequence[str] = ()) -> str:
    config = summary.config
    lines = [
        "# Evaluation report",
        "",
        f"- date: {summary.date}",
        f"- qa-assistant version: {summary.version}",
    ]
    lines += [f"- {key}: {'—' if value is None else value}" for key, value in config.items()]
    lines += [
        f"- questions: {summary.overall.questions}"
        f" (answerable {sum(r.question.answerable for r in summary.results)},"
        f" unanswerable {sum(not r.question.answerable for r in summary.results)})",
    ]
    if summary.errors:
        lines.append(f"- questions that failed with an error: {summary.errors}")
    if summary.skipped_lines:
        lines.append(f"- malformed lines skipped: {len(summary.skipped_lines)}")
        lines += [f"  - line {n}: {_md_cell(e)}" for n, e in summary.skipped_lines]
    lines += [
        "",
        "## Metrics",
        "",
        "Each cell is the value and, in brackets, how many questions it is computed over "
        "(metrics that do not apply to a question leave it out; see eval/README.md).",
        "",
    ]
    lines += _metrics_table(
        {"all": summary.overall, **{f"split: {k}": v for k, v in summary.by_split.items()}}
    )
    if summary.by_kind:
        lines += ["", "## By kind", ""]
        lines += _metrics_table(dict(summary.by_kind))
    worst = sorted(summary.results, key=lambda r: (question_score(r), r.question.id))[
        :WORST_QUESTIONS
    ]
    lines += [
        "",
        "## Worst questions",
        "",
        "| id | kind | score | question | answer |",
        "|---|---|---:|---|---|",
    ]
    for r in worst:
        shown = (
            "(abstained)"
            if r.answer.abstained
            else (r.error and f"error: {r.error}") or r.answer.text
        )
        lines.append(
            f"| {r.question.id} | {r.question.kind or ''} | {question_score(r):.3f} "
            f"| {_md_cell(r.question.question)} | {_md_cell(shown)} |"
        )
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def hit_rate_curve(results: Sequence[QuestionResult], depth: int = RETRIEVAL_DEPTH) -> list[float]:
    """Share of questions with evidence that have a gold passage within rank 1..depth."""
    firsts: list[int | None] = []
    for r in results:
        mrr = r.metrics.get("mrr@10")
        if mrr is None:
            continue
        # mrr@10 is 1/rank of the first gold passage, so the rank can be read back from it.
        firsts.append(round(1 / mrr) if mrr > 0 else None)
    if not firsts:
        return []
    return [
        sum(1 for f in firsts if f is not None and f <= k) / len(firsts)
        for k in range(1, depth + 1)
    ]


def _plot(summary: EvalSummary, output_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    written: list[str] = []
    by_kind: dict[str, list[QuestionResult]] = {}
    for r in summary.results:
        if r.question.kind:
            by_kind.setdefault(r.question.kind, []).append(r)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ranks = list(range(1, RETRIEVAL_DEPTH + 1))
    overall = hit_rate_curve(summary.results)
    if overall:
        ax.plot(ranks, overall, marker="o", linewidth=2.5, color="black", label="all")
    for kind, group in sorted(by_kind.items()):
        curve = hit_rate_curve(group)
        if curve:
            ax.plot(ranks, curve, marker=".", linewidth=1, alpha=0.8, label=kind)
    ax.set(xlabel="rank k", ylabel="hit rate (gold passage in top k)", ylim=(0, 1.02))
    ax.set_xticks(ranks)
    ax.set_title("Retrieval hit rate by rank")
    ax.grid(alpha=0.3)
    if overall or by_kind:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(output_dir / "hit_rate_by_rank.png", dpi=110)
    plt.close(fig)
    written.append("hit_rate_by_rank.png")

    latencies = [r.latency_ms for r in summary.results]
    panels = 2 if by_kind else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    axes[0][0].hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="steelblue")
    axes[0][0].set(xlabel="latency (ms)", ylabel="questions", title="Latency distribution")
    if by_kind:
        kinds = sorted(by_kind)
        axes[0][1].boxplot(
            [[r.latency_ms for r in by_kind[k]] for k in kinds], orientation="horizontal"
        )
        axes[0][1].set_yticks(range(1, len(kinds) + 1), kinds)
        axes[0][1].set(xlabel="latency (ms)", title="Latency by kind")
    fig.tight_layout()
    fig.savefig(output_dir / "latency.png", dpi=110)
    plt.close(fig)
    written.append("latency.png")
    return written


def write_report(summary: EvalSummary, output_dir: Path) -> list[Path]:
    """Writes results.jsonl, summary.json, report.md and the plots; returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    results_path = output_dir / "results.jsonl"
    with results_path.open("w", encoding="utf-8") as fh:
        for r in summary.results:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    summary_path = output_dir / "summary.json"
    summary_path.write_text(
        json.dumps(summary.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    plots = _plot(summary, output_dir)
    report_path = output_dir / "report.md"
    report_path.write_text(render_report(summary, plots), encoding="utf-8")
    return [results_path, summary_path, report_path, *(output_dir / p for p in plots)]
