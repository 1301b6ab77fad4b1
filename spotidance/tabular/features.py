"""Reading a feature table and the engineered tempo features.

:func:`read_table` turns a CSV (or a DataFrame) of numeric features and a label column into a
checked :class:`FeatureTable`: which columns are features (numeric, not an id), which rows were
dropped for missing values, and one-line :class:`~spotidance.core.errors.SpotidanceError` refusals for
tables a classifier cannot learn from.

:func:`tempo_features` adds the engineered tempo features (measured in ``docs/tabular.md``). Tempo
estimators disagree by octaves (drum and bass at ~174 BPM is mostly reported as ~87), so a raw
BPM value is a poor split variable; the engineered columns are, for every tempo column:

* ``log2(bpm)``: tempo on a perceptual (octave-linear) scale;
* ``sin``/``cos`` of ``2*pi*frac(log2(bpm))``: the *tempo chroma*, where tempos an octave apart
  coincide (a circular quantity, hence the two coordinates);
* the tempo folded into one octave, [100, 200) BPM;

and, for the first two tempo columns (on the Beatport table ``69-BPM`` from pyAudioAnalysis and
``71-BPMessentia`` from Essentia):

* ``log2(bpm_a / bpm_b)``, its nearest whole octave, the distance to that octave, and a 0/1
  flag that the two estimators agree within 2 % (3 % of an octave in log2 terms).

They are pure functions of the row (no statistics learnt from data), so computing them before
cross-validation leaks nothing across folds.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import numpy as np

from spotidance.core.errors import SpotidanceError, short_reason

#: Column names that are never features even when they hold numbers (ids, positions, years,
#: popularity: metadata, not audio). Spotify-style audio features (key, mode, tempo...) are kept.
_ID_PATTERN = re.compile(
    r"^(unnamed:.*|index|idx|id|.*_id|.*_ids|track_?id|isrc|uri|url|href|path|file|filename|name|"
    r"track|title|artist|artists|album|preview.*|position|rank|added_at|release.*|year|popularity)$",
    re.IGNORECASE,
)
#: A column whose name says it is a tempo in BPM (and not its confidence).
_TEMPO_PATTERN = re.compile(r"(bpm|tempo)", re.IGNORECASE)
_NOT_TEMPO_PATTERN = re.compile(r"(conf|confidence|std|var)", re.IGNORECASE)


@dataclasses.dataclass
class FeatureTable:
    """A checked feature table.

    Attributes
    ----------
    X : numpy.ndarray
        ``(n_rows, n_features)`` float64 feature values, no NaN, no inf.
    y : numpy.ndarray
        ``(n_rows,)`` integer class indices into ``labels``.
    labels : list of str
        Class names, sorted.
    feature_columns : list of str
        The column names of ``X``, in order.
    ignored_columns : list of str
        Columns that were not used (the label, ids, text, ...).
    dropped_rows : int
        Rows dropped because a feature value or the label was missing (NaN / empty).
    source : str
        Where the table came from (a path, or ``"<DataFrame>"``).
    """

    X: np.ndarray
    y: np.ndarray
    labels: list[str]
    feature_columns: list[str]
    ignored_columns: list[str]
    dropped_rows: int
    source: str

    @property
    def class_counts(self) -> dict[str, int]:
        """Rows per class."""
        counts = np.bincount(self.y, minlength=len(self.labels))
        return {label: int(n) for label, n in zip(self.labels, counts)}


def read_table(
    table: Any,
    *,
    label_column: str = "class",
    feature_columns: list[str] | None = None,
    labels: list[str] | None = None,
) -> FeatureTable:
    """Read and check a labelled table of numeric features.

    Parameters
    ----------
    table : path-like or pandas.DataFrame
        A CSV file (a first unnamed column is taken as the row index) or a DataFrame.
    label_column : str
        The column holding the class labels.
    feature_columns : list of str, optional
        Use exactly these columns (each must exist and be numeric). By default every numeric
        column except the label and obvious non-features (ids, positions, file names, ...; see
        ``_ID_PATTERN``) is used; text columns are ignored.
    labels : list of str, optional
        Keep only rows of these classes (e.g. a 3-class subset of the Beatport table).

    Returns
    -------
    FeatureTable

    Raises
    ------
    SpotidanceError
        One line: unreadable file, missing label column, a requested feature column missing or
        not numeric, no numeric feature column, an infinite value (column and count named), fewer
        than 2 classes, or a class with a single row (named).
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame, source = table.copy(), "<DataFrame>"
    else:
        source = os.fspath(table)
        try:
            frame = pd.read_csv(source)
        except FileNotFoundError:
            raise SpotidanceError(f"{source}: no such file") from None
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise SpotidanceError(f"{source}: not a readable CSV table ({short_reason(exc, limit=200)})") from None
    frame.columns = [str(c) for c in frame.columns]
    if label_column not in frame.columns:
        raise SpotidanceError(
            f"{source}: no label column {label_column!r} (columns: {_list(frame.columns)}); "
            f"pass --label-column NAME"
        )
    if labels is not None:
        frame = frame[frame[label_column].astype(str).isin([str(x) for x in labels])]

    if feature_columns is not None:
        missing = [c for c in feature_columns if c not in frame.columns]
        if missing:
            raise SpotidanceError(f"{source}: no feature column {_list(missing)}")
        if label_column in feature_columns:
            raise SpotidanceError(f"{source}: the label column {label_column!r} cannot also be a feature")
        bad = [c for c in feature_columns if not _is_numeric(frame[c])]
        if bad:
            raise SpotidanceError(f"{source}: feature column {_list(bad)} is not numeric")
        columns = list(feature_columns)
    else:
        columns = [
            c for c in frame.columns
            if c != label_column and not _ID_PATTERN.match(c) and _is_numeric(frame[c])
        ]
        if not columns:
            raise SpotidanceError(f"{source}: no numeric feature columns besides the label {label_column!r}")
    ignored = [c for c in frame.columns if c not in columns]

    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    infinite = np.isinf(values)
    if infinite.any():
        per_column = infinite.sum(axis=0)
        worst = [f"{columns[j]} ({int(per_column[j])})" for j in np.flatnonzero(per_column)]
        raise SpotidanceError(
            f"{source}: infinite values in feature column {_list(worst)}; fix or remove those rows"
        )
    label_values = frame[label_column]
    keep = ~np.isnan(values).any(axis=1) & label_values.notna().to_numpy() & (label_values.astype(str).str.strip() != "").to_numpy()
    dropped = int((~keep).sum())
    values = values[keep]
    label_text = label_values[keep].astype(str).str.strip().to_numpy()
    if len(values) == 0:
        raise SpotidanceError(f"{source}: no row has all feature values and a label")

    names, y = np.unique(label_text, return_inverse=True)
    label_list = [str(n) for n in names]
    if len(label_list) < 2:
        only = f" (only {label_list[0]!r})" if label_list else ""
        raise SpotidanceError(f"{source}: a classifier needs at least 2 classes in {label_column!r}{only}")
    counts = np.bincount(y)
    singles = [label_list[i] for i in np.flatnonzero(counts < 2)]
    if singles:
        raise SpotidanceError(
            f"{source}: class {_list(singles)} has a single row; a class needs at least 2 rows "
            f"(give it more examples or remove it)"
        )
    return FeatureTable(
        X=values,
        y=y.astype(np.int64),
        labels=label_list,
        feature_columns=columns,
        ignored_columns=ignored,
        dropped_rows=dropped,
        source=source,
    )


def tempo_columns(columns: list[str]) -> list[int]:
    """Indices of the columns whose name says they hold a tempo in BPM.

    Parameters
    ----------
    columns : list of str

    Returns
    -------
    list of int
        In column order; confidence / spread columns (``70-BPMconf``) are excluded.
    """
    return [
        j for j, c in enumerate(columns)
        if _TEMPO_PATTERN.search(c) and not _NOT_TEMPO_PATTERN.search(c)
    ]


def tempo_feature_names(columns: list[str]) -> list[str]:
    """Names of the columns :func:`tempo_features` adds, in order."""
    idx = tempo_columns(columns)
    names: list[str] = []
    for j in idx:
        c = columns[j]
        names += [f"log2({c})", f"tempo_chroma_sin({c})", f"tempo_chroma_cos({c})", f"folded({c})"]
    if len(idx) >= 2:
        a, b = columns[idx[0]], columns[idx[1]]
        names += [f"log2({a}/{b})", f"octaves({a}/{b})", f"octave_residual({a}/{b})", f"agree({a},{b})"]
    return names


def tempo_features(X: np.ndarray, columns: list[str]) -> np.ndarray:
    """The engineered tempo features of each row (see the module docstring).

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, len(columns))`` raw feature values.
    columns : list of str
        Their names (tempo columns are found by name).

    Returns
    -------
    numpy.ndarray
        ``(n, len(tempo_feature_names(columns)))``; empty when the table has no tempo column.
        Non-positive tempos are treated as 1 BPM (``log2`` = 0) rather than producing NaN.
    """
    X = np.asarray(X, dtype=np.float64)
    idx = tempo_columns(columns)
    out: list[np.ndarray] = []
    logs = []
    for j in idx:
        lg = np.log2(np.maximum(X[:, j], 1.0))
        logs.append(lg)
        frac = lg - np.floor(lg)
        folded = 100.0 * np.exp2((lg - np.log2(100.0)) % 1.0)
        out += [lg, np.sin(2 * np.pi * frac), np.cos(2 * np.pi * frac), folded]
    if len(idx) >= 2:
        r = logs[0] - logs[1]
        octaves = np.round(r)
        resid = np.abs(r - octaves)
        out += [r, octaves, resid, (np.abs(r) < 0.03).astype(np.float64)]
    if not out:
        return np.zeros((X.shape[0], 0))
    return np.column_stack(out)


def _is_numeric(series) -> bool:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return True
    return bool(pd.api.types.is_numeric_dtype(series))


def _list(items) -> str:
    items = [str(x) for x in items]
    if len(items) > 8:
        return ", ".join(items[:8]) + f", ... ({len(items)} in all)"
    return ", ".join(items)
