"""``qa-assistant deploy-check``: two replicas on one Chroma server, loaded, one SIGKILLed.

The full run uses the real model and real processes (slow); the comparison with a clean
sequential ingest is also checked on its own, with the fake embedder, so that it is known to
catch a store that differs.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import ROOT, SEED_DOCUMENTS
from qa_assistant._models.onnx_runtime import CacheCounts
from qa_assistant.assistant import Assistant
from qa_assistant.deploy.answers import answer_mismatches
from qa_assistant.deploy.check import DeployCheckConfig, run_deploy_check
from qa_assistant.deploy.load import Asked, reads_staff_documents
from qa_assistant.deploy.questions import FOLLOW_UPS, Ask, deal, question_pool
from qa_assistant.deploy.replicas import Counted, cached_during
from qa_assistant.deploy.report import DeployCheckReport
from qa_assistant.deploy.staff import policy_text
from qa_assistant.deploy.store_diff import store_differences
from qa_assistant.drivers.chroma_server import chroma_command
from qa_assistant.drivers.page_client import Timing
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
        assert store_differences(served.index, reference.index) == []

        extra = tmp_path / "extra"
        extra.mkdir()
        text, _ = policy_text(3)
        (extra / "xa-3.txt").write_text(text, encoding="utf-8")
        served.ingest([extra])
        found = store_differences(served.index, reference.index)
        assert any("xa-3.txt: in the store, not in a clean ingest" in d for d in found)
        assert any("chunk ids not made by a clean ingest" in d for d in found)

        # Chunks without their registry record (an ingest killed before its commit) show too.
        source = reference.index.documents()[0].source
        served.index.remove_document("xa-3.txt")
        served.index._docs.delete(ids=[source])
        found = store_differences(served.index, reference.index)
        assert f"{source}: missing from the store" in found
    finally:
        served.close()
        reference.close()


def test_the_report_fails_on_any_error_difference_or_late_kill() -> None:
    passed = DeployCheckReport(
        replicas=2,
        users=50,
        asks=200,
        distinct=180,
        failovers=3,
        errors=(),
        latency=Timing(120.0, 900.0),
        queued=Timing(60.0, 700.0),
        handled=Timing(60.0, 200.0),
        assistant=Timing(40.0, 150.0),
        throughput_qps=25.0,
        cached={"relevance": CacheCounts(hits=30, misses=90), "span": CacheCounts(0, 0)},
        compared=150,
        mismatches=(),
        settings={"ask_concurrency": 4},
        peak_rss_mb=(700.0, 690.0),
        uploads=4,
        deletes=2,
        killed_mid_ingest=True,
        restart_s=20.0,
        committed_s=35.0,
        documents=5,
        chunks=80,
        differences=(),
        seconds=100.0,
    )
    shown = passed.format()
    assert passed.ok and "PASS" in shown and "mid-ingest" in shown
    assert "back in 20.0 s, its ingest committed 35.0 s after the restart" in shown
    assert "throughput 25.0 questions/s" in shown and "ask_concurrency=4" in shown
    assert "questions asked 200 (180 distinct)" in shown
    assert "relevance model 30 of 120 calls (25%); span model 0 of 0 calls (0%)" in shown
    assert "waiting in the queue p50 60 ms" in shown and "the assistant p50 40 ms" in shown
    assert not replace(passed, errors=("user 3: no replica answered",)).ok
    assert not replace(passed, differences=("a.txt: missing from the store",)).ok
    assert not replace(passed, mismatches=("'Ai …?': an answer under load",)).ok
    late = replace(passed, killed_mid_ingest=False)
    assert not late.ok and "AFTER" in late.format()
    assert replace(passed, killed_mid_ingest=None, restart_s=None, committed_s=None).ok


def _asked(question: Ask, answer: str, staff: bool = False) -> Asked:
    return Asked(question, 5.0, 5.0, 4.0, answer, staff, finished=0.0)


def test_the_pool_holds_many_different_questions_as_citizens_type_them() -> None:
    pool = question_pool(ROOT / "eval" / "questions.jsonl")
    assert len(pool) == len(set(pool)) >= 150
    questions = {a.question for a in pool}
    assert "Quảng Ninh hỗ trợ mỗi thôn bao nhiêu tiền để đón Tết?" in questions  # the eval set
    assert "quang ninh ho tro moi thon bao nhieu tien de don tet?" in questions  # unaccented
    before, after = FOLLOW_UPS[0]
    assert Ask(after, (before,)) in pool  # a follow-up, with its conversation
    assert Ask(after) not in pool  # never alone: it means nothing without the question before


def test_citizens_are_dealt_every_question_once_before_any_comes_again() -> None:
    pool = [Ask(f"q{i}") for i in range(7)]
    hands = deal(pool, users=3, per_user=4, rng=random.Random(1))
    assert [len(h) for h in hands] == [4, 4, 4]
    dealt = [a for round_ in zip(*hands, strict=True) for a in round_]
    assert set(dealt[:7]) == set(pool) and set(dealt[7:]) < set(pool)


def test_cache_counts_are_the_loads_own_a_restarted_replica_counted_from_its_restart() -> None:
    before = [
        Counted(1, {"relevance": CacheCounts(2, 10), "span": CacheCounts(1, 5)}),
        Counted(1, {"relevance": CacheCounts(0, 3)}),
        None,  # did not answer the signal: counted whole afterwards
    ]
    after = [
        Counted(1, {"relevance": CacheCounts(12, 40), "span": CacheCounts(4, 9)}),
        Counted(2, {"relevance": CacheCounts(1, 6)}),  # killed and restarted in between
        Counted(1, {"relevance": CacheCounts(0, 1)}),
    ]
    assert cached_during(before, after) == {
        "relevance": CacheCounts(10 + 1 + 0, 30 + 6 + 1),
        "span": CacheCounts(3, 4),
    }
    assert cached_during(before, [None, None, None]) == {}


def test_answers_under_load_are_held_to_the_same_question_asked_alone() -> None:
    kept, moved = Ask("Ai được miễn học phí?"), Ask("Còn bảo hiểm y tế thì sao?", ("Ai …?",))
    deleted = Ask(policy_text(1)[1])  # about an upload staff deleted again
    before = {kept: "A", moved: "B", deleted: "không tìm thấy"}
    after = {kept: "A", moved: "B2", deleted: "không tìm thấy"}
    asked = [
        _asked(kept, "A"),
        _asked(kept, "A-under-load"),
        _asked(kept, "A-with-an-upload", staff=True),  # read an upload: depends on when
        _asked(moved, "B-or-B2"),  # the staff's uploads changed its lone answer: not compared
        _asked(deleted, "4 triệu đồng", staff=True),  # asked while the upload was there
        _asked(deleted, "không tìm thấy"),
    ]
    compared, differ = answer_mismatches(asked, before, after)
    assert compared == 3
    assert len(differ) == 1 and "A-under-load" in differ[0]


def test_an_answer_that_read_an_upload_is_told_apart() -> None:
    seed = {"quang-ninh-an-sinh-xa-hoi-2026.txt"}
    seeded = {"retrieved": [{"source": "quang-ninh-an-sinh-xa-hoi-2026.txt"}]}
    assert not reads_staff_documents(seeded, seed)
    upload = {"source": "xa-0-ho-tro-sua-nha.txt"}
    assert reads_staff_documents({"retrieved": [*seeded["retrieved"], upload]}, seed)


@pytest.mark.slow
@pytest.mark.integration
def test_two_replicas_under_load_with_a_crash_end_like_a_sequential_ingest(
    tmp_path: Path,
) -> None:
    if chroma_command() is None:
        pytest.skip("the chroma command (from the chromadb package) is not installed")
    config = DeployCheckConfig(
        documents=SEED_DOCUMENTS,
        question_set=ROOT / "eval" / "questions.jsonl",
        workdir=tmp_path,
        users=8,
        questions=2,
        uploads=2,
    )
    settings = Settings()
    report = run_deploy_check(config, settings)
    assert report.ok, report.format()
    assert report.asks == report.distinct == 16 and report.uploads == 2 and report.deletes == 1
    if settings.relevance.enabled:  # counted during the load, by the replicas at its end
        assert sum(c.hits + c.misses for c in report.cached.values()) > 0
    assert report.killed_mid_ingest is True and report.restart_s is not None
    assert report.compared > 0 and not report.mismatches
    assert report.throughput_qps > 0 and report.queued.p50_ms <= report.latency.p50_ms
