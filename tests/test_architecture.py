"""The stages import one way: each package of the runtime imports only the stages before it
and the shared modules, as docs/ARCHITECTURE.md draws them (files → chunks → store →
retrieval → answer → page/CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "qa_assistant"

# Each top-level name of the package and its place in the flow: a module may import its own
# stage and those of a lower rank. The tooling imports the runtime, never the reverse
# (tests/test_runtime_imports.py), so it ranks last.
RANK = {
    **dict.fromkeys(
        ["_no_telemetry", "types", "errors", "settings", "protocols", "_vietnamese"],
        0,
    ),
    "_loading": 1,
    "_chunking": 2,
    "_models": 3,
    "_store": 4,
    "_retrieval": 5,
    "_answering": 6,
    "_pipeline": 7,
    "_state": 7,
    "assistant": 8,
    "__init__": 8,  # the front door: the assistant, the settings, the data types, the errors
    "evaluation": 9,
    "_ui": 9,
    "_cli_common": 9,
    "cli": 10,
    "__main__": 11,
    **dict.fromkeys(["bench", "deploy", "drivers", "training", "tuning", "testing"], 12),
}


def _stage(parts: list[str]) -> str:
    return parts[0]


def _imported_stages(path: Path) -> set[str]:
    """The top-level names of the package that the file imports, lazily or not."""
    here = list(path.relative_to(PACKAGE).with_suffix("").parts)
    package = here if here[-1] == "__init__" else here[:-1]
    package = [p for p in package if p != "__init__"]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:  # "from . import x": x is a top-level module of the package or a name in it
                found.update(a.name for a in node.names if a.name in RANK)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qa_"):
            inside = node.module.split(".")[1:]
            found.update([inside[0]] if inside else [a.name for a in node.names if a.name in RANK])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("qa_assistant."):
                    found.add(alias.name.split(".")[1])
    return found


def test_every_top_level_module_and_package_has_its_place_in_the_flow() -> None:
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    code = {
        n
        for n in names
        if (PACKAGE / f"{n}.py").is_file() or (PACKAGE / n / "__init__.py").is_file()
    }
    assert code == set(RANK)


def test_no_stage_imports_a_later_one() -> None:
    backwards = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = _stage(list(path.relative_to(PACKAGE).with_suffix("").parts))
        for imported in _imported_stages(path):
            if RANK.get(imported, 0) > RANK[stage]:
                backwards.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert backwards == []
