"""qa-assistant: question answering over Vietnamese policy documents, with cited passages."""

from .errors import QAError
from .settings import Settings
from .types import (
    Answer,
    Chunk,
    Citation,
    Document,
    DocumentInfo,
    Filters,
    Hit,
    IngestReport,
)

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "DocumentInfo",
    "Filters",
    "Hit",
    "IngestReport",
    "QAError",
    "Settings",
    "__version__",
]
