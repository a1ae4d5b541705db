"""Files → :class:`~qa_assistant.types.Document`: find, decode, extract, clean, normalise.

``Document.text`` is the cleaned, NFC-normalised text that every span in the pipeline points
into. One module per step: :mod:`.discovery` (which files), :mod:`.decoding` (bytes → text, and
plain text and Markdown), one per format family (:mod:`.html`, :mod:`.word`, :mod:`.pages` for
PDFs and scans) with the readers they call (:mod:`.pdf`, :mod:`.ocr`, :mod:`.convert` for .doc,
:mod:`.tables` for table rows), :mod:`.cleaning` (what is not the article, and the date),
:mod:`.titles`, and :mod:`.document`, which runs them in order.
"""

from __future__ import annotations

from .decoding import decode_text
from .discovery import SUPPORTED_SUFFIXES, discover
from .document import load_document

__all__ = ["SUPPORTED_SUFFIXES", "decode_text", "discover", "load_document"]
