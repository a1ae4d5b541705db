"""The package's front door: ``from qa_assistant import ...`` works and stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

import qa_assistant
from qa_assistant import Assistant, errors, protocols, settings, types
from qa_assistant.assistant import Assistant as AssistantClass

SRC = Path(__file__).resolve().parent.parent / "src"


def test_every_public_name_resolves() -> None:
    for name in qa_assistant.__all__:
        assert getattr(qa_assistant, name) is not None, name
    assert Assistant is AssistantClass


def test_the_package_exports_exactly_the_errors_protocols_data_types_and_settings() -> None:
    # Each error, protocol, data type and settings group its modules declare, the assistant,
    # and nothing else: a new one cannot be forgotten, nor a private name leak out.
    data_types = {n for n in types.__all__ if inspect.isclass(getattr(types, n))}
    groups = {
        n
        for n in settings.__all__
        if inspect.isclass(cls := getattr(settings, n)) and issubclass(cls, BaseModel)
    }
    expected = {*errors.__all__, *protocols.__all__, *data_types, *groups, "Assistant"}
    assert set(qa_assistant.__all__) == expected | {"__version__"}
    assert len(qa_assistant.__all__) == len(set(qa_assistant.__all__))


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = ["chromadb", "langchain_core", "torch", "onnxruntime", "gradio", "pyvi"]
    code = f"import sys, qa_assistant; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    env = {"PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""


def test_the_version_is_the_one_the_package_was_built_with() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert qa_assistant.__version__ == tomllib.loads(pyproject.read_text())["project"]["version"]
