"""The timeline figure of ``classify --segments --plot FILE.png``: label probabilities along each file."""

from __future__ import annotations

import io
import os
from pathlib import Path

from spotidance.classify.run import ClassifyReport, clock_time
from spotidance.core.atomic import write_atomic
from spotidance.core.errors import SpotidanceError

#: Files drawn at most in one figure (the first ones); the title says when some were left out.
MAX_FILES = 40


def plot_timeline(report: ClassifyReport, *, file: str | os.PathLike, max_files: int = MAX_FILES) -> Path:
    """Draw, per file, a band of stacked label probabilities over time with the segments' labels.

    Each band is the file's smoothed window probabilities (one colour per label, the same colours
    in every band); the segments' boundaries are drawn as vertical lines and each segment's label
    is written over it. The PNG is written atomically.

    Parameters
    ----------
    report : ClassifyReport
        From :func:`spotidance.classify.run.classify` with ``segment_seconds``.
    file : path-like
        The PNG to write; its folder must exist.
    max_files : int
        Draw at most this many files (the first ones).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SpotidanceError
        If the report was not classified over time, or ``file`` cannot be written.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(file)
    if report.segment_seconds is None:
        raise SpotidanceError("a timeline needs segments: classify with --segments")
    if out.is_dir():
        raise SpotidanceError(f"--plot {out}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise SpotidanceError(f"--plot {out}: folder {out.parent} does not exist")
    tracks = [t for t in report.tracks if t.windows]
    shown = tracks[:max_files]
    labels = report.labels
    colours = [f"C{i % 10}" for i in range(len(labels))]
    fig = Figure(figsize=(11, 0.8 + 1.5 * max(1, len(shown))), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(1, len(shown)), 1, squeeze=False)[:, 0]
    for ax, t in zip(axes, shown):
        edges = [w.start for w in t.windows] + [t.windows[-1].end]
        probs = np.array([[w.probabilities[label] for label in labels] for w in t.windows])
        bottom = np.zeros(len(t.windows))
        for j, label in enumerate(labels):
            top = bottom + probs[:, j]
            ax.stairs(top, edges, baseline=bottom, fill=True, color=colours[j], alpha=0.85, label=label)
            bottom = top
        for seg in t.segments or []:
            if seg.start > edges[0]:
                ax.axvline(seg.start, color="black", linewidth=1.2)
            ax.text((seg.start + seg.end) / 2, 1.04, f"{seg.label} {seg.probability:.2f}", ha="center", va="bottom",
                    fontsize=8, clip_on=False)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.5, 1])
        ax.set_ylabel("p", rotation=0)
        ax.set_title(Path(t.path).name, loc="left", fontsize=9, pad=14)
        ticks = ax.get_xticks()
        ax.set_xticks(ticks, [clock_time(x) for x in ticks])
        ax.set_xlim(edges[0], edges[-1])
    if not shown:
        axes[0].text(0.5, 0.5, "no file was classified", ha="center", va="center")
        axes[0].set_axis_off()
    else:
        axes[0].legend(loc="upper right", bbox_to_anchor=(1.0, 1.6), ncol=min(len(labels), 6), fontsize=8, frameon=False)
    model = " + ".join(Path(m).name for m in report.model.split(" + "))
    title = f"{model}: windows of {report.segment_seconds:g} s, smoothed"
    if len(tracks) > len(shown):
        title += f" (first {len(shown)} of {len(tracks)} files)"
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return write_atomic(out, buf.getvalue())
