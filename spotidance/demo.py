"""``spotidance demo``: the whole pipeline offline, on synthetic genres, with no credentials.

Stages, each a call into the module that does it for real:

1. :func:`spotidance.synth.render.render_collection` renders labelled techno and EDM previews (30 s mp3s)
   with a CSV per label in the ``collect`` format, plus a separate, differently seeded held-out set;
2. :func:`spotidance.dataset.prepare.prepare` frames them into a dataset;
3. :func:`spotidance.eda.run.run_report` writes the feature report comparing the two CSVs;
4. :func:`spotidance.model.train.train` trains the binary 1D CNN with a track-level split;
5. :func:`spotidance.classify.run.classify` labels the held-out files with the bundle (LiteRT).

Every stage is resumable: rerunning the demo into the same folder reuses what is there.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Callable

from spotidance.classify.run import DEFAULT_MODEL, ClassifyReport, classify
from spotidance.core.errors import SpotidanceError
from spotidance.dataset.prepare import format_summary, prepare
from spotidance.eda import run as eda
from spotidance.model.train import train
from spotidance.synth import render as synth

GENRES = ("techno", "edm")

#: The shipped model's label closest to each synthetic genre (synth's EDM is big-room house).
SHIPPED_COUNTERPART = {"techno": "Techno", "edm": "BigRoom"}


@dataclasses.dataclass
class DemoResult:
    """Where the demo put everything, and the held-out accuracy it measured."""

    out: Path
    audio: Path
    dataset: Path
    report: Path
    model: Path
    holdout: Path
    holdout_accuracy: float
    classified: "ClassifyReport"
    seconds: float
    shipped: "ClassifyReport | None" = None
    shipped_agreement: float | None = None


def run_demo(
    out: str | os.PathLike,
    *,
    per_genre: int = 24,
    holdout_per_genre: int = 4,
    epochs: int = 8,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run synth -> prepare -> eda -> train -> classify into ``out``.

    Parameters
    ----------
    out : path-like
        Output folder (created; reused by a rerun).
    per_genre : int
        Training clips rendered per genre.
    holdout_per_genre : int
        Held-out clips per genre, rendered with another seed, classified at the end.
    epochs : int
        Training epochs of the binary model.
    seed : int
        Seed of the whole run.
    workers : int, optional
        Worker processes for rendering and framing.
    progress : bool
        Progress bars on stderr (rendering, framing, training).
    echo : callable
        Where progress lines go.
    """
    if per_genre < 8:
        raise SpotidanceError("--per-genre must be at least 8 so that every split gets tracks of both genres")

    start = time.perf_counter()
    out = Path(out)
    audio_dir, holdout_dir = out / "audio", out / "holdout"
    dataset, report, model = out / "frames", out / "report", out / "model"

    echo(f"[1/5] rendering {per_genre} synthetic 30 s previews per genre ({', '.join(GENRES)}) -> {audio_dir}")
    synth.render_collection(audio_dir, genres=GENRES, per_genre=per_genre, seed=seed, duration=30.0, workers=workers, progress=progress)
    synth.render_collection(holdout_dir, genres=GENRES, per_genre=holdout_per_genre, seed=seed + 1000, duration=30.0, workers=workers, progress=progress)
    csvs = [audio_dir / f"{g}.csv" for g in GENRES]

    echo(f"[2/5] framing into 128x128 log-mel frames -> {dataset}")
    summary = prepare(csvs, out=dataset, workers=workers, progress=progress)
    echo(format_summary(summary))

    echo(f"[3/5] feature report -> {report}")
    result = eda.run_report(csvs, out_dir=report, progress=False)
    echo(eda.format_ranking(result))

    # BatchNorm momentum 0.9 instead of the seed's 0.99: on a dataset this small the seed's
    # moving statistics do not catch up within a few epochs (measured in docs/train.md).
    echo(f"[4/5] training the binary 1D CNN ({epochs} epochs, BatchNorm momentum 0.9 for small data) -> {model}")
    train(dataset, model_name="binary-1d", out=model, epochs=epochs, seed=seed, echo=echo, bn_momentum=0.9, progress=progress)

    echo(f"[5/5] classifying {2 * holdout_per_genre} held-out clips the model never saw")
    files = sorted(p for g in GENRES for p in (holdout_dir / g).glob("*.mp3"))
    classified = classify(model, [str(p) for p in files], workers=workers, progress=progress)
    correct = sum(1 for t in classified.tracks if Path(t.path).parent.name == t.label)
    accuracy = correct / len(files) if files else 0.0

    echo(f"and with the shipped model {DEFAULT_MODEL} (trained on real Beatport tracks, no training here)")
    shipped = classify(None, [str(p) for p in files], workers=workers, progress=progress)
    agree = sum(1 for t in shipped.tracks if SHIPPED_COUNTERPART[Path(t.path).parent.name] == t.label)
    return DemoResult(out, audio_dir, dataset, report / "report.html", model, holdout_dir, accuracy, classified,
                      time.perf_counter() - start, shipped, agree / len(files) if files else None)
