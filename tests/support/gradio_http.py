"""Calls the page's events over raw HTTP, the way the browser does (``/gradio_api/queue/join``).

Staff events are private (no ``api_name``), but anyone can still send them by number: this is
how the tests prove that the handlers themselves refuse, whatever the page shows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import httpx

TIMEOUT_S = 60.0


def fake_request(host: str = "127.0.0.1", **headers: str) -> gr.Request:
    """A ``gr.Request`` from ``host`` with ``headers`` (names in lower case, as servers see)."""
    return gr.Request(client={"host": host, "port": 50000}, headers=headers)


@dataclass(frozen=True)
class Outcome:
    success: bool
    data: list[Any]
    error: str


class PageSession:
    """One browser-like session (its own session hash) on a served page."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(headers=headers or {}, timeout=TIMEOUT_S)
        self.session_hash = uuid.uuid4().hex[:11]
        config = self.http.get(f"{self.url}/config").raise_for_status().json()
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

    def close(self) -> None:
        self.http.close()

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

    def _send(self, fn: int, target: int | None, data: list[Any]) -> Outcome:
        body = {
            "data": data,
            "fn_index": fn,
            "trigger_id": target,
            "session_hash": self.session_hash,
            "event_data": None,
        }
        joined = self.http.post(f"{self.url}/gradio_api/queue/join", json=body)
        event_id = joined.raise_for_status().json()["event_id"]
        params = {"session_hash": self.session_hash}
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params=params) as r:
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message["msg"] == "process_completed":
                    output = message.get("output") or {}
                    return Outcome(
                        bool(message.get("success")),
                        list(output.get("data") or []),
                        str(output.get("error") or ""),
                    )
        raise AssertionError(f"the stream ended without a result for event {fn}")
