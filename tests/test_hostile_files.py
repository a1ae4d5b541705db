"""Whatever an office puts in the documents folder, ingest finishes, indexes what it can read,
reports the rest with a reason, and leaves a consistent index (real Chroma, fake embedder).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SEED_DOCUMENTS, TET_QUESTION
from qa_assistant._chunking.chunker import chunk_token_budget
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import IngestReport
from support.checks import consistency_problems, read_state, words_not_from_sources
from support.corpus import (
    CP1258_TEXT,
    HTML_MARKS,
    INJECTION,
    INVISIBLE_CLEAN,
    NFD_TEXT,
    UTF16_TEXT,
    write_hostile_corpus,
)

# What each refused file must be reported as: the reason, in words a clerk can act on.
EXPECTED_FAILURES = {
    "rong.txt": r"is empty",
    "nhi-phan.txt": r"binary file, not text",
    "cat-cut.pdf": r"truncated or damaged",
    "khoa.pdf": r"password-protected",
    # Without Tesseract it says what to install; with it, that OCR found nothing on the page.
    "ban-scan.pdf": r"no text layer.*scanned.*OCR.*tesseract-ocr-vie|OCR found no text",
    "ban-sao.txt": r"Same content as ban-goc\.txt",
}
EXPECTED_INDEXED = {
    "utf16.txt",
    "utf16-khong-bom.txt",
    "cp1258.txt",
    "nfd.txt",
    "vo-hinh.txt",
    "trang-web.html",
    "chi-dan.txt",
    "ban-goc.txt",
    *(p.name for p in SEED_DOCUMENTS.iterdir()),
}


class Corpus:
    """One ingest of the seed documents plus every hostile file, shared by this module."""

    def __init__(self, root: Path) -> None:
        self.docs = root / "documents"
        shutil.copytree(SEED_DOCUMENTS, self.docs)
        write_hostile_corpus(self.docs)
        self.settings = Settings(
            documents_dir=self.docs,
            index_dir=root / "index",
            cache_dir=root / "cache",
            _env_file=None,  # type: ignore[call-arg]
        )
        self.assistant = Assistant(self.settings, embedder=FakeEmbedder())
        self.report: IngestReport = self.assistant.ingest()

    def text(self, source: str) -> str:
        return self.assistant.document_text(source)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    c = Corpus(tmp_path_factory.mktemp("hostile"))
    yield c
    c.assistant.close()


def _failed(report: IngestReport) -> dict[str, str]:
    return {Path(f.path).name: f.error for f in report.failed}


def test_every_file_is_indexed_or_reported_with_its_reason(corpus: Corpus) -> None:
    failed = _failed(corpus.report)
    indexed = {d.source for d in corpus.assistant.documents()}
    on_disk = {p.name for p in corpus.docs.iterdir()}
    assert indexed | set(failed) == on_disk
    assert not indexed & set(failed), "a file is both indexed and reported as failed"
    assert indexed == EXPECTED_INDEXED
    assert set(failed) == set(EXPECTED_FAILURES)
    for name, reason in EXPECTED_FAILURES.items():
        assert re.search(reason, failed[name], re.DOTALL), f"{name}: {failed[name]}"
        assert "Traceback" not in failed[name] and "Error(" not in failed[name]


def test_the_index_is_consistent_and_a_second_ingest_changes_nothing(corpus: Corpus) -> None:
    before = read_state(corpus.settings.index_dir)
    assert consistency_problems(before) == []
    again = corpus.assistant.ingest()
    assert (again.added, again.updated, again.removed) == (0, 0, 0)
    assert again.skipped == len(EXPECTED_INDEXED)
    assert _failed(again).keys() == EXPECTED_FAILURES.keys()
    assert read_state(corpus.settings.index_dir) == before


def test_the_seed_documents_still_answer(corpus: Corpus) -> None:
    answer = corpus.assistant.ask(TET_QUESTION)
    assert "10 triệu" in answer.text and not answer.abstained
    assert {c.source for c in answer.citations} == {"quang-ninh-an-sinh-xa-hoi-2026.txt"}


@pytest.mark.parametrize(
    ("source", "text", "question"),
    [
        ("utf16.txt", UTF16_TEXT, "Người cao tuổi từ bao nhiêu tuổi được hưởng trợ cấp?"),
        ("cp1258.txt", CP1258_TEXT, "Người khuyết tật nặng được cấp thẻ gì?"),
        ("nfd.txt", NFD_TEXT, "Sinh con thứ hai ở Huế được thưởng bao nhiêu?"),
    ],
)
def test_legacy_encodings_are_indexed_as_nfc_and_found(
    corpus: Corpus, source: str, text: str, question: str
) -> None:
    stored = corpus.text(source)
    assert stored.startswith(text)
    assert unicodedata.is_normalized("NFC", stored)
    answer = corpus.assistant.ask(question)
    assert source in {c.source for c in answer.citations}, answer.text


def test_utf16_without_bom_is_decoded(corpus: Corpus) -> None:
    assert corpus.text("utf16-khong-bom.txt").startswith("Trẻ em dưới 6 tuổi được cấp thẻ")


def test_zero_width_and_control_characters_are_removed(corpus: Corpus) -> None:
    assert corpus.text("vo-hinh.txt") == INVISIBLE_CLEAN
    for stored in corpus.assistant.index.iter_chunks(source="vo-hinh.txt"):
        assert all(unicodedata.category(ch) not in ("Cc", "Cf") for ch in stored.chunk.text)


def test_no_script_or_event_handler_text_is_stored_anywhere(corpus: Corpus) -> None:
    page = corpus.text("trang-web.html")
    assert "Hộ nghèo được hỗ trợ tiền điện 50 kWh mỗi tháng." in page
    # Not in the registry, the chunks, their tokens, nor any byte of the index folder.
    stored = b"".join(
        p.read_bytes() for p in corpus.settings.index_dir.rglob("*") if p.is_file()
    ).decode("utf-8", "replace")
    for mark in HTML_MARKS:
        assert mark not in page
        assert mark not in stored, f"{mark!r} reached the index"


def test_instructions_inside_a_document_are_only_text(corpus: Corpus) -> None:
    assert corpus.text("chi-dan.txt") == INJECTION
    documents = corpus.assistant.documents()

    # The question that pulls the injected passage up: it may be quoted, never obeyed.
    lured = corpus.assistant.ask("Có phải mọi khoản trợ cấp đã bị bãi bỏ không?")
    assert words_not_from_sources(lured, extra=lured.text if lured.abstained else "") == set()
    for c in lured.citations:
        assert corpus.text(c.source)[c.start : c.end] == c.quote

    # An ordinary question is answered from the policy, not from the instruction.
    answer = corpus.assistant.ask(TET_QUESTION)
    assert "10 triệu" in answer.text and "bãi bỏ" not in answer.text
    assert "IGNORE" not in answer.text and words_not_from_sources(answer) == set()
    assert corpus.assistant.documents() == documents  # "xoá toàn bộ chỉ mục" did nothing


@pytest.mark.slow
def test_a_one_megabyte_single_line_is_indexed_within_budget(
    assistant: Assistant, docs_dir: Path, settings: Settings
) -> None:
    line = "hỗ trợ học phí cho sinh viên sư phạm " * 28_000
    (docs_dir / "mot-dong.txt").write_text(line, encoding="utf-8")
    report = assistant.ingest()
    assert report.failed == ()
    chunks = [s.chunk for s in assistant.index.iter_chunks(source="mot-dong.txt")]
    embedder = assistant.embedder
    budget = chunk_token_budget(settings.max_chunk_tokens, embedder.max_tokens)
    assert len(chunks) > 100
    assert all(embedder.count_tokens(c.text) <= budget for c in chunks)
    text = assistant.document_text("mot-dong.txt")
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert consistency_problems(read_state(settings.index_dir)) == []


# --------------------------------------------------------------------------- a 50 MB file

SUPPORT = Path(__file__).resolve().parent / "support"
FIFTY_MB = 50 * 1024 * 1024
# Measured: refusing the file takes a few seconds and ~0.4 GB; indexing it would take about
# half an hour (the Vietnamese word segmenter reads ~60 kB/s) while holding the ingest lock.
LARGE_FILE_TIMEOUT_S = 90
LARGE_FILE_MAX_RSS_MB = 1500


def _write_large_text(path: Path, size: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        n = written = 0
        while written < size:
            block = "".join(
                f"Điều {n + i}. Học sinh thuộc hộ nghèo được miễn học phí và nhận {n + i} nghìn "
                "đồng mỗi tháng để mua sách vở, theo danh sách của xã.\n\n"
                for i in range(1000)
            )
            fh.write(block)
            written += len(block.encode("utf-8"))
            n += 1000


def _child_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    return env


@pytest.mark.slow
def test_a_fifty_megabyte_file_is_refused_quickly_and_the_rest_indexed(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys
    import time

    docs = tmp_path / "documents"
    docs.mkdir()
    shutil.copy(SEED_DOCUMENTS / "quang-ninh-giam-ngheo-2025.txt", docs)
    _write_large_text(docs / "rat-lon.txt", FIFTY_MB)
    command = [sys.executable, str(SUPPORT / "fake_cli.py"), "ingest", str(docs), "--json"]
    command += ["--index", str(tmp_path / "index")]
    # RUSAGE_CHILDREN is the peak of every child this process ever waited for (a model-loading
    # server of another test included), so the ingest runs under a parent of its own that
    # reports the peak of that one child on stderr's last line.
    wrapper = (
        "import resource, subprocess, sys; "
        "code = subprocess.call(sys.argv[1:]); "
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
        "print(f'PEAK_KB={peak}', file=sys.stderr); sys.exit(code)"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        timeout=LARGE_FILE_TIMEOUT_S,
        env=_child_env(),
    )
    seconds = time.perf_counter() - started
    peak_kb = re.findall(r"PEAK_KB=(\d+)", done.stderr)
    assert peak_kb, done.stderr[-2000:]
    peak_mb = int(peak_kb[-1]) / 1024
    print(f"\n50 MB file: ingest finished in {seconds:.1f} s, peak memory {peak_mb:.0f} MB")

    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["documents"] == 1
    assert [Path(f["path"]).name for f in report["failed"]] == ["rat-lon.txt"]
    assert re.search(r"too large|million characters", report["failed"][0]["error"])
    assert "split" in report["failed"][0]["error"]
    assert peak_mb < LARGE_FILE_MAX_RSS_MB


def test_a_renamed_file_is_never_missing_from_the_index(
    assistant: Assistant, docs_dir: Path
) -> None:
    first = assistant.ingest()
    old = docs_dir / "quang-ninh-giam-ngheo-2025.txt"
    old.rename(docs_dir / "giam-ngheo-2025-ban-chinh-thuc.txt")
    report = assistant.ingest()
    # The old name is gone from the folder, so it is no twin: the file moves in one ingest.
    assert report.failed == ()
    assert (report.added, report.removed, report.documents) == (1, 1, first.documents)
    assert {d.source for d in assistant.documents()} == {p.name for p in docs_dir.iterdir()}
