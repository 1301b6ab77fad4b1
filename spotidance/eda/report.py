"""Figures and the self-contained HTML page of ``spotidance eda`` (see :mod:`spotidance.eda.run`).

Figures are drawn with seaborn and matplotlib on plain :class:`matplotlib.figure.Figure` objects:
no pyplot state, no GUI backend, nothing global changed in the caller's matplotlib. They are
rendered to SVG in memory (sharp at any size and zoom; text stays text, dense point clouds are
rasterised inside the SVG at 2x); :func:`write_report` then writes the SVGs and the CSV tables
and, last, ``report.html`` with every figure embedded as a ``data:image/svg+xml;base64`` URI, so
the page opens anywhere (a mail attachment) without the files beside it.

The page leads with the answer (the summary of :func:`spotidance.eda.run.answer`), then the
warnings, then the details. It has a viewport tag, tables that scroll inside their own box on
small screens and figures that scale, so it reads on a phone (390 px) and a desktop alike.
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
from spotidance.eda import (
    DISPLAY,
    HEADLINE_FEATURES,
    LENGTH_FEATURES,
    NOMINAL_FEATURES,
    NOTE_NAMES,
    camelot,
    category_name,
    feature_title,
    format_value,
)

#: Resolution of the parts rasterised inside the SVG figures (dense scatter plots): 2x screen.
DPI = 200

#: Scatter plots with more points than this are rasterised inside the SVG (keeps the file small).
RASTERISE_POINTS = 400

#: The report's pairwise table is cut to the best-ranked features at about this many rows (the CSV has all).
PAIRWISE_HTML_ROWS = 300

#: Distribution figures and box plots are drawn for at most this many features (headline features
#: first, then the best-ranked ones); the tables always cover every feature.
MAX_FEATURE_FIGURES = 30

#: The box-plot figure holds at most about this many boxes (features x labels; at least 4 features).
MAX_BOXES = 240

#: With more labels than this, distributions are density curves only with the legend outside.
MANY_LABELS = 6

#: Up to this many labels get a correlation heatmap each; more share one heatmap over all rows.
MAX_CORRELATION_PANELS = 4

#: Most distinct integer values a feature may have to be drawn as bars (key, mode, time signature).
DISCRETE_MAX_VALUES = 13

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;color:#222;
padding:.8rem 1rem 2rem;line-height:1.45}
h1{font-size:1.45rem;margin:.2rem 0 .6rem;line-height:1.25}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
p,li,figcaption{overflow-wrap:anywhere}
.answer{background:#eef4fa;border-left:4px solid #3b6ea5;padding:.5rem .9rem;margin:0 0 .8rem}
.answer p{margin:.35rem 0}.answer ul{margin:.2rem 0;padding-left:1.2rem}.answer li{margin:.15rem 0}.answer .lead{font-size:1.05rem}
.warn{background:#fff3e0;border-left:4px solid #d98200;padding:.45rem .9rem;margin:.4rem 0}
.scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block}
figure{margin:.6rem 0}figcaption{font-size:.85rem;color:#555}.big img{width:100%;max-width:900px}.mid img{width:100%;max-width:720px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(340px,100%),1fr));gap:.6rem}.grid img{width:100%}
.note{color:#555;font-size:.9rem}
"""


# ----------------------------------------------------------------------------------- figures


def _figure(width: float, height: float, *, ncols: int = 1, nrows: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _svg(fig) -> bytes:
    """The figure as SVG bytes: text kept as text, no date (the same data give the same bytes)."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "spotidance"}):
        fig.savefig(buffer, format="svg", dpi=DPI, metadata={"Date": None})
    return buffer.getvalue()


def _is_discrete(values) -> bool:
    values = values.dropna()
    return len(values) > 0 and bool((values == values.round()).all()) and values.nunique() <= DISCRETE_MAX_VALUES


def _shown(frame, feature: str):
    """The feature's values in the unit they are shown in (duration in minutes)."""
    return frame[feature] * DISPLAY.get(feature, ("", 1.0, 0))[1]


def _legend_above(ax, labels: list[str], palette: dict) -> None:
    """A legend above the axes, outside them: it never covers bars or curves."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=palette[label], label=label) for label in labels]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=min(len(labels), 4), frameon=False,
              fontsize=8, handlelength=1.2, borderaxespad=0)  # fmt: skip


def _categories(frame, feature: str, *, palette: dict, big: bool) -> bytes:
    """Bars of each category's share per label (key as note names, mode as minor/major)."""
    import numpy as np

    labels = list(palette)
    subset = frame[["label", feature]].dropna()
    values = subset[feature].round()
    categories = list(range(12)) if feature == "key" else sorted(values.unique())
    names = [category_name(feature, float(c)).split("/")[0] for c in categories]  # C♯/D♭ -> C♯: fits under a bar
    width, height = (7.5, 3.4) if big else (5.2, 3.4)
    fig, axes = _figure(width, height)
    ax = axes[0, 0]
    step = 0.8 / len(labels)
    for k, label in enumerate(labels):
        mine = values[subset["label"] == label]
        shares = mine.value_counts(normalize=True).reindex(categories, fill_value=0.0) if len(mine) else None
        if shares is not None:
            ax.bar(np.arange(len(categories)) - 0.4 + step * (k + 0.5), shares.to_numpy(), width=step,
                   color=palette[label], label=label)  # fmt: skip
    ax.set_xticks(np.arange(len(categories)), names, fontsize=8 if len(categories) > 8 else 9)
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.set_ylabel("share of the label's tracks")
    ax.set_xlabel(feature_title(feature))
    _legend_above(ax, labels, palette)
    return _svg(fig)


def _distribution(frame, feature: str, *, palette: dict, big: bool) -> bytes:
    import pandas as pd
    import seaborn as sns

    if feature in NOMINAL_FEATURES or _is_discrete(frame[feature]):
        return _categories(frame, feature, palette=palette, big=big)
    many = len(palette) > MANY_LABELS
    width, height = (7.5, 3.4) if big else (5.2, 3.4)
    fig, axes = _figure(width + 2.5 * many, height)
    ax = axes[0, 0]
    subset = pd.DataFrame({"label": frame["label"], "x": _shown(frame, feature)}).dropna()
    common = dict(data=subset, x="x", hue="label", hue_order=list(palette), palette=palette, ax=ax, common_norm=False,
                  legend=False)  # fmt: skip
    # The view spans the 0.5th-99.5th percentiles (padded): a few far outliers (octave errors)
    # would otherwise squeeze the bulk into two bins.
    lo, hi = subset["x"].quantile([0.005, 0.995])
    pad = 0.05 * (hi - lo) or 1.0
    if many:  # overlaid histograms of many labels are unreadable: density curves only
        sns.kdeplot(**common, warn_singular=False)
    else:
        sns.histplot(**common, kde=True, stat="density", element="step", alpha=0.25, bins=40 if big else 25,
                     binrange=(lo - pad, hi + pad))  # fmt: skip
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(feature_title(feature))
    if many:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(facecolor=c, label=lab) for lab, c in palette.items()], loc="center left",
                  bbox_to_anchor=(1.01, 0.5), fontsize=6, ncol=2 if len(palette) > 12 else 1, frameon=False)  # fmt: skip
    else:
        _legend_above(ax, list(palette), palette)
    return _svg(fig)


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
        values = [_shown(grouped[label], feature).dropna().to_numpy() if label in grouped else np.array([]) for label in labels]
        boxes = ax.boxplot([v if len(v) else np.array([np.nan]) for v in values], tick_labels=labels, patch_artist=True,
                           widths=0.6, flierprops={"markersize": 1.5, "alpha": 0.5, "rasterized": True},
                           medianprops={"color": "black"})  # fmt: skip
        for patch, label in zip(boxes["boxes"], labels):
            patch.set_facecolor(palette[label])
        ax.set_title(feature_title(feature), fontsize=10)
        if len(palette) > MANY_LABELS:
            ax.tick_params(axis="x", labelrotation=90, labelsize=6)
        else:
            ax.tick_params(axis="x", labelrotation=20 if len(palette) > 3 else 0)
    for ax in list(axes.flat)[len(features):]:
        ax.set_visible(False)
    return _svg(fig)


def _correlation(frame, features: list[str], labels: list[str]) -> bytes:
    """Spearman correlation heatmaps: one per label (up to :data:`MAX_CORRELATION_PANELS`), else one over all rows."""
    import seaborn as sns

    panels = labels if len(labels) <= MAX_CORRELATION_PANELS else [None]
    size = min(14.0, max(4.2, 0.45 * len(features) + 2.2))
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = _figure(size * ncols + 0.8, size * nrows, ncols=ncols, nrows=nrows)
    annotate = len(features) <= 14 and len(panels) <= 2
    for k, (ax, label) in enumerate(zip(axes.flat, panels)):
        rows = frame if label is None else frame[frame["label"] == label]
        corr = rows[features].corr(method="spearman")
        sns.heatmap(corr, vmin=-1, vmax=1, center=0, cmap="vlag", square=True, annot=annotate, fmt=".1f",
                    annot_kws={"fontsize": 6}, ax=ax, cbar=k == len(panels) - 1, cbar_kws={"shrink": 0.6})  # fmt: skip
        ax.set_title("all labels" if label is None else label, fontsize=11)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return _svg(fig)


def _projection(frame, features: list[str], palette: dict) -> bytes:
    """The tracks on the first two principal components of the standardised features, coloured by label."""
    import numpy as np

    x = frame[features].to_numpy(dtype=float)
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    points = x @ vt[:2].T
    explained = s**2 / max(1e-12, float((s**2).sum()))
    fig, axes = _figure(7.5, 5.2)
    ax = axes[0, 0]
    labels = frame["label"].to_numpy()
    for label, colour in palette.items():
        mine = points[labels == label]
        ax.scatter(mine[:, 0], mine[:, 1], s=7, alpha=0.55, color=colour, linewidths=0, label=label,
                   rasterized=len(points) > RASTERISE_POINTS)  # fmt: skip
    # each axis is named by its share of the variance and the two features that load most on it
    names = [", ".join(features[i] for i in np.argsort(-np.abs(vt[axis]))[:2]) for axis in range(min(2, len(vt)))]
    ax.set_xlabel(f"component 1 ({explained[0]:.0%} of the variance): mostly {names[0]}")
    if len(names) > 1:
        ax.set_ylabel(f"component 2 ({explained[1]:.0%}): mostly {names[1]}")
    _legend_above(ax, list(palette), palette)
    return _svg(fig)


def _ranking_bars(ranking) -> bytes:
    import numpy as np

    fig, axes = _figure(7, 0.32 * len(ranking) + 1.3)
    ax = axes[0, 0]
    ax.barh(np.arange(len(ranking)), ranking["effect_size"].to_numpy(dtype=float), color="#3b6ea5")
    ax.set_yticks(np.arange(len(ranking)), ranking["feature"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel("effect size (" + ", ".join(_effect_label(e) for e in dict.fromkeys(ranking["effect"])) + ")")
    ax.set_xlim(0, 1)
    return _svg(fig)


def figure_file(feature: str) -> str:
    """The file name of a feature's distribution figure: ``dist_<feature>.svg``.

    A name with characters unsafe in file names (``/``, spaces, ...) has them replaced by ``_``
    plus a short hash of the original, so two such features never share a file.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", feature).strip("._") or "feature"
    if safe != feature:
        safe += "-" + hashlib.sha1(feature.encode("utf-8")).hexdigest()[:6]
    return f"dist_{safe}.svg"


def figure_plan(features: list[str], ranking, *, labels: int = 2) -> list[tuple[str, str, str | None]]:
    """The figures to draw, in report order: ``(file name, kind, feature)``; headline features first."""

    headline = [f for f in HEADLINE_FEATURES if f in features]
    plan: list[tuple[str, str, str | None]] = [("ranking.svg", "ranking", None)] if len(ranking) else []
    plan += [(figure_file(f), "headline", f) for f in headline]
    plan += [(figure_file(f), "dist", f) for f in features if f not in headline]
    if features:
        plan += [("boxplots.svg", "boxplots", None)]
    if len(features) >= 2:
        plan += [("projection.svg", "projection", None), ("correlation.svg", "correlation", None)]
    return plan


#: A value further than this many interquartile ranges outside the quartiles is left out of the
#: figures (a tempo of 1e300 would otherwise squash every axis, or overflow the density estimate).
EXTREME_IQRS = 20.0


def without_extremes(frame, features):
    """``frame`` with values of ``features`` far outside their quartiles (:data:`EXTREME_IQRS`) set
    to NaN, for drawing only: the statistics and tests use every value (ranks are not bothered)."""
    import pandas as pd

    out = frame.copy()
    for f in features:
        col = pd.to_numeric(out[f], errors="coerce")
        q1, q3 = col.quantile(0.25), col.quantile(0.75)
        if not (pd.notna(q1) and pd.notna(q3)):
            continue
        spread = (q3 - q1) or abs(col.median()) or 1.0
        out[f] = col.where(col.between(q1 - EXTREME_IQRS * spread, q3 + EXTREME_IQRS * spread))
    return out


def render_figures(data, ranking, *, progress: bool = False) -> dict[str, bytes]:
    """Every figure as SVG bytes, keyed by file name, in report order.

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

    # colour-blind safe palette up to its 10 colours; more labels need distinct hues instead
    colours = sns.color_palette("colorblind" if len(data.labels) <= 10 else "husl", len(data.labels))
    palette = dict(zip(data.labels, colours))
    frame, features = without_extremes(data.frame, [f for f in data.features if f not in NOMINAL_FEATURES]), data.features
    drawable = [f for f in features if frame[f].notna().sum() >= 2 and frame[f].nunique() >= 2]
    shown = figure_features(drawable, ranking)
    comparable = [f for f in drawable if f in set(ranking["feature"]) and f not in NOMINAL_FEATURES]
    figures: dict[str, bytes] = {}
    with warnings.catch_warnings(), matplotlib.rc_context({"figure.max_open_warning": 0}):
        # seaborn 0.13 calls matplotlib APIs that matplotlib 3.11 deprecates: not the user's concern
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        plan = [p for p in figure_plan(shown, ranking) if p[1] != "projection" or len(comparable) >= 2]
        with progress_bar(enabled=progress, total=len(plan), desc="figures", unit="fig") as bar:
            for name, kind, feature in plan:
                figures[name] = _draw(kind, feature, frame, shown, drawable, comparable, ranking, palette)
                bar.update(1)
    return figures


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


def _draw(kind, feature, frame, shown, drawable, comparable, ranking, palette) -> bytes:
    if kind == "ranking":
        return _ranking_bars(ranking.head(MAX_FEATURE_FIGURES))
    if kind in ("headline", "dist"):
        return _distribution(frame, feature, palette=palette, big=kind == "headline")
    if kind == "boxplots":
        continuous = [f for f in shown if f not in NOMINAL_FEATURES and not _is_discrete(frame[f])] or shown
        limit = max(4, MAX_BOXES // len(palette))
        return _boxplots(frame, figure_features(continuous, ranking, limit=limit), palette=palette)
    if kind == "projection":
        return _projection(frame, comparable, palette)
    numeric = [f for f in drawable if f not in NOMINAL_FEATURES] or drawable
    return _correlation(frame, numeric, list(palette))


# ------------------------------------------------------------------------------------------ HTML


def _effect_label(effect: str) -> str:
    return {"Cliff's delta": "|Cliff's δ|", "epsilon^2": "ε²", "Cramer's V": "Cramér's V"}.get(effect, effect)


def p_text(p: float) -> str:
    """A p-value for reading: ``0.31``, ``0.004``, ``3.2e-12``, ``< 1e-300``."""
    if p != p:
        return "–"
    if p < 1e-300:
        return "< 1e-300"
    if p < 0.001:
        return f"{p:.1e}".replace("e-0", "e-")
    return f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _table(headers: list[str], rows: list[list[str]], numeric: list[bool], *, caption: str = "") -> str:
    """An HTML table of preformatted cells; numeric columns right-aligned and never wrapped; scrolls in its box."""
    e = html.escape

    def cls(i: int) -> str:
        return ' class="n"' if numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{e(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{e(str(c))}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    cap = f"<caption class=\"note\">{e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(name: str, svg: bytes, caption: str, *, big: bool = False, css: str = "") -> str:
    data = base64.b64encode(svg).decode("ascii")
    return (f'<figure class="{css or ("big" if big else "")}"><img src="data:image/svg+xml;base64,{data}" alt="{html.escape(caption)}">'
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


def _ranking_table(ranking, labels: list[str]) -> str:
    two = len(labels) == 2
    ordered = "|Cliff's δ|" if two else "ε²"
    headers = ["Rank", "Feature", f"Effect ({ordered})", "p (Holm)", "Higher median" if two else "Highest median",
               *[f"{label}: median" for label in labels]]  # fmt: skip
    rows = []
    for _, r in ranking.iterrows():
        nominal = r["effect"] == "Cramer's V"
        effect = f"{r['effect_size']:.2f}" + (" V*" if nominal else "")
        rows.append([str(int(r["rank"])), feature_title(r["feature"]), effect, p_text(r["p_holm"]),
                     "–" if nominal else r["highest"], *[r[f"typical {label}"] for label in labels]])  # fmt: skip
    return _table(headers, rows, [True, False, True, True, False, *[True] * len(labels)])


def _key_table(frame, labels: list[str]) -> str:
    """Per label, the five most common keys with mode and Camelot code, with their share."""
    if "key" not in frame.columns:
        return ""
    has_mode = "mode" in frame.columns
    columns = ["key", "mode"] if has_mode else ["key"]
    rows, width = [], 5
    cells = {}
    for label in labels:
        mine = frame.loc[frame["label"] == label, columns].dropna().round()
        if not len(mine):
            cells[label] = []
            continue
        shares = mine.value_counts(normalize=True).head(width)
        texts = []
        for index, share in shares.items():
            key, mode = (index if isinstance(index, tuple) else (index,)) + ((None,) if not has_mode else ())
            name = NOTE_NAMES[int(key)] if 0 <= key < 12 else f"{key:g}"
            if has_mode and mode in (0, 1):
                name += f" {'major' if mode == 1 else 'minor'} ({camelot(int(key), int(mode))})"
            texts.append(f"{name} {share:.0%}")
        cells[label] = texts
    for k in range(width):
        rows.append([str(k + 1), *[cells[label][k] if k < len(cells[label]) else "" for label in labels]])
    headers = ["#", *[f"{label}: most common keys" for label in labels]]
    return _table(headers, rows, [True, *[False] * len(labels)])


def _summary_table(summary, data) -> str:
    labels = data.labels
    headers = ["Feature"] + [h for label in labels for h in (f"{label}: n", f"{label}: median [IQR]", f"{label}: mean ± sd")]
    rows = []
    for feature in data.features:
        row = [feature_title(feature)]
        for label in labels:
            s = summary.loc[(label, feature)]
            if feature in NOMINAL_FEATURES:
                values = data.frame.loc[data.frame["label"] == label, feature].dropna().round()
                shares = values.value_counts(normalize=True)
                top = f"most common: {category_name(feature, float(shares.index[0]))} {shares.iloc[0]:.0%}" if len(shares) else "–"
                row += [f"{int(s['count']):,}", top, "– (categories)"]
            else:
                fv = {k: format_value(feature, float(s[k]), unit=False) for k in ("median", "q1", "q3", "mean", "std")}
                row += [f"{int(s['count']):,}", f"{fv['median']} [{fv['q1']} – {fv['q3']}]", f"{fv['mean']} ± {fv['std']}"]
        rows.append(row)
    return _table(headers, rows, [False] + [True, True, True] * len(labels))


def _answer_html(lines: list[str]) -> str:
    """The summary lines as paragraphs; consecutive ``"- "`` lines as one list."""
    out, items = [], []
    for i, line in enumerate(lines + [""]):
        if line.startswith("- "):
            items.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line:
            out.append(f'<p{" class=lead" if i == 0 else ""}>{html.escape(line)}</p>')
    return "".join(out)


def render_html(data, tables: dict, figures: dict[str, bytes], *, answer: list[str] | None = None,
                warnings: list[str] | None = None, separability=None) -> str:  # fmt: skip
    """The report page as one self-contained HTML string.

    Parameters
    ----------
    data : spotidance.eda.run.LabelledData
    tables : dict of DataFrame
        ``counts``, ``missing``, ``summary``, ``comparison``, ``ranking``, ``pairwise``, ``octave_flags``.
    figures : dict of bytes
        From :func:`render_figures` (may be empty).
    answer : list of str
        The summary sentences the page leads with.
    warnings : list of str
        Why some data are not comparable (shown right after the summary).
    separability : spotidance.eda.run.Separability, optional
        Its per-fold accuracies are listed under the ranking.
    """

    e = html.escape
    labels = data.labels
    names = " vs ".join(e(label) for label in labels) if len(labels) <= 4 else f"{len(labels)} labels"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    two = len(labels) == 2
    answer, warnings = answer or [], warnings or []
    ranking, comparison = tables["ranking"], tables["comparison"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>spotidance eda: {names}</title><style>{_CSS}</style></head><body>",
        f"<h1>What separates {names}</h1>",
        '<section id="summary" class="answer">' + _answer_html(answer) + "</section>",
    ]  # fmt: skip
    if warnings:
        parts.append('<section id="warnings">' + "".join(f'<p class="warn">⚠ {e(w)}</p>' for w in warnings) + "</section>")
    parts.append(f'<p class="note">{len(data.frame):,} tracks, {len(data.features)} numeric features, from '
                 f'{", ".join(e(Path(s).name) for s in data.sources)}. spotidance {e(__version__)}, {when}.</p>')  # fmt: skip

    parts.append("<h2>Ranking: what separates them</h2>")
    test = ("Each feature is compared with a Mann-Whitney U test; the effect size is |Cliff's δ| (= rank-biserial "
            "correlation): 0 means the two distributions overlap completely, 1 that every track of one label lies above "
            "every track of the other." if two else
            "Each feature is compared with a Kruskal-Wallis test; the effect size is ε² = H/(n−1), the share of the rank "
            "variance explained by the label (pairwise tests below).")  # fmt: skip
    cats = [f for f in ranking["feature"] if f in NOMINAL_FEATURES]
    cat_note = (f" * {', '.join(cats)}: categories without order, compared with a chi-square test; effect size "
                "Cramér's V (0 = same distribution, 1 = fully different)." if cats else "")  # fmt: skip
    parts.append(f'<p class="note">{e(test)} p (Holm): p-values corrected across features. Medians in each feature\'s '
                 f"unit; for categories the most common value and its share.{e(cat_note)}</p>")  # fmt: skip
    parts.append(_ranking_table(ranking, labels))
    if separability is not None:
        folds = ", ".join(f"{a:.1%}" for a in separability.folds)
        parts.append(f'<p class="note">Classifier of the summary: scikit-learn logistic regression on the standardised '
                     f"features ({e(', '.join(separability.features))}; keys one-hot, missing values replaced by the "
                     f"training folds' median), stratified {len(separability.folds)}-fold cross-validation, "
                     f"accuracy per fold: {folds}.</p>")  # fmt: skip
    unranked = comparison[~comparison["ranked"]]
    if len(unranked):
        parts.append('<p class="note">Compared but not ranked: '
                     + "; ".join(f"<code>{e(r.feature)}</code> ({'the whole track length, not a property of the sound' if r.feature in LENGTH_FEATURES else e(r.note)})"
                                 for r in unranked.itertuples()) + ".</p>")  # fmt: skip
    if "ranking.svg" in figures:
        parts.append(_img("ranking.svg", figures["ranking.svg"], "Effect size per feature"))
    keys = _key_table(data.frame, labels)
    if keys:
        parts += ["<h2>Keys</h2>", '<p class="note">Key as note name, with its mode and Camelot code (the DJ wheel: '
                  "neighbouring codes mix harmonically).</p>", keys]  # fmt: skip

    counts = tables["counts"]
    parts += ["<h2>Tracks per label</h2>", _table(
        ["Label", "Tracks", "Unique tracks", "Duplicates", "Files", "Features from"],
        [[r.label, f"{r.rows:,}", f"{r.unique_tracks:,}", f"{r.duplicates:,}", r.files, r.features_source or "–"]
         for r in counts.itertuples()], [False, True, True, True, False, False])]  # fmt: skip
    missing = tables["missing"]
    gaps = missing[(missing["missing"] + missing["non_numeric"]) > 0]
    if len(gaps):
        parts += ["<h2>Missing and non-numeric values</h2>",
                  '<p class="note">Empty cells count as missing; text that is not a number as non-numeric. Both are left '
                  "out of the statistics. Features without any are not listed.</p>",
                  _table(["Feature", "Missing", "Non-numeric", *[f"{label}: missing" for label in labels]],
                         [[r["feature"], f"{int(r['missing']):,}", f"{int(r['non_numeric']):,}",
                           *[f"{int(r[f'missing {label}']):,}" for label in labels]] for _, r in gaps.iterrows()],
                         [False, True, True, *[True] * len(labels)])]  # fmt: skip
    else:
        parts.append('<p class="note">No missing or non-numeric values.</p>')

    dists = [(f, figure_file(f)) for f in data.features if figure_file(f) in figures]
    if dists:
        parts.append("<h2>Distributions per label</h2>")
        if len(dists) < len(data.features):
            parts.append(f'<p class="note">Drawn for {len(dists)} of the {len(data.features)} features (the best-separating '
                         "ones; features constant everywhere are not drawn); the tables cover all.</p>")
        parts += [_img(n, figures[n], f"{feature_title(f)} per label", big=True) for f in HEADLINE_FEATURES for g, n in dists if g == f]
        parts.append('<div class="grid">' + "".join(_img(n, figures[n], f"{feature_title(f)} per label")
                                                    for f, n in dists if f not in HEADLINE_FEATURES) + "</div>")  # fmt: skip
    if "projection.svg" in figures:
        parts += ["<h2>All features at once</h2>",
                  '<p class="note">Each dot is a track, placed by a principal component analysis of the standardised '
                  "ranked features (key and mode left out): labels that form separate clouds differ in many features together.</p>",
                  _img("projection.svg", figures["projection.svg"], "Tracks on the first two principal components", css="mid")]  # fmt: skip
    if "boxplots.svg" in figures:
        parts += ["<h2>Box plots</h2>", _img("boxplots.svg", figures["boxplots.svg"], "Box plots per feature and label", big=True)]
    if "correlation.svg" in figures:
        per = len(labels) <= MAX_CORRELATION_PANELS
        parts += ["<h2>Correlations</h2>",
                  f'<p class="note">Spearman correlation between features{" within each label" if per else " over all tracks"}'
                  " (pooling labels would add the differences between them).</p>",
                  _img("correlation.svg", figures["correlation.svg"], "Spearman correlation heatmaps", big=True)]  # fmt: skip
    parts += ["<h2>Summary per label</h2>", _summary_table(tables["summary"], data)]
    pairwise = tables["pairwise"]
    if len(pairwise):
        shown = _pairwise_shown(pairwise, ranking)
        more = (f" Shown for the {shown['feature'].nunique()} best-separating features; all {len(pairwise)} rows are in "
                "pairwise.csv." if len(shown) < len(pairwise) else "")
        parts += ["<h2>Pairwise comparisons</h2>",
                  f'<p class="note">Mann-Whitney U per pair of labels; p-values Holm-corrected within each feature; '
                  f"Cliff's δ positive when the first label tends to be higher.{e(more)}</p>",
                  _table(["Feature", "First", "Second", "p (Holm)", "Cliff's δ"],
                         [[r.feature, r.label_a, r.label_b, p_text(r.p_holm), f"{r.cliffs_delta:+.2f}"]
                          for r in shown.itertuples()], [False, False, False, True, True])]  # fmt: skip
    flags = tables["octave_flags"]
    parts.append("<h2>Tempo octave errors</h2>")
    if len(flags):
        parts += [f"<p>{len(flags)} tracks have a tempo about half or double their label's median: beat trackers "
                  "often report half or double tempo (common for drum and bass). Check them before trusting tempo.</p>",
                  _table(["Label", "Track", "Artist", "Tempo", "Label's median", "Looks like"],
                         [[r.label, r.track_name, r.artist_name, format_value("tempo", r.tempo),
                           format_value("tempo", r.label_median), r.looks_like] for r in flags.itertuples()],
                         [False, False, False, True, True, False])]  # fmt: skip
    else:
        parts.append("<p>No tempo is about half or double its label's median.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------------- writing


def write_report(out_dir: Path, *, tables: dict, figures: dict[str, bytes], html: str) -> list[Path]:
    """Write the figures, the tables as CSV and, last, ``report.html``, each replaced atomically.

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
        for name, data in figures.items():
            write_atomic(out_dir / name, data)
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
