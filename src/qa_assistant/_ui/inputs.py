"""What the page sends, checked: date pickers and filters, upload names and files, the guard.

Bad input becomes a :class:`~qa_assistant.errors.QAError` (an :class:`UploadError` for
uploads) whose Vietnamese message tells the user what to change; nothing is half-saved.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .._loading import SUPPORTED_SUFFIXES
from .._state.staff import StaffGuard
from ..errors import QAError, UploadError
from ..settings import Settings
from ..types import Filters
from .content import content_problem

__all__ = [
    "ALLOWED_UPLOAD_SUFFIXES",
    "make_filters",
    "parse_date",
    "save_upload",
    "staff_guard",
    "validate_upload_name",
]

ALLOWED_UPLOAD_SUFFIXES = SUPPORTED_SUFFIXES  # an upload is kept only if ingest can read it
_UNSAFE_NAME_CHARS = re.compile(r"[/\\:*?\"<>|]")


def parse_date(value: Any, label: str) -> date | None:
    """A date from the date pickers, which give '' / None / 'YYYY-MM-DD[ HH:MM:SS]'."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(value, UTC).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise QAError(f"{label} không hợp lệ: hãy chọn ngày theo dạng NNNN-TT-NN.") from None


def make_filters(sources: Sequence[str] | None, date_from: Any, date_to: Any) -> Filters | None:
    start = parse_date(date_from, "Ngày bắt đầu")
    end = parse_date(date_to, "Ngày kết thúc")
    if start and end and start > end:
        raise QAError("Ngày bắt đầu phải trước ngày kết thúc.")
    filters = Filters(sources=tuple(sources or ()), date_from=start, date_to=end)
    return None if filters.is_empty() else filters


def validate_upload_name(name: str) -> str:
    """The file name to save an upload under, or :class:`UploadError` saying why not."""
    name = unicodedata.normalize("NFC", name)
    if not name or not name.strip():
        raise UploadError("Tên tệp trống.")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise UploadError("Tên tệp chứa ký tự điều khiển; hãy đổi tên tệp.")
    if _UNSAFE_NAME_CHARS.search(name) or ".." in name:
        raise UploadError(f"Tên tệp {name!r} không an toàn (chứa / \\ .. hoặc ký tự đặc biệt).")
    if name.startswith(".") or name != name.strip():
        raise UploadError(
            f"Tên tệp {name!r} không hợp lệ (tệp ẩn hoặc có khoảng trắng ở đầu/cuối)."
        )
    if len(name.encode("utf-8")) > 200:
        raise UploadError("Tên tệp quá dài; hãy đặt tên ngắn hơn 200 byte.")
    if Path(name).suffix.lower() not in ALLOWED_UPLOAD_SUFFIXES:
        allowed = ", ".join(ALLOWED_UPLOAD_SUFFIXES)
        raise UploadError(f"Không nhận loại tệp của {name!r}. Chỉ nhận: {allowed}.")
    return name


def save_upload(source: Path, name: str, documents_dir: Path, max_upload_mb: int) -> Path:
    """Copies an uploaded file into ``documents_dir`` under a validated name, once its content
    is what the name says (:mod:`.content`); returns the path."""
    safe_name = validate_upload_name(name)
    size = source.stat().st_size
    if size > max_upload_mb * 1024 * 1024:
        raise UploadError(
            f"Tệp {safe_name!r} nặng {size / 1024 / 1024:.1f} MB, vượt giới hạn {max_upload_mb} MB."
        )
    if size == 0:
        raise UploadError(f"Tệp {safe_name!r} rỗng.")
    problem = content_problem(source, safe_name)
    if problem:
        raise UploadError(problem)
    root = documents_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    target = (root / safe_name).resolve()
    if target.parent != root:  # belt and braces after the name checks
        raise UploadError(f"Tên tệp {safe_name!r} không an toàn.")
    # Copy beside the target, then rename: an ingest running meanwhile never sees half a file.
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp_name)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return target


def staff_guard(settings: Settings) -> StaffGuard:
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    return StaffGuard(
        password,
        max_failures=settings.staff.login_max_failures,
        window_s=settings.staff.login_window_minutes * 60,
        idle_s=settings.staff.session_idle_minutes * 60,
    )
