"""docs/SETTINGS.md, rendered from the :class:`~qa_assistant.settings.Settings` model.

``python -m qa_assistant.tuning.settings_doc > docs/SETTINGS.md`` (``make settings-doc``) writes it;
a test fails when the committed file is not what this renders, so the reference cannot drift
from the settings. Nothing at run time imports this module.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from ..settings import _RENAMED, Settings

__all__ = ["render"]

_HEADER = """\
# Settings

Every setting is an environment variable with the `QA_` prefix, or a line of a `.env` file in
the folder the command runs in. A group's settings join the group's name and the field's with
`__`: `QA_RETRIEVAL__FUSION=rrf`. `qa-assistant eval` records all of them in `summary.json`
(secrets masked).

This file is generated from `src/qa_assistant/settings.py` by
`python -m qa_assistant.tuning.settings_doc > docs/SETTINGS.md` (`make settings-doc`); edit the
settings' descriptions there, not this file. A test fails when the two differ.
"""

_TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "true/false", Path: "path"}


def render() -> str:
    """The whole reference, as Markdown."""
    fields = Settings.model_fields
    plain = {name: f for name, f in fields.items() if _group(f) is None}
    parts = [_HEADER, "## General\n", _table("QA_", plain)]
    for name, field in fields.items():
        group = _group(field)
        if group is None:
            continue
        prefix = f"QA_{name.upper()}__"
        doc = _markdown(inspect.cleandoc(group.__doc__ or ""))
        parts += [
            f"## `{prefix}…` ({group.__name__})\n",
            f"{doc}\n",
            _table(prefix, group.model_fields),
        ]
    parts += ["## Renamed\n", _renamed()]
    return "\n".join(parts)


def _group(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _table(prefix: str, fields: dict[str, FieldInfo]) -> str:
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in fields.items():
        cells = [
            f"`{prefix}{name.upper()}`",
            _type(field),
            _default(field),
            _markdown(field.description or ""),
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _type(field: FieldInfo) -> str:
    annotation: Any = field.annotation
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        annotation = members[0]
    if get_origin(annotation) is Literal:
        name = " / ".join(f"`{v}`" for v in get_args(annotation))
    elif annotation is SecretStr:
        name = "text (secret)"
    else:
        name = _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = [_bound(m) for m in field.metadata]
    name += "".join(f", {b}" for b in bounds if b)
    return f"{name}, optional" if optional else name


def _bound(constraint: object) -> str:
    if isinstance(constraint, annotated_types.Ge):
        return f"≥ {constraint.ge}"
    if isinstance(constraint, annotated_types.Gt):
        return f"> {constraint.gt}"
    if isinstance(constraint, annotated_types.Le):
        return f"≤ {constraint.le}"
    if isinstance(constraint, annotated_types.Lt):
        return f"< {constraint.lt}"
    return ""


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        # The cache folder is under the home of whoever runs it: written as ~.
        home = str(Path.home())
        text = str(value)
        value = "~" + text[len(home) :] if text.startswith(home) else text
    return f"`{value}`"


def _renamed() -> str:
    lines = [
        "These old names are still read, with a warning, until the next release; the new name",
        "wins when both are set (CHANGELOG.md).",
        "",
        "| old name | new name |",
        "|---|---|",
    ]
    for old, (group, name) in _RENAMED.items():
        lines.append(f"| `QA_{old.upper()}` | `QA_{group.upper()}__{name.upper()}` |")
    return "\n".join(lines) + "\n"


def _markdown(text: str) -> str:
    """A docstring or description as one Markdown line: reST's double backticks become one."""
    return " ".join(text.replace("``", "`").split())


if __name__ == "__main__":
    print(render(), end="")
