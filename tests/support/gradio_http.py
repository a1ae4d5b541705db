"""A ``gr.Request`` as the handlers see it, for calling them directly.

Sending the page's events over raw HTTP is :class:`qa_assistant.drivers.page_client.PageSession`.
"""

from __future__ import annotations

import gradio as gr

from qa_assistant.drivers.page_client import Outcome, PageSession

__all__ = ["Outcome", "PageSession", "fake_request"]


def fake_request(host: str = "127.0.0.1", **headers: str) -> gr.Request:
    """A ``gr.Request`` from ``host`` with ``headers`` (names in lower case, as servers see)."""
    return gr.Request(client={"host": host, "port": 50000}, headers=headers)
