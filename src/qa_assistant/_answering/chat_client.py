"""The LLM answerer's chat model and its server: the OpenAI-compatible or Ollama chat model
built, whether the server serves the model named, the reply read as a stream within one time
budget, and the operator's message for a failure (never with the API key)."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessageChunk
    from langchain_core.prompt_values import PromptValue

__all__ = ["ChatServer", "ModelListing", "UnfinishedReplyError", "ollama_chat", "openai_chat"]


@dataclass(frozen=True)
class ModelListing:
    """Where the server lists the models it serves, for :meth:`ChatServer.problem`."""

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


def openai_chat(
    *,
    base_url: str,
    model: str,
    api_key: str | None,
    timeout_s: float,
    max_retries: int,
    max_tokens: int,
) -> tuple[BaseChatModel, ModelListing]:
    """Any OpenAI-compatible server's chat model (vLLM, llama.cpp, LM Studio, a hosted API…)
    and where it lists its models."""
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
    return chat, ModelListing(f"{base_url.rstrip('/')}/models", model, api_key=api_key)


def ollama_chat(
    *, base_url: str, model: str, timeout_s: float, max_tokens: int
) -> tuple[BaseChatModel, ModelListing]:
    """An Ollama server's chat model and where it lists its models."""
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
    return chat, ModelListing(f"{base_url.rstrip('/')}/api/tags", model, ollama=True)


@dataclass(frozen=True)
class ChatServer:
    """A chat model and the server behind it. ``base_url`` names the server in the operator's
    messages; ``timeout_s`` is the time budget of one reply; ``listing`` says where
    :meth:`problem` finds the server's models (None: nothing to check)."""

    model: BaseChatModel
    base_url: str
    timeout_s: float
    listing: ModelListing | None = None

    def problem(self) -> str | None:
        """What keeps the server from answering with the model named, or None: the server
        lists the model, or there is no listing to ask."""
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
            return self.operator_message(exc)
        if listing.serves(names):
            return None
        shown = ", ".join(sorted(names)[:10]) or "none"
        return self._hide_secrets(
            f"The LLM server at {self.base_url} does not serve the model {listing.model!r} "
            f"(it lists: {shown}): set QA_LLM__MODEL to one of them."
        )

    def reply(self, prompt: PromptValue) -> Iterator[str]:
        """The model's text as it arrives, within the time budget.

        The request runs in a worker thread, so that the budget holds however the server
        stalls; once the budget is spent (or the caller stops reading), the worker stops
        reading and closes the request instead of leaving it to the server.
        """
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
            chunks = cast("Generator[BaseMessageChunk, None, None]", self.model.stream(prompt))
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

    def operator_message(self, exc: BaseException) -> str:
        """What failed and what to fix, for the log and :attr:`Answer.warnings`."""
        return self._hide_secrets(_error_message(self.base_url, exc))

    def _hide_secrets(self, message: str) -> str:
        key = self.listing.api_key if self.listing is not None else None
        return message.replace(key, "***") if key else message


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
