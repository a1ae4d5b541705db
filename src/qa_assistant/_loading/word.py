"""Word files → text: .docx through python-docx (paragraphs as they read, tables as named
rows), Word 97-2003 .doc through catdoc (:mod:`qa_assistant._loading.convert`)."""

from __future__ import annotations

import io
from typing import Any

from ..errors import LoadError
from .convert import read_doc
from .extracted import Extracted, Reading, tidy_lines
from .tables import table_lines


def extract_docx(raw: bytes, source: str, reading: Reading) -> Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # zipfile, lxml and KeyError on damaged or foreign files
        raise LoadError(
            f"{source} is not a readable .docx (it may be damaged, password-protected or an "
            "old .doc renamed); open it in Word or LibreOffice, save as .docx and try again."
        ) from exc
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(_docx_paragraph(Paragraph(block, document)))
        elif tag == "tbl":
            rows = [[c.text for c in row.cells] for row in Table(block, document).rows]
            lines.append("\n".join(table_lines(rows)))
    title = document.core_properties.title or ""
    return Extracted(text=tidy_lines("\n\n".join(lines)), title=title)


def _docx_paragraph(paragraph: Any) -> str:
    # Headings stay plain lines: the full text is shown to staff as the document reads, and
    # the chunker finds the sections from the numbering ("I.", "1.", "Điều 2.") or from a
    # short line between blank lines.
    return str(paragraph.text).strip()


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 files are OLE containers
_ZIP_MAGIC = b"PK\x03\x04"


def extract_doc(raw: bytes, source: str, reading: Reading) -> Extracted:
    """A Word 97-2003 file, read by catdoc (docs/ARCHITECTURE.md says why catdoc)."""
    if raw.startswith(_ZIP_MAGIC):  # a .docx saved under the old name
        return extract_docx(raw, source, reading)
    if not raw.startswith(_OLE_MAGIC):
        raise LoadError(
            f"{source} is not a Word 97-2003 document (it may be RTF or text renamed .doc); "
            "open it in Word or LibreOffice, save it as .docx and ingest that."
        )
    text = read_doc(raw, source, reading.limits.converter_timeout_s)
    return Extracted(text=tidy_lines(text))
