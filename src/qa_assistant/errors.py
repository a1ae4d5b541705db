"""One error tree. Every message says what the user can do next.

Library code raises these; only the CLI and the UI catch broadly. "The documents do not
answer this" is an :class:`~qa_assistant.types.Answer` with ``abstained=True``, never an error.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa-assistant raises on purpose."""


class ConfigError(QAError):
    """A setting is missing or invalid."""


class LoadError(QAError):
    """A file could not be read as a document (unsupported, corrupt, encrypted, no text)."""


class ModelError(QAError):
    """A model could not be built, loaded or run; each model raises its own kind below."""


class EmbeddingError(ModelError):
    """The embedding model could not be built, loaded or run."""


class RelevanceModelError(ModelError):
    """The relevance model could not be built, loaded or run (``QA_RELEVANCE__ENABLED=false``
    answers without it)."""


class SpanModelError(ModelError):
    """The span model (the one trained on answer spans) could not be built, loaded or run
    (``QA_SPAN__ENABLED=false`` answers without it)."""


class AnswerabilityModelError(ModelError):
    """The answerability model could not be built, loaded or run
    (``QA_ANSWERABILITY__ENABLED=false`` answers without it)."""


class IndexStoreError(QAError):
    """The index is missing, unreadable or inconsistent."""


class IndexMismatchError(IndexStoreError):
    """The index was built with another model, dimension or chunker."""


class IndexLockedError(IndexStoreError):
    """Another ingest holds the index."""


class IngestLeaseHeldError(IndexLockedError):
    """Another replica holds the shared store's ingest lease past the wait allowed."""


class IngestLeaseLostError(IndexLockedError):
    """This ingest's lease on the shared store ran out or was taken over: it stopped writing."""


class AnswererError(QAError):
    """The configured answerer (e.g. an LLM server) failed."""


class QuestionSetError(QAError):
    """A question-set file cannot be used at all."""


class FeedbackError(QAError):
    """Feedback could not be stored or read."""


class UploadError(QAError):
    """An uploaded file was refused (type, size or name)."""


class StaffAccessError(QAError):
    """A staff action or login was refused (not logged in, session expired, locked out, off)."""


class AuditError(QAError):
    """The audit log of staff actions could not be written or read."""


__all__ = [
    "AnswerabilityModelError",
    "AnswererError",
    "AuditError",
    "ConfigError",
    "EmbeddingError",
    "FeedbackError",
    "IndexLockedError",
    "IndexMismatchError",
    "IndexStoreError",
    "IngestLeaseHeldError",
    "IngestLeaseLostError",
    "LoadError",
    "ModelError",
    "QAError",
    "QuestionSetError",
    "RelevanceModelError",
    "SpanModelError",
    "StaffAccessError",
    "UploadError",
]
