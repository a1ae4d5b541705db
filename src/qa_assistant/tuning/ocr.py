"""OCR accuracy and speed on the generated decision, and the .doc readers compared.

For the decision of :mod:`.scans` rendered at 300 dpi and photographed (turned, unevenly lit,
grainy, blurred, JPEG; a careful photo and a hasty one): the character error rate of what
ingest reads (``load_document``: the text that is stored and cited), then OCR pages per minute
on N scanned pages with T Tesseract threads (``QA_INGEST__OCR_THREADS``), then the character
error rate of catdoc, antiword and LibreOffice on the project's test .doc against the text it
was saved from (each reader that is installed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .._loading import load_document
from ..settings import IngestSettings
from .scans import (
    BENEFIT_TABLE,
    DECISION,
    character_error_rate,
    photograph,
    render_page,
    scanned_pdf,
)

__all__ = ["doc_reference", "main"]


def _cer_of(folder: Path, name: str, data: bytes) -> tuple[float, float]:
    path = folder / name
    path.write_bytes(data)
    started = time.perf_counter()
    text = load_document(path, name).text
    return character_error_rate("\n".join(DECISION), text), time.perf_counter() - started


def _doc_readers(doc: Path, folder: Path) -> dict[str, list[str]]:
    out = folder / "lo"
    return {
        "catdoc": ["catdoc", "-d", "utf-8", "-w", str(doc)],
        "antiword": ["antiword", "-m", "UTF-8.txt", "-w", "0", str(doc)],
        "libreoffice": [
            "soffice",
            "--headless",
            "--cat",
            str(doc),
            f"-env:UserInstallation=file://{out}",
        ],
    }


def doc_reference() -> str:
    """The text the test .doc was saved from, in the order a reader gives it."""
    paragraphs = [" ".join(DECISION[1:3]), " ".join(DECISION[3:5]), DECISION[5], DECISION[6]]
    cells = [cell for row in BENEFIT_TABLE for cell in row]
    return " ".join([*paragraphs, *cells, " ".join(DECISION[7:9]), DECISION[9]])


def main(argv: Sequence[str] | None = None, *, root: Path) -> int:
    """``python eval/ocr_accuracy.py``; ``root`` is the project's folder."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=6, help="Scanned pages timed for speed.")
    parser.add_argument("--threads", type=int, default=1, help="QA_INGEST__OCR_THREADS.")
    parser.add_argument(
        "--doc", type=Path, default=root / "tests/data/quyet_dinh_ho_tro.doc", help="A .doc."
    )
    args = parser.parse_args(argv)
    limits = IngestSettings.model_validate({"ocr_threads": args.threads})
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

        reference = doc_reference()
        for reader, command in _doc_readers(args.doc, folder).items():
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
    return 0
