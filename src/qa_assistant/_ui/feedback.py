"""The feedback handlers: a thumb on an answer, taken back or turned, and a comment on it."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import gradio as gr

from .._state.feedback import FeedbackStore, open_feedback_store
from ..errors import QAError
from ..settings import Settings
from .chat import Turn

__all__ = ["FeedbackHandlers"]


class FeedbackHandlers:
    """The feedback part of :class:`~qa_assistant._ui.handlers.Handlers`."""

    settings: Settings

    @cached_property
    def feedback(self) -> FeedbackStore:
        # Opened on first use so that a read-only index folder only costs the feedback feature.
        return open_feedback_store(self.settings)

    def rate(self, turns: list[Turn], rated: dict[int, int], evt: gr.LikeData) -> tuple[Any, ...]:
        index = evt.index if isinstance(evt.index, int) else evt.index[0]
        turn = index // 2  # each turn adds a question and an answer
        answer = turns[turn].answer if 0 <= turn < len(turns) else None
        if answer is None:
            gr.Info("Không có câu trả lời để đánh giá.")
            return rated, gr.update(visible=False), None
        rated = dict(rated)
        try:
            if evt.liked is True or evt.liked is False:
                rating = "up" if evt.liked else "down"
                if turn in rated:
                    self.feedback.update(rated[turn], rating=rating)
                else:
                    rated[turn] = self.feedback.record(
                        answer, rating, history=turns[turn].history, filters=turns[turn].filters
                    )
            elif turn in rated:  # the thumb was taken back
                self.feedback.delete(rated.pop(turn))
                return rated, gr.update(visible=False), None
            else:
                return rated, gr.skip(), gr.skip()
        except QAError as exc:
            gr.Warning(str(exc))
            return rated, gr.skip(), gr.skip()
        gr.Info("Cảm ơn bạn đã đánh giá! Bạn có thể góp ý thêm bên dưới.")
        label = f"Góp ý cho câu trả lời số {turn + 1} (không bắt buộc)"
        return rated, gr.update(visible=True), gr.update(value=turn, label=label)

    def comment(self, text: str, turn: int | None, rated: dict[int, int]) -> tuple[Any, ...]:
        text = (text or "").strip()
        if turn is None or int(turn) not in rated:
            gr.Info("Hãy bấm 👍 hoặc 👎 trên câu trả lời trước khi góp ý.")
            return gr.skip(), gr.skip()
        if not text:
            gr.Info("Hãy viết góp ý trước khi gửi.")
            return gr.skip(), gr.skip()
        try:
            self.feedback.update(rated[int(turn)], comment=text)
        except QAError as exc:
            gr.Warning(str(exc))
            return gr.skip(), gr.skip()
        gr.Info("Đã ghi nhận góp ý. Cảm ơn bạn!")
        return "", gr.update(visible=False)
