"""A question as the pipeline takes it: its text checked, its options resolved against the
settings, the store it will be answered from; or at once the reply to one that asks nothing
of the documents (empty, a greeting, thanks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .._retrieval.question import is_small_talk
from .._retrieval.retriever import Retriever
from ..errors import IndexStoreError
from ..settings import Settings
from ..types import Answer, Filters, Question

__all__ = [
    "EMPTY_QUESTION_MESSAGE",
    "HELP_MESSAGE",
    "MAX_QUESTION_CHARS",
    "Asked",
    "prepare",
]

MAX_QUESTION_CHARS = 2000
EMPTY_QUESTION_MESSAGE = "Hãy nhập câu hỏi của bạn về nội dung tài liệu."
# The reply to a greeting, thanks or anything else that asks nothing of the documents.
HELP_MESSAGE = (
    "Xin chào! Tôi trả lời câu hỏi về nội dung các tài liệu chính sách đã được đưa lên, "
    "trích dẫn đúng đoạn văn bản làm căn cứ. Bạn có thể hỏi, ví dụ:\n"
    "- Hộ nghèo được hỗ trợ những gì?\n"
    "- Mức trợ cấp hằng tháng cho người cao tuổi là bao nhiêu?\n"
    "- Hồ sơ xin hỗ trợ gồm những giấy tờ gì, nộp ở đâu?"
)


@dataclass(frozen=True)
class Asked:
    """A question ready for the pipeline: its text checked, each option resolved, and the
    store as it was when asked (one question looks at the store once)."""

    text: str
    k: int
    mode: str
    filters: Filters | None
    history: tuple[str, ...]
    store: Retriever
    started: float  # time.perf_counter() when asked: the answer's latency counts from here


def prepare(
    question: Question, settings: Settings, store: Callable[[], Retriever], location: str
) -> Asked | Answer:
    """The question ready to be answered from the store ``store`` gives, or the answer to one
    that asks nothing of the documents. ``location``: where the store is, for the error an
    empty one raises."""
    started = time.perf_counter()
    text = _well_formed(question.text[:MAX_QUESTION_CHARS])
    if not text.strip():
        return Answer(question=text, text=EMPTY_QUESTION_MESSAGE, abstained=True)
    if is_small_talk(text):
        return Answer(question=text, text=HELP_MESSAGE, abstained=True)
    snapshot = store()
    if len(snapshot.lexical) == 0:
        raise IndexStoreError(
            f"The index at {location} is empty. Add documents with "
            "`qa-assistant ingest` (or `make run`)."
        )
    return Asked(
        text=text,
        k=question.k or settings.k,
        mode=question.retriever or settings.retriever,
        filters=question.filters,
        history=tuple(_well_formed(h) for h in question.history),
        store=snapshot,
        started=started,
    )


def _well_formed(text: str) -> str:
    # A lone surrogate (a JSON "\ud800", a command-line byte that is not UTF-8) is not text:
    # the word segmenter crashes on it and no answer quoting it could be encoded.
    return text.encode("utf-8", "replace").decode("utf-8")
