"""Documents as staff receive them, generated: a decision rendered to an image and saved as an
image-only PDF (a scan), the same page photographed (turned, noisy, JPEG), and the decision as a
Word file; and the character error rate that reading them is measured by.

:mod:`.ocr` measures the OCR's character error rate on exactly these pages, and the OCR and
upload tests read them too.
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "BENEFIT_TABLE",
    "DECISION",
    "DECISION_AMOUNT",
    "character_error_rate",
    "decision_docx",
    "font_path",
    "photograph",
    "render_page",
    "scanned_pdf",
]

# A short decision with the marks OCR most often gets wrong (ư, ơ, ă, đ and stacked tones).
DECISION = [
    "QUYẾT ĐỊNH",
    "Quyết định số 123/QĐ-UBND ngày 15 tháng 3 năm 2024 của Ủy ban nhân dân tỉnh",
    "về chính sách hỗ trợ và ưu đãi đối với hộ nghèo, hộ cận nghèo.",
    "Điều 1. Đối tượng được hỗ trợ là hộ nghèo, hộ cận nghèo có hộ khẩu thường trú",
    "tại địa phương; người cao tuổi sống một mình; trẻ em mồ côi cả cha và mẹ.",
    "Điều 2. Mức hỗ trợ và thời hạn",
    "Mỗi hộ gia đình được hỗ trợ khắc phục hậu quả bão lũ 2.750.000 đồng.",
    "Người được ưu đãi nộp hồ sơ tại Ủy ban nhân dân cấp xã",
    "trước ngày 30 tháng 6 năm 2024.",
    "Điều 3. Chánh Văn phòng, Giám đốc Sở Tài chính chịu trách nhiệm thi hành.",
]
DECISION_AMOUNT = "2.750.000 đồng"
BENEFIT_TABLE = [
    ["Đối tượng", "Mức hỗ trợ"],
    ["Hộ nghèo", "1.500.000 đồng"],
    ["Hộ cận nghèo", "1.000.000 đồng"],
    ["Người khuyết tật nặng", "800.000 đồng"],
]


def font_path(name: str = "DejaVuSerif.ttf") -> str:
    import matplotlib

    # TrueType fonts with every Vietnamese letter, shipped with matplotlib.
    return str(Path(matplotlib.get_data_path()) / "fonts/ttf" / name)


def render_page(lines: list[str], dpi: int = 300) -> Image.Image:
    """An A4 page of 12 pt text in black on white, as a scanner at ``dpi`` sees it."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size = round(12 * dpi / 72)
    font = ImageFont.truetype(font_path(), size)
    y = dpi  # an inch of top margin
    for line in lines:
        draw.text((round(0.8 * dpi), y), line, font=font, fill=0)
        y += round(size * 1.6)
    return page


def photograph(
    page: Image.Image,
    *,
    angle: float = 2.5,
    noise: float = 16,
    blur: float = 0.9,
    scale: float = 2 / 3,
    quality: int = 80,
    light: float = 0.8,
    seed: int = 7,
) -> bytes:
    """The page as a phone photo: turned a little, unevenly lit, grainy, soft, JPEG. The
    defaults are a careful photo (about 200 dpi); :mod:`.ocr` also tries a hasty one."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    turned = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=225)
    pixels = np.asarray(turned, dtype=np.float64)
    shade = np.linspace(light, 1.0, pixels.shape[1])[None, :]  # darker towards one edge
    pixels = pixels * shade + rng.normal(0, noise, pixels.shape)
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    photo = photo.filter(ImageFilter.GaussianBlur(blur))
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    buf = io.BytesIO()
    photo.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def scanned_pdf(pages: list[Image.Image], dpi: int = 300) -> bytes:
    """An image-only PDF, as a scanner writes it: no text layer at all."""
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=dpi, save_all=True, append_images=pages[1:])
    return buf.getvalue()


def decision_docx() -> bytes:
    """The decision as a Word file, with the benefit table (what the shipped test .doc holds)."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Quyết định hỗ trợ hộ cận nghèo"
    document.add_paragraph(" ".join(DECISION[1:3]))
    document.add_paragraph(" ".join(DECISION[3:5]))
    document.add_paragraph(DECISION[5])
    document.add_paragraph(DECISION[6])
    table = document.add_table(rows=len(BENEFIT_TABLE), cols=2)
    for r, row in enumerate(BENEFIT_TABLE):
        for col, text in enumerate(row):
            table.cell(r, col).text = text
    document.add_paragraph(" ".join(DECISION[7:9]))
    document.add_paragraph(DECISION[9])
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over characters / reference length, NFC, whitespace runs as one
    space (OCR's line and paragraph breaks are layout, not characters read wrong)."""

    def tidy(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).split())

    ref, hyp = tidy(reference), tidy(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / max(len(ref), 1)
