"""Drives a served page over HTTP the way a browser does (``/gradio_api/queue/join``).

Used by ``qa-assistant deploy-check`` to act as citizens and staff against running replicas,
and by the tests. Staff events are private (no ``api_name``), but anyone can still send them by
number; the handlers themselves decide who may.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Outcome", "PageSession", "Timing"]

TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Outcome:
    success: bool
    data: list[Any]
    error: str
    # Where the event's time went, as the client saw it: from sending it until the page's
    # queue started it (``queued_ms``), then until its result came (``ran_ms``).
    queued_ms: float = 0.0
    ran_ms: float = 0.0

    @property
    def latency_ms(self) -> float:
        """From sending the event until its result came."""
        return self.queued_ms + self.ran_ms


@dataclass(frozen=True)
class Timing:
    """p50 / p95 in ms of one part of many events' time."""

    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, values: ArrayLike) -> Timing:
        array = np.asarray(values, dtype=np.float64)
        if array.size == 0:
            return cls(0.0, 0.0)
        return cls(float(np.percentile(array, 50)), float(np.percentile(array, 95)))

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms"


class PageSession:
    """One browser-like session (its own session hash) on a served page."""

    def __init__(
        self, url: str, headers: dict[str, str] | None = None, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(headers=headers or {}, timeout=timeout_s)
        self.session_hash = uuid.uuid4().hex[:11]
        try:
            config = self.http.get(f"{self.url}/config").raise_for_status().json()
        except BaseException:
            self.http.close()
            raise
        self._ids = {
            c["props"]["elem_id"]: c["id"]
            for c in config["components"]
            if c.get("props", {}).get("elem_id")
        }
        self._fns = {
            (target, event): dep["id"]
            for dep in config["dependencies"]
            for target, event in dep["targets"]
        }
        self._apis = {
            dep["api_name"]: dep["id"] for dep in config["dependencies"] if dep.get("api_name")
        }

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PageSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upload_files(self, *paths: Path) -> list[dict[str, Any]]:
        files = [("files", (p.name, p.read_bytes())) for p in paths]
        uploaded = self.http.post(f"{self.url}/gradio_api/upload", files=files)
        return [
            {"path": path, "orig_name": p.name, "meta": {"_type": "gradio.FileData"}}
            for path, p in zip(uploaded.raise_for_status().json(), paths, strict=True)
        ]

    def load(self, data: list[Any]) -> Outcome:
        """Runs the page's load event, as a browser does first (it fills the session's state)."""
        target, fn = next((t, fn) for (t, event), fn in self._fns.items() if event == "load")
        return self._send(fn, target, data)

    def trigger(self, elem_id: str, event: str, data: list[Any]) -> Outcome:
        """Sends the ``event`` of the component ``elem_id`` and waits for its result."""
        target = self._ids[elem_id]
        return self._send(self._fns[(target, event)], target, data)

    def call(self, api_name: str, data: list[Any]) -> Outcome:
        """Calls a named endpoint of the page's API (``ask``), as an integration would."""
        return self._send(self._apis[api_name], None, data)

    def ask(self, question: str, history: Sequence[str] = ()) -> Outcome:
        """Asks the page's ``ask`` API one question, without filters; ``history``: the earlier
        questions of its conversation, oldest first, for a follow-up."""
        return self.call("ask", [question, None, None, None, list(history) or None, None])

    def _send(self, fn: int, target: int | None, data: list[Any]) -> Outcome:
        body = {
            "data": data,
            "fn_index": fn,
            "trigger_id": target,
            "session_hash": self.session_hash,
            "event_data": None,
        }
        sent = time.perf_counter()
        joined = self.http.post(f"{self.url}/gradio_api/queue/join", json=body)
        event_id = joined.raise_for_status().json()["event_id"]
        started = sent
        params = {"session_hash": self.session_hash}
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params=params) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event_id:
                    continue
                if message["msg"] == "process_starts":
                    started = time.perf_counter()
                elif message["msg"] == "process_completed":
                    done = time.perf_counter()
                    output = message.get("output") or {}
                    return Outcome(
                        bool(message.get("success")),
                        list(output.get("data") or []),
                        str(output.get("error") or ""),
                        queued_ms=(started - sent) * 1000,
                        ran_ms=(done - started) * 1000,
                    )
        raise httpx.RemoteProtocolError(f"the stream ended without a result for event {fn}")
