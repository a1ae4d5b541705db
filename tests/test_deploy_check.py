"""``qa-assistant deploy-check``: two replicas on one Chroma server, loaded, one SIGKILLed.

The full run uses the real model and real processes (slow); the comparison with a clean
sequential ingest is also checked on its own, with the fake embedder, so that it is known to
catch a store that differs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import SEED_DOCUMENTS
from qa_assistant._chroma_server import chroma_command
from qa_assistant._deploy_check import (
    DeployCheckConfig,
    DeployCheckReport,
    _differences,
    _policy_text,
    run_deploy_check,
)
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder


def _assistant(settings: Settings, folder: Path) -> Assistant:
    local = settings.model_copy(update={"index_dir": folder})
    return Assistant(local, embedder=FakeEmbedder())


def test_the_comparison_finds_what_a_clean_ingest_would_not_hold(
    settings: Settings, tmp_path: Path
) -> None:
    served, reference = _assistant(settings, tmp_path / "a"), _assistant(settings, tmp_path / "b")
    try:
        served.ingest()
        reference.ingest()
        assert _differences(served.index, reference.index) == []

        extra = tmp_path / "extra"
        extra.mkdir()
        text, _ = _policy_text(3)
        (extra / "xa-3.txt").write_text(text, encoding="utf-8")
        served.ingest([extra])
        found = _differences(served.index, reference.index)
        assert any("xa-3.txt: in the store, not in a clean ingest" in d for d in found)
        assert any("chunk ids not made by a clean ingest" in d for d in found)

        # Chunks without their registry record (an ingest killed before its commit) show too.
        source = reference.index.documents()[0].source
        served.index.remove_document("xa-3.txt")
        served.index._docs.delete(ids=[source])
        found = _differences(served.index, reference.index)
        assert f"{source}: missing from the store" in found
    finally:
        served.close()
        reference.close()


def test_the_report_fails_on_any_error_difference_or_late_kill() -> None:
    passed = DeployCheckReport(
        replicas=2,
        users=50,
        asks=200,
        failovers=3,
        errors=(),
        p50_ms=120.0,
        p95_ms=900.0,
        uploads=4,
        deletes=2,
        killed_mid_ingest=True,
        restart_s=20.0,
        documents=5,
        chunks=80,
        differences=(),
        seconds=100.0,
    )
    assert passed.ok and "PASS" in passed.format() and "mid-ingest" in passed.format()
    assert not replace(passed, errors=("user 3: no replica answered",)).ok
    assert not replace(passed, differences=("a.txt: missing from the store",)).ok
    late = replace(passed, killed_mid_ingest=False)
    assert not late.ok and "AFTER" in late.format()
    assert replace(passed, killed_mid_ingest=None, restart_s=None).ok


@pytest.mark.slow
@pytest.mark.integration
def test_two_replicas_under_load_with_a_crash_end_like_a_sequential_ingest(
    tmp_path: Path,
) -> None:
    if chroma_command() is None:
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    config = DeployCheckConfig(
        documents=SEED_DOCUMENTS, workdir=tmp_path, users=8, questions=2, uploads=2
    )
    report = run_deploy_check(config)
    assert report.ok, report.format()
    assert report.asks == 16 and report.uploads == 2 and report.deletes == 1
    assert report.killed_mid_ingest is True and report.restart_s is not None
