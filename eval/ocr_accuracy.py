"""OCR accuracy and speed on the generated decision, and the .doc readers compared.

Run: ``python eval/ocr_accuracy.py [--pages N] [--threads T]``. Prints, for the decision of
``tests/support/scans.py`` rendered at 300 dpi and photographed (turned, unevenly lit, grainy,
blurred, JPEG; a careful photo and a hasty one), the character error rate of what ingest
reads (``load_document``: the text that is stored and cited), then OCR pages per minute on N
scanned pages with T Tesseract threads, then the character error rate of catdoc, antiword
and LibreOffice on ``tests/data``'s .doc against the text it was saved from (each reader that
is installed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the generated documents the tests use

from qa_assistant._loading import load_document  # noqa: E402
from qa_assistant.settings import IngestSettings  # noqa: E402
from support.scans import (  # noqa: E402
    BENEFIT_TABLE,
    DECISION,
    character_error_rate,
    decision_docx,
    photograph,
    render_page,
    scanned_pdf,
)

DOC = ROOT / "tests" / "data" / "quyet_dinh_ho_tro.doc"


def _cer_of(folder: Path, name: str, data: bytes) -> tuple[float, float]:
    path = folder / name
    path.write_bytes(data)
    started = time.perf_counter()
    text = load_document(path, name).text
    return character_error_rate("\n".join(DECISION), text), time.perf_counter() - started


def _doc_readers(folder: Path) -> dict[str, list[str]]:
    out = folder / "lo"
    return {
        "catdoc": ["catdoc", "-d", "utf-8", "-w", str(DOC)],
        "antiword": ["antiword", "-m", "UTF-8.txt", "-w", "0", str(DOC)],
        "libreoffice": [
            "soffice",
            "--headless",
            "--cat",
            str(DOC),
            f"-env:UserInstallation=file://{out}",
        ],
    }


def _doc_reference() -> str:
    paragraphs = [" ".join(DECISION[1:3]), " ".join(DECISION[3:5]), DECISION[5], DECISION[6]]
    cells = [cell for row in BENEFIT_TABLE for cell in row]
    return " ".join([*paragraphs, *cells, " ".join(DECISION[7:9]), DECISION[9]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=6, help="Scanned pages timed for speed.")
    parser.add_argument("--threads", type=int, default=1, help="QA_INGEST__OCR_THREADS.")
    args = parser.parse_args()
    limits = IngestSettings(ocr_threads=args.threads)
    page = render_page(DECISION)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, name, data in (
            ("scan, 300 dpi (image-only PDF)", "scan.pdf", scanned_pdf([page])),
            (
                "phone photo (2.5°, noise σ 16, blur 0.9, ~200 dpi, JPEG 80)",
                "photo.jpg",
                photograph(page),
            ),
            (
                "hasty photo (4°, darker edge, noise σ 28, blur 1.3, ~150 dpi, JPEG 70)",
                "hasty.jpg",
                photograph(
                    page, angle=4, noise=28, blur=1.3, scale=0.5, quality=70, light=0.75, seed=1
                ),
            ),
        ):
            cer, seconds = _cer_of(folder, name, data)
            print(f"{label}: CER {cer:.2%} ({seconds:.1f} s)")

        name = "pages.pdf"
        (folder / name).write_bytes(scanned_pdf([page] * args.pages))
        started = time.perf_counter()
        load_document(folder / name, name, limits)
        minutes = (time.perf_counter() - started) / 60
        print(
            f"OCR speed: {args.pages / minutes:.1f} pages/minute ({args.pages} A4 pages, "
            f"300 dpi, {args.threads} Tesseract thread(s))"
        )

        (folder / "source.docx").write_bytes(decision_docx())
        reference = _doc_reference()
        for reader, command in _doc_readers(folder).items():
            if shutil.which(command[0]) is None:
                print(f".doc via {reader}: not installed")
                continue
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, timeout=120, check=False)
            seconds = time.perf_counter() - started
            text = done.stdout.decode("utf-8", "replace").lstrip("\ufeff").replace("|", " ")
            if done.returncode != 0 or not text.strip():
                reason = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
                print(f".doc via {reader}: failed ({reason[:80]})")
                continue
            cer = character_error_rate(reference, text)
            print(f".doc via {reader}: CER {cer:.2%} ({seconds * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
