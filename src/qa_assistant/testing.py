"""Test fakes shipped with the package, so tests (ours and users') need no model or server.

:class:`FakeEmbedder` is a deterministic bag-of-syllables hasher: texts that share words get
similar vectors, which is enough to exercise retrieval, fusion and the index offline.

:class:`FakeOpenAIServer` is a real local HTTP server speaking the OpenAI chat-completions API
with a scripted reply, so the LLM answerer is tested through the real client stack; it also
plays what real servers do wrong (a cut stream, a slow first token, a model it does not serve).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._models.embedding import EmbedderIdentity
from ._vietnamese import fold
from .types import Span

__all__ = [
    "FakeAnswerability",
    "FakeEmbedder",
    "FakeOpenAIServer",
    "FakeRelevanceModel",
    "FakeSpanModel",
    "RecordedRequest",
]

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder(EmbedderIdentity):
    """Implements :class:`qa_assistant.protocols.Embedder` without any model."""

    def __init__(self, dimension: int = 64, max_tokens: int = 120, name: str = "fake-embedder"):
        super().__init__(name, dimension, max_tokens)
        self.calls = 0  # how many embed calls were made: lets tests check for waste

    def count_tokens(self, text: str) -> int:
        # Roughly like a subword model on Vietnamese: one token per syllable, plus the prefix.
        return len(_WORD.findall(text)) + 2

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self._dimension
        for word in _WORD.findall(fold(text)):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self._dimension
            vec[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return self._vector(text)


# --------------------------------------------------------------------------------------------
# A fake OpenAI-compatible chat server
# --------------------------------------------------------------------------------------------

Reply = str | Callable[[list[dict[str, Any]]], str]


class FakeRelevanceModel:
    """Implements :class:`qa_assistant.protocols.RelevanceModel` without any model: the share of the
    question's (folded) words a passage holds, so the tests can reason about the order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        self.calls.append((question, len(passages)))
        wanted = set(_WORD.findall(fold(question)))
        return [len(wanted & set(_WORD.findall(fold(p)))) / max(len(wanted), 1) for p in passages]


class FakeAnswerability:
    """Implements :class:`qa_assistant.protocols.AnswerabilityModel` without any model: a
    sentence holding one of ``answers`` scores ``high``, any other ``low``, so the tests say
    which sentences answer."""

    def __init__(self, answers: Sequence[str], high: float = 0.9, low: float = 0.1) -> None:
        self.answers = list(answers)
        self.high = high
        self.low = low
        self.calls: list[tuple[str, int]] = []

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        self.calls.append((question, len(sentences)))
        return [self.high if any(a in s for a in self.answers) else self.low for s in sentences]


class FakeSpanModel:
    """Implements :class:`qa_assistant.protocols.SpanModel` without any model: the span is
    the first of ``answers`` a passage holds, at margin ``margin``; a passage holding none gets
    a span over its first word at margin -10 (the model's "no answer")."""

    def __init__(self, answers: Sequence[str], margin: float = 5.0) -> None:
        self.answers = list(answers)
        self.margin = margin
        self.calls: list[tuple[str, int]] = []

    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]:
        self.calls.append((question, len(passages)))
        spans: list[Span | None] = []
        for p in passages:
            at = next(((p.find(a), a) for a in self.answers if a in p), None)
            if at is not None:
                spans.append(Span(at[0], at[0] + len(at[1]), self.margin))
            else:
                first = re.search(r"\S+", p)
                spans.append(Span(first.start(), first.end(), -10.0) if first else None)
        return spans


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def prompt(self) -> str:
        """All message contents joined: what the model was shown."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


class FakeOpenAIServer:
    """A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions API.

    ``reply`` is a fixed string or a callable of the request's messages. ``status`` other
    than 200 answers every chat request with that HTTP error; ``delay_s`` holds each answer
    back before its headers (to exercise timeouts). Use as a context manager; ``base_url``
    ends in ``/v1``.

    It also speaks Ollama's /api/chat (streamed) and /api/tags, for the Ollama client.

    What real servers do wrong: ``models`` (None: any name is served, "fake" listed) are the
    names GET /v1/models and Ollama's /api/tags list, and a chat request for another model gets
    a 404 as from vLLM, llama.cpp or Ollama; ``finish_reason`` ends a stream ("length": out of
    tokens; None: the connection closes after the text, with no finish reason and no
    ``[DONE]``, as when the server is stopped); ``first_token_s`` sends the headers at once
    and the first token that late (a CPU reading a long prompt). ``disconnects`` counts the
    responses a client closed before the server finished writing them.
    """

    def __init__(
        self,
        reply: Reply = "",
        *,
        status: int = 200,
        delay_s: float = 0.0,
        models: Sequence[str] | None = None,
        finish_reason: str | None = "stop",
        first_token_s: float = 0.0,
    ) -> None:
        self.reply = reply
        self.status = status
        self.delay_s = delay_s
        self.models = models
        self.finish_reason = finish_reason
        self.first_token_s = first_token_s
        self.disconnects = 0
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, messages: list[dict[str, Any]]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply

    def _disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1

    @property
    def listed(self) -> list[str]:
        return list(self.models) if self.models is not None else ["fake"]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path.endswith("/models"):
                    data = [{"id": name, "object": "model"} for name in fake.listed]
                    self._json(200, {"object": "list", "data": data})
                elif path.endswith("/api/tags"):
                    self._json(200, {"models": [{"name": n, "model": n} for n in fake.listed]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake._record(RecordedRequest("POST", self.path, headers, body))
                ollama = self.path.rstrip("/").endswith("/api/chat")
                if not (ollama or self.path.rstrip("/").endswith("/chat/completions")):
                    self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                    return
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if fake.status != 200:
                    error = {"message": f"fake error {fake.status}", "type": "server_error"}
                    self._json(fake.status, {"error": error})
                    return
                model = str(body.get("model", "fake"))
                if ollama and fake.models is not None and model not in fake.models:
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                if fake.models is not None and model not in fake.models:
                    error = {
                        "message": f"The model `{model}` does not exist.",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                    self._json(404, {"error": error})
                    return
                text = fake._answer(list(body.get("messages", [])))
                if body.get("stream"):
                    try:
                        (self._ollama_stream if ollama else self._stream)(text, model)
                    except (BrokenPipeError, ConnectionResetError):
                        fake._disconnected()
                else:
                    self._json(200, _completion(text, model, fake.finish_reason))

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, model: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                self.wfile.flush()
                if fake.first_token_s:
                    time.sleep(fake.first_token_s)
                pieces = [text[i : i + 16] for i in range(0, len(text), 16)] or [""]
                for i, piece in enumerate(pieces):
                    delta: dict[str, Any] = {"content": piece}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(_chunk(model, delta, None))
                if fake.finish_reason is None:
                    return  # the connection closes here: a server stopped mid-reply
                self._event(_chunk(model, {}, fake.finish_reason))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _ollama_stream(self, text: str, model: str) -> None:
                """Ollama's /api/chat: one JSON object a line, the last with ``done``."""
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                self.wfile.flush()
                if fake.first_token_s:
                    time.sleep(fake.first_token_s)
                pieces = [text[i : i + 16] for i in range(0, len(text), 16)]
                for piece in pieces:
                    message = {"role": "assistant", "content": piece}
                    self._line({"model": model, "message": message, "done": False})
                if fake.finish_reason is None:
                    return  # the connection closes here: a server stopped mid-reply
                done = {"model": model, "message": {"role": "assistant", "content": ""}}
                self._line({**done, "done": True, "done_reason": fake.finish_reason})

            def _line(self, payload: dict[str, Any]) -> None:
                payload = {"created_at": "2026-01-01T00:00:00Z", **payload}
                self.wfile.write(json.dumps(payload, ensure_ascii=False).encode() + b"\n")
                self.wfile.flush()

            def _event(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload, ensure_ascii=False)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

        return Handler


def _completion(text: str, model: str, finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
