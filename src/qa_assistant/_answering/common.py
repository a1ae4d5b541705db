"""What both answerers share: the abstention and the citations.

Every citation quotes the passage verbatim and carries document offsets, so
``document.text[citation.start:citation.end] == citation.quote``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Answer, Citation, Hit

__all__ = ["ABSTAIN_MESSAGE", "abstain_answer", "cite"]

ABSTAIN_MESSAGE = "Không tìm thấy thông tin này trong tài liệu."


def cite(marker: int, hit: Hit, start: int, end: int) -> Citation:
    """A citation quoting ``hit.chunk.text[start:end]`` with document offsets."""
    chunk = hit.chunk
    return Citation(
        marker=marker,
        source=chunk.source,
        title=chunk.title,
        heading=chunk.heading_path,
        passage=chunk.text,
        quote=chunk.text[start:end],
        start=chunk.start + start,
        end=chunk.start + end,
        date=chunk.date,
        chunk_id=chunk.id,
        page=chunk.page_at(chunk.start + start),
        last_page=chunk.page_at(chunk.start + max(end - 1, start)),
        ocr=chunk.ocr,
    )


def abstain_answer(
    question: str, hits: Sequence[Hit], warnings: Sequence[str] = (), reason: str = "abstained"
) -> Answer:
    """The answer that says the documents do not answer the question."""
    return Answer(
        question=question,
        text=ABSTAIN_MESSAGE,
        abstained=True,
        hits=tuple(hits),
        warnings=tuple(warnings),
        reason=reason,
    )
