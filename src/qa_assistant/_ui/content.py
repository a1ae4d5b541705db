"""What a file holds, checked against what its name says, before an upload is kept.

A name is only a claim: a program renamed ``.pdf`` must be refused at the door, not stored and
then failed by ingest. Binary formats are told by their own signature (``filetype``); text
formats have none, so they must decode as text (:mod:`qa_assistant._loading.decoding`, the
same test ingest applies). Messages are Vietnamese, name the file by its name only and say
what is accepted.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import filetype

from .._loading.decoding import decode_text, mostly_unprintable
from .._loading.discovery import FORMATS
from ..errors import LoadError

__all__ = ["ACCEPTED", "content_problem"]

_LABELS = {
    "pdf": "PDF",
    "docx": "Word",
    "doc": "Word 97-2003",
    "txt": "văn bản",
    "md": "văn bản Markdown",
    "html": "trang HTML",
    "image": "ảnh quét",
}
_TEXT_FORMATS = frozenset({"txt", "md", "html"})
# filetype's names for the signatures of the formats ingest reads.
_SIGNATURES = {
    "pdf": "pdf",
    "doc": "doc",
    "docx": "docx",
    "jpg": "image",
    "png": "image",
    "tif": "image",
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEAD = 8192  # what filetype looks at


def _accepted() -> str:
    by_format: dict[str, list[str]] = {}
    for suffix, fmt in FORMATS.items():
        by_format.setdefault(fmt, []).append(suffix)
    return "; ".join(f"{_LABELS.get(f, f)} ({', '.join(s)})" for f, s in by_format.items())


ACCEPTED = _accepted()


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _found_format(path: Path, head: bytes) -> tuple[str | None, str]:
    """The ingested format the content is (None if none) and how to name what it is."""
    kind = filetype.guess(head)
    if kind is None:
        # filetype knows a .doc only by two common layouts of its first sectors; Word writes
        # others, and every Word 97-2003 file is an OLE container, which catdoc then reads.
        if head.startswith(_OLE_MAGIC):
            return "doc", _LABELS["doc"]
        return None, "không rõ loại"
    if kind.extension in ("docx", "zip"):
        fmt = "docx" if _is_docx(path) else None
        return fmt, _LABELS["docx"] if fmt else f"tệp nén .{kind.extension}"
    fmt = _SIGNATURES.get(kind.extension)
    return fmt, _LABELS[fmt] if fmt else f"tệp .{kind.extension}"


def _mismatch(name: str, label: str, found: str | None, what: str) -> str:
    # Content of a format ingest reads only needs the right suffix.
    fix = "; hãy sửa đuôi tệp cho đúng." if found else "."
    return _refusal(name, f"tên tệp là {label} nhưng nội dung là {what}{fix}")


def _refusal(name: str, detail: str) -> str:
    return (
        f"Không nhận tệp {name!r}: {detail} Chỉ nhận: {ACCEPTED}. Hãy chọn đúng tệp tài liệu, "
        "hoặc mở tệp trên máy, lưu lại đúng định dạng rồi tải lên lại."
    )


def content_problem(path: Path, name: str) -> str | None:
    """Why the file at ``path``, to be kept as ``name``, is not what its suffix says (a
    Vietnamese message naming only ``name``), or None when it is."""
    declared = FORMATS.get(Path(name).suffix.lower())
    if declared is None:
        return _refusal(name, "loại tệp này không đọc được.")
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
    found, what = _found_format(path, head)
    label = _LABELS[declared]
    if declared in _TEXT_FORMATS:
        if found is not None:
            return _mismatch(name, label, found, what)
        # Other signatures are not checked here: some are two letters a text may start with.
        try:
            text = decode_text(path.read_bytes(), name)
        except LoadError:
            text = None
        if text is None or mostly_unprintable(text):
            return _refusal(
                name,
                f"tên tệp là {label} nhưng nội dung không phải chữ (có dữ liệu nhị phân); "
                "hãy lưu tài liệu thành văn bản UTF-8.",
            )
        return None
    # A .docx saved under the old .doc name is read as a .docx by ingest.
    if found == declared or (declared == "doc" and found == "docx"):
        return None
    return _mismatch(name, label, found, what)
