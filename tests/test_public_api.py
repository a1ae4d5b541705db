"""The package's front door: ``from qa_assistant import ...`` works and stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import qa_assistant
from qa_assistant import Assistant
from qa_assistant.assistant import Assistant as AssistantClass

SRC = Path(__file__).resolve().parent.parent / "src"


def test_every_public_name_resolves() -> None:
    for name in qa_assistant.__all__:
        assert getattr(qa_assistant, name) is not None, name
    assert Assistant is AssistantClass


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = ["chromadb", "langchain_core", "torch", "onnxruntime", "gradio", "pyvi"]
    code = f"import sys, qa_assistant; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    env = {"PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""
