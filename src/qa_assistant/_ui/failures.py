"""Documents the index lacks, and why, as staff see them: by file name, in Vietnamese.

The loaders' messages are English and name server paths: they are for the command line and
the server's log. Staff instead get a reason worked out from the file itself (not what its
name says, a twin of an indexed document, or a format-specific hint). The list of files in
the documents folder that the index lacks is worked out from the folder and the index on
each look, not kept, so that it survives a restart and shows what any replica's ingest left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._loading import discover
from .._loading.discovery import FORMATS
from .._store.ingest import file_hash
from ..types import DocumentInfo, FailedFile
from .content import content_problem

__all__ = ["FailedDocument", "reported_failures", "unindexed_documents"]

_RETRY = "Bấm «Nạp lại toàn bộ» để thử lại; nếu vẫn không nạp được, "
_HINTS = {
    "pdf": "tệp PDF có thể bị hỏng, có mật khẩu hoặc là bản quét chưa đọc được chữ: hãy xuất "
    "lại PDF có lớp chữ (hoặc lưu thành .docx) rồi tải lên lại.",
    "docx": "tệp Word có thể bị hỏng hoặc có mật khẩu: hãy mở bằng Word hoặc LibreOffice, "
    "lưu lại thành .docx rồi tải lên lại.",
    "doc": "hãy mở tệp bằng Word hoặc LibreOffice, lưu thành .docx rồi tải lên lại.",
    "image": "ảnh có thể mờ, quá lớn hoặc máy chủ chưa cài OCR: hãy quét lại rõ hơn, hoặc tải "
    "lên bản PDF có lớp chữ.",
    "txt": "tệp có thể rỗng hoặc quá lớn: hãy kiểm tra nội dung rồi tải lên lại.",
    "md": "tệp có thể rỗng hoặc quá lớn: hãy kiểm tra nội dung rồi tải lên lại.",
    "html": "trang có thể không có nội dung chữ: hãy lưu trang thành .txt hoặc PDF rồi tải "
    "lên lại.",
}
_DETAILS = " Chi tiết kỹ thuật ghi trong nhật ký của máy chủ."


@dataclass(frozen=True)
class FailedDocument:
    """A file the index lacks: its name in the documents folder and why, for staff."""

    source: str
    reason: str


def _reason(
    path: Path, source: str, indexed: Mapping[str, str], max_pixels: int, *, attempted: bool
) -> str:
    """Why ``path`` is not indexed; ``attempted`` when an ingest just failed on it."""
    try:
        if not path.is_file():
            return "Không còn tệp này trong thư mục tài liệu; hãy tải lên lại nếu cần."
        problem = content_problem(path, source)
        if problem:
            return problem
        twin = indexed.get(file_hash(path))
        if twin is not None and twin != source:
            return (
                f"Trùng nội dung với tài liệu {twin!r} đã nạp; mỗi nội dung chỉ nạp một lần để "
                "câu trả lời không trích cùng một đoạn hai lần. Hãy xoá một trong hai tệp."
            )
        kind = FORMATS.get(path.suffix.lower(), "")
        oversized = _oversized(path, max_pixels) if kind == "image" else None
    except OSError:
        return "Máy chủ không đọc được tệp này (quyền truy cập); hãy báo quản trị viên."
    hint = oversized or _HINTS.get(kind, "hãy kiểm tra tệp.")
    if attempted:
        return f"Không nạp được: {hint}{_DETAILS}"
    return f"Chưa có trong chỉ mục. {_RETRY}{hint}{_DETAILS}"


def _oversized(path: Path, max_pixels: int) -> str | None:
    """The hint for an image of more pixels than one may have (read from its header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        return None
    if width * height <= max_pixels:
        return None
    limit = f"{max_pixels:,}".replace(",", ".")
    return (
        f"ảnh {width}×{height} điểm ảnh, nhiều hơn {limit} điểm ảnh một ảnh được phép (một "
        "trang quét 300 dpi cần khoảng 9 triệu): hãy quét lại ở độ phân giải thấp hơn rồi tải "
        "lên lại."
    )


def _by_hash(indexed: Sequence[DocumentInfo]) -> dict[str, str]:
    return {d.content_hash: d.source for d in indexed}


def unindexed_documents(
    documents_dir: Path, indexed: Sequence[DocumentInfo], max_pixels: int
) -> list[FailedDocument]:
    """The files in ``documents_dir`` that ingest would read but the index lacks."""
    if not documents_dir.is_dir():
        return []
    known = {d.source for d in indexed}
    hashes = _by_hash(indexed)
    return [
        FailedDocument(source, _reason(path, source, hashes, max_pixels, attempted=False))
        for path, source in discover([documents_dir])
        if source not in known
    ]


def reported_failures(
    failed: Sequence[FailedFile],
    documents_dir: Path,
    indexed: Sequence[DocumentInfo],
    max_pixels: int,
) -> list[FailedDocument]:
    """An ingest's failures, named as in the documents folder instead of by server path."""
    root = documents_dir.resolve()
    hashes = _by_hash(indexed)
    found = []
    for failure in failed:
        path = Path(failure.path)
        resolved = path.resolve()
        inside = resolved != root and resolved.is_relative_to(root)
        source = resolved.relative_to(root).as_posix() if inside else path.name
        reason = _reason(path, source, hashes, max_pixels, attempted=True)
        found.append(FailedDocument(source, reason))
    return found
