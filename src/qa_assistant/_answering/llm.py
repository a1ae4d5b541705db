"""The LLM answerer: a LangChain chat model answers from numbered passages, every claim checked.

The model (an OpenAI-compatible server or Ollama) sees the prompts of
:mod:`qa_assistant._answering.prompts`. Its reply is shown only as far as the passages back it:
each sentence keeps a marker only where the cited passage holds what the sentence states
(:mod:`qa_assistant._answering.claims`); a sentence no cited passage holds is cited to the
passage that holds it, or dropped. A reply with no supported sentence, or that says in its own
words that the documents do not answer, gives way to the ``fallback`` answerer (the extractive
one, which abstains honestly when the documents do not answer).

The reply is read as a stream within one time budget (``timeout_s``, from the request to the
reply's last word). A reply the server did not finish (no finish reason "stop": cut for length,
a closed connection), a server that fails (down, an HTTP error, a model it does not serve) or a
reply that outruns the budget also gives way to the fallback, with a short note for the
visitor (:attr:`Answer.note`, Vietnamese); what the operator must fix (the server's address,
the error, the setting) goes to the log and to :attr:`Answer.warnings`, never with the API key.
:meth:`LLMAnswerer.check` asks the server, at start-up, whether it serves the model named.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from .._question import folded_syllables
from .._vietnamese import sentence_spans
from ..errors import ConfigError
from ..protocols import Answerer
from ..types import Answer, Citation, Hit
from .claims import Claim, claim_of, figures_held, groups_of, is_refusal, support
from .common import abstain_answer, cite
from .prompts import HUMAN_PROMPT, SYSTEM_PROMPT, format_passages, neutralise_delimiters

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessageChunk
    from langchain_core.prompt_values import PromptValue

__all__ = ["NOTE_CUT", "NOTE_FAILED", "NOTE_QUOTED", "NOTE_TRIMMED", "LLMAnswerer", "ModelListing"]

log = logging.getLogger(__name__)

# What the visitor is told beside an answer the model did not write, or wrote only in part.
NOTE_FAILED = "Hệ thống soạn câu trả lời tạm thời không dùng được"
NOTE_CUT = "Câu trả lời soạn tự động bị ngắt giữa chừng nên không được dùng"
NOTE_QUOTED = "; dưới đây là các câu trích nguyên văn từ tài liệu."
NOTE_TRIMMED = "Một số ý không tìm thấy căn cứ trong tài liệu nên đã được lược bỏ."

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


@dataclass(frozen=True)
class ModelListing:
    """Where the server lists the models it serves, for :meth:`LLMAnswerer.check`."""

    url: str  # GET …/v1/models (OpenAI-compatible) or …/api/tags (Ollama)
    model: str  # the name QA_LLM__MODEL gives
    ollama: bool = False
    api_key: str | None = None

    def names(self, listing: Any) -> set[str]:
        if self.ollama:
            entries = listing["models"]
            return {str(e.get(k)) for e in entries for k in ("name", "model") if e.get(k)}
        return {str(e["id"]) for e in listing["data"]}

    def serves(self, names: set[str]) -> bool:
        # Ollama lists an untagged name with its default tag.
        return self.model in names or (self.ollama and f"{self.model}:latest" in names)


class UnfinishedReplyError(Exception):
    """The stream ended without the finish reason "stop"."""


class LLMAnswerer:
    """Answers with a LangChain chat model, grounded in numbered passages, every claim checked.

    ``model`` is any LangChain chat model; :meth:`openai` and :meth:`ollama` build the usual
    ones. ``base_url`` names the server in the operator's messages; ``timeout_s`` is the time
    budget of one answer; a sentence's cited passage must hold ``min_overlap`` of its content
    words besides its figures and names. ``fallback`` answers where the model's reply cannot
    be shown (None: an abstention). ``listing`` says where :meth:`check` finds the server's
    models (None: nothing to check).
    """

    # The model judges the passages itself: it is asked once per question.
    second_look = False

    def __init__(
        self,
        model: BaseChatModel,
        *,
        base_url: str,
        max_passages: int = 8,
        timeout_s: float = 120.0,
        min_overlap: float = 0.5,
        fallback: Answerer | None = None,
        listing: ModelListing | None = None,
    ) -> None:
        from langchain_core.prompts import ChatPromptTemplate

        self._prompt = ChatPromptTemplate.from_messages(
            [("system", SYSTEM_PROMPT), ("human", HUMAN_PROMPT)]
        )
        self._model = model
        self.base_url = base_url
        self.max_passages = max_passages
        self.timeout_s = timeout_s
        self.min_overlap = min_overlap
        self.fallback = fallback
        self.listing = listing
        self._secrets: tuple[str, ...] = ()  # never to appear in a message

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
        max_passages: int = 8,
        min_overlap: float = 0.5,
        fallback: Answerer | None = None,
    ) -> LLMAnswerer:
        """Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, a hosted API…).

        ``max_retries``: the client's retries after a failed request, within the same time
        budget; none by default, so that a failing server costs the visitor one wait only."""
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
            max_completion_tokens=max_tokens,
            temperature=0.0,
        )
        listing = ModelListing(f"{base_url.rstrip('/')}/models", model, api_key=api_key)
        answerer = cls(
            chat,
            base_url=base_url,
            max_passages=max_passages,
            timeout_s=timeout_s,
            min_overlap=min_overlap,
            fallback=fallback,
            listing=listing,
        )
        answerer._secrets = (api_key,) if api_key else ()
        return answerer

    @classmethod
    def ollama(
        cls,
        *,
        base_url: str,
        model: str,
        timeout_s: float = 120.0,
        max_tokens: int = 512,
        max_passages: int = 8,
        min_overlap: float = 0.5,
        fallback: Answerer | None = None,
    ) -> LLMAnswerer:
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise ConfigError(
                "QA_ANSWERER=ollama needs langchain-ollama: pip install 'qa-assistant[llm]'."
            ) from exc
        chat = ChatOllama(
            model=model,
            base_url=base_url,
            temperature=0.0,
            num_predict=max_tokens,
            client_kwargs={"timeout": timeout_s},
        )
        listing = ModelListing(f"{base_url.rstrip('/')}/api/tags", model, ollama=True)
        return cls(
            chat,
            base_url=base_url,
            max_passages=max_passages,
            timeout_s=timeout_s,
            min_overlap=min_overlap,
            fallback=fallback,
            listing=listing,
        )

    def check(self) -> str | None:
        """What keeps the server from answering with the model named (for the operator, at
        start-up; also logged), or None: the server lists the model, or there is no listing
        to ask."""
        problem = self._listing_problem()
        if problem:
            log.warning("%s", problem)
        return problem

    def _listing_problem(self) -> str | None:
        if self.listing is None:
            return None
        import httpx

        listing = self.listing
        headers = {"Authorization": f"Bearer {listing.api_key}"} if listing.api_key else {}
        try:
            response = httpx.get(listing.url, headers=headers, timeout=min(self.timeout_s, 10.0))
            response.raise_for_status()
            names = listing.names(response.json())
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._operator_message(exc)
        if listing.serves(names):
            return None
        shown = ", ".join(sorted(names)[:10]) or "none"
        return self._hide_secrets(
            f"The LLM server at {self.base_url} does not serve the model {listing.model!r} "
            f"(it lists: {shown}): set QA_LLM__MODEL to one of them."
        )

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
            for piece in self._reply(question, passages):
                pieces.append(piece)
                yield piece
        except UnfinishedReplyError as exc:
            yield self._instead(question, hits, NOTE_CUT, self._operator_message(exc))
            return
        except Exception as exc:  # noqa: BLE001 - every client library raises its own tree
            yield self._instead(question, hits, NOTE_FAILED, self._operator_message(exc))
            return
        yield self._checked(question, "".join(pieces), passages, hits)

    def _reply(self, question: str, passages: Sequence[Hit]) -> Iterator[str]:
        """The model's text as it arrives, within the time budget.

        The request runs in a worker thread, so that the budget holds however the server
        stalls; once the budget is spent (or the caller stops reading), the worker stops
        reading and closes the request instead of leaving it to the server.
        """
        prompt = self._prompt.invoke(_prompt_inputs(question, passages))
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        deadline = time.monotonic() + self.timeout_s
        threading.Thread(target=self._read, args=(prompt, events, stop), daemon=True).start()
        try:
            while True:
                try:
                    kind, value = events.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    raise TimeoutError(
                        f"no whole reply within {self.timeout_s:g} s (the time budget)"
                    ) from None
                if kind == "text":
                    yield str(value)
                elif kind == "error":
                    raise value
                elif value != "stop":
                    raise UnfinishedReplyError(
                        f"the reply ended with finish reason {value!r}, not 'stop'"
                    )
                else:
                    return
        finally:
            stop.set()

    def _read(
        self, prompt: PromptValue, events: queue.Queue[tuple[str, Any]], stop: threading.Event
    ) -> None:
        finish: str | None = None
        try:
            chunks = cast("Generator[BaseMessageChunk, None, None]", self._model.stream(prompt))
            try:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    meta = chunk.response_metadata
                    # OpenAI-compatible servers say finish_reason, Ollama done_reason.
                    finish = meta.get("finish_reason") or meta.get("done_reason") or finish
                    if isinstance(chunk.content, str) and chunk.content:
                        events.put(("text", chunk.content))
            finally:
                chunks.close()  # closes the HTTP response, also when abandoned
            events.put(("end", finish))
        except Exception as exc:  # noqa: BLE001 - handed to the reading thread
            events.put(("error", exc))

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
        checked = _check_reply(reply.strip(), passages, self.min_overlap)
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
        order: dict[int, int] = {}
        for sentence in checked.kept:
            for n in sentence.passages:
                order.setdefault(n, len(order) + 1)
        text = " ".join(s.text(order) for s in checked.kept)
        text = re.sub(r" ?\n ?", "\n", text).strip()
        citations = [
            _supporting_citation(
                new, passages[old - 1], [s.claim for s in checked.kept if old in s.passages]
            )
            for old, new in order.items()
        ]
        return Answer(
            question=question,
            text=text,
            abstained=False,
            citations=tuple(citations),
            hits=tuple(hits),
            warnings=tuple(checked.warnings),
            note=NOTE_TRIMMED if checked.dropped_facts else "",
        )

    def _operator_message(self, exc: BaseException) -> str:
        return self._hide_secrets(_error_message(self.base_url, exc))

    def _hide_secrets(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return message


def _prompt_inputs(question: str, passages: Sequence[Hit]) -> dict[str, str]:
    return {
        # Nor may a question close the last passage block and forge another.
        "question": neutralise_delimiters(question.strip()),
        "passages": format_passages(passages),
    }


def _error_message(base_url: str, exc: BaseException) -> str:
    kind = type(exc).__name__
    detail = _redact(str(exc))[:300]
    if isinstance(exc, UnfinishedReplyError):
        hint = (
            "it stopped before finishing: raise QA_LLM__MAX_TOKENS if the reply ran out of "
            "tokens, or check the server's logs"
        )
    elif "Timeout" in kind or "timed out" in detail.lower():
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


@dataclass(frozen=True)
class _Sentence:
    """A sentence of the reply that is shown: its claim and the passages (1-based, as the
    model numbered them) that hold it."""

    claim: Claim
    passages: tuple[int, ...]
    gap: str  # what separated it from the sentence before: a line break or a space
    shown: str  # the sentence as written, without its markers (a list's numbering kept)

    def text(self, order: dict[int, int]) -> str:
        markers = "".join(f"[{order[n]}]" for n in self.passages)
        body = self.shown
        if body[-1:] in ".!;:…":
            body = f"{body[:-1].rstrip()} {markers}{body[-1]}"
        else:
            body = f"{body} {markers}"
        return ("\n" if "\n" in self.gap else "") + body


@dataclass(frozen=True)
class _CheckedReply:
    kept: tuple[_Sentence, ...]
    warnings: tuple[str, ...]
    refused: bool  # the model said, in its own words, that the passages do not answer
    dropped_facts: bool  # a sentence stating a figure, name or group no passage holds went


def _check_reply(reply: str, passages: Sequence[Hit], min_overlap: float) -> _CheckedReply:
    """Each sentence of ``reply`` with the passages that hold it (see the module's docstring)."""
    if is_refusal(reply):
        return _CheckedReply((), (), refused=True, dropped_facts=False)
    if not _MARKER.search(reply):
        # A model that cites nothing did not answer from the passages, whatever it wrote.
        return _CheckedReply(
            (), ("the reply cites no passage",), refused=False, dropped_facts=False
        )
    kept: list[_Sentence] = []
    warnings: list[str] = []
    dropped_facts = False
    previous_end = 0
    for start, end in sentence_spans(reply):
        gap, previous_end = reply[previous_end:start], end
        sentence = reply[start:end]
        cited = _cited(sentence)
        for n in cited:
            if not 1 <= n <= len(passages):
                warnings.append(
                    f"removed citation marker [{n}]: only passages 1–{len(passages)} were given"
                )
        shown = _without_markers(sentence)
        claim = claim_of(shown)
        if not (claim.words or claim.figures or claim.names or claim.groups):
            continue  # a stray marker or a bullet: nothing is stated
        if claim.text.endswith("?"):
            warnings.append(f"dropped {claim.text!r}: a question, not a statement")
            continue
        backing = [support(claim, hit) for hit in passages]
        holding = {n for n, s in enumerate(backing, 1) if s.holds and s.overlap >= min_overlap}
        held = tuple(n for n in dict.fromkeys(cited) if n in holding)
        if not held and not holding:
            warnings.append(
                f"dropped {claim.text!r}: no passage given holds {claim.facts or 'its words'}"
            )
            dropped_facts = dropped_facts or bool(claim.figures or claim.names or claim.groups)
            continue
        if not held:
            best = max(holding, key=lambda n: (backing[n - 1].overlap, -n))
            was = f" instead of {', '.join(f'[{n}]' for n in cited)}" if cited else ""
            warnings.append(f"cited {claim.text!r} to passage [{best}], which holds it{was}")
            held = (best,)
        kept.append(_Sentence(claim, held, gap, shown))
    return _CheckedReply(tuple(kept), tuple(warnings), refused=False, dropped_facts=dropped_facts)


def _cited(sentence: str) -> list[int]:
    return [
        int(n)
        for m in _MARKER.finditer(sentence)
        for n in re.split(r"\s*[,;]\s*", m.group(1).strip())
    ]


def _without_markers(sentence: str) -> str:
    text = _MARKER.sub(" ", sentence)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "câu [7]." → "câu ." → "câu."
    return re.sub(r"\s{2,}", " ", text).strip()


def _supporting_citation(marker: int, hit: Hit, claims: Sequence[Claim]) -> Citation:
    """Cite the sentence of the passage that holds most of the claims' figures and words."""
    text = hit.chunk.text
    spans = sentence_spans(text) or [(0, len(text))]
    words = set().union(*(c.words for c in claims))

    def backing(span: tuple[int, int]) -> tuple[int, float, int]:
        quoted = text[span[0] : span[1]]
        held = sum(figures_held(c, quoted) for c in claims if c.figures)
        tokens = set(folded_syllables(quoted))
        shared = len(words & tokens)
        # Prefer the sentence holding the figures, then dense matches, then the earlier one.
        return (held, shared + shared / (len(tokens) + 1), -span[0])

    start, end = max(spans, key=backing)
    return cite(marker, hit, start, end)
