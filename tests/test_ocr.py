"""Documents as staff have them: a scanned decision, a phone photo of it, a PDF whose third
page holds a benefit table, the decision as an old Word .doc. Each is ingested and a question
about it answered with a citation that verifies and names its page (fake embedder, real
Chroma, real Tesseract and catdoc).

Tesseract and catdoc come from scripts/install-ocr.sh; the tests needing them skip where they
are missing, except under CI=true, where that is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from qa_assistant._loading import load_document
from qa_assistant._loading import ocr as _ocr
from qa_assistant._loading.convert import CATDOC_HINT
from qa_assistant._ui.handlers import Handlers
from qa_assistant._ui.rendering import render_answer, render_citation_panel
from qa_assistant.assistant import Assistant
from qa_assistant.cli import format_answer
from qa_assistant.errors import LoadError
from qa_assistant.settings import IngestSettings, Settings
from qa_assistant.testing import FakeEmbedder
from qa_assistant.types import OCR_NOTICE, Answer
from support.gradio_http import fake_request
from support.scans import (
    DECISION,
    DECISION_AMOUNT,
    character_error_rate,
    decision_docx,
    photograph,
    render_page,
    scanned_pdf,
    table_pdf,
)

DATA = Path(__file__).parent / "data"
AMOUNT_QUESTION = "Mỗi hộ gia đình được hỗ trợ khắc phục hậu quả bão lũ bao nhiêu tiền?"
# The row that differs from its neighbour by one word: "Hộ cận nghèo" against "Hộ nghèo".
ROW_QUESTION = "Mức hỗ trợ cho hộ cận nghèo là bao nhiêu?"
ROW = ("Hộ cận nghèo", "1.000.000 đồng")
NEIGHBOUR_AMOUNT = "1.500.000"  # the "Hộ nghèo" row's


def _require(missing: str | None, hint: str) -> None:
    if missing is None:
        return
    reason = f"{missing}: {hint}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def tesseract() -> None:
    _require(_ocr.tesseract_missing("vie"), _ocr.INSTALL_HINT)


@pytest.fixture
def catdoc() -> None:
    _require(None if shutil.which("catdoc") else "catdoc is not installed", CATDOC_HINT)


@pytest.fixture(scope="module")
def decision_page() -> Image.Image:
    return render_page(DECISION)


class Folder:
    """A documents folder with the given files, ingested by an assistant on the fake embedder."""

    def __init__(self, root: Path, files: dict[str, bytes], **limits: object) -> None:
        self.docs = root / "documents"
        self.docs.mkdir()
        for name, data in files.items():
            (self.docs / name).write_bytes(data)
        self.settings = Settings(
            documents_dir=self.docs,
            index_dir=root / "index",
            cache_dir=root / "cache",
            ingest=IngestSettings.model_validate(limits),
            _env_file=None,  # type: ignore[call-arg]
        )
        self.assistant = Assistant(self.settings, embedder=FakeEmbedder())
        self.progress: list[str] = []
        self.report = self.assistant.ingest(progress=lambda d, t, s: self.progress.append(s))

    def ask(self, question: str) -> Answer:
        answer = self.assistant.ask(question)
        assert not answer.abstained, answer.text
        for c in answer.citations:
            assert f"[{c.marker}]" in answer.text
            assert c.quote in c.passage
            assert self.assistant.document_text(c.source)[c.start : c.end] == c.quote
        return answer


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[list[Folder]]:
    made: list[Folder] = []
    yield made
    for f in made:
        f.assistant.close()


def _ingest(made: list[Folder], root: Path, files: dict[str, bytes], **limits: object) -> Folder:
    f = Folder(root, files, **limits)
    made.append(f)
    return f


# --------------------------------------------------------------------------- scans and photos


def test_a_scanned_decision_is_read_by_ocr_and_its_amount_answered(
    tesseract: None, decision_page: Image.Image, tmp_path: Path, folder: list[Folder]
) -> None:
    f = _ingest(folder, tmp_path, {"quyet-dinh-123.pdf": scanned_pdf([decision_page])})
    assert f.report.failed == () and f.report.added == 1
    text = f.assistant.document_text("quyet-dinh-123.pdf")
    assert character_error_rate("\n".join(DECISION), text) <= 0.02
    for words in ("ưu đãi", "hỗ trợ", "Quyết định số 123/QĐ-UBND", DECISION_AMOUNT):
        assert words in text
    assert any("OCR 1/1" in s for s in f.progress)  # per-page progress while it reads

    answer = f.ask(AMOUNT_QUESTION)
    cited = [c for c in answer.citations if DECISION_AMOUNT in c.quote]
    assert cited and cited[0].ocr and cited[0].page == 1
    data = answer.to_dict()["citations"][0]
    assert data["ocr"] is True and data["pages"] == "trang 1"
    assert OCR_NOTICE in render_citation_panel(cited[0], 1, text)
    assert OCR_NOTICE in format_answer(answer)


def test_a_phone_photo_is_read_within_five_percent_and_answered(
    tesseract: None, decision_page: Image.Image, tmp_path: Path, folder: list[Folder]
) -> None:
    f = _ingest(folder, tmp_path, {"anh-quyet-dinh.jpg": photograph(decision_page)})
    assert f.report.failed == ()
    text = f.assistant.document_text("anh-quyet-dinh.jpg")
    assert character_error_rate("\n".join(DECISION), text) <= 0.05
    answer = f.ask(AMOUNT_QUESTION)
    assert DECISION_AMOUNT in answer.text
    assert all(c.ocr and c.page == 1 for c in answer.citations)


def test_only_the_page_without_text_is_ocrd(tesseract: None, tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.pdf"
    path.write_bytes(table_pdf(scanned_page=render_page(DECISION, dpi=200)))
    pages: list[tuple[int, int]] = []
    doc = load_document(path, path.name, on_page=lambda d, t: pages.append((d, t)))
    assert doc.ocr_pages == (2,) and len(doc.pages) == 3
    assert pages == [(0, 1), (1, 1)]
    page_two = doc.text[doc.pages[1] : doc.pages[2]]
    assert DECISION_AMOUNT in page_two and "Kinh phí" not in doc.text
    assert "Đối tượng: Hộ nghèo | Mức hỗ trợ: 1.500.000 đồng" in doc.text[doc.pages[2] :]


def test_a_multi_page_tiff_gives_each_page_its_number(tesseract: None, tmp_path: Path) -> None:
    # 150 dpi: small enough to be read at twice its size.
    first, second = render_page(DECISION[:5], dpi=150), render_page(DECISION[5:], dpi=150)
    path = tmp_path / "ban-quet.tiff"
    first.save(path, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    doc = load_document(path, path.name)
    assert doc.format == "image" and doc.ocr_pages == (1, 2) and len(doc.pages) == 2
    assert DECISION_AMOUNT in doc.text[doc.pages[1] :]
    assert "123/QĐ-UBND" in doc.text[: doc.pages[1]]
    assert character_error_rate("\n".join(DECISION), doc.text) <= 0.02


def test_ocr_runs_once_per_file_version(
    tesseract: None,
    decision_page: Image.Image,
    tmp_path: Path,
    folder: list[Folder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pytesseract

    calls: list[int] = []
    real = pytesseract.image_to_string

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pytesseract, "image_to_string", counting)
    f = _ingest(folder, tmp_path, {"scan.png": _png(decision_page)})
    assert f.report.added == 1 and len(calls) == 1
    again = f.assistant.ingest()
    assert again.skipped == 1 and again.added == again.updated == 0
    assert len(calls) == 1


def test_without_tesseract_the_message_says_what_to_install(
    decision_page: Image.Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(_ocr, "_READY", set())  # as in a process that has not found it yet
    for name, data in (
        ("scan.pdf", scanned_pdf([decision_page])),
        ("scan.png", _png(decision_page)),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(LoadError, match=r"needs OCR|no text layer") as error:
            load_document(path, name)
        assert "tesseract-ocr tesseract-ocr-vie" in str(error.value)


# --------------------------------------------------------------------------- tables and pages


def test_a_table_row_is_answered_with_its_own_amount_and_page(
    tmp_path: Path, folder: list[Folder]
) -> None:
    f = _ingest(folder, tmp_path, {"ke-hoach.pdf": table_pdf()})
    assert f.report.failed == ()
    answer = f.ask(ROW_QUESTION)
    row = [c for c in answer.citations if ROW[1] in c.quote]
    assert row, answer.text
    assert ROW[0] in row[0].quote
    assert not any(NEIGHBOUR_AMOUNT in c.quote for c in answer.citations), answer.text
    assert row[0].page == 3 and not row[0].ocr
    assert answer.to_dict()["citations"][answer.citations.index(row[0])]["pages"] == "trang 3"
    assert "ke-hoach.pdf, trang 3" in format_answer(answer)
    assert "trang 3" in render_answer(answer, 1)
    assert "trang 3" in render_citation_panel(row[0], 1, None)
    assert OCR_NOTICE not in render_citation_panel(row[0], 1, None)


def test_an_old_word_file_reads_like_its_docx(
    catdoc: None, tmp_path: Path, folder: list[Folder]
) -> None:
    # tests/data/quyet_dinh_ho_tro.doc is decision_docx() saved once by LibreOffice:
    # soffice --headless --convert-to doc:"MS Word 97" quyet_dinh_ho_tro.docx
    docx_path = tmp_path / "quyet_dinh_ho_tro.docx"
    docx_path.write_bytes(decision_docx())
    as_docx = load_document(docx_path, docx_path.name)
    as_doc = load_document(DATA / "quyet_dinh_ho_tro.doc", "quyet_dinh_ho_tro.doc")
    assert as_doc.format == "doc" and as_doc.text == as_docx.text

    f = _ingest(folder, tmp_path, {"qd.doc": (DATA / "quyet_dinh_ho_tro.doc").read_bytes()})
    answer = f.ask(ROW_QUESTION)
    assert any(ROW[0] in c.quote and ROW[1] in c.quote for c in answer.citations)
    assert all(c.page == 0 for c in answer.citations)  # a .doc has no page numbers


def test_a_photo_uploaded_through_the_page_is_read_and_a_bomb_refused(
    tesseract: None, decision_page: Image.Image, tmp_path: Path, folder: list[Folder]
) -> None:
    f = _ingest(folder, tmp_path, {"ke-hoach.pdf": table_pdf()})
    handlers = Handlers(f.assistant, f.settings)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "Ảnh quyết định.jpg").write_bytes(photograph(decision_page))
    (uploads / "bom.png").write_bytes(_bomb_png(9_500, 9_500))
    paths = [str(p) for p in sorted(uploads.iterdir())]
    status = handlers.upload(paths, "", fake_request(), progress=None)
    assert "1 mới" in status and "bom.png" in status and "9500×9500 điểm ảnh" in status
    assert (f.docs / "Ảnh quyết định.jpg").exists()
    answer = f.ask(AMOUNT_QUESTION)
    assert any(c.source == "Ảnh quyết định.jpg" and c.ocr for c in answer.citations)


# --------------------------------------------------------------------------- hostile files


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _hanging_catdoc(folder: Path) -> None:
    script = folder / "catdoc"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_hostile_scans_are_stopped_by_limits_and_nothing_else_is_lost(
    tesseract: None,
    decision_page: Image.Image,
    tmp_path: Path,
    folder: list[Folder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _hanging_catdoc(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    small = render_page(DECISION[:2], dpi=100)
    tiff = io.BytesIO()
    small.save(tiff, "TIFF")
    files = {
        "bom.png": _bomb_png(9_500, 9_500),  # past the limit, below Pillow's own
        "bom-lon.png": _bomb_png(30_000, 30_000),  # past Pillow's, refused while it opens
        "dai.pdf": scanned_pdf([small] * 4),
        "hong.tiff": tiff.getvalue()[: len(tiff.getvalue()) // 2],
        "treo.doc": (DATA / "quyet_dinh_ho_tro.doc").read_bytes(),
        "ke-hoach.pdf": table_pdf(),
    }
    f = _ingest(folder, tmp_path, files, max_pages=3, converter_timeout_s=1.0)
    reasons = {Path(x.path).name: x.error for x in f.report.failed}
    assert set(reasons) == {"bom.png", "bom-lon.png", "dai.pdf", "hong.tiff", "treo.doc"}
    assert "9500×9500 pixels" in reasons["bom.png"]
    assert "decompression bomb" in reasons["bom-lon.png"]
    assert "4 scanned pages, more than the 3" in reasons["dai.pdf"]
    assert "truncated or damaged" in reasons["hong.tiff"]
    assert "catdoc took longer than 1 s" in reasons["treo.doc"]
    assert f.report.added == 1 and f.report.documents == 1
    f.ask(ROW_QUESTION)


def test_ocr_past_its_time_limit_is_stopped(
    tesseract: None, decision_page: Image.Image, tmp_path: Path
) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(scanned_pdf([decision_page]))
    limits = IngestSettings(ocr_timeout_s=0.001)
    with pytest.raises(LoadError, match=r"OCR took longer than the 0.001 s.*page 1"):
        load_document(path, path.name, limits)
