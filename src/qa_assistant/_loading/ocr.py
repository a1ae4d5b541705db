"""Scans and photos → text: Tesseract's Vietnamese model through pytesseract, within limits.

pytesseract rather than ocrmypdf: ingest needs each page's text on its own (to record page
numbers and show progress page by page) and a time limit on every call, not a new PDF with a
text layer; ocrmypdf would bring Ghostscript and qpdf and rewrite the file only for its text
to be read back out. PDF pages are rendered by pypdfium2 (installed with pdfplumber).

Every limit is checked before the work it bounds: an image's pixels before it is decoded, a
file's scanned pages before the first is read, the time left before each page's OCR. A file past one
raises :class:`LoadError`, which ingest reports under ``failed``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import LoadError

if TYPE_CHECKING:
    from PIL import Image

    from ..settings import IngestSettings

__all__ = [
    "INSTALL_HINT",
    "Deadline",
    "PageProgress",
    "check_page_count",
    "image_frames",
    "ocr_page",
    "pdf_page_image",
    "tesseract_missing",
]

PageProgress = Callable[[int, int], None]  # (pages done, pages in the file)

INSTALL_HINT = (
    "install Tesseract with its Vietnamese model (Debian: `sudo apt-get install tesseract-ocr "
    "tesseract-ocr-vie`, or `bash scripts/install-ocr.sh`)"
)
_PSM_AUTO = "--psm 3"  # page segmentation with layout analysis, Tesseract's default
# An A4 page under 2,000 pixels on its long side is below about 170 dpi (eval/README.md:
# doubling a hasty 150 dpi photo took its character error rate from 36 % to 5 %).
_SMALL_SIDE = 2000


_READY: set[str] = set()  # language sets found installed: asked once a process


def tesseract_missing(languages: str) -> str | None:
    """What OCR lacks on this machine (the program, a language model), or None if ready.

    Only a positive answer is kept: once staff install Tesseract, the next ingest (from the
    page too) finds it without a restart.
    """
    import pytesseract

    if languages in _READY:
        return None
    try:
        installed = set(pytesseract.get_languages())
    except (pytesseract.TesseractNotFoundError, OSError):
        return "the tesseract program is not installed"
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        return f"Tesseract has no model for {', '.join(missing)}"
    _READY.add(languages)
    return None


def _require_tesseract(source: str, languages: str) -> None:
    missing = tesseract_missing(languages)
    if missing:
        raise LoadError(
            f"{source} is a scanned image without a text layer and needs OCR, but {missing}; "
            f"{INSTALL_HINT} and ingest again."
        )


class Deadline:
    """The OCR time one file may still take (``QA_INGEST__OCR_TIMEOUT_S``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self, source: str, page: int) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise self.expired(source, page)
        return left

    def expired(self, source: str, page: int) -> LoadError:
        return LoadError(
            f"{source}: OCR took longer than the {self.seconds:g} s one file may take "
            f"(stopped at page {page}); split the file, or raise QA_INGEST__OCR_TIMEOUT_S."
        )


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _omp_threads(threads: int) -> Iterator[None]:
    """Tesseract's OpenMP threads, set in the environment its process inherits (pytesseract
    passes ``os.environ`` as it is), and put back after the call."""
    with _ENV_LOCK:
        before = os.environ.get("OMP_THREAD_LIMIT")
        os.environ["OMP_THREAD_LIMIT"] = str(threads)
        try:
            yield
        finally:
            if before is None:
                del os.environ["OMP_THREAD_LIMIT"]
            else:
                os.environ["OMP_THREAD_LIMIT"] = before


def _upscaled(image: Image.Image, limits: IngestSettings) -> Image.Image:
    """A photo's text is often smaller than the 20-30 pixel letters Tesseract reads best:
    an image under ``_SMALL_SIDE`` pixels on its long side is read at twice its size (within
    the pixel limit)."""
    from PIL import Image

    if max(image.size) >= _SMALL_SIDE:
        return image
    scale = min(2.0, math.sqrt(limits.max_image_pixels / (image.width * image.height)))
    if scale <= 1:
        return image
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.LANCZOS)


def ocr_page(
    image: Image.Image, *, source: str, page: int, limits: IngestSettings, deadline: Deadline
) -> str:
    """The text Tesseract reads on one page image."""
    import pytesseract

    _require_tesseract(source, limits.ocr_languages)
    # Tesseract's own limit is whole seconds; at least one, so a last short page still runs.
    timeout = max(1, math.ceil(deadline.left(source, page)))
    try:
        with _omp_threads(limits.ocr_threads):
            text = pytesseract.image_to_string(
                _upscaled(image, limits),
                lang=limits.ocr_languages,
                config=_PSM_AUTO,
                timeout=timeout,
            )
    except RuntimeError as exc:  # pytesseract's "Tesseract process timeout"
        raise deadline.expired(source, page) from exc
    except pytesseract.TesseractError as exc:
        raise LoadError(
            f"{source}: Tesseract could not read page {page} ({exc.message.strip() or exc}); "
            "check that the image opens in an image viewer."
        ) from exc
    return str(text)


def check_page_count(source: str, pages: int, limits: IngestSettings) -> None:
    """Refuse a file with more pages to OCR than ``QA_INGEST__MAX_PAGES``, before the first."""
    if pages > limits.max_pages:
        raise LoadError(
            f"{source} has {pages} scanned pages, more than the {limits.max_pages} OCR may "
            "read in one file (about 1.3 s a page); split it into smaller files, or raise "
            "QA_INGEST__MAX_PAGES."
        )


def _check_pixels(source: str, width: int, height: int, limits: IngestSettings) -> None:
    if width * height > limits.max_image_pixels:
        raise LoadError(
            f"{source} is an image of {width}×{height} pixels, more than the "
            f"{limits.max_image_pixels:,} one image may have (a scan at 300 dpi needs about "
            "9 million a page); scan it at a lower resolution, or raise "
            "QA_INGEST__MAX_IMAGE_PIXELS."
        )


def _unreadable_image(source: str, exc: Exception) -> LoadError:
    return LoadError(
        f"{source} could not be read as an image ({type(exc).__name__}: {exc}); the file may "
        "be truncated or damaged. Scan or export it again (PNG, JPEG or TIFF)."
    )


def image_frames(
    raw: bytes, source: str, limits: IngestSettings
) -> tuple[int, Iterator[Image.Image]]:
    """The page count of a PNG, JPEG or (multi-page) TIFF, checked against the page limit,
    and its pages as greyscale images, each checked against the pixel limit before it is
    decoded."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(raw))
        frames = int(getattr(image, "n_frames", 1))
    except Image.DecompressionBombError as exc:
        # Pillow refuses images past twice its own limit while reading the header.
        raise LoadError(
            f"{source} claims more pixels than any scan has ({exc}); it is refused unread. "
            "Scan or export the page again."
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise _unreadable_image(source, exc) from exc
    check_page_count(source, frames, limits)
    return frames, _frames(image, frames, source, limits)


def _frames(
    image: Image.Image, frames: int, source: str, limits: IngestSettings
) -> Iterator[Image.Image]:
    from PIL import ImageOps

    for index in range(frames):
        try:
            image.seek(index)
            _check_pixels(source, image.width, image.height, limits)
            # A phone photo may be stored sideways with an EXIF note saying how to turn it.
            frame = ImageOps.exif_transpose(image.convert("L"))
        except LoadError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _unreadable_image(source, exc) from exc
        yield frame


def pdf_page_image(document: Any, index: int, limits: IngestSettings) -> Image.Image:
    """Page ``index`` of a pypdfium2 document as a greyscale image at ``ocr_dpi``, scaled
    down to the pixel limit when the page is huge (a poster, or a forged page size)."""
    page = document[index]
    width, height = page.get_size()  # in points, 72 to the inch
    scale = limits.ocr_dpi / 72
    pixels = width * scale * height * scale
    if pixels > limits.max_image_pixels:
        scale *= math.sqrt(limits.max_image_pixels / pixels)
    image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
    return image
