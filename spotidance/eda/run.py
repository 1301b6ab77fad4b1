"""``spotidance eda``: what separates labelled playlists, as a summary, warnings, statistics and a report.

Reads playlist CSVs (``collect``/``synth`` output, or the historical layout of Spotify exports:
an unnamed index column, a repeated ``track_id`` column, year-only dates, ``track_pop``), one
label per CSV (its ``label`` column, else its file name), and compares every numeric audio
feature across the labels:

* the answer first (:func:`answer`): how well a cross-validated logistic regression on the
  standardised features tells the labels apart (:func:`separability`), and the two or three
  features that differ most, with the direction and size of the difference in the feature's unit;
* warnings where the data are not comparable, and what was done about it: a 0-1 feature on
  another scale in some inputs (:func:`scale_mismatches`: not compared), different
  ``features_source`` mixes per label (:func:`choose_feature_source`: one source compared),
  a feature without values for a whole label (:func:`missing_for_a_label`: not compared);
* counts per label, missing and non-numeric values per feature (counted, never fatal);
* a summary per label and feature (mean, median, standard deviation, quartiles);
* a test per feature: Mann-Whitney U for two labels (effect size: Cliff's delta, which equals the
  rank-biserial correlation), Kruskal-Wallis for more (effect size: epsilon squared) with pairwise
  Mann-Whitney tests Holm-corrected per feature; ``key`` (a pitch class) and ``mode`` (minor or
  major) are categories, so they get a chi-square test of independence with Cramer's V, and are
  shown as note names and minor/major shares, never as means;
* the ranking "what separates these playlists": features by effect size, largest first;
* tempos about half or double their label's median, flagged as likely octave errors.

:func:`run_report` writes all of it to a folder (``report.html`` with embedded figures, the figures
as SVG, the tables as CSV; see :mod:`spotidance.eda.report`). Everything is computed and rendered in
memory first, so bad input leaves no report behind, and each file is replaced atomically with
``report.html`` written last.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import read_table
from spotidance.core.schema import AUDIO_FEATURES, COLUMN_ALIASES
from spotidance.core.tables import format_table
from spotidance.eda import (
    CV_FOLDS,
    EXTRA_AUDIO_FEATURES,
    LENGTH_FEATURES,
    MAX_TERMINAL_MEANS,
    NOMINAL_FEATURES,
    NOT_FEATURES,
    OCTAVE_TOLERANCE,
    UNIT_INTERVAL_FEATURES,
    UNIT_SCALE_LIMIT,
    category_name,
    format_value,
)
from spotidance.eda import report as rep

_UNNAMED = re.compile(r"^(Unnamed: \d+(_level_\d+)?|)$")


@dataclasses.dataclass
class LabelledData:
    """Playlist rows from several CSVs, with a ``label`` column and numeric features.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per track: ``label``, ``source`` (the CSV), the features (float, NaN = missing)
        and any other column the CSVs had (as text).
    features : list of str
        The numeric features, audio features in the CSV contract's order first.
    labels : list of str
        In order of first appearance.
    quality : pandas.DataFrame
        Per (label, feature): ``rows``, ``missing`` (empty cells) and ``non_numeric`` (text that is
        not a number, counted and treated as missing).
    sources : list of str
        The CSV files read.
    """

    frame: object
    features: list[str]
    labels: list[str]
    quality: object
    sources: list[str]


@dataclasses.dataclass
class EdaResult:
    """What :func:`run_report` computed and wrote.

    Attributes
    ----------
    report : Path
        ``out_dir/report.html``.
    out_dir : Path
    labels, features : list of str
    counts : DataFrame
        Per label: rows, unique tracks, source files.
    missing : DataFrame
        Per feature: missing and non-numeric values per label and in total.
    summary : DataFrame
        Index (label, feature); columns count, mean, std, min, q1, median, q3, max.
    comparison : DataFrame
        One row per feature: test, statistic, p-value, Holm-corrected p-value, effect size,
        the label with the highest median, mean per label, ``ranked``.
    ranking : DataFrame
        The ranked rows of ``comparison`` (largest effect first), with a ``rank`` column.
    pairwise : DataFrame
        Pairwise Mann-Whitney tests with Holm-corrected p-values (more than two labels; else empty).
    octave_flags : DataFrame
        Tracks whose tempo is about half or double their label's median.
    files : list of Path
        Every file written (figures, tables, the report last).
    answer : list of str
        The plain-language summary the report and the terminal lead with.
    warnings : list of DataWarning
        Where the data are not comparable (scale mismatch, mixed feature sources, missing features).
    separability : Separability or None
        The cross-validated classifier behind the summary (None without a usable feature).
    """

    report: Path
    out_dir: Path
    labels: list[str]
    features: list[str]
    counts: object
    missing: object
    summary: object
    comparison: object
    ranking: object
    pairwise: object
    octave_flags: object
    files: list[Path]
    answer: list[str] = dataclasses.field(default_factory=list)
    warnings: list[DataWarning] = dataclasses.field(default_factory=list)
    separability: Separability | None = None


@dataclasses.dataclass
class DataWarning:
    """A reason the labels' data are not (fully) comparable.

    Attributes
    ----------
    kind : str
        ``"scale"`` (a 0-1 feature above 1 in some inputs), ``"sources"`` (different
        ``features_source`` mixes per label) or ``"missing"`` (a feature without values for a label).
    feature : str
        The feature concerned ("" for ``sources``).
    message : str
        One sentence for the reader, saying what was done about it.
    """

    kind: str
    feature: str
    message: str


@dataclasses.dataclass
class Separability:
    """How well a cross-validated classifier tells the labels apart.

    Attributes
    ----------
    accuracy, spread : float
        Mean and standard deviation of the accuracy over the folds.
    folds : list of float
        The accuracy of each fold (stratified, shuffled with seed 0).
    features : list of str
        The features it used (the ranked, comparable ones; keys one-hot).
    chance : float
        The share of the most common label: what always guessing it scores.
    top, top_accuracy : list of str, float
        The two best-ranked features and the accuracy on them alone (NaN when fewer than three features).
    rows : int
        Tracks classified.
    """

    accuracy: float
    spread: float
    folds: list[float]
    features: list[str]
    chance: float
    top: list[str]
    top_accuracy: float
    rows: int


# --------------------------------------------------------------------------------------- reading


def _csv_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet") and p.is_file() and not p.name.startswith("."))
            if not found:
                raise SpotidanceError(f"no CSV files in folder {path}; give CSV files or a folder that holds them")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise SpotidanceError(f"no such file or folder: {path}")
    if not paths:
        raise SpotidanceError("no input CSVs; give two or more labelled CSV files (or a folder of them)")
    seen: set[Path] = set()
    return [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]


def _read_one(path: Path):
    """One CSV (or a Parquet file from ``collect --format parquet``) as text columns, in the historical layout or ours."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        header, rows = read_table(path)
        if not rows:
            raise SpotidanceError(f"{path} has no rows; give a table with tracks")
        return pd.DataFrame(rows, columns=header, dtype=str)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
        if not header or all(not h.strip() for h in header):
            raise SpotidanceError(f"{path} is empty (no header row); give a playlist CSV")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except SpotidanceError:
        raise
    except UnicodeDecodeError:
        raise SpotidanceError(f"cannot read {path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise SpotidanceError(f"cannot read {path}: {reason}") from None
    if frame.empty:
        raise SpotidanceError(f"{path} has a header but no rows; give a CSV with tracks")
    # pandas renames a repeated header "x" to "x.1", "x.2": keep the first of each name.
    keep, seen = [], set()
    for position, name in enumerate(header[: frame.shape[1]]):
        name = name.strip()
        if _UNNAMED.match(name) or name in seen:
            continue
        seen.add(name)
        keep.append(position)
    frame = frame.iloc[:, keep]
    frame.columns = [COLUMN_ALIASES.get(header[i].strip(), header[i].strip()) for i in keep]
    return frame.loc[:, ~frame.columns.duplicated()]


_KNOWN = AUDIO_FEATURES + EXTRA_AUDIO_FEATURES


def _looks_numeric(text, *, known: bool) -> bool:
    """A known audio feature with any number in it, or another column mostly (>= half) numbers."""
    import pandas as pd

    text = text.str.strip()
    text = text[text != ""]
    numbers = pd.to_numeric(text, errors="coerce").notna()
    return bool(numbers.any()) if known else bool(len(text)) and numbers.mean() >= 0.5


def _feature_columns(columns: Sequence[str]) -> list[str]:
    known = [c for c in _KNOWN if c in columns]
    return known + [c for c in columns if c not in known and c not in NOT_FEATURES and c not in ("label", "source")]


def read_labelled_csvs(inputs: Iterable[str | os.PathLike], *, label_column: str = "label") -> LabelledData:
    """Read labelled playlist CSVs (files and/or folders of them) into one table.

    Parameters
    ----------
    inputs : iterable of str or path-like
        CSV files and folders (every ``*.csv`` directly inside).
    label_column : str
        The column holding each row's label; a CSV without it (or an empty cell) is labelled
        with its file name.

    Returns
    -------
    LabelledData

    Raises
    ------
    SpotidanceError
        An input is missing, unreadable or empty, has no numeric feature, or the labels are
        fewer than two, or a label has fewer than two rows.
    """
    import numpy as np
    import pandas as pd

    paths = _csv_paths(inputs)
    frames, features = [], []
    for path in paths:
        frame = _read_one(path)
        labels = frame[label_column].str.strip() if label_column in frame.columns else pd.Series("", index=frame.index)
        frame = frame.drop(columns=[label_column, "label", "source"], errors="ignore")  # ours: label, source
        frame.insert(0, "label", labels.where(labels != "", path.stem))
        frame.insert(1, "source", str(path))
        numeric = [c for c in _feature_columns(list(frame.columns)) if _looks_numeric(frame[c], known=c in _KNOWN)]
        if not numeric:
            raise SpotidanceError(
                f"{path} has no numeric feature columns (looked for {', '.join(AUDIO_FEATURES[:4])}, ...); "
                "give CSVs written by `spotidance collect` or with Spotify audio features"
            )
        features.extend(c for c in numeric if c not in features)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True, sort=False).fillna("")
    features = _feature_columns(features)  # contract order first, whatever the file order

    quality = []
    for feature in features:
        text = data[feature].astype(str).str.strip() if feature in data.columns else pd.Series("", index=data.index)
        values = pd.to_numeric(text, errors="coerce").astype(float)
        values = values.where(np.isfinite(values))
        if feature == "key":  # Spotify's -1: no key detected, a missing value
            text = text.where(values != -1, "")
            values = values.where(values != -1)
        for label, rows in text.groupby(data["label"], sort=False):
            empty = int((rows == "").sum())
            quality.append({"label": label, "feature": feature, "rows": len(rows), "missing": empty,
                            "non_numeric": int(values[rows.index].isna().sum()) - empty})
        data[feature] = values.astype(float)
    quality = pd.DataFrame(quality, columns=["label", "feature", "rows", "missing", "non_numeric"])

    labels = list(dict.fromkeys(data["label"]))
    if len(labels) < 2:
        raise SpotidanceError(
            f"only one label ({labels[0]!r}) in the input; give two or more CSVs (one per playlist) to compare"
        )
    sizes = data["label"].value_counts()
    small = [label for label in labels if sizes[label] < 2]
    if small:
        raise SpotidanceError(
            f"label {small[0]!r} has {sizes[small[0]]} row; every label needs at least two tracks to compare"
        )
    return LabelledData(frame=data, features=features, labels=labels, quality=quality, sources=[str(p) for p in paths])


# ----------------------------------------------------------------------------------- statistics


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1; NaN stays NaN).

    Written here (six lines) rather than pulling in statsmodels for ``multipletests``.
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p == p)
    adjusted = [float("nan")] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def cliffs_delta(a, b, *, axis: int = 0):
    """Mann-Whitney U of ``a`` against ``b``, its p-value, and Cliff's delta (= rank-biserial r).

    delta = P(a > b) - P(a < b), in -1..1; positive when ``a`` tends to be larger. With 2-D
    arrays (samples along ``axis``, no NaN) every column is tested in one vectorised scipy call,
    which is far faster than a loop of calls (the pairwise tests of many labels and features).

    Returns
    -------
    (U, p, delta) : floats, or arrays for 2-D input
    """
    import numpy as np
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    result = mannwhitneyu(a, b, alternative="two-sided", axis=axis)
    delta = 2.0 * result.statistic / (a.shape[axis] * b.shape[axis]) - 1.0
    if np.ndim(result.statistic) == 0:
        return float(result.statistic), float(result.pvalue), float(delta)
    return result.statistic, result.pvalue, delta


def _columnwise_mann_whitney(a, b):
    """Mann-Whitney U, p and Cliff's delta for every column of ``a`` against the same column of ``b``.

    NaN are left out per column. The test depends only on the values, not their order, so each
    column is sorted (NaN last) and the columns with the same numbers of values are tested in one
    vectorised scipy call: a handful of calls instead of one per column.
    """
    import numpy as np

    a, b = np.sort(a, axis=0), np.sort(b, axis=0)
    count_a, count_b = (~np.isnan(a)).sum(axis=0), (~np.isnan(b)).sum(axis=0)
    u, p, d = (np.full(a.shape[1], np.nan) for _ in range(3))
    for n_a, n_b in set(zip(count_a.tolist(), count_b.tolist())):
        cols = np.flatnonzero((count_a == n_a) & (count_b == n_b))
        if n_a and n_b:
            u[cols], p[cols], d[cols] = cliffs_delta(a[:n_a, cols], b[:n_b, cols])
    return u, p, d


def _pairwise(groups: dict[str, object], labels: list[str], features: list[str]):
    """Mann-Whitney U for every pair of labels and every feature, Holm-corrected within each feature."""
    import pandas as pd

    values = {label: groups[label][features].to_numpy(dtype=float) for label in labels}
    rows = []
    for i, first in enumerate(labels):
        for second in labels[i + 1:]:
            u, p, d = _columnwise_mann_whitney(values[first], values[second])
            rows += [{"feature": f, "label_a": first, "label_b": second, "U": u[k], "p_value": p[k],
                      "cliffs_delta": d[k]} for k, f in enumerate(features)]
    pairwise = pd.DataFrame(rows, columns=["feature", "label_a", "label_b", "U", "p_value", "p_holm", "cliffs_delta"])
    for feature, block in pairwise.groupby("feature", sort=False):
        pairwise.loc[block.index, "p_holm"] = holm(block["p_value"].tolist())
    order = {f: k for k, f in enumerate(features)}
    return pairwise.sort_values("feature", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def cramers_v(table) -> float:
    """Bias-corrected Cramer's V (Bergsma 2013) of a contingency table (rows x columns of counts).

    The plain V is inflated for small samples with many categories (12 keys, a few dozen tracks
    give V around 0.5 for independent data); the correction subtracts the expected chi-square
    under independence, so unrelated variables give about 0.
    """
    from scipy.stats import chi2_contingency

    n = table.sum()
    r, k = table.shape
    phi2 = chi2_contingency(table, correction=False)[0] / n
    phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_, k_ = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_ - 1, r_ - 1)
    return float(min(1.0, math.sqrt(phi2 / denominator))) if denominator > 0 else 0.0


def _nominal_test(groups) -> tuple[str, float, float, str, float]:
    """Chi-square test of independence on the value counts; effect size bias-corrected Cramer's V."""
    import pandas as pd
    from scipy.stats import chi2_contingency

    table = pd.concat([g.value_counts() for g in groups], axis=1).fillna(0).to_numpy()
    table = table[table.sum(axis=1) > 0]
    if table.shape[0] < 2:
        return "chi-square", 0.0, 1.0, "Cramer's V", 0.0
    chi2, p, _, _ = chi2_contingency(table, correction=False)
    return "chi-square", float(chi2), float(p), "Cramer's V", cramers_v(table)


# -------------------------------------------------------------------------- comparable or not


def scale_mismatches(data: LabelledData) -> list[DataWarning]:
    """0-1 features with values above 1 in some inputs (CSV and label) but not in others.

    Some exporters write Spotify's 0-1 features as percentages (0-100); pooled with 0-1 values
    they turn into "perfect separators". Such a feature is not compared.
    """
    frame, warned = data.frame, []
    groups = frame.groupby(["source", "label"], sort=False)
    for feature in [f for f in data.features if f in UNIT_INTERVAL_FEATURES]:
        highest = groups[feature].max().dropna()
        over = highest[highest > UNIT_SCALE_LIMIT]
        if len(over) and len(over) < len(highest):
            (source, label), top = next(iter(over.items()))
            where = f"{Path(source).name} ({label})"
            others = len(over) - 1
            warned.append(DataWarning(
                "scale", feature,
                f"{feature} is a 0-1 feature but reaches {top:g} in {where}"
                + (f" and {others} more input{'s' * (others > 1)}" if others else "")
                + " while other inputs stay near 0-1: different scales (0-100?), so it is not compared; "
                "rescale that input to compare it.",
            ))  # fmt: skip
    return warned


def _source_mix(frame) -> dict[str, dict[str, float]]:
    """Per label: the share of rows per ``features_source`` ("none" for an empty cell)."""
    sources = frame["features_source"].astype(str).str.strip().replace("", "none")
    return {label: rows.value_counts(normalize=True).to_dict() for label, rows in sources.groupby(frame["label"], sort=False)}


def _mix_text(mix: dict[str, float]) -> str:
    return ", ".join(f"{source} {share:.0%}" for source, share in sorted(mix.items(), key=lambda kv: -kv[1]))


def choose_feature_source(data: LabelledData, *, features_source: str | None = None) -> tuple[LabelledData, list[DataWarning]]:
    """Keep rows whose features are comparable: one ``features_source`` when the labels' mixes differ.

    Rows whose features came from different sources (Spotify, ReccoBeats, local analysis) are not
    comparable: local analysis lacks danceability, instrumentalness and valence and computes
    energy differently. When the labels' mixes differ (a source's share differs by more than 10
    points), only the rows of the source that every label has and that has most rows are compared,
    and a warning says so.

    Parameters
    ----------
    data : LabelledData
    features_source : str, optional
        ``None``: the automatic choice above; ``"all"``: pool every row (with a warning when the
        mixes differ); a source name (``spotify``, ``reccobeats``, ``local``, ...): only its rows.

    Returns
    -------
    (LabelledData, list of DataWarning)

    Raises
    ------
    SpotidanceError
        A named source has fewer than two rows in some label.
    """
    if "features_source" not in data.frame.columns:
        if features_source not in (None, "all"):
            raise SpotidanceError(f"--features-source {features_source}: the inputs have no features_source column")
        return data, []
    frame = data.frame
    sources = frame["features_source"].astype(str).str.strip().replace("", "none")
    if features_source not in (None, "all"):
        keep = sources == features_source
        counts = keep.groupby(frame["label"], sort=False).sum()
        if (counts < 2).any():
            label = counts.index[counts < 2][0]
            raise SpotidanceError(
                f"label {label!r} has {int(counts[label])} rows with features_source {features_source!r}; "
                "every label needs two to compare (try --features-source all)"
            )
        return dataclasses.replace(data, frame=frame[keep].reset_index(drop=True)), []
    mix = _source_mix(frame)
    names = set().union(*mix.values())
    differs = any(abs(mix[a].get(n, 0.0) - mix[b].get(n, 0.0)) > 0.10 for n in names for a in mix for b in mix)
    if not differs:
        return data, []
    described = "; ".join(f"{label}: {_mix_text(m)}" for label, m in mix.items())
    counts = sources.groupby(frame["label"], sort=False).value_counts().unstack(fill_value=0)
    shared = [n for n in counts.columns if n != "none" and (counts[n] >= 2).all()]
    if features_source == "all" or not shared:
        why = "" if features_source == "all" else " (no source has two rows in every label)"
        return data, [DataWarning("sources", "", f"Features come from different sources per label ({described}); "
                                  f"all rows are pooled{why}, so differences may come from the source, not the music.")]
    best = max(shared, key=lambda n: int(counts[n].sum()))
    kept = frame[sources == best].reset_index(drop=True)
    message = (f"Features come from different sources per label ({described}); only the {len(kept)} tracks whose "
               f"features came from {best} are compared (--features-source all pools them).")
    return dataclasses.replace(data, frame=kept), [DataWarning("sources", "", message)]


def missing_for_a_label(data: LabelledData) -> list[DataWarning]:
    """Features with values for some labels but none (or one) for a whole label: not compared."""
    counts = data.frame.groupby("label", sort=False)[data.features].count()
    warned = []
    for feature in data.features:
        empty = [label for label in data.labels if counts.loc[label, feature] < 2]
        if empty and len(empty) < len(data.labels):
            warned.append(DataWarning("missing", feature, f"{feature} has no values for {', '.join(empty)} "
                                      "(its source did not give it), so it is not compared."))  # fmt: skip
    return warned


# ----------------------------------------------------------------------------------- statistics


def _typical(feature: str, values, median: float) -> str:
    """A label's typical value, as shown: the median with its unit, or the most common category and its share."""
    import numpy as np

    if not len(values):
        return "–"
    if feature in NOMINAL_FEATURES:
        categories, counts = np.unique(np.round(values), return_counts=True)
        tied = categories[counts == counts.max()]  # ties are shown, not broken: "minor = major (50%)"
        return f"{' = '.join(category_name(feature, float(c)) for c in tied)} ({counts.max() / counts.sum():.0%})"
    return format_value(feature, median)


def _highest(labels: list[str], medians: list[float]) -> str:
    """The label with the highest median, or the tied labels joined with ``=`` (ties are not broken)."""
    top = max(medians)
    tied = [label for label, m in zip(labels, medians) if m == top]
    return tied[0] if len(tied) == 1 else " = ".join(tied)


def compare_features(data: LabelledData, *, excluded: dict[str, str] | None = None):
    """The test and effect size per feature, and pairwise tests for more than two labels.

    Parameters
    ----------
    data : LabelledData
    excluded : dict, optional
        Features not to compare (not comparable), with the reason shown in ``note``.

    Returns
    -------
    (comparison, pairwise) : tuple of DataFrame
        See :class:`EdaResult`. ``highest`` names the label with the highest median; labels with
        the same median are joined with ``=`` (for two labels the rank direction is in ``note``);
        it is empty for categories. ``median <label>`` is NaN for categories, ``typical <label>``
        is the median in the feature's unit or the most common category with its share.
    """
    import pandas as pd
    from scipy.stats import kruskal

    import numpy as np

    excluded = excluded or {}
    frame, labels = data.frame, data.labels
    by_label = {label: frame[frame["label"] == label] for label in labels}
    # per-label arrays and medians computed once (a pandas call per label and feature took seconds for 23 x 71)
    arrays = {label: by_label[label][data.features].to_numpy(dtype=float) for label in labels}
    rows, kruskal_features = [], []
    for k, feature in enumerate(data.features):
        groups = [arrays[label][:, k][~np.isnan(arrays[label][:, k])] for label in labels]
        nominal = feature in NOMINAL_FEATURES
        medians = [float(np.median(g)) if len(g) else float("nan") for g in groups]
        row = {"feature": feature}
        row.update({f"mean {label}": float(g.mean()) if len(g) and not nominal else float("nan") for label, g in zip(labels, groups)})
        row.update({f"median {label}": m if not nominal else float("nan") for label, m in zip(labels, medians)})
        row.update({f"typical {label}": _typical(feature, g, m) for label, g, m in zip(labels, groups, medians)})
        row["highest"] = "" if nominal else _highest(labels, [m if m == m else float("-inf") for m in medians])
        usable = all(len(g) >= 2 for g in groups)
        constant = usable and np.unique(np.concatenate(groups)).size < 2
        if feature in excluded or not usable or constant:
            note = excluded.get(feature) or ("fewer than two values in a label" if not usable else "the same value everywhere")
            row.update(test="none", statistic=float("nan"), p_value=float("nan"), effect="", effect_size=float("nan"), note=note)
        elif nominal:
            test, stat, p, effect, size = _nominal_test([pd.Series(g.round()) for g in groups])
            what = "pitch class" if feature == "key" else "major or minor"
            row.update(test=test, statistic=stat, p_value=p, effect=effect, effect_size=size,
                       note=f"categories ({what}): compares the distributions")  # fmt: skip
        elif len(labels) == 2:
            u, p, delta = cliffs_delta(groups[0], groups[1])
            sign = ">" if delta > 0 else "<" if delta < 0 else "="
            row.update(test="Mann-Whitney U", statistic=u, p_value=p, effect="Cliff's delta", effect_size=abs(delta),
                       delta=delta, note=f"{labels[0]} {sign} {labels[1]} (delta {delta:+.3f})")
            if " = " in row["highest"] and delta:
                row["note"] += f"; same median, {labels[0] if delta > 0 else labels[1]} higher by rank"
        else:
            h, p = kruskal(*groups)
            n = sum(len(g) for g in groups)
            row.update(test="Kruskal-Wallis", statistic=float(h), p_value=float(p), effect="epsilon^2",
                       effect_size=min(1.0, float(h) / (n - 1)), note="")
            kruskal_features.append(feature)
        row["ranked"] = feature not in LENGTH_FEATURES and row["test"] != "none"
        rows.append(row)
    comparison = pd.DataFrame(rows)
    if "delta" not in comparison.columns:
        comparison["delta"] = float("nan")
    comparison["p_holm"] = holm(comparison["p_value"].tolist())
    columns = ["feature", "test", "statistic", "p_value", "p_holm", "effect", "effect_size", "delta", "highest", "note"]
    extra = [f"{kind} {label}" for kind in ("mean", "median", "typical") for label in labels]
    comparison = comparison[columns + extra + ["ranked"]]
    return comparison, _pairwise(by_label, labels, kruskal_features)


def rank_features(comparison):
    """The ranked features: largest effect size first (ties: smaller p-value), with ``rank`` 1..n."""
    ranking = comparison[comparison["ranked"]].sort_values(["effect_size", "p_value"], ascending=[False, True])
    ranking = ranking.drop(columns=["ranked"]).reset_index(drop=True)
    ranking.insert(0, "rank", range(1, len(ranking) + 1))
    return ranking


def _design_matrix(frame, features: list[str]):
    """Numbers for a classifier: keys one-hot (12 columns), other features as they are (NaN kept)."""
    import numpy as np

    columns = []
    for feature in features:
        values = frame[feature].to_numpy(dtype=float)
        if feature == "key":
            columns += [np.where(np.isnan(values), np.nan, (values.round() == k).astype(float)) for k in range(12)]
        else:
            columns.append(values)
    return np.column_stack(columns)


def separability(data: LabelledData, ranking, *, folds: int = CV_FOLDS) -> Separability | None:
    """Cross-validated accuracy of a logistic regression on the standardised ranked features.

    Stratified ``folds``-fold cross-validation (fewer folds when a label has fewer tracks),
    shuffled with seed 0; missing values are replaced by the training folds' median; keys are
    one-hot (12 columns: a pitch class has no order). Also scores the two best-ranked features
    alone. Runs on one BLAS thread (about 0.7 s for 2,300 tracks x 71 features x 23 labels).

    Returns
    -------
    Separability or None
        None when no feature is ranked.
    """
    import numpy as np
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = [f for f in data.features if f in set(ranking["feature"])]
    if not features:
        return None
    y = data.frame["label"].to_numpy()
    smallest = int(data.frame["label"].value_counts().min())
    splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=0)

    # extreme values (a tempo of 1e300) would overflow the scaler: they count as missing here
    frame = rep.without_extremes(data.frame, [f for f in features if f not in NOMINAL_FEATURES])

    def score(chosen: list[str]) -> np.ndarray:
        x = _design_matrix(frame, chosen)
        x = x[:, ~np.all(np.isnan(x), axis=0)]
        model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                              LogisticRegression(max_iter=2000))  # fmt: skip
        return cross_val_score(model, x, y, cv=splitter)

    # One BLAS thread: these fits are small, and threads fighting over 2 shared cores made them 10x slower.
    with threadpool_limits(limits=1):
        scores = score(features)
        top = [f for f in ranking["feature"] if f in features][:2]
        top_scores = score(top) if len(features) > 2 else np.array([np.nan])
    return Separability(
        accuracy=float(scores.mean()), spread=float(scores.std()), folds=[float(s) for s in scores], features=features,
        chance=float(data.frame["label"].value_counts(normalize=True).max()), top=top,
        top_accuracy=float(top_scores.mean()), rows=len(y),
    )  # fmt: skip


#: The summary names a feature only when its Holm-corrected p-value is below this.
SIGNIFICANT = 0.05

#: Effect sizes below these are negligible and never named in the summary (Romano et al. 2006 for
#: Cliff's delta; Cohen's small effects for epsilon squared and Cramer's V).
SMALL_EFFECT = {"Cliff's delta": 0.147, "epsilon^2": 0.01, "Cramer's V": 0.1}


def _verdict(sep: Separability) -> str:
    above = (sep.accuracy - sep.chance) / max(1e-9, 1 - sep.chance)  # 0 = chance, 1 = perfect
    if above >= 0.9:
        return "almost perfectly separable"
    if above >= 0.6:
        return "clearly separable"
    if above >= 0.3:
        return "partly separable"
    return "hardly separable"


def _difference(row, labels: list[str]) -> str:
    """One feature's difference in words and units: who is higher, the medians, the gap, the effect size."""
    feature = row["feature"]
    size = f"{row['effect']} {row['effect_size']:.2f}".replace("epsilon^2", "ε²").replace("Cliff's delta", "|Cliff's δ|")
    if feature in NOMINAL_FEATURES:
        common = ", ".join(f"{label} {row[f'typical {label}']}" for label in labels)
        return f"{feature}: different categories (most common: {common}; {size})"
    medians = {label: row[f"median {label}"] for label in labels}
    if len(labels) == 2:
        a, b = labels
        hi, lo = (a, b) if row["delta"] > 0 else (b, a)
        gap = medians[hi] - medians[lo]
        gap_text = f", {format_value(feature, gap)} more" if gap > 0 else ", the same median"
        return (f"{feature}: higher in {hi} (median {format_value(feature, medians[hi])} vs "
                f"{format_value(feature, medians[lo])} in {lo}{gap_text}; {size})")  # fmt: skip
    order = sorted(labels, key=lambda label: medians[label])
    return (f"{feature}: highest in {order[-1]} (median {format_value(feature, medians[order[-1]])}), lowest in "
            f"{order[0]} ({format_value(feature, medians[order[0]])}; {size})")  # fmt: skip


def answer(labels: list[str], ranking, sep: Separability | None, warnings: list[DataWarning]) -> list[str]:
    """The plain-language summary: how separable the labels are, and the features that matter most.

    Returns
    -------
    list of str
        Plain-text lines; lines starting with ``"- "`` are the items of a list (the features that
        differ most). The report and the terminal show the same lines.
    """
    names = " and ".join(labels) if len(labels) == 2 else f"The {len(labels)} labels ({', '.join(labels)})"
    lines = []
    if sep is None:
        lines.append(f"No feature could be compared for {names}.")
    else:
        lines.append(
            f"{names[0].upper() + names[1:]} are {_verdict(sep)}: a logistic regression on {len(sep.features)} features "
            f"labels {sep.accuracy:.1%} of the {sep.rows:,} tracks correctly (± {sep.spread:.1%} across "
            f"{len(sep.folds)} cross-validation folds; always guessing the largest label: {sep.chance:.1%})."
        )  # fmt: skip
    strong = [r for _, r in ranking.iterrows()
              if r["effect_size"] >= SMALL_EFFECT.get(r["effect"], 0.0) and r["p_holm"] < SIGNIFICANT][:3]  # fmt: skip
    if strong:
        lines.append("What differs most:")
        lines += [f"- {_difference(r, labels)}" for r in strong]
        if sep is not None and sep.top_accuracy == sep.top_accuracy:
            lines.append(f"The two strongest, {' and '.join(sep.top)}, alone: {sep.top_accuracy:.1%} correct.")
    elif len(ranking):
        lines.append(f"No feature differs clearly: every difference is negligible or could be chance (largest effect: "
                     f"{ranking.iloc[0]['feature']}).")  # fmt: skip
    if warnings:
        lines.append(f"Read with care: {len(warnings)} warning{'s' * (len(warnings) > 1)} about comparability below.")
    return lines


def summarise(data: LabelledData):
    """Per (label, feature): count, mean, std, min, q1, median, q3, max (NaN ignored)."""
    import pandas as pd

    grouped = data.frame.groupby("label", sort=False)[data.features]
    stats = {
        "count": grouped.count(), "mean": grouped.mean(), "std": grouped.std(), "min": grouped.min(),
        "q1": grouped.quantile(0.25), "median": grouped.median(), "q3": grouped.quantile(0.75), "max": grouped.max(),
    }  # fmt: skip
    summary = pd.concat({name: table.stack(future_stack=True) for name, table in stats.items()}, axis=1)
    summary.index.names = ["label", "feature"]
    summary["count"] = summary["count"].astype(int)
    return summary.reindex(pd.MultiIndex.from_product([data.labels, data.features], names=["label", "feature"]))


def count_rows(data: LabelledData):
    """Per label: rows, unique track ids (when there is a ``track_id`` column), source files and feature sources."""
    import pandas as pd

    rows = []
    mix = _source_mix(data.frame) if "features_source" in data.frame.columns else {}
    for label, group in data.frame.groupby("label", sort=False):
        ids = group["track_id"].astype(str).str.strip() if "track_id" in group.columns else None
        unique = int(ids[ids != ""].nunique()) if ids is not None else len(group)
        rows.append({"label": label, "rows": len(group), "unique_tracks": unique,
                     "duplicates": len(group) - unique if ids is not None else 0,
                     "files": ", ".join(Path(s).name for s in dict.fromkeys(group["source"])),
                     "features_source": _mix_text(mix[label]) if label in mix else ""})
    return pd.DataFrame(rows)


def missing_table(data: LabelledData):
    """Per feature: missing and non-numeric values for each label and in total."""
    q = data.quality
    wide = q.pivot(index="feature", columns="label", values=["missing", "non_numeric"])
    wide = wide.reindex(index=data.features)
    wide.columns = [f"{kind} {label}" for kind, label in wide.columns]
    ordered = [f"{kind} {label}" for kind in ("missing", "non_numeric") for label in data.labels]
    wide = wide[ordered]
    wide.insert(0, "non_numeric", wide[[f"non_numeric {label}" for label in data.labels]].sum(axis=1))
    wide.insert(0, "missing", wide[[f"missing {label}" for label in data.labels]].sum(axis=1))
    return wide.reset_index()


def octave_flags(data: LabelledData, *, tolerance: float = OCTAVE_TOLERANCE):
    """Tracks whose tempo is within ``tolerance`` of half or double their label's median tempo."""
    import pandas as pd

    columns = ["label", "track_name", "artist_name", "track_id", "tempo", "label_median", "ratio", "looks_like"]
    if "tempo" not in data.features:
        return pd.DataFrame(columns=columns)
    frame = data.frame
    medians = frame.groupby("label", sort=False)["tempo"].transform("median")
    ratio = frame["tempo"] / medians
    half = (ratio - 0.5).abs() <= 0.5 * tolerance
    double = (ratio - 2.0).abs() <= 2.0 * tolerance
    flagged = frame[half | double]
    out = pd.DataFrame({c: flagged[c] if c in flagged.columns else "" for c in columns[:4]})
    out["tempo"] = flagged["tempo"]
    out["label_median"] = medians[flagged.index]
    out["ratio"] = ratio[flagged.index].round(3)
    out["looks_like"] = ["half tempo" if r < 1 else "double tempo" for r in ratio[flagged.index]]
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------------------ the report


def run_report(
    inputs: Iterable[str | os.PathLike], *, out_dir: str | os.PathLike = "eda-report", progress: bool = False,
    figures: bool = True, label_column: str = "label", features_source: str | None = None,
) -> EdaResult:
    """Compare the labelled CSVs and write the report folder.

    Parameters
    ----------
    inputs : iterable of str or path-like
        CSV files and/or folders of CSVs, two or more labels in all.
    out_dir : str or path-like
        Folder for ``report.html``, the figures (SVG) and the tables (CSV); created if needed,
        files of an earlier report are replaced.
    progress : bool
        Show a tqdm bar on stderr while the figures render.
    figures : bool
        Render the figures (the slow part). Without them the report has the tables only.
    label_column : str
        See :func:`read_labelled_csvs`.
    features_source : str, optional
        Which rows to compare when the labels' ``features_source`` mixes differ; see
        :func:`choose_feature_source`.

    Returns
    -------
    EdaResult

    Raises
    ------
    SpotidanceError
        For unusable input (see :func:`read_labelled_csvs`) or an unwritable ``out_dir``;
        nothing is written then.
    """

    data = read_labelled_csvs(inputs, label_column=label_column)
    data, warned = choose_feature_source(data, features_source=features_source)
    warned += scale_mismatches(data) + missing_for_a_label(data)
    reasons = {"scale": "not comparable: different scales across inputs", "missing": "no values for a whole label"}
    excluded = {w.feature: reasons[w.kind] for w in warned if w.feature}
    comparison, pairwise = compare_features(data, excluded=excluded)
    ranking = rank_features(comparison)
    sep = separability(data, ranking)
    tables = {
        "counts": count_rows(data),
        "missing": missing_table(data),
        "summary": summarise(data),
        "comparison": comparison,
        "ranking": ranking,
        "pairwise": pairwise,
        "octave_flags": octave_flags(data),
    }
    lead = answer(data.labels, ranking, sep, warned)
    figs = rep.render_figures(data, ranking, progress=progress) if figures else {}
    html = rep.render_html(data, tables, figs, answer=lead, warnings=[w.message for w in warned], separability=sep)
    out = Path(out_dir)
    files = rep.write_report(out, tables=tables, figures=figs, html=html)
    return EdaResult(
        report=out / "report.html", out_dir=out, labels=data.labels, features=data.features, files=files,
        answer=lead, warnings=warned, separability=sep,
        **{name: tables[name] for name in ("counts", "missing", "summary", "comparison", "ranking", "pairwise", "octave_flags")},
    )  # fmt: skip


def format_ranking(result: EdaResult, *, top: int | None = None) -> str:
    """The summary, the warnings and the ranking "what separates these playlists" for the terminal.

    Parameters
    ----------
    result : EdaResult
    top : int, optional
        Show only the first ``top`` features.

    Returns
    -------
    str
    """
    import textwrap

    ranking = result.ranking if top is None else result.ranking.head(top)
    shown = result.labels if len(result.labels) <= MAX_TERMINAL_MEANS else []
    rows = [
        [int(r["rank"]), r["feature"], _effect_name(r["effect"]), f"{r['effect_size']:.2f}", _p_text(r["p_holm"]),
         r["highest"] or "-", *[r[f"typical {label}"] for label in shown]]
        for _, r in ranking.iterrows()
    ]  # fmt: skip
    lines = [textwrap.fill(line, width=100, subsequent_indent="    " if line.startswith("- ") else "  ")
             for line in result.answer]  # fmt: skip
    lines += [textwrap.fill(f"warning: {w.message}", width=100, subsequent_indent="  ") for w in result.warnings]
    lines += ["", "What separates these playlists (largest effect first; typical = median, or most common category):",
              format_table(rows, headers=["rank", "feature", "effect", "size", "p (Holm)", "higher in",
                                          *[f"typical {label}" for label in shown]])]  # fmt: skip
    unranked = result.comparison[~result.comparison["ranked"]]
    for _, r in unranked.iterrows():
        why = "track length, not sound" if r["feature"] in LENGTH_FEATURES else r["note"]
        lines.append(f"not ranked: {r['feature']} ({why})")
    if len(result.octave_flags):
        lines.append(f"tempo: {len(result.octave_flags)} tracks look like octave errors (half or double tempo); see the report")
    lines.append(f"report: {result.report}")
    return "\n".join(lines)


def _effect_name(effect: str) -> str:
    return {"Cliff's delta": "|Cliff's d|", "epsilon^2": "epsilon^2"}.get(effect, effect)


def _p_text(p: float) -> str:
    if p != p:
        return "-"
    return "<1e-300" if p < 1e-300 else f"{p:.2g}"
