"""qa-assistant: question answering over Vietnamese policy documents, with cited passages.

``from qa_assistant import Assistant, Settings`` is the way in from Python. Importing the
package stays light: :class:`Assistant` (which brings in Chroma, LangChain and the embedding
runtime) is imported on first use of the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# First, before anything can load a library that reads its telemetry switch at import.
from . import _no_telemetry  # noqa: F401
from .errors import (
    AnswerabilityModelError,
    AnswererError,
    AuditError,
    ConfigError,
    EmbeddingError,
    FeedbackError,
    IndexLockedError,
    IndexMismatchError,
    IndexStoreError,
    IngestLeaseHeldError,
    IngestLeaseLostError,
    LoadError,
    ModelError,
    QAError,
    QuestionSetError,
    RelevanceModelError,
    SpanModelError,
    StaffAccessError,
    UploadError,
)
from .protocols import (
    AnswerabilityModel,
    Answerer,
    Embedder,
    RelevanceModel,
    SpanModel,
    StreamingAnswerer,
)
from .settings import (
    AnswerSettings,
    EmbedderSettings,
    FeedbackSettings,
    IngestSettings,
    LLMSettings,
    RelevanceSettings,
    ReplicaSettings,
    RetrievalSettings,
    ScoringSettings,
    ServingSettings,
    Settings,
    SpanSettings,
    StaffSettings,
)
from .types import (
    Answer,
    Chunk,
    Citation,
    Document,
    DocumentInfo,
    FailedFile,
    Filters,
    Hit,
    IngestReport,
    Question,
    Span,
    StoreVersion,
)

if TYPE_CHECKING:
    from .assistant import Assistant

__version__ = "0.1.3"  # as pyproject.toml; CHANGELOG.md names what each version changed

__all__ = [
    "Answer",
    "AnswerSettings",
    "AnswerabilityModel",
    "AnswerabilityModelError",
    "Answerer",
    "AnswererError",
    "Assistant",
    "AuditError",
    "Chunk",
    "Citation",
    "ConfigError",
    "Document",
    "DocumentInfo",
    "Embedder",
    "EmbedderSettings",
    "EmbeddingError",
    "FailedFile",
    "FeedbackError",
    "FeedbackSettings",
    "Filters",
    "Hit",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexStoreError",
    "IngestLeaseHeldError",
    "IngestLeaseLostError",
    "IngestReport",
    "IngestSettings",
    "LLMSettings",
    "LoadError",
    "ModelError",
    "QAError",
    "Question",
    "QuestionSetError",
    "RelevanceModel",
    "RelevanceModelError",
    "RelevanceSettings",
    "ReplicaSettings",
    "RetrievalSettings",
    "ScoringSettings",
    "ServingSettings",
    "Settings",
    "Span",
    "SpanModel",
    "SpanModelError",
    "SpanSettings",
    "StaffAccessError",
    "StaffSettings",
    "StoreVersion",
    "StreamingAnswerer",
    "UploadError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from .assistant import Assistant

        return Assistant
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
