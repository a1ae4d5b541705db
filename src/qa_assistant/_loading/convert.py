"""Word 97-2003 (.doc) → text through Debian's catdoc, bounded by a time limit.

catdoc rather than antiword or LibreOffice, measured on Vietnamese decisions saved as .doc
(eval/README.md, "Reading scans and old Word files"): catdoc and LibreOffice gave the text
exactly and antiword refused short files ("text stream too small"); catdoc installs in
0.7 MB against LibreOffice's 259 MB, starts in milliseconds instead of a second, and writes
a table's cells tab-separated on one line per row, which is what lets each row carry its
header.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..errors import LoadError
from .tables import table_lines

__all__ = ["CATDOC_HINT", "read_doc"]

CATDOC_HINT = (
    "install catdoc (Debian: `sudo apt-get install catdoc`, or `bash scripts/install-ocr.sh`)"
)


def _catdoc(raw: bytes, source: str, timeout_s: float) -> str:
    program = shutil.which("catdoc")
    if program is None:
        raise LoadError(
            f"{source} is an old Word (.doc) file and reading it needs catdoc, which is not "
            f"installed; {CATDOC_HINT}, or save the file as .docx, and ingest again."
        )
    fd, name = tempfile.mkstemp(suffix=".doc")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        # -d utf-8: Unicode output whatever the file's code page; -w: one line per paragraph.
        done = subprocess.run(
            [program, "-d", "utf-8", "-w", name],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(
            f"{source}: catdoc took longer than {timeout_s:g} s to read it (the file may be "
            "damaged); save it as .docx in Word or LibreOffice and ingest that, or raise "
            "QA_INGEST__CONVERTER_TIMEOUT_S."
        ) from exc
    finally:
        os.unlink(name)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise LoadError(
            f"{source} could not be read as a Word 97-2003 file ({reason}); open it in Word or "
            "LibreOffice, save it as .docx and ingest that."
        )
    return done.stdout.decode("utf-8", "replace")


def read_doc(raw: bytes, source: str, timeout_s: float) -> str:
    """The document's paragraphs, blank-line separated; tables one line per row."""
    blocks: list[str] = []
    rows: list[list[str]] = []

    def close_table() -> None:
        if len(rows) > 1:
            blocks.append("\n".join(table_lines(rows)))
        else:  # one line with tabs is a paragraph with tab stops, not a table
            blocks.extend(" ".join(" ".join(row).split()) for row in rows)
        rows.clear()

    for line in _catdoc(raw, source, timeout_s).splitlines():
        cells = line.split("\t")
        if len(cells) > 1 and (not rows or len(cells) == len(rows[0])):
            rows.append(cells)
            continue
        close_table()
        if len(cells) > 1:
            rows.append(cells)
        elif line.strip():
            blocks.append(line)
    close_table()
    return "\n\n".join(blocks)
