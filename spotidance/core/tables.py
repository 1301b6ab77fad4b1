"""Plain-text tables for the terminal (no dependency: a few lines of padding).

Columns are measured in screen columns, not characters: East Asian wide and full-width characters
take two, combining marks and other zero-width characters none, so a table of Japanese or accented
file names stays aligned in a terminal. A cell never spans two lines: line breaks, tabs and other
control characters are shown as spaces.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

#: Unicode categories drawn with no width: combining marks, enclosing marks, format characters (ZWJ...).
_ZERO_WIDTH = frozenset({"Mn", "Me", "Cf"})

#: A number written as text: optional sign, digits with optional thousands commas, fraction, exponent.
_NUMBER = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return _one_line(str(value))


def _one_line(text: str) -> str:
    """``text`` with every control character (newline, carriage return, tab...) replaced by a space."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" else ch for ch in text)


def display_width(text: str) -> int:
    """Screen columns ``text`` takes in a terminal.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
        Wide and full-width characters (``unicodedata.east_asian_width`` ``W`` or ``F``) count 2;
        combining marks and zero-width format characters 0; every other character 1.
    """
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.category(ch) in _ZERO_WIDTH or unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number: an int or float (not a bool), or text such as ``"0.25"``, ``"-3"``, ``"1,234"``, ``"12%"``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # NumPy scalars
        return getattr(value.dtype, "kind", "") in "iuf"
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text.lower() in ("nan", "inf", "-inf", "+inf"):
        return True
    return _NUMBER.fullmatch(text) is not None


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def format_table(rows: Sequence[Sequence[Any]], *, headers: Sequence[str]) -> str:
    """Format ``rows`` under ``headers`` as aligned columns.

    A column whose non-empty cells are all numbers (see :func:`is_number`) is right-aligned, any
    other column left-aligned. Widths are screen columns (:func:`display_width`), and a line break
    or tab inside a cell is shown as a space, so one row is always one line.

    Parameters
    ----------
    rows : sequence of sequences
    headers : sequence of str

    Returns
    -------
    str
        No trailing newline.
    """
    heads = [_one_line(str(h)) for h in headers]
    text = [[_cell(v) for v in row] for row in rows]
    widths = [display_width(h) for h in heads]
    for row in text:
        for i, cell in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], display_width(cell))
    numeric = []
    for i in range(len(heads)):
        cells = [r[i] for r in rows if i < len(r) and not (isinstance(r[i], str) and not r[i].strip())]
        numeric.append(bool(cells) and all(is_number(v) for v in cells))

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(_pad(c, w, right=numeric[i]) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(heads), rule] + [fmt(r) for r in text])
