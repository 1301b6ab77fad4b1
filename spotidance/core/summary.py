"""Closing summaries as JSON: what every command's ``--json`` prints on standard output.

One document per run, made by :func:`to_json` from plain values, dataclasses, paths, counters
and NumPy/pandas values, so that a script can read it with ``json.loads`` (no NaN or Infinity:
they become ``null``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: dicts with string keys, lists, str, int, float, bool, None.

    Parameters
    ----------
    obj : object
        Dataclasses (field by field), mappings (``Counter`` included), lists, tuples and sets,
        paths (as strings), NumPy scalars and arrays, pandas Series and DataFrames (a list of
        row records), and the plain JSON types. Anything else becomes its ``str``.

    Returns
    -------
    object
        NaN and infinities become ``None``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(jsonable(k)) if not isinstance(k, str) else k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [jsonable(v) for v in items]
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # a pandas DataFrame: one record per row
        return jsonable(obj.to_dict(orient="records"))
    if hasattr(obj, "tolist"):  # NumPy scalars and arrays, pandas Series
        return jsonable(obj.tolist())
    return str(obj)


def to_json(obj: Any, *, indent: int | None = 1) -> str:
    """One JSON document (no trailing newline) of :func:`jsonable` ``(obj)``.

    Parameters
    ----------
    obj : object
        See :func:`jsonable`.
    indent : int, optional
        As :func:`json.dumps`; None for one line.

    Returns
    -------
    str
        Strict JSON: ``NaN`` and ``Infinity`` never appear.
    """
    return json.dumps(jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)
