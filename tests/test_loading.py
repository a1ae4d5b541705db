"""Loading files of every format and encoding into cleaned, normalised documents."""

from __future__ import annotations

import codecs
import io
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from qa_assistant._loading import SUPPORTED_SUFFIXES, discover, load_document
from qa_assistant.errors import LoadError
from support.corpus import cp1258

SEEDS = Path(__file__).resolve().parent.parent / "documents"
DATA = Path(__file__).resolve().parent / "data"
VIET = "Luật Cư trú quy định quyền tự do cư trú của công dân Việt Nam. Hỗ trợ học phí."


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _load(tmp_path: Path, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return load_document(_write(tmp_path, name, data), name)


# --------------------------------------------------------------------------- discovery


def test_discover_recurses_sorts_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ["b.txt", "a/c.md", "a/d.pdf", ".hidden.txt", ".git/x.txt", "e.exe", "~$f.docx"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    found = discover([tmp_path])
    assert [source for _, source in found] == ["a/c.md", "a/d.pdf", "b.txt"]
    assert discover([tmp_path / "b.txt"]) == [(tmp_path / "b.txt", "b.txt")]
    assert ".docx" in SUPPORTED_SUFFIXES
    with pytest.raises(LoadError, match="does not exist"):
        discover([tmp_path / "missing"])


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "data",
    [
        VIET.encode("utf-8"),
        codecs.BOM_UTF8 + VIET.encode("utf-8"),
        codecs.BOM_UTF16_LE + VIET.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + VIET.encode("utf-16-be"),
        cp1258(VIET * 3),
        unicodedata.normalize("NFD", VIET).encode("utf-8"),
    ],
    ids=["utf8", "utf8-bom", "utf16le", "utf16be", "cp1258", "nfd"],
)
def test_encodings_decode_to_nfc(tmp_path: Path, data: bytes) -> None:
    doc = _load(tmp_path, "doc.txt", data)
    assert doc.text.startswith(VIET)
    assert unicodedata.is_normalized("NFC", doc.text)
    assert doc.format == "txt" and len(doc.content_hash) == 64


def test_invisible_and_control_characters_are_removed(tmp_path: Path) -> None:
    doc = _load(tmp_path, "z.txt", "Hỗ\u200b trợ\ufeff học\x07 phí\r\n".encode())
    assert doc.text == "Hỗ trợ học phí"


def test_empty_and_binary_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is empty"):
        _load(tmp_path, "empty.txt", b"")
    with pytest.raises(LoadError, match="is empty"):
        _load(tmp_path, "blank.md", b"  \n\n ")
    with pytest.raises(LoadError, match="binary file, not text"):
        _load(tmp_path, "bin.txt", bytes(range(256)) * 20)
    with pytest.raises(LoadError, match="not supported"):
        _load(tmp_path, "x.exe", b"text")


def test_one_megabyte_single_line_loads(tmp_path: Path) -> None:
    line = ("hỗ trợ học phí " * 70_000).encode()
    doc = _load(tmp_path, "long.txt", line)
    assert len(doc.text) > 1_000_000 - 100_000 and "\n" not in doc.text


# --------------------------------------------------------------------------- formats


def test_markdown_title_from_heading(tmp_path: Path) -> None:
    doc = _load(tmp_path, "q.md", "# Quy chế sinh viên\n\n## Học phí\n\nNội dung.\n".encode())
    assert doc.title == "Quy chế sinh viên" and doc.format == "md"


def test_law_title_is_tidied() -> None:
    doc = load_document(DATA / "luat_cu_tru_excerpt.txt", "luat_cu_tru.txt")
    assert doc.title == "Luật Cư trú"
    assert doc.text.startswith("LUẬT CƯ TRÚ\n\nĐiều 1. Phạm vi điều chỉnh")
    assert doc.notes == ()


def test_html_drops_scripts_navigation_and_handlers(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Chính sách học phí</title>
    <style>body{color:red}</style><script>var secret = "SCRIPT";</script></head>
    <body><nav>Trang chủ | Tin tức</nav><header>HEADER</header>
    <h1>Hỗ trợ học phí</h1><p onclick="alert('HANDLER')">Sinh viên <b>sư phạm</b> được
    hỗ trợ.</p><!-- COMMENT --><ul><li>Mục một</li><li>Mục hai</li></ul>
    <script>document.write("SCRIPT2")</script><footer>FOOTER</footer></body></html>"""
    doc = _load(tmp_path, "page.html", html.encode())
    for debris in ("SCRIPT", "HANDLER", "COMMENT", "HEADER", "FOOTER", "Trang chủ", "color"):
        assert debris not in doc.text
    assert "# Hỗ trợ học phí" in doc.text
    assert "Sinh viên sư phạm được hỗ trợ." in doc.text
    assert "Mục một\n\nMục hai" in doc.text
    assert doc.title == "Chính sách học phí" and doc.format == "html"


def _font() -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf")


def _pdf(lines: list[str]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", _font()))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setTitle("Quyết định hỗ trợ")
    c.setFont("DejaVu", 12)
    for i, line in enumerate(lines):
        c.drawString(72, 760 - 18 * i, line)
    if not lines:
        c.rect(100, 100, 300, 300, fill=1)  # an "image" and no text
    c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    doc = _load(tmp_path, "qd.pdf", _pdf(["Điều 1. Hỗ trợ học phí", "cho sinh viên sư phạm."]))
    assert "Điều 1. Hỗ trợ học phí cho sinh viên sư phạm." in doc.text
    assert doc.title == "Quyết định hỗ trợ" and doc.format == "pdf"


def test_pdf_problems_say_what_to_do(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    good = _pdf(["Nội dung bí mật."])
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(good)).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(LoadError, match="password-protected"):
        _load(tmp_path, "locked.pdf", buf.getvalue())
    # A page with only a drawn box: OCR finds nothing, or is missing and named for install.
    with pytest.raises(LoadError, match=r"scanned.*OCR.*tesseract-ocr-vie|OCR found no text"):
        _load(tmp_path, "scan.pdf", _pdf([]))
    with pytest.raises(LoadError, match=r"truncated or damaged|no text layer"):
        _load(tmp_path, "cut.pdf", good[: len(good) // 3])


def test_docx_paragraphs_headings_and_tables(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Quy chế học phí", level=1)
    d.add_paragraph("Sinh viên được miễn học phí.")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [
            ("Đối tượng", "Mức hỗ trợ", "Mức hỗ trợ"),
            ("Sinh viên sư phạm", "100%", "3.630.000 đồng"),
            ("Ghi chú: theo năm học", "", ""),
        ]
    ):
        for col, text in enumerate(row):
            table.rows[r].cells[col].text = text
    table.cell(2, 0).merge(table.cell(2, 2))  # a note across the whole row
    buf = io.BytesIO()
    d.save(buf)
    doc = _load(tmp_path, "qc.docx", buf.getvalue())
    # The heading reads as it does in Word: no Markdown marks in the text staff see.
    assert doc.text == (
        "Quy chế học phí\n\nSinh viên được miễn học phí.\n\n"
        "Đối tượng | Mức hỗ trợ\n"
        "Đối tượng: Sinh viên sư phạm | Mức hỗ trợ: 100% | Mức hỗ trợ: 3.630.000 đồng\n"
        "Đối tượng: Ghi chú: theo năm học"
    )
    assert doc.title == "Quy chế học phí" and doc.format == "docx"
    with pytest.raises(LoadError, match=r"not a readable \.docx"):
        _load(tmp_path, "bad.docx", b"PK\x03\x04 not really a zip")


# --------------------------------------------------------------------------- news debris


def test_seed_article_debris_is_removed_and_recorded() -> None:
    doc = load_document(SEEDS / "quang-ninh-an-sinh-xa-hoi-2026.txt", "an-sinh.txt")
    assert doc.title == "Quảng Ninh: Kiến tạo phát triển từ nền tảng an sinh xã hội"
    assert doc.date == date(2026, 2, 1)
    assert doc.text.startswith(doc.title + "\n\nTTTĐ - Trong hành trình")
    for debris in ("Tag", "\naa\n", "Muôn mặt cuộc sống", "Tổng Bí thư Tô Lâm", "Ngọc Quyết"):
        assert debris not in doc.text
    assert "Đọc thêm" not in doc.text and "Nam Phù" not in doc.text
    assert doc.text.endswith("thước đo cho sự phát triển.")
    caption = "Quảng Ninh hiện đang thực hiện 18 dự án phát triển nhà ở xã hội"
    assert doc.text.count(caption) == 1
    notes = " ".join(doc.notes)
    for word in ("navigation", "Đọc thêm", "links to other articles", "sign-off", "twice"):
        assert word in notes


def test_seed_date_marker_is_stripped() -> None:
    doc = load_document(SEEDS / "quang-ninh-giam-ngheo-2025.txt", "giam-ngheo.txt")
    assert doc.date == date(2025, 12, 19)
    assert doc.text.startswith("Các tổ chức đoàn thể")
    assert "date" not in doc.text[:50] and "Hà Anh" not in doc.text
    assert "92,9 triệu đồng" in doc.text


# --------------------------------------------------------------------------- official documents

HEADER = (
    "ỦY BAN NHÂN DÂN\nTỈNH HÒA BÌNH\n-------\nSố: 123/QĐ-UBND\n"
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n"
    "Hòa Bình, ngày 15 tháng 3 năm 2026\n\n"
)
PREAMBLE = "Căn cứ Luật Tổ chức chính quyền địa phương ngày 16 tháng 6 năm 2025;\n\nQUYẾT ĐỊNH:\n\n"


def test_a_decisions_header_gives_its_title_and_date(tmp_path: Path) -> None:
    text = (
        HEADER
        + "QUYẾT ĐỊNH\nVề việc hỗ trợ hộ cận nghèo\n\n"
        + PREAMBLE
        + ("Điều 1. Mỗi hộ cận nghèo được hỗ trợ 2.500.000 đồng.")
    )
    doc = _load(tmp_path, "qd_123_ho_tro.txt", text.encode())
    assert doc.title == "Quyết định số 123/QĐ-UBND về việc hỗ trợ hộ cận nghèo"
    # The header's date, not the date of a law the preamble cites.
    assert doc.date == date(2026, 3, 15)


def test_an_amendment_and_a_plan_are_named_by_their_subject_line(tmp_path: Path) -> None:
    amendment = (
        HEADER.replace("123/QĐ-UBND", "08/2026/QĐ-UBND")
        + (
            "QUYẾT ĐỊNH\nSửa đổi, bổ sung một số điều của Quyết định số 45/2025/QĐ-UBND\n"
            "ngày 10 tháng 9 năm 2025 của Ủy ban nhân dân tỉnh\n\n" + PREAMBLE
        )
        + "Điều 1. Sửa đổi mức trợ cấp tại Điều 3 thành 600.000 đồng."
    )
    doc = _load(tmp_path, "sua_doi.txt", amendment.encode())
    assert doc.title == (
        "Quyết định số 08/2026/QĐ-UBND sửa đổi, bổ sung một số điều của Quyết định số "
        "45/2025/QĐ-UBND ngày 10 tháng 9 năm 2025 của Ủy ban nhân dân tỉnh"
    )
    plan = "Số: 318/KH-UBND\nHòa Bình, ngày 05/12/2025\n\nKẾ HOẠCH\nTẶNG QUÀ TẾT\n\nI. MỤC ĐÍCH"
    doc = _load(tmp_path, "kh.txt", plan.encode())
    assert doc.title == "Kế hoạch số 318/KH-UBND tặng quà tết" and doc.date == date(2025, 12, 5)
    letter = "Số: 45/SNV-LĐVL\nV/v hỗ trợ người lao động\n\nHòa Bình, ngày 2 tháng 10 năm 2025\n"
    doc = _load(tmp_path, "cv.md", (letter + "\nKính gửi: Các xã.").encode())
    assert doc.title == "Công văn số 45/SNV-LĐVL về việc hỗ trợ người lao động"


def test_a_word_decision_reads_without_markdown_marks(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    # The header as Word files lay it out: a two-column table.
    header = d.add_table(rows=1, cols=2)
    header.cell(0, 0).text = "ỦY BAN NHÂN DÂN TỈNH HÒA BÌNH\nSố: 45/2025/QĐ-UBND"
    header.cell(
        0, 1
    ).text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nHòa Bình, ngày 10 tháng 9 năm 2025"
    d.add_paragraph("QUYẾT ĐỊNH")
    d.add_paragraph("Quy định mức trợ cấp cho học sinh")
    d.add_paragraph("Căn cứ Luật Giáo dục ngày 14 tháng 6 năm 2019;")
    d.add_heading("Điều 1. Phạm vi", level=1)
    d.add_paragraph("Mỗi học sinh được hỗ trợ 936.000 đồng/tháng.")
    buf = io.BytesIO()
    d.save(buf)
    doc = _load(tmp_path, "qd.docx", buf.getvalue())
    assert doc.title == "Quyết định số 45/2025/QĐ-UBND quy định mức trợ cấp cho học sinh"
    assert doc.date == date(2025, 9, 10)
    assert "#" not in doc.text and "\n\nĐiều 1. Phạm vi\n\nMỗi học sinh" in doc.text


def test_a_file_name_title_is_spelled_as_the_text_spells_it(tmp_path: Path) -> None:
    text = (
        "Tỉnh Quảng Ninh giảm nghèo nhanh: năm 2025 số hộ nghèo giảm còn 0,5%, nhờ tín dụng ưu đãi."
    )
    doc = _load(tmp_path, "quang_ninh_giam_ngheo_2025.txt", text.encode())
    assert doc.title == "Quảng Ninh giảm nghèo 2025"


def test_a_pdf_line_wrapped_before_a_date_is_joined_but_list_items_stay_apart() -> None:
    from qa_assistant._loading.pdf import reflow

    text = (
        "Nộp hồ sơ trước ngày\n30 tháng 9 năm 2025.\n2. Hỗ trợ gạo\n3. Mức hỗ trợ là\n"
        "1.250.000 đồng"
    )
    assert reflow(text) == (
        "Nộp hồ sơ trước ngày 30 tháng 9 năm 2025.\n2. Hỗ trợ gạo\n3. Mức hỗ trợ là 1.250.000 đồng"
    )
