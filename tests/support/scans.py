"""Documents as staff receive them, generated: the scan, photos and Word file of
:mod:`qa_assistant.tuning.scans` (which ``eval/ocr_accuracy.py`` measures the OCR on), and a PDF
whose third page holds a benefit table, for the OCR, table and upload tests.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from qa_assistant.tuning.scans import (
    BENEFIT_TABLE,
    DECISION,
    DECISION_AMOUNT,
    character_error_rate,
    decision_docx,
    font_path,
    photograph,
    render_page,
    scanned_pdf,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "BENEFIT_TABLE",
    "DECISION",
    "DECISION_AMOUNT",
    "character_error_rate",
    "decision_docx",
    "photograph",
    "render_page",
    "scanned_pdf",
    "table_pdf",
]


def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("DejaVu", font_path("DejaVuSans.ttf")))


def table_pdf(*, scanned_page: Image.Image | None = None) -> bytes:
    """Three pages: prose on pages 1 and 2, the benefit table on page 3 (ruled, as offices
    print them). With ``scanned_page``, page 2 is that image instead of text."""
    from reportlab.lib import colors
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    _register_fonts()
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setTitle("Kế hoạch hỗ trợ hộ nghèo năm 2024")
    c.setFont("DejaVu", 12)
    c.drawString(72, 760, "KẾ HOẠCH HỖ TRỢ HỘ NGHÈO NĂM 2024")
    c.drawString(72, 730, "Ủy ban nhân dân xã ban hành kế hoạch hỗ trợ các hộ khó khăn.")
    c.showPage()
    if scanned_page is not None:
        c.drawImage(ImageReader(scanned_page), 0, 0, width=595, height=842)
    else:
        c.setFont("DejaVu", 12)
        c.drawString(72, 760, "Kinh phí do ngân sách tỉnh bảo đảm theo dự toán được giao.")
    c.showPage()
    c.setFont("DejaVu", 12)
    c.drawString(72, 760, "Mức hỗ trợ theo từng đối tượng như sau:")
    table = Table(BENEFIT_TABLE, colWidths=[220, 160])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "DejaVu", 11),
                ("GRID", (0, 0), (-1, -1), 0.8, colors.black),
            ]
        )
    )
    _, height = table.wrapOn(c, 400, 600)
    table.drawOn(c, 72, 740 - height)
    c.drawString(72, 700 - height, "Hồ sơ nộp tại Ủy ban nhân dân xã trước ngày 30/6/2024.")
    c.showPage()
    c.save()
    return buf.getvalue()
