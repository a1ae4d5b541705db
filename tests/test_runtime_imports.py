"""The runtime imports nothing of the tooling: asking, serving and building the page load no
benchmark, deploy, training, tuning or driver module, nor the test fakes.

Each check runs in a fresh interpreter, so what this test process imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
TOOLING = ("bench", "deploy", "drivers", "training", "tuning", "testing")

# Prints the tooling modules loaded once the snippet before it has run.
_REPORT = f"""
import json, sys
tooling = tuple("qa_assistant." + name for name in {TOOLING!r})
print(json.dumps(sorted(
    m for m in sys.modules if any(m == t or m.startswith(t + ".") for t in tooling)
)))
"""


def _tooling_loaded(code: str, *args: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    script = textwrap.dedent(code) + _REPORT
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_package_and_the_assistant_loads_no_tooling() -> None:
    assert _tooling_loaded("import qa_assistant\nimport qa_assistant.assistant\n") == []


def test_the_runtime_commands_load_no_tooling() -> None:
    # The tooling's commands are registered only when one of them is asked for.
    code = """
    from qa_assistant.cli import main
    for command in (["ask", "--help"], ["serve", "--help"], ["ingest", "--help"]):
        main(command, standalone_mode=False)
    """
    assert _tooling_loaded(code) == []


def test_a_tooling_command_registers_itself_without_loading_its_work() -> None:
    code = """
    from qa_assistant.cli import main
    main(["bench", "--help"], standalone_mode=False)
    """
    assert _tooling_loaded(code) == ["qa_assistant.bench", "qa_assistant.bench.commands"]


def test_building_the_page_loads_no_tooling(tmp_path: Path) -> None:
    # An embedder of its own: the fakes of qa_assistant.testing are tooling too.
    code = """
    import sys
    from pathlib import Path

    from qa_assistant import Settings
    from qa_assistant._ui import build_app
    from qa_assistant.assistant import Assistant


    class ConstantEmbedder:
        name = "constant"
        dimension = 4
        max_tokens = 120

        def count_tokens(self, text):
            return len(text.split())

        def embed_passages(self, texts):
            return [[1.0, 0.0, 0.0, 0.0] for _ in texts]

        def embed_query(self, text):
            return [1.0, 0.0, 0.0, 0.0]


    root = Path(sys.argv[1])
    (root / "documents").mkdir()
    settings = Settings(
        _env_file=None,
        documents_dir=root / "documents",
        index_dir=root / "index",
        cache_dir=root / "cache",
    )
    assistant = Assistant(settings, embedder=ConstantEmbedder())
    build_app(assistant, settings)
    assistant.close()
    """
    assert _tooling_loaded(code, str(tmp_path)) == []
