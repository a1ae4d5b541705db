"""Table rows → passage lines that carry their header: "Đối tượng: Hộ cận nghèo | Mức hỗ trợ:
1.000.000 đồng".

A benefit table read cell by cell leaves amounts apart from the rows they belong to, and a
question about one row may be answered with another's amount. One line per row, each cell
named by its column's header, keeps a row's facts together in one sentence (the answerer
quotes whole sentences; "|" joins cells because ";" would end one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["cell_values", "table_lines"]

CELL_SEPARATOR = " | "
_NAMED = ": "  # between a cell's column name and its value


def _cell(text: str | None) -> str:
    # A cell's own line breaks are wrapping, not structure.
    return re.sub(r"\s+", " ", text or "").strip()


def _pairs(header: Sequence[str], row: Sequence[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for i, value in enumerate(row):
        name = header[i] if i < len(header) else ""
        # A merged cell is reported once per grid column it spans: keep its first copy.
        if value and not (pairs and pairs[-1][1] == value):
            pairs.append((name, value))
    return pairs


def table_lines(rows: Sequence[Sequence[str | None]]) -> list[str]:
    """One line per row; the first row is taken as the header and names each cell below it.

    A table of one row, or one whose first row has no text, is written cell by cell.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return []
    header = cells[0]
    if len(cells) == 1 or len([h for h in header if h]) < 2:
        return [CELL_SEPARATOR.join(dict.fromkeys(c for c in row if c)) for row in cells]
    lines = [CELL_SEPARATOR.join(dict.fromkeys(h for h in header if h))]
    for row in cells[1:]:
        if row == header:  # a header repeated on the next printed page
            continue
        pairs = _pairs(header, row)
        lines.append(CELL_SEPARATOR.join(f"{n}{_NAMED}{v}" if n else v for n, v in pairs))
    return lines


def cell_values(text: str) -> str:
    """``text`` with each row :func:`table_lines` wrote given as its cells' values alone, the
    column names dropped: the row as it was printed."""
    lines = []
    for line in text.split("\n"):
        if CELL_SEPARATOR in line:
            line = " ".join(c.split(_NAMED, 1)[-1] for c in line.split(CELL_SEPARATOR))
        lines.append(line)
    return "\n".join(lines)
