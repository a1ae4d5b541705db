"""A cited answer and an abstention, as the feedback and audit tests store them."""

from __future__ import annotations

from datetime import date

from qa_assistant.types import Answer, Citation

__all__ = ["QUOTE", "rated_answer"]

QUOTE = "UBND tỉnh Quảng Ninh quyết định hỗ trợ 10 triệu đồng cho mỗi thôn, khu phố"


def rated_answer(n: int | None = None, *, abstained: bool = False) -> Answer:
    """An answer quoting :data:`QUOTE` (or an abstention); ``n`` tells equal ones apart."""
    tag = "" if n is None else f" ({n})"
    if abstained:
        return Answer(
            question=f"Thủ đô của Pháp?{tag}", text="Tài liệu không đề cập.", abstained=True
        )
    citation = Citation(
        marker=1,
        source="quang-ninh-an-sinh-xa-hoi-2026.txt",
        title="Quảng Ninh: an sinh xã hội",
        heading="Lan tỏa tinh thần nhân văn",
        passage=f"Theo đó, {QUOTE} để tổ chức đón Tết.",
        quote=QUOTE,
        start=100,
        end=100 + len(QUOTE),
        date=date(2026, 2, 1),
    )
    return Answer(
        question=f"Mỗi thôn được hỗ trợ bao nhiêu?{tag}",
        text=f"{QUOTE} [1]",
        abstained=False,
        citations=(citation,),
    )
