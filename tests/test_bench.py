"""The benchmark, run small on the fake embedder: the figures exist and describe what ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SEED_DOCUMENTS
from qa_assistant.bench.config import parse_sizes, size_label
from qa_assistant.cli import main


def test_parse_sizes_accepts_thousands_and_sorts() -> None:
    assert parse_sizes("10k, 1000 100k") == (1000, 10_000, 100_000)
    assert size_label(100_000) == "100k"
    assert size_label(300) == "300"
    with pytest.raises(ValueError):
        parse_sizes("ten")


def test_bench_reports_every_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One small run through the command (a fresh serving process takes seconds to start), with
    # the default settings: the relevance model on, a fake too.
    monkeypatch.setenv("QA_RELEVANCE__ENABLED", "true")
    args = ["bench", "--fake", "--docs", str(SEED_DOCUMENTS), "--sizes", "300", "--queries", "4"]
    args += ["--clients", "3"]
    result = CliRunner().invoke(main, [*args, "--workdir", str(tmp_path / "bench"), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # Built to the size asked for, served by a separate process that answered.
    assert figures["chunks_300"] == 300
    for key in (
        "ingest_chunks_per_s",
        "ingest_mb_per_s",
        "ingest_ratio_vs_plain_encode",
        "query_p50_ms_300",
        "query_p95_ms_300",
        "retrieval_p50_ms_300",
        "plain_search_p50_ms_300",
        "peak_rss_mb_300",
        "index_mb_300",
        "cold_start_s",
        "replica_cold_start_s_300",
        "follow_s_300",
        "follow_catch_up_ms_300",
        "concurrent_p50_ms_300",
        "concurrent_p95_ms_300",
        "concurrent_qps_300",
    ):
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
    assert figures["query_p95_ms_300"] >= figures["query_p50_ms_300"]
    assert figures["concurrent_clients_300"] == 3
    assert figures["concurrent_p50_ms_300"] >= figures["concurrent_queued_p50_ms_300"]
    assert any("vectors reused" in n for n in figures["notes"])
    assert any("relevance model on, where the rules abstain" in n for n in figures["notes"])
    # The workdir keeps the collection, so it can be inspected or served again.
    assert (tmp_path / "bench" / "collection-300" / "chroma.sqlite3").is_file()


def test_a_serving_process_reports_its_own_peak_memory_not_its_parents() -> None:
    # Linux carries ru_maxrss over fork and exec: a child of a large benchmark process
    # would otherwise report the parent's peak as its own.
    import subprocess
    import sys

    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"\1" * len(ballast[::4096])  # touch every page so it is resident
    code = "from qa_assistant.bench.worker import _peak_rss_mb; print(_peak_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 300
    del ballast
