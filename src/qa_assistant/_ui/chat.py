"""The chat's event handlers: ask (the reply shown while it is written), pick an example, show
a citation's document, start over."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..errors import AnswererError, QAError
from ..types import Answer, Citation, Filters
from .inputs import make_filters
from .rendering import (
    PANEL_PLACEHOLDER,
    PENDING,
    render_answer,
    render_citation_panel,
    render_draft,
    render_error,
    render_question,
)

if TYPE_CHECKING:
    from ..assistant import Assistant

__all__ = ["ANSWERER_DOWN", "MAX_HISTORY", "ChatHandlers", "Turn"]

log = logging.getLogger(__name__)

MAX_HISTORY = 4  # previous questions passed for follow-ups; older ones rarely help retrieval
# What a visitor reads when the answerer itself fails (the LLM answerer falls back to the
# extractive answer on its own; this is what is left when even that cannot be given).
ANSWERER_DOWN = "Hệ thống trả lời đang gặp sự cố. Vui lòng thử lại sau ít phút."
_FAILED = "Đã có lỗi khi trả lời câu hỏi. Vui lòng thử lại sau."


@dataclass(frozen=True)
class Turn:
    """One question of a session and what came of it (``answer`` is None after an error)."""

    question: str
    answer: Answer | None
    filters: Filters | None = None
    history: tuple[str, ...] = ()


def _previous_questions(turns: Sequence[Turn]) -> tuple[str, ...]:
    return tuple(t.question for t in turns)[-MAX_HISTORY:]


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content}


class ChatHandlers:
    """The chat's part of :class:`~qa_assistant._ui.handlers.Handlers`."""

    assistant: Assistant

    def respond(
        self,
        question: str,
        chat: list[dict[str, Any]],
        turns: list[Turn],
        sources: list[str] | None,
        date_from: Any,
        date_to: Any,
    ) -> Iterator[tuple[Any, ...]]:
        question = (question or "").strip()
        if not question:
            gr.Info("Hãy nhập câu hỏi.")
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        chat = [*chat, _message("user", render_question(question))]
        turn_index = len(turns)
        yield [*chat, _message("assistant", PENDING)], turns, "", gr.skip()

        history = _previous_questions(turns)
        failure: str
        try:
            filters = make_filters(sources, date_from, date_to)
            draft = ""
            answer: Answer | None = None
            # An LLM's reply shows as it is written; the checked answer then replaces it.
            for step in self.assistant.ask_stream(question, filters=filters, history=history):
                if isinstance(step, Answer):
                    answer = step
                else:
                    draft += step
                    drafted = [*chat, _message("assistant", render_draft(draft))]
                    yield drafted, turns, "", gr.skip()
            assert answer is not None, "Assistant.ask_stream ends with the answer"
        except AnswererError as exc:
            # The operator's detail (the server, the setting to fix) is for the log, in English.
            log.error("answering %r failed: %s", question, exc)
            failure = ANSWERER_DOWN
        except QAError as exc:
            failure = str(exc)
            gr.Warning(failure)
        except Exception:
            log.exception("answering %r failed", question)
            failure = _FAILED
            gr.Warning(failure)
        else:
            turns = [*turns, Turn(question, answer, filters, history)]
            final = [*chat, _message("assistant", render_answer(answer, turn_index))]
            panel = (
                self._panel(answer.citations[0], turn_index)
                if answer.citations
                else PANEL_PLACEHOLDER
            )
            yield final, turns, "", panel
            return
        turns = [*turns, Turn(question, None)]
        yield [*chat, _message("assistant", render_error(failure))], turns, "", gr.skip()

    def ask_example(self, turns: list[Turn], evt: gr.SelectData) -> str:
        value = evt.value
        return str(value.get("text", "") if isinstance(value, dict) else value)

    def show_citation(self, turns: list[Turn], evt: gr.EventData) -> Any:
        try:
            turn = int(evt.turn)
            marker = int(evt.marker)
        except (AttributeError, TypeError, ValueError):
            return gr.skip()
        if not 0 <= turn < len(turns) or turns[turn].answer is None:
            return gr.skip()
        answer = turns[turn].answer
        assert answer is not None
        citation = next((c for c in answer.citations if c.marker == marker), None)
        return self._panel(citation, turn) if citation else gr.skip()

    def _panel(self, citation: Citation, turn: int) -> str:
        try:
            text: str | None = self.assistant.document_text(citation.source)
        except QAError:
            text = None
        return render_citation_panel(citation, turn, text)

    def clear(self) -> tuple[Any, ...]:
        return [], [], {}, PANEL_PLACEHOLDER, gr.update(visible=False), None
