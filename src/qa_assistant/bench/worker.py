"""The bench's worker processes: the spec a worker is started with, and the assistant it serves.

Each figure that needs a fresh process (cold start, a replica following the store) runs one;
the spec file carries its settings, without their secrets, which the worker reads from the
environment as usual.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..settings import Settings

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..protocols import Reranker

__all__ = ["SECRET_SETTINGS", "fake_reranker", "spec_assistant", "start_worker"]

# Never written to a spec file (the worker reads its own environment, which may set them).
SECRET_SETTINGS: dict[str, Any] = {"admin_password": True, "llm": {"api_key"}, "feedback": {"url"}}


def start_worker(
    module: str,
    flag: str,
    spec_path: Path,
    settings: Settings,
    spec: dict[str, Any],
    stderr: TextIO,
    *,
    stdin: bool = False,
) -> subprocess.Popen[str]:
    """Writes ``spec`` with ``settings`` to ``spec_path`` and runs ``python -m module flag spec``
    offline, its stdout a text pipe (and its stdin one, with ``stdin``: closing it tells the
    worker to stop)."""
    values = json.loads(settings.model_dump_json(exclude=SECRET_SETTINGS))
    spec_path.write_text(json.dumps({**spec, "settings": values}, ensure_ascii=False), "utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.setdefault("ANONYMIZED_TELEMETRY", "False")
    cmd = [sys.executable, "-m", module, flag, str(spec_path)]
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )


def fake_reranker(settings: Settings) -> Reranker | None:
    """A ``--fake`` run's stand-in for the relevance model, where the learned stage is on."""
    from ..testing import FakeReranker

    return FakeReranker() if settings.relevance.enabled else None


def spec_assistant(spec: dict[str, Any]) -> Assistant:
    """The assistant a worker process serves: the settings and models its spec names."""
    from ..assistant import Assistant  # imported here: the bench's own process may not need it

    values = {**spec["settings"], "index_dir": Path(spec["index_dir"])}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    if not spec["fake"]:
        return Assistant(settings)
    from .._answering.factory import make_answerer
    from ..testing import FakeEmbedder

    # An answerer given: no answer reader either, so a fake run builds no model.
    return Assistant(
        settings,
        embedder=FakeEmbedder(),
        reranker=fake_reranker(settings),
        answerer=make_answerer(settings),
    )
