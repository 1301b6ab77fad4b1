"""Plain-text tables for the terminal (no dependency: a few lines of padding)."""

from __future__ import annotations

from typing import Any, Sequence


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def format_table(rows: Sequence[Sequence[Any]], *, headers: Sequence[str]) -> str:
    """Format ``rows`` under ``headers`` as aligned columns; numbers are right-aligned.

    Parameters
    ----------
    rows : sequence of sequences
    headers : sequence of str

    Returns
    -------
    str
    """
    text = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [all(isinstance(r[i], (int, float)) for r in rows) if rows else False for i in range(len(headers))]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(list(headers)), rule] + [fmt(r) for r in text])
