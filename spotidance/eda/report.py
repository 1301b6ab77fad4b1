"""Figures and the self-contained HTML page of ``spotidance eda`` (see :mod:`spotidance.eda.run`).

Figures are drawn with seaborn on plain :class:`matplotlib.figure.Figure` objects rendered by the
Agg canvas: no pyplot state, no GUI backend, nothing global changed in the caller's matplotlib.
They are rendered to PNG bytes in memory; :func:`write_report` then writes the PNGs and the CSV
tables and, last, ``report.html`` with every figure embedded as a ``data:image/png;base64`` URI,
so the page opens anywhere (a mail attachment) without the PNG files beside it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

from spotidance import __version__
from spotidance.core.atomic import write_atomic
from spotidance.core.errors import SpotidanceError
from spotidance.core.progress import bar as progress_bar
from spotidance.eda import HEADLINE_FEATURES, LENGTH_FEATURES

#: Resolution of the PNG figures.
DPI = 100

#: The report's pairwise table is cut to the best-ranked features at about this many rows (the CSV has all).
PAIRWISE_HTML_ROWS = 300

#: Distribution figures and box plots are drawn for at most this many features (headline features
#: first, then the best-ranked ones); the tables always cover every feature.
MAX_FEATURE_FIGURES = 30

#: The box-plot figure holds at most about this many boxes (features x labels; at least 4 features).
MAX_BOXES = 240

#: With more labels than this, distributions are density curves only with the legend outside.
MANY_LABELS = 6

#: Most distinct integer values a feature may have to be drawn as bars (key, mode, time signature).
DISCRETE_MAX_VALUES = 13

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
figure{margin:.6rem 0}figcaption{font-size:.85rem;color:#555}.big img{width:100%;max-width:1000px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:.6rem}.grid img{width:100%}
.note{color:#555;font-size:.9rem}
"""


def _figure(width: float, height: float, *, ncols: int = 1, nrows: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _is_discrete(values) -> bool:
    values = values.dropna()
    return len(values) > 0 and bool((values == values.round()).all()) and values.nunique() <= DISCRETE_MAX_VALUES


def _distribution(frame, feature: str, *, palette: dict, big: bool) -> bytes:
    import seaborn as sns

    many = len(palette) > MANY_LABELS
    width, height = (10, 4.6) if big else (5.2, 3.3)
    fig, axes = _figure(width + 2.5 * many, height)
    ax = axes[0, 0]
    subset = frame[["label", feature]].dropna()
    common = dict(data=subset, x=feature, hue="label", hue_order=list(palette), palette=palette, ax=ax, common_norm=False)
    if _is_discrete(subset[feature]):
        sns.histplot(**common, discrete=True, stat="probability", multiple="dodge", shrink=0.8)
    else:
        # The view spans the 0.5th-99.5th percentiles (padded): a few far outliers (octave errors)
        # would otherwise squeeze the bulk into two bins.
        lo, hi = subset[feature].quantile([0.005, 0.995])
        pad = 0.05 * (hi - lo) or 1.0
        if many:  # overlaid histograms of many labels are unreadable: density curves only
            sns.kdeplot(**common, warn_singular=False)
        else:
            sns.histplot(**common, kde=True, stat="density", element="step", alpha=0.25, bins=40 if big else 25,
                         binrange=(lo - pad, hi + pad))  # fmt: skip
        ax.set_xlim(lo - pad, hi + pad)
    if many and ax.get_legend() is not None:
        sns.move_legend(ax, "center left", bbox_to_anchor=(1.01, 0.5), fontsize=6, title_fontsize=7,
                        ncol=2 if len(palette) > 12 else 1, frameon=False)  # fmt: skip
    ax.set_title(f"{feature}: distribution per label", fontsize=13 if big else 10)
    return _png(fig)


def _boxplots(frame, features: list[str], *, palette: dict) -> bytes:
    """Box plots per feature and label, drawn with matplotlib's ``boxplot`` directly.

    seaborn's ``boxplot`` with one hue level per label builds a separate artist set per level and
    took 20 s for 30 features x 23 labels; matplotlib draws the same in about a second.
    """
    import numpy as np

    labels = list(palette)
    ncols = min(4, len(features))
    nrows = -(-len(features) // ncols)
    fig, axes = _figure(3.2 * ncols, 2.8 * nrows, ncols=ncols, nrows=nrows)
    grouped = {label: rows for label, rows in frame.groupby("label", sort=False)}
    for ax, feature in zip(axes.flat, features):
        values = [grouped[label][feature].dropna().to_numpy() if label in grouped else np.array([]) for label in labels]
        boxes = ax.boxplot([v if len(v) else np.array([np.nan]) for v in values], tick_labels=labels, patch_artist=True,
                           widths=0.6, flierprops={"markersize": 1.5, "alpha": 0.5},
                           medianprops={"color": "black"})  # fmt: skip
        for patch, label in zip(boxes["boxes"], labels):
            patch.set_facecolor(palette[label])
        ax.set_title(feature, fontsize=10)
        if len(palette) > MANY_LABELS:
            ax.tick_params(axis="x", labelrotation=90, labelsize=6)
        else:
            ax.tick_params(axis="x", labelrotation=20 if len(palette) > 3 else 0)
    for ax in list(axes.flat)[len(features):]:
        ax.set_visible(False)
    return _png(fig)


def _correlation(frame, features: list[str]) -> bytes:
    import seaborn as sns

    corr = frame[features].corr(method="spearman")
    size = min(16.0, max(5.0, 0.55 * len(features) + 2.5))
    fig, axes = _figure(size + 1.2, size)
    sns.heatmap(corr, vmin=-1, vmax=1, center=0, cmap="vlag", square=True, annot=len(features) <= 16, fmt=".2f",
                annot_kws={"fontsize": 7}, ax=axes[0, 0], cbar_kws={"shrink": 0.7})  # fmt: skip
    axes[0, 0].set_title("Spearman correlation between features (all labels)", fontsize=11)
    return _png(fig)


def _ranking_bars(ranking) -> bytes:
    import seaborn as sns

    fig, axes = _figure(8, 0.35 * len(ranking) + 1.4)
    sns.barplot(data=ranking, y="feature", x="effect_size", color="#4878a8", ax=axes[0, 0], orient="h")
    axes[0, 0].set_xlabel(f"effect size ({', '.join(dict.fromkeys(ranking['effect']))})")
    axes[0, 0].set_ylabel("")
    axes[0, 0].set_xlim(0, 1)
    axes[0, 0].set_title("What separates these playlists" + (f" (best {len(ranking)})" if len(ranking) == MAX_FEATURE_FIGURES else ""), fontsize=11)
    return _png(fig)


def figure_file(feature: str) -> str:
    """The PNG file name of a feature's distribution: ``dist_<feature>.png``.

    A name with characters unsafe in file names (``/``, spaces, ...) has them replaced by ``_``
    plus a short hash of the original, so two such features never share a file.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", feature).strip("._") or "feature"
    if safe != feature:
        safe += "-" + hashlib.sha1(feature.encode("utf-8")).hexdigest()[:6]
    return f"dist_{safe}.png"


def figure_plan(features: list[str], ranking) -> list[tuple[str, str, str | None]]:
    """The figures to draw, in report order: ``(file name, kind, feature)``; headline features first."""

    headline = [f for f in HEADLINE_FEATURES if f in features]
    plan: list[tuple[str, str, str | None]] = [("ranking.png", "ranking", None)] if len(ranking) else []
    plan += [(figure_file(f), "headline", f) for f in headline]
    plan += [(figure_file(f), "dist", f) for f in features if f not in headline]
    if features:
        plan += [("boxplots.png", "boxplots", None)]
    if len(features) >= 2:
        plan += [("correlation.png", "correlation", None)]
    return plan


def render_figures(data, ranking, *, progress: bool = False) -> dict[str, bytes]:
    """Every figure as PNG bytes, keyed by file name, in report order.

    Parameters
    ----------
    data : spotidance.eda.run.LabelledData
    ranking : DataFrame
        From :func:`spotidance.eda.run.rank_features`.
    progress : bool
        Show a tqdm bar on stderr.
    """
    import matplotlib
    import seaborn as sns

    matplotlib.rcParams["figure.max_open_warning"] = 0
    # colour-blind safe palette up to its 10 colours; more labels need distinct hues instead
    colours = sns.color_palette("colorblind" if len(data.labels) <= 10 else "husl", len(data.labels))
    palette = dict(zip(data.labels, colours))
    frame, features = data.frame, data.features
    drawable = [f for f in features if frame[f].notna().sum() >= 2 and frame[f].nunique() >= 2]
    shown = figure_features(drawable, ranking)
    pngs: dict[str, bytes] = {}
    with warnings.catch_warnings():
        # seaborn 0.13 calls matplotlib APIs that matplotlib 3.11 deprecates: not the user's concern
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        plan = list(figure_plan(shown, ranking))
        with progress_bar(enabled=progress, total=len(plan), desc="figures", unit="fig") as bar:
            for name, kind, feature in plan:
                pngs[name] = _draw(kind, feature, frame, shown, drawable, ranking, palette)
                bar.update(1)
    return pngs


def figure_features(drawable: list[str], ranking, *, limit: int = MAX_FEATURE_FIGURES) -> list[str]:
    """The features that get a distribution figure (or a box plot), in feature order.

    All of them up to ``limit``; beyond that the headline features and the best-ranked ones.
    """

    if len(drawable) <= limit:
        return list(drawable)
    chosen = [f for f in HEADLINE_FEATURES if f in drawable][:limit]
    for feature in ranking["feature"]:
        if len(chosen) >= limit:
            break
        if feature in drawable and feature not in chosen:
            chosen.append(feature)
    return [f for f in drawable if f in chosen]


def _draw(kind: str, feature: str | None, frame, shown: list[str], drawable: list[str], ranking, palette: dict) -> bytes:
    if kind == "ranking":
        return _ranking_bars(ranking.head(MAX_FEATURE_FIGURES))
    if kind in ("headline", "dist"):
        return _distribution(frame, feature, palette=palette, big=kind == "headline")
    if kind == "boxplots":
        continuous = [f for f in shown if not _is_discrete(frame[f])] or shown
        limit = max(4, MAX_BOXES // len(palette))
        return _boxplots(frame, figure_features(continuous, ranking, limit=limit), palette=palette)
    return _correlation(frame, drawable)


# ------------------------------------------------------------------------------------------ HTML


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return ""
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _table(frame, *, index: bool = False) -> str:
    return frame.to_html(index=index, border=0, na_rep="", float_format=_fmt, escape=True)


def _img(name: str, png: bytes, caption: str, *, big: bool = False) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="{"big" if big else ""}"><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} ({html.escape(name)})</figcaption></figure>")  # fmt: skip


def _pairwise_shown(pairwise, ranking):
    """The pairwise rows of the best-ranked features, at most :data:`PAIRWISE_HTML_ROWS` rows."""
    per_feature = pairwise.groupby("feature", sort=False).size()
    keep, total = [], 0
    for feature in [f for f in ranking["feature"] if f in per_feature.index]:
        if keep and total + per_feature[feature] > PAIRWISE_HTML_ROWS:
            break
        keep.append(feature)
        total += per_feature[feature]
    return pairwise[pairwise["feature"].isin(keep)]


def render_html(data, tables: dict, pngs: dict[str, bytes]) -> str:
    """The report page as one self-contained HTML string.

    Parameters
    ----------
    data : spotidance.eda.run.LabelledData
    tables : dict of DataFrame
        ``counts``, ``missing``, ``summary``, ``comparison``, ``ranking``, ``pairwise``, ``octave_flags``.
    pngs : dict of bytes
        From :func:`render_figures` (may be empty).
    """

    e = html.escape
    labels = ", ".join(e(label) for label in data.labels)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    two = len(data.labels) == 2
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>spotidance eda: {labels}</title><style>{_CSS}</style></head><body>",
        f"<h1>What separates these playlists: {labels}</h1>",
        f'<p class="note">spotidance {e(__version__)}, {when}. Inputs: {", ".join(e(Path(s).name) for s in data.sources)}. '
        f"{len(data.frame)} tracks, {len(data.features)} numeric features.</p>",
        "<h2>Ranking</h2>",
        "<p>Features ordered by effect size, largest first. "
        + ("Mann-Whitney U test; effect size |Cliff's delta| (= rank-biserial correlation): 0 means the two "
           "distributions overlap completely, 1 that every track of one label lies above every track of the other."
           if two else
           "Kruskal-Wallis test; effect size epsilon<sup>2</sup> = H/(n-1): the share of the rank variance explained "
           "by the label. Pairwise Mann-Whitney tests below.")
        + " <code>key</code> is a pitch class (no order): chi-square test, Cramer's V. p (Holm): p-values corrected "
          "across features with Holm's method.</p>",
        _table(tables["ranking"]),
    ]  # fmt: skip
    unranked = tables["comparison"][~tables["comparison"]["ranked"]]
    if len(unranked):
        parts.append("<p class=\"note\">Compared but not ranked: "
                     + "; ".join(f"<code>{e(r.feature)}</code> ({'the whole track length, not a property of the sound' if r.feature in LENGTH_FEATURES else e(r.note)})"
                                 for r in unranked.itertuples()) + ".</p>")  # fmt: skip
        parts.append(_table(unranked.drop(columns=["ranked"])))
    if "ranking.png" in pngs:
        parts.append(_img("ranking.png", pngs["ranking.png"], "Effect size per feature"))
    parts += ["<h2>Tracks per label</h2>", _table(tables["counts"]),
              "<h2>Missing and non-numeric values per feature</h2>",
              '<p class="note">Empty cells count as missing; text that is not a number counts as non-numeric. '
              "Both are left out of the statistics.</p>", _table(tables["missing"])]  # fmt: skip
    dists = [(f, figure_file(f)) for f in data.features if figure_file(f) in pngs]
    if dists:
        parts.append("<h2>Distributions per label</h2>")
        if len(dists) < len(data.features):
            parts.append(f'<p class="note">Drawn for {len(dists)} of the {len(data.features)} features (the best-separating '
                         "ones; features constant everywhere are not drawn); the tables cover all.</p>")
    
        parts += [_img(n, pngs[n], f"{f} per label", big=True) for f in HEADLINE_FEATURES for g, n in dists if g == f]
        parts.append('<div class="grid">' + "".join(_img(n, pngs[n], f"{f} per label") for f, n in dists if f not in HEADLINE_FEATURES)
                     + "</div>")  # fmt: skip
    if "boxplots.png" in pngs:
        parts += ["<h2>Box plots</h2>", _img("boxplots.png", pngs["boxplots.png"], "Box plots per feature and label", big=True)]
    if "correlation.png" in pngs:
        parts += ["<h2>Correlations</h2>", _img("correlation.png", pngs["correlation.png"], "Spearman correlation heatmap")]
    parts += ["<h2>Summary per label</h2>", _table(tables["summary"].reset_index())]
    pairwise = tables["pairwise"]
    if len(pairwise):
        shown = _pairwise_shown(pairwise, tables["ranking"])
        more = (f" Shown for the {shown['feature'].nunique()} best-separating features; all {len(pairwise)} rows are in "
                "pairwise.csv." if len(shown) < len(pairwise) else "")
        parts += ["<h2>Pairwise comparisons</h2>",
                  "<p class=\"note\">Mann-Whitney U per pair of labels; p-values Holm-corrected within each feature; "
                  f"Cliff's delta positive when label_a tends to be larger.{more}</p>", _table(shown)]  # fmt: skip
    flags = tables["octave_flags"]
    parts.append("<h2>Tempo octave errors</h2>")
    if len(flags):
        parts += [f"<p>{len(flags)} tracks have a tempo about half or double their label's median: beat trackers "
                  "often report half or double tempo (common for drum and bass). Check them before trusting tempo.</p>",
                  _table(flags)]  # fmt: skip
    else:
        parts.append("<p>No tempo is about half or double its label's median.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------- writing


def write_report(out_dir: Path, *, tables: dict, pngs: dict[str, bytes], html: str) -> list[Path]:
    """Write the PNGs, the tables as CSV and, last, ``report.html``, each replaced atomically.

    Returns
    -------
    list of Path
        The files written, ``report.html`` last.

    Raises
    ------
    SpotidanceError
        If ``out_dir`` cannot be created or written.
    """
    written: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, png in pngs.items():
            write_atomic(out_dir / name, png)
            written.append(out_dir / name)
        for name, table in tables.items():
            index = name == "summary"
            write_atomic(out_dir / f"{name}.csv", table.to_csv(index=index).encode("utf-8"))
            written.append(out_dir / f"{name}.csv")
        write_atomic(out_dir / "report.html", html.encode("utf-8"))
        written.append(out_dir / "report.html")
    except OSError as exc:
        raise SpotidanceError(f"cannot write the report to {out_dir}: {exc.strerror or exc}; choose another --out") from None
    return written
