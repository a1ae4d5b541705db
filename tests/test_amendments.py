"""A decision amended by another: the figure in force answers, the replaced one cited beside it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from qa_assistant._pipeline.amendments import amendments, asked_before, document_number, restates
from qa_assistant.assistant import Assistant
from qa_assistant.settings import Settings
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import DocumentInfo

OLDER = """ỦY BAN NHÂN DÂN
TỈNH AN BÌNH

Số: 45/2025/QĐ-UBND
An Bình, ngày 10 tháng 9 năm 2025

QUYẾT ĐỊNH
Quy định mức trợ cấp xã hội hằng tháng đối với người cao tuổi

Điều 1. Người từ đủ 80 tuổi trở lên không có lương hưu được trợ cấp hằng tháng 500.000 đồng.
Điều 2. Quyết định này có hiệu lực từ ngày 01 tháng 10 năm 2025.
"""

NEWER = """ỦY BAN NHÂN DÂN
TỈNH AN BÌNH

Số: 08/2026/QĐ-UBND
An Bình, ngày 15 tháng 01 năm 2026

QUYẾT ĐỊNH
Sửa đổi, bổ sung một số điều của Quyết định số 45/2025/QĐ-UBND quy định mức trợ cấp xã hội

Điều 1. Người từ đủ 80 tuổi trở lên không có lương hưu được trợ cấp hằng tháng 600.000 đồng.
Điều 2. Quyết định này có hiệu lực từ ngày 01 tháng 02 năm 2026.
"""

QUESTION = "Người từ đủ 80 tuổi trở lên không có lương hưu được trợ cấp hằng tháng bao nhiêu?"


def _info(source: str, title: str, when: date | None = None) -> DocumentInfo:
    return DocumentInfo(source, title, when, 1, "h", "2026-01-01T00:00:00")


def test_the_amending_document_is_found_by_the_number_its_title_names() -> None:
    docs = [
        _info("45.docx", "Quyết định số 45/2025/QĐ-UBND quy định mức trợ cấp", date(2025, 9, 10)),
        _info(
            "08.txt",
            "Quyết định số 08/2026/QĐ-UBND sửa đổi, bổ sung Quyết định số 45/2025/QĐ-UBND",
            date(2026, 1, 15),
        ),
        _info("52.pdf", "Quyết định số 52/2025/QĐ-UBND căn cứ Quyết định số 45/2025/QĐ-UBND"),
    ]
    assert document_number(docs[0].title) == "45/2025/QĐ-UBND"
    amended = amendments(docs)
    found = amended.get("45.docx")
    assert found is not None and found.source == "08.txt"
    assert amended.get("08.txt") is None  # nothing amends the newer one
    assert amended.get("52.pdf") is None


def test_a_question_about_an_earlier_time_is_told_apart() -> None:
    when = date(2026, 1, 15)
    assert asked_before("Hồi tháng 11 năm 2025 ông tôi được bao nhiêu?", when)
    assert asked_before("Năm 2025 mức trợ cấp là bao nhiêu?", when)
    assert not asked_before("Tháng 3/2026 mức trợ cấp là bao nhiêu?", when)
    assert not asked_before("Giờ mỗi tháng được bao nhiêu?", when)


def test_only_a_clause_that_restates_the_older_one_replaces_it() -> None:
    older = "Người từ đủ 80 tuổi trở lên không có lương hưu được trợ cấp hằng tháng 500.000 đồng."
    newer = older.replace("500.000", "600.000")
    assert restates(newer, older)
    # The amending decision answers the question with another clause: the standard rate it
    # never changed is not "replaced" by another group's figure.
    standard = "Mức chuẩn trợ giúp xã hội áp dụng trên địa bàn tỉnh là 500.000 đồng/tháng."
    assert not restates(newer, standard)


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "qd-45-2025.txt").write_text(OLDER, encoding="utf-8")
    (folder / "qd-08-2026.txt").write_text(NEWER, encoding="utf-8")
    settings = Settings(
        documents_dir=folder,
        index_dir=tmp_path / "index",
        cache_dir=tmp_path / "cache",
        _env_file=None,  # type: ignore[call-arg]
    )
    assistant = Assistant(settings, embedder=FakeEmbedder())
    assert assistant.ingest().failed == ()
    return assistant


def test_the_figure_in_force_answers_and_the_replaced_one_is_cited(assistant: Assistant) -> None:
    answer = assistant.ask(QUESTION)
    assert not answer.abstained, answer.text
    sources = [c.source for c in answer.citations]
    assert sources[0] == "qd-08-2026.txt" and "qd-45-2025.txt" in sources
    assert answer.text.index("600.000") < answer.text.index("500.000")
    assert "thay cho quy định trước đó" in answer.text


def test_asked_about_a_time_before_the_change_the_older_figure_stands(
    assistant: Assistant,
) -> None:
    answer = assistant.ask("Tháng 11 năm 2025, " + QUESTION[0].lower() + QUESTION[1:])
    assert not answer.abstained, answer.text
    assert "600.000" not in answer.text


def test_the_registry_is_read_once_while_the_store_stays_the_same(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    documents = assistant.documents

    def counted() -> list[DocumentInfo]:
        reads.append(1)
        return documents()

    monkeypatch.setattr(assistant, "documents", counted)
    for _ in range(3):
        assert not assistant.ask(QUESTION).abstained
    assert len(reads) == 1
