"""The LLM answerer: a LangChain chat model answers from numbered passages, every claim checked.

The model (an OpenAI-compatible server or Ollama) sees the prompts of
:mod:`qa_assistant._answering.prompts`. Its reply is shown only as far as the passages back it:
each sentence keeps a marker only where the cited passage holds what the sentence states
(:mod:`qa_assistant._answering.reply_check`); a sentence no cited passage holds is cited to
the passage that holds it, or dropped. A reply with no supported sentence, or that says in its
own words that the documents do not answer, gives way to the ``fallback`` answerer (the
extractive one, which abstains honestly when the documents do not answer).

The reply is read as a stream within one time budget (``timeout_s``, from the request to the
reply's last word: :mod:`qa_assistant._answering.chat_client`). A reply the server did not
finish (no finish reason "stop": cut for length, a closed connection), a server that fails
(down, an HTTP error, a model it does not serve) or a reply that outruns the budget also gives
way to the fallback, with a short note for the visitor (:attr:`Answer.note`, Vietnamese); what
the operator must fix (the server's address, the error, the setting) goes to the log and to
:attr:`Answer.warnings`, never with the API key. :meth:`LLMAnswerer.check` asks the server, at
start-up, whether it serves the model named.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypedDict, Unpack

from ..protocols import Answerer
from ..types import Answer, Hit
from .chat_client import ChatServer, ModelListing, UnfinishedReplyError, ollama_chat, openai_chat
from .claims import groups_of
from .common import abstain_answer
from .prompts import HUMAN_PROMPT, SYSTEM_PROMPT, format_passages, neutralise_delimiters
from .reply_check import check_reply

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["NOTE_CUT", "NOTE_FAILED", "NOTE_QUOTED", "NOTE_TRIMMED", "LLMAnswerer", "ModelListing"]

log = logging.getLogger(__name__)

# What the visitor is told beside an answer the model did not write, or wrote only in part.
NOTE_FAILED = "Hệ thống soạn câu trả lời tạm thời không dùng được"
NOTE_CUT = "Câu trả lời soạn tự động bị ngắt giữa chừng nên không được dùng"
NOTE_QUOTED = "; dưới đây là các câu trích nguyên văn từ tài liệu."
NOTE_TRIMMED = "Một số ý không tìm thấy căn cứ trong tài liệu nên đã được lược bỏ."


class _Checking(TypedDict, total=False):
    """How the reply is checked and what answers instead: :class:`LLMAnswerer`'s own options,
    passed through by :meth:`LLMAnswerer.openai` and :meth:`LLMAnswerer.ollama`."""

    max_passages: int
    min_overlap: float
    fallback: Answerer | None


class LLMAnswerer:
    """Answers with a LangChain chat model, grounded in numbered passages, every claim checked.

    ``model`` is any LangChain chat model; :meth:`openai` and :meth:`ollama` build the usual
    ones. ``base_url`` names the server in the operator's messages; ``timeout_s`` is the time
    budget of one answer; ``listing`` says where :meth:`check` finds the server's models
    (None: nothing to check). A sentence's cited passage must hold ``min_overlap`` of its
    content words besides its figures and names. ``fallback`` answers where the model's reply
    cannot be shown (None: an abstention).
    """

    # The model judges the passages itself: it is asked once per question.
    second_look = False

    def __init__(
        self,
        model: BaseChatModel,
        *,
        base_url: str,
        timeout_s: float = 120.0,
        listing: ModelListing | None = None,
        max_passages: int = 8,
        min_overlap: float = 0.5,
        fallback: Answerer | None = None,
    ) -> None:
        from langchain_core.prompts import ChatPromptTemplate

        self._prompt = ChatPromptTemplate.from_messages(
            [("system", SYSTEM_PROMPT), ("human", HUMAN_PROMPT)]
        )
        self.server = ChatServer(model, base_url, timeout_s, listing)
        self.max_passages = max_passages
        self.min_overlap = min_overlap
        self.fallback = fallback

    @property
    def timeout_s(self) -> float:
        return self.server.timeout_s

    @classmethod
    def openai(
        cls,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 0,
        max_tokens: int = 512,
        **checking: Unpack[_Checking],
    ) -> LLMAnswerer:
        """Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, a hosted API…).

        ``max_retries``: the client's retries after a failed request, within the same time
        budget; none by default, so that a failing server costs the visitor one wait only."""
        chat, listing = openai_chat(
            base_url=base_url,
            model=model,
            api_key=api_key,
            timeout_s=timeout_s,
            max_retries=max_retries,
            max_tokens=max_tokens,
        )
        return cls(chat, base_url=base_url, timeout_s=timeout_s, listing=listing, **checking)

    @classmethod
    def ollama(
        cls,
        *,
        base_url: str,
        model: str,
        timeout_s: float = 120.0,
        max_tokens: int = 512,
        **checking: Unpack[_Checking],
    ) -> LLMAnswerer:
        chat, listing = ollama_chat(
            base_url=base_url, model=model, timeout_s=timeout_s, max_tokens=max_tokens
        )
        return cls(chat, base_url=base_url, timeout_s=timeout_s, listing=listing, **checking)

    def check(self) -> str | None:
        """What keeps the server from answering with the model named (for the operator, at
        start-up; also logged), or None: the server lists the model, or there is no listing
        to ask."""
        problem = self.server.problem()
        if problem:
            log.warning("%s", problem)
        return problem

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        return [step for step in self.stream(question, hits) if isinstance(step, Answer)][-1]

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        """The reply's text as the model writes it, then the checked answer (see
        :class:`~qa_assistant.protocols.StreamingAnswerer`)."""
        passages = list(hits[: self.max_passages])
        if not passages:
            yield abstain_answer(question, hits)
            return
        pieces: list[str] = []
        try:
            prompt = self._prompt.invoke(_prompt_inputs(question, passages))
            for piece in self.server.reply(prompt):
                pieces.append(piece)
                yield piece
        except UnfinishedReplyError as exc:
            yield self._instead(question, hits, NOTE_CUT, self.server.operator_message(exc))
            return
        except Exception as exc:  # noqa: BLE001 - every client library raises its own tree
            yield self._instead(question, hits, NOTE_FAILED, self.server.operator_message(exc))
            return
        yield self._checked(question, "".join(pieces), passages, hits)

    def _instead(self, question: str, hits: Sequence[Hit], note: str, detail: str) -> Answer:
        """The fallback's answer where the model's reply cannot be shown, with a note for the
        visitor and the operator's detail."""
        log.warning("%s", detail)
        answer = self._fallback_answer(question, hits)
        note += "." if answer.abstained else NOTE_QUOTED
        return replace(answer, note=note, warnings=(*answer.warnings, detail))

    def _fallback_answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        if self.fallback is None:
            return abstain_answer(question, hits)
        return self.fallback.answer(question, hits)

    def _checked(
        self, question: str, reply: str, passages: Sequence[Hit], hits: Sequence[Hit]
    ) -> Answer:
        checked = check_reply(reply.strip(), passages, self.min_overlap)
        # Asked about a group of people, a reply that never names it speaks of another one
        # (asked what people with disabilities get, the workers' Tết tickets).
        asked = groups_of(question)
        off_group = bool(asked) and not any(asked & s.claim.groups for s in checked.kept)
        if checked.refused or not checked.kept or off_group:
            if checked.refused:
                why = "the model said the passages do not answer"
            elif not checked.kept:
                why = "no sentence of the model's reply is backed by the passage it cites"
            else:
                named = ", ".join(" ".join(g) for g in sorted(asked))
                why = f"the model's reply never names the group asked about ({named})"
            log.info("LLM reply not shown: %s", why)
            answer = self._fallback_answer(question, hits)
            return replace(answer, warnings=(*checked.warnings, f"{why}: the fallback answers"))
        text, citations = checked.shown(passages)
        return Answer(
            question=question,
            text=text,
            abstained=False,
            citations=citations,
            hits=tuple(hits),
            warnings=tuple(checked.warnings),
            note=NOTE_TRIMMED if checked.dropped_facts else "",
        )


def _prompt_inputs(question: str, passages: Sequence[Hit]) -> dict[str, str]:
    return {
        # Nor may a question close the last passage block and forge another.
        "question": neutralise_delimiters(question.strip()),
        "passages": format_passages(passages),
    }
