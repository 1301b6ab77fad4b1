"""``spotidance eda``: what separates labelled playlists, as tables, statistics and a report.

Reads playlist CSVs (``collect``/``synth`` output, or the historical layout of Spotify exports:
an unnamed index column, a repeated ``track_id`` column, year-only dates, ``track_pop``), one
label per CSV (its ``label`` column, else its file name), and compares every numeric audio
feature across the labels:

* counts per label, missing and non-numeric values per feature (counted, never fatal);
* a summary per label and feature (mean, median, standard deviation, quartiles);
* a test per feature: Mann-Whitney U for two labels (effect size: Cliff's delta, which equals the
  rank-biserial correlation), Kruskal-Wallis for more (effect size: epsilon squared) with pairwise
  Mann-Whitney tests Holm-corrected per feature; ``key`` is a pitch class (nominal), so it gets a
  chi-square test of independence with Cramer's V instead;
* the ranking "what separates these playlists": features by effect size, largest first;
* tempos about half or double their label's median, flagged as likely octave errors.

:func:`run_report` writes all of it to a folder (``report.html`` with embedded figures, the figures
as PNG, the tables as CSV; see :mod:`spotidance.eda.report`). Everything is computed and rendered in
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
from spotidance.core.schema import AUDIO_FEATURES, COLUMN_ALIASES
from spotidance.core.tables import format_table
from spotidance.eda import report as rep
from spotidance.eda import (
    EXTRA_AUDIO_FEATURES,
    LENGTH_FEATURES,
    MAX_TERMINAL_MEANS,
    NOMINAL_FEATURES,
    NOT_FEATURES,
    OCTAVE_TOLERANCE,
)

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


# --------------------------------------------------------------------------------------- reading


def _csv_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file() and not p.name.startswith("."))
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
    """One CSV as text columns, in the historical layout or ours."""
    import pandas as pd

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


def compare_features(data: LabelledData):
    """The test and effect size per feature, and pairwise tests for more than two labels.

    Returns
    -------
    (comparison, pairwise) : tuple of DataFrame
        See :class:`EdaResult`.
    """
    import pandas as pd
    from scipy.stats import kruskal

    frame, labels = data.frame, data.labels
    by_label = {label: frame[frame["label"] == label] for label in labels}
    rows, kruskal_features = [], []
    for feature in data.features:
        groups = [by_label[label][feature].dropna() for label in labels]
        row = {"feature": feature}
        row.update({f"mean {label}": float(g.mean()) if len(g) else float("nan") for label, g in zip(labels, groups)})
        medians = [g.median() if len(g) else float("-inf") for g in groups]
        row["highest"] = labels[max(range(len(labels)), key=lambda i: medians[i])]
        usable = all(len(g) >= 2 for g in groups)
        constant = usable and pd.concat(groups).nunique() < 2
        if not usable or constant:
            row.update(test="none", statistic=float("nan"), p_value=float("nan"), effect="", effect_size=float("nan"),
                       note="fewer than two values in a label" if not usable else "the same value everywhere")
        elif feature in NOMINAL_FEATURES:
            test, stat, p, effect, size = _nominal_test(groups)
            row.update(test=test, statistic=stat, p_value=p, effect=effect, effect_size=size, highest="",
                       note="nominal (pitch class): compares the key distributions")
        elif len(labels) == 2:
            u, p, delta = cliffs_delta(groups[0], groups[1])
            row.update(test="Mann-Whitney U", statistic=u, p_value=p, effect="Cliff's delta", effect_size=abs(delta),
                       note=f"{labels[0]} {'>' if delta > 0 else '<'} {labels[1]} (delta {delta:+.3f})")
        else:
            h, p = kruskal(*groups)
            n = sum(len(g) for g in groups)
            row.update(test="Kruskal-Wallis", statistic=float(h), p_value=float(p), effect="epsilon^2",
                       effect_size=min(1.0, float(h) / (n - 1)), note="")
            kruskal_features.append(feature)
        row["ranked"] = feature not in LENGTH_FEATURES and row["test"] != "none"
        rows.append(row)
    comparison = pd.DataFrame(rows)
    comparison["p_holm"] = holm(comparison["p_value"].tolist())
    columns = ["feature", "test", "statistic", "p_value", "p_holm", "effect", "effect_size", "highest", "note"]
    comparison = comparison[columns + [c for c in comparison.columns if c.startswith("mean ")] + ["ranked"]]
    return comparison, _pairwise(by_label, labels, kruskal_features)


def rank_features(comparison):
    """The ranked features: largest effect size first (ties: smaller p-value), with ``rank`` 1..n."""
    ranking = comparison[comparison["ranked"]].sort_values(["effect_size", "p_value"], ascending=[False, True])
    ranking = ranking.drop(columns=["ranked"]).reset_index(drop=True)
    ranking.insert(0, "rank", range(1, len(ranking) + 1))
    return ranking


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
    """Per label: rows, unique track ids (when there is a ``track_id`` column) and source files."""
    import pandas as pd

    rows = []
    for label, group in data.frame.groupby("label", sort=False):
        ids = group["track_id"].astype(str).str.strip() if "track_id" in group.columns else None
        unique = int(ids[ids != ""].nunique()) if ids is not None else len(group)
        rows.append({"label": label, "rows": len(group), "unique_tracks": unique,
                     "duplicates": len(group) - unique if ids is not None else 0,
                     "files": ", ".join(Path(s).name for s in dict.fromkeys(group["source"]))})
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
    figures: bool = True, label_column: str = "label",
) -> EdaResult:
    """Compare the labelled CSVs and write the report folder.

    Parameters
    ----------
    inputs : iterable of str or path-like
        CSV files and/or folders of CSVs, two or more labels in all.
    out_dir : str or path-like
        Folder for ``report.html``, the figures (PNG) and the tables (CSV); created if needed,
        files of an earlier report are replaced.
    progress : bool
        Show a tqdm bar on stderr while the figures render.
    figures : bool
        Render the figures (the slow part). Without them the report has the tables only.
    label_column : str
        See :func:`read_labelled_csvs`.

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
    comparison, pairwise = compare_features(data)
    tables = {
        "counts": count_rows(data),
        "missing": missing_table(data),
        "summary": summarise(data),
        "comparison": comparison,
        "ranking": rank_features(comparison),
        "pairwise": pairwise,
        "octave_flags": octave_flags(data),
    }
    pngs = rep.render_figures(data, tables["ranking"], progress=progress) if figures else {}
    html = rep.render_html(data, tables, pngs)
    out = Path(out_dir)
    files = rep.write_report(out, tables=tables, pngs=pngs, html=html)
    return EdaResult(
        report=out / "report.html", out_dir=out, labels=data.labels, features=data.features, files=files,
        **{name: tables[name] for name in ("counts", "missing", "summary", "comparison", "ranking", "pairwise", "octave_flags")},
    )  # fmt: skip


def format_ranking(result: EdaResult, *, top: int | None = None) -> str:
    """The ranking "what separates these playlists" as a terminal table (plus the report path).

    Parameters
    ----------
    result : EdaResult
    top : int, optional
        Show only the first ``top`` features.

    Returns
    -------
    str
    """
    ranking = result.ranking if top is None else result.ranking.head(top)
    means = [f"mean {label}" for label in result.labels] if len(result.labels) <= MAX_TERMINAL_MEANS else []
    rows = [
        [int(r["rank"]), r["feature"], r["effect"], round(float(r["effect_size"]), 3), _p_text(r["p_holm"]), r["highest"],
         *[float(r[m]) for m in means]]
        for _, r in ranking.iterrows()
    ]  # fmt: skip
    lines = ["What separates these playlists (largest effect first):",
             format_table(rows, headers=["rank", "feature", "effect size", "value", "p (Holm)", "highest", *means])]
    unranked = result.comparison[~result.comparison["ranked"]]
    for _, r in unranked.iterrows():
        why = "track length, not sound" if r["feature"] in LENGTH_FEATURES else r["note"]
        lines.append(f"not ranked: {r['feature']} ({why})")
    if len(result.octave_flags):
        lines.append(f"tempo: {len(result.octave_flags)} tracks look like octave errors (half or double tempo); see the report")
    lines.append(f"report: {result.report}")
    return "\n".join(lines)


def _p_text(p: float) -> str:
    if p != p:
        return "-"
    return "<1e-300" if p < 1e-300 else f"{p:.2g}"
