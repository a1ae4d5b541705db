"""The LLM answerer: a LangChain chat model answers from numbered passages, markers checked.

The model (an OpenAI-compatible server or Ollama) sees the prompts of
:mod:`qa_assistant._answering.prompts`. Its reply is checked: markers outside the passages
given are dropped, the rest renumbered and each cited with the passage sentence that best
supports the claim it stands behind; a reply that cites nothing is flagged unsupported. Server
failures become :class:`~qa_assistant.errors.AnswererError` messages that say what to check
and never show the API key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from .._question import analyse_question, folded_syllables
from .._vietnamese import sentence_spans
from ..errors import AnswererError, ConfigError
from ..types import CITATION_MARKER, Answer, Citation, Hit
from .common import ABSTAIN_MESSAGE, abstain_answer, cite
from .prompts import HUMAN_PROMPT, SYSTEM_PROMPT, format_passages, neutralise_delimiters

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["LLMAnswerer"]

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_ABSTAIN_FOLDED = " ".join(folded_syllables(ABSTAIN_MESSAGE))


class LLMAnswerer:
    """Answers with a LangChain chat model, grounded in numbered passages, markers checked.

    ``model`` is any LangChain chat model; :meth:`openai` and :meth:`ollama` build the usual
    ones. ``base_url`` only names the server in error messages.
    """

    # The model judges the passages itself: it is asked once per question.
    second_look = False

    def __init__(self, model: BaseChatModel, *, base_url: str, max_passages: int = 8) -> None:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        prompt = ChatPromptTemplate.from_messages(
            [("system", SYSTEM_PROMPT), ("human", HUMAN_PROMPT)]
        )
        self._chain = prompt | model | StrOutputParser()
        self.base_url = base_url
        self.max_passages = max_passages
        self._secrets: tuple[str, ...] = ()  # never to appear in a message

    @classmethod
    def openai(
        cls,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 1,
        max_passages: int = 8,
    ) -> LLMAnswerer:
        """Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, a hosted API…)."""
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ConfigError(
                "QA_ANSWERER=openai needs langchain-openai: pip install 'qa-assistant[llm]'."
            ) from exc
        from pydantic import SecretStr

        # Local servers often need no key, but the client insists on one.
        chat = ChatOpenAI(
            model=model,
            base_url=base_url,
            api_key=SecretStr(api_key or "not-needed"),
            timeout=timeout_s,
            max_retries=max_retries,
            temperature=0.0,
        )
        answerer = cls(chat, base_url=base_url, max_passages=max_passages)
        answerer._secrets = (api_key,) if api_key else ()
        return answerer

    @classmethod
    def ollama(
        cls, *, base_url: str, model: str, timeout_s: float = 60.0, max_passages: int = 8
    ) -> LLMAnswerer:
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise ConfigError(
                "QA_ANSWERER=ollama needs langchain-ollama: pip install 'qa-assistant[llm]'."
            ) from exc
        chat = ChatOllama(
            model=model, base_url=base_url, temperature=0.0, client_kwargs={"timeout": timeout_s}
        )
        return cls(chat, base_url=base_url, max_passages=max_passages)

    def answer(self, question: str, hits: Sequence[Hit]) -> Answer:
        passages = list(hits[: self.max_passages])
        if not passages:
            return abstain_answer(question, hits)
        try:
            reply = self._chain.invoke(_prompt_inputs(question, passages))
        except Exception as exc:  # noqa: BLE001 - every client library raises its own tree
            raise self._failure(exc) from None
        return _checked_answer(question, str(reply), passages, hits)

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Answer]:
        """The reply's text as the model writes it, then the checked answer (see
        :class:`~qa_assistant.protocols.StreamingAnswerer`)."""
        passages = list(hits[: self.max_passages])
        if not passages:
            yield abstain_answer(question, hits)
            return
        pieces: list[str] = []
        try:
            for piece in self._chain.stream(_prompt_inputs(question, passages)):
                if piece:  # the first and last chunks carry no text, only their role and end
                    pieces.append(str(piece))
                    yield str(piece)
        except Exception as exc:  # noqa: BLE001 - every client library raises its own tree
            raise self._failure(exc) from None
        yield _checked_answer(question, "".join(pieces), passages, hits)

    def _failure(self, exc: BaseException) -> AnswererError:
        message = _error_message(self.base_url, exc)
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return AnswererError(message)


def _prompt_inputs(question: str, passages: Sequence[Hit]) -> dict[str, str]:
    return {
        # Nor may a question close the last passage block and forge another.
        "question": neutralise_delimiters(question.strip()),
        "passages": format_passages(passages),
    }


def _error_message(base_url: str, exc: BaseException) -> str:
    kind = type(exc).__name__
    detail = _redact(str(exc))[:300]
    if "Timeout" in kind or "timed out" in detail.lower():
        hint = "it did not answer in time: check that it is running and raise QA_LLM__TIMEOUT_S"
    elif "Connect" in kind or "connection" in detail.lower():
        hint = (
            "could not connect: check that the server is running and that QA_LLM__BASE_URL is "
            "right (OpenAI-compatible servers usually end in /v1)"
        )
    elif "Auth" in kind or "401" in detail or "403" in detail:
        hint = "the server refused the credentials: check QA_LLM__API_KEY"
    elif "NotFound" in kind or "404" in detail:
        hint = "not found: check QA_LLM__BASE_URL and that QA_LLM__MODEL names a model it serves"
    else:
        hint = "check the server's logs, QA_LLM__BASE_URL and QA_LLM__MODEL"
    return f"The LLM server at {base_url} failed ({kind}: {detail}); {hint}."


def _redact(text: str) -> str:
    # Some clients echo request headers in their errors; a key must never reach a log.
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    return re.sub(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", r"\1***", text)


def _checked_answer(
    question: str, reply: str, passages: Sequence[Hit], hits: Sequence[Hit]
) -> Answer:
    text, order, warnings = _check_markers(reply.strip(), len(passages))
    claims = _claims_by_marker(text, order)
    citations = [
        _supporting_citation(new, passages[old - 1], claims[new]) for old, new in order.items()
    ]
    abstained = _says_abstain(text)
    if abstained and not citations:
        text = ABSTAIN_MESSAGE
    elif not abstained and not citations:
        warnings.append("unsupported: the answer cites no valid passage marker")
    return Answer(
        question=question,
        text=text,
        abstained=abstained,
        citations=tuple(citations),
        hits=tuple(hits),
        warnings=tuple(warnings),
    )


def _says_abstain(text: str) -> bool:
    return _ABSTAIN_FOLDED in " ".join(folded_syllables(text))


def _check_markers(reply: str, passages: int) -> tuple[str, dict[int, int], list[str]]:
    """Drop markers outside 1..passages; renumber the rest 1..n in order of first use.

    Returns the cleaned text, {passage number: new marker} and warnings.
    """
    order: dict[int, int] = {}
    invalid: list[int] = []

    def rewrite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1).strip())]
        kept: list[str] = []
        for n in numbers:
            if 1 <= n <= passages:
                order.setdefault(n, len(order) + 1)
                kept.append(f"[{order[n]}]")
            elif n not in invalid:
                invalid.append(n)
        return "".join(dict.fromkeys(kept))

    text = _MARKER.sub(rewrite, reply)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "câu [7]." → "câu ." → "câu."
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    warnings = [
        f"removed citation marker [{n}]: only passages 1–{passages} were given" for n in invalid
    ]
    return text, order, warnings


def _claims_by_marker(text: str, order: dict[int, int]) -> dict[int, str]:
    """For each marker, the answer text it stands behind (the sentence that carries it)."""
    claims: dict[int, str] = {new: "" for new in order.values()}
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        for m in CITATION_MARKER.finditer(sentence):
            marker = int(m.group(1))
            if marker in claims:
                claims[marker] += " " + sentence
    return claims


def _supporting_citation(marker: int, hit: Hit, claim: str) -> Citation:
    """Cite the sentence of the passage that shares the most weighted words with the claim."""
    text = hit.chunk.text
    spans = sentence_spans(text) or [(0, len(text))]
    claim_terms = {t.folded for t in analyse_question(_MARKER.sub(" ", claim)).terms}

    def overlap(span: tuple[int, int]) -> tuple[float, int]:
        tokens = set(folded_syllables(text[span[0] : span[1]]))
        # Prefer dense matches; on a tie, the earlier sentence.
        shared = len(claim_terms & tokens)
        return (shared + shared / (len(tokens) + 1), -span[0])

    start, end = max(spans, key=overlap)
    return cite(marker, hit, start, end)
