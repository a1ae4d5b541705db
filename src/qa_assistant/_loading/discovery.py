"""Which files are documents: the supported suffixes, and the files under given paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import LoadError

FORMATS = {
    ".txt": "txt",
    ".md": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".doc": "doc",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(FORMATS)


def _is_hidden(parts: Sequence[str]) -> bool:
    # "~$name.docx" is the lock file Word leaves beside an open document.
    return any(p.startswith((".", "~$")) for p in parts)


def discover(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """Supported files under ``paths``, each with its ``source`` name.

    Folders are searched recursively (hidden files and folders skipped) and their files are
    named relative to the folder, with forward slashes. A file given directly is named by its
    file name and kept whatever its suffix, so that loading it reports why it is unsupported.
    """
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for root in paths:
        if root.is_dir():
            entries = []
            for path in root.rglob("*"):
                rel = path.relative_to(root)
                if (
                    path.suffix.lower() in SUPPORTED_SUFFIXES
                    and not _is_hidden(rel.parts)
                    and path.is_file()
                ):
                    entries.append((path, rel.as_posix()))
            entries.sort(key=lambda e: e[1])
        elif root.is_file():
            entries = [(root, root.name)]
        else:
            raise LoadError(f"{root} does not exist; check the path and try again.")
        for path, source in entries:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((path, source))
    return found
