"""Staff uploads are checked by their content, and the files ingest could not read are listed on
the staff tab with a Vietnamese reason and no server path, and can be deleted there."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qa_assistant import _ui as ui
from qa_assistant._ui.handlers import Handlers
from qa_assistant.assistant import Assistant
from qa_assistant.errors import UploadError
from qa_assistant.settings import Settings
from support.corpus import pdf_bytes, write_hostile_corpus
from support.gradio_http import fake_request
from support.scans import decision_docx

LOCAL = fake_request()  # no password set: the staff tab is open to this machine
FORWARDED = fake_request(**{"x-forwarded-for": "203.0.113.9"})
DATA = Path(__file__).resolve().parent / "data"

# The start of a Windows program: "MZ", its DOS header and stub.
PROGRAM = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode.\r\r\n$"
    + b"\x00" * 400
)
ENGLISH = ("could not", "damaged", "ingest", "check", "file")


@pytest.fixture(autouse=True)
def _quiet_toasts() -> Iterator[None]:
    # gr.Info/gr.Warning outside a request become Python warnings; they are not failures here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (40, 20), 255).save(out, format="PNG")
    return out.getvalue()


def _zip(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return out.getvalue()


def _upload(tmp_path: Path, name: str, data: bytes) -> Path:
    # Gradio keeps an upload under a temporary folder of the server, by its own name.
    path = tmp_path / "gradio-tmp" / "3f2a9c" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _vietnamese_without_paths(message: str, *paths: Path) -> None:
    assert all(str(p) not in message for p in paths)
    assert "/" not in message  # no path, not even a relative one
    assert not any(word in message.lower() for word in ENGLISH)


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Quyết định 12.pdf", pdf_bytes(["Điều 1. Hỗ trợ học phí."])),
        ("quyet-dinh.docx", decision_docx()),
        ("quyet-dinh-cu.doc", (DATA / "quyet_dinh_ho_tro.doc").read_bytes()),
        ("luu-nham-ten.doc", decision_docx()),  # ingest reads a .docx saved as .doc
        ("trang-1.png", _png()),
        ("luat.txt", (DATA / "luat_cu_tru_excerpt.txt").read_bytes()),
    ],
)
def test_documents_of_every_format_ingest_reads_are_accepted(
    tmp_path: Path, name: str, data: bytes
) -> None:
    docs = tmp_path / "documents"
    saved = ui.save_upload(_upload(tmp_path, name, data), name, docs, max_upload_mb=1)
    assert saved.read_bytes() == data and _files(docs) == [name]


def test_the_text_files_ingest_decodes_are_accepted(tmp_path: Path) -> None:
    corpus = tmp_path / "hostile"
    write_hostile_corpus(corpus)
    readable = ["utf16.txt", "utf16-khong-bom.txt", "cp1258.txt", "nfd.txt", "trang-web.html"]
    for name in readable:
        ui.save_upload(corpus / name, name, tmp_path / "documents", max_upload_mb=1)
    assert _files(tmp_path / "documents") == sorted(readable)


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("bao-cao-tai-chinh.pdf", PROGRAM, "nội dung là tệp .exe"),
        ("quyet-dinh.docx", _zip({"bang-tinh.csv": "a,b"}), "nội dung là tệp nén .zip"),
        ("quyet-dinh.docx", pdf_bytes(["Điều 1."]), "nội dung là PDF; hãy sửa đuôi tệp"),
        ("anh.png", pdf_bytes(["Điều 1."]), "là ảnh quét nhưng nội dung là PDF"),
        ("quyet-dinh.pdf", _png(), "nội dung là ảnh quét"),
        ("cu.doc", b"{\\rtf1\\ansi Quy\\'eat \\'f0\\'ecnh}", "là Word 97-2003"),
        ("ghi-chu.txt", pdf_bytes(["Điều 1."]), "tên tệp là văn bản nhưng nội dung là PDF"),
        ("ghi-chu.txt", "Điều 1. ".encode() + PROGRAM, "không phải chữ"),
        ("trang.html", b"<p>" + bytes(range(256)) * 8, "không phải chữ"),
    ],
)
def test_content_that_is_not_what_its_name_says_is_refused_and_never_stored(
    tmp_path: Path, name: str, data: bytes, says: str
) -> None:
    upload = _upload(tmp_path, name, data)
    docs = tmp_path / "documents"
    with pytest.raises(UploadError) as refused:
        ui.save_upload(upload, name, docs, max_upload_mb=1)
    message = str(refused.value)
    assert says in message
    assert f"Không nhận tệp '{name}'" in message and "Chỉ nhận:" in message
    assert ".pdf" in message and ".docx" in message  # what is accepted instead
    _vietnamese_without_paths(message, upload, docs, tmp_path)
    assert _files(docs) == []  # nothing written, not even a temporary part


# --------------------------------------------------------------------------- the staff tab


def _refresh(handlers: Handlers, request: Any = LOCAL) -> tuple[list[list[Any]], list[Any]]:
    """The documents table and the delete box's choices as the page would get them."""
    out = handlers.refresh("", request)
    table, delete = out[6], out[7]
    return table["value"], [value for _, value in delete["choices"]]


def test_a_program_renamed_pdf_is_refused_by_the_page_and_recorded(
    ingested: Assistant, settings: Settings, tmp_path: Path
) -> None:
    handlers = Handlers(ingested, settings)
    before = _files(settings.documents_dir)
    upload = _upload(tmp_path, "bao-cao-tai-chinh.pdf", PROGRAM)
    status = handlers.upload([str(upload)], "", LOCAL, progress=None)  # type: ignore[arg-type]
    assert "Đã lưu" not in status and "bao-cao-tai-chinh.pdf" in status
    _vietnamese_without_paths(status, upload, settings.documents_dir)
    assert _files(settings.documents_dir) == before
    [record] = handlers.audit.records()
    assert (record.action, record.target, record.result) == (
        "upload",
        "bao-cao-tai-chinh.pdf",
        "failed",
    )
    _vietnamese_without_paths(record.detail, upload)


def test_a_failed_document_is_listed_with_its_reason_and_can_be_deleted(
    ingested: Assistant, settings: Settings
) -> None:
    docs = settings.documents_dir
    cut = pdf_bytes(["Điều 1. Hỗ trợ học phí cho sinh viên sư phạm."] * 20)
    (docs / "cat-cut.pdf").write_bytes(cut[: len(cut) // 3])  # a PDF, but truncated
    (docs / "bao-cao-tai-chinh.pdf").write_bytes(PROGRAM)  # copied in, not uploaded
    original = "quang-ninh-giam-ngheo-2025.txt"
    (docs / "ban-sao.txt").write_bytes((docs / original).read_bytes())

    status = Handlers(ingested, settings).reingest("", LOCAL, progress=None)  # type: ignore[arg-type]
    assert status.count("✗") == 3 and "`cat-cut.pdf`: Không nạp được" in status
    _vietnamese_without_paths(status, docs)

    # A fresh page (as after a restart) still lists them, from the folder and the index.
    handlers = Handlers(ingested, settings)
    table, deletable = _refresh(handlers)
    reasons = {row[1]: row[5] for row in table if row[5].startswith("✗")}
    # Of two files with one content, whichever ingest met second is the one left out.
    [(copy, kept)] = [
        (a, b) for a, b in ((original, "ban-sao.txt"), ("ban-sao.txt", original)) if a in reasons
    ]
    assert set(reasons) == {"cat-cut.pdf", "bao-cao-tai-chinh.pdf", copy}
    assert "có mật khẩu hoặc là bản quét" in reasons["cat-cut.pdf"]
    assert "nội dung là tệp .exe" in reasons["bao-cao-tai-chinh.pdf"]
    assert f"Trùng nội dung với tài liệu '{kept}' đã nạp" in reasons[copy]
    for reason in reasons.values():
        _vietnamese_without_paths(reason, docs)
    assert set(reasons) <= set(deletable)
    assert "Đã nạp" in {row[5] for row in table}

    for source in reasons:
        assert "Đã xoá" in handlers.delete(source, "", LOCAL)
    assert not any(name in _files(docs) for name in reasons)
    table, deletable = _refresh(handlers)
    assert all(row[5] == "Đã nạp" for row in table)
    assert sorted(deletable) == sorted(d.source for d in ingested.documents())


def test_a_file_not_yet_ingested_is_listed_as_such(ingested: Assistant, settings: Settings) -> None:
    (settings.documents_dir / "moi.txt").write_text("Điều 1. Văn bản mới.", encoding="utf-8")
    table, deletable = _refresh(Handlers(ingested, settings))
    [row] = [row for row in table if row[1] == "moi.txt"]
    assert row[5].startswith("✗ Chưa có trong chỉ mục. Bấm «Nạp lại toàn bộ»")
    assert "moi.txt" in deletable


def test_visitors_do_not_see_the_files_the_index_lacks(
    ingested: Assistant, settings: Settings
) -> None:
    (settings.documents_dir / "bao-cao-tai-chinh.pdf").write_bytes(PROGRAM)
    table, deletable = _refresh(Handlers(ingested, settings), FORWARDED)
    assert table == [] and "bao-cao-tai-chinh.pdf" not in deletable
