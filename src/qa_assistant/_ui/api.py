"""The HTTP API's handler: a question asked by a program, answered as ``Answer.to_dict()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from ..errors import QAError
from .inputs import make_filters

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = ["ApiHandlers"]


class ApiHandlers:
    """The API's part of :class:`~qa_assistant._ui.handlers.Handlers`."""

    assistant: Assistant

    def api_ask(
        self,
        question: str,
        sources: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        history: list[str] | None = None,
        k: int | None = None,
    ) -> dict[str, Any]:
        """Answers a question from the documents; returns the answer with its citations.

        Parameters:
            question: the question, in Vietnamese.
            sources: only these documents (their file names as in the Documents tab).
            date_from: only documents dated on or after this day (YYYY-MM-DD).
            date_to: only documents dated on or before this day (YYYY-MM-DD).
            history: earlier questions of the conversation, oldest first, for follow-ups.
            k: how many passages the answer may draw on.
        Returns:
            question, answer, abstained, citations (marker, source, title, date, heading,
            text, quote, start, end), retrieved, warnings, latency_ms.
        """
        if not question or not question.strip():
            raise gr.Error("Câu hỏi trống.", print_exception=False)
        try:
            filters = make_filters(sources, date_from, date_to)
            answer = self.assistant.ask(
                question.strip(), k=k, filters=filters, history=tuple(history or ())
            )
        except QAError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return answer.to_dict()
