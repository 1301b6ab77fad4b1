"""``spotidance classify``: label audio files with a trained model bundle.

The pipeline, per run:

1. :func:`find_audio_files` turns the command line's files, folders (searched recursively) and
   glob patterns into an ordered list of files; a path that names nothing is reported.
2. Each file is decoded and cut into log-mel frames exactly as the bundle's
   :class:`~spotidance.audio.config.SpectrogramConfig` says (:func:`spotidance.audio.spectrogram.file_frames`),
   in worker processes when there is more than one file. Decoding and the STFT are about 45 ms
   of CPU per 30 s mp3; two processes on two cores give about 40 files/s. (Threads give about
   the same figure, since soundfile, soxr and NumPy release the GIL, but processes also keep
   libmpg123's resync notes on damaged mp3s off the terminal.)
3. The frames go through the model in batches in the main process (:mod:`spotidance.model.runners`:
   LiteRT, without importing TensorFlow, whenever the bundle has a ``model.tflite``).
4. A track's probabilities are the mean of its frames' softmax outputs, and its label is the
   most probable one (the first label on a tie) - the same rule ``train`` uses to score tracks.

Files that cannot be decoded, or are shorter than one frame (2.97 s by default), are returned as
:class:`Skipped` with the reason; the others are classified regardless.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from spotidance.audio.files import Skipped, find_audio_files
from spotidance.audio.spectrogram import frames_or_reason
from spotidance.core.atomic import write_atomic
from spotidance.core.errors import SpotidanceError
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.core.workers import default_workers, map_ordered
from spotidance.model.bundle import load_runner, read_bundle

#: Output formats of :func:`format_report`.
FORMATS: tuple[str, ...] = ("table", "csv", "json")

#: Frames per inference call (tracks are grouped until a batch is full).
BATCH_FRAMES = 64

@dataclasses.dataclass(frozen=True)
class TrackResult:
    """One classified file.

    Attributes
    ----------
    path : str
        The file, as found from the command line.
    label : str
        The most probable label.
    probabilities : dict
        Label -> mean softmax probability over the file's frames, in the bundle's label order.
    frames : int
        Number of frames the probabilities average.
    """

    path: str
    label: str
    probabilities: dict[str, float]
    frames: int


@dataclasses.dataclass
class ClassifyReport:
    """Everything one ``classify`` run found.

    Attributes
    ----------
    model : str
        The bundle folder.
    model_name : str
    labels : list of str
    backend : str
        ``"litert"`` or ``"keras"``.
    tracks : list of TrackResult
        In the order the files were found.
    skipped : list of Skipped
    seconds : float
        Wall time of :func:`classify`, model loading included.
    """

    model: str
    model_name: str
    labels: list[str]
    backend: str
    tracks: list[TrackResult]
    skipped: list[Skipped]
    seconds: float


# --------------------------------------------------------------------------------------------
# classifying


def classify(
    model_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    workers: int | None = None,
    backend: str = "auto",
    batch_frames: int = BATCH_FRAMES,
    progress: bool = False,
) -> ClassifyReport:
    """Classify audio files with the model bundle at ``model_dir``.

    Parameters
    ----------
    model_dir : path-like
        A bundle written by ``spotidance train``.
    paths : sequence of path-like
        Files, folders and glob patterns (see :func:`find_audio_files`).
    workers : int, optional
        Decoding processes (default: one per core, at most one per file; 1 decodes in this
        process).
    backend : {"auto", "litert", "keras"}
        Inference runtime (see :func:`spotidance.model.bundle.load_runner`).
    batch_frames : int
        Frames per inference call.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ClassifyReport

    Raises
    ------
    SpotidanceError
        If the bundle cannot be read or its model cannot run.
    """
    started = time.perf_counter()
    bundle = read_bundle(model_dir)
    files, skipped = find_audio_files(paths)
    n_workers = max(1, min(workers or default_workers(), len(files)))

    tracks: list[TrackResult] = []
    bar = progress_bar(enabled=progress and len(files) > 1, total=len(files), desc="classifying", unit="file")
    jobs = _frames_in_order(files, config=bundle.config, workers=n_workers)
    try:
        # The pool's processes start on the first next(): before Keras (and TensorFlow's
        # threads) can be imported by load_runner, so they never fork a TensorFlow process.
        first = next(jobs, None)
        runner = load_runner(bundle, backend=backend) if files else None
        pending: list[tuple[str, np.ndarray]] = []
        n_pending = 0
        results = [] if first is None else [first]
        for path, (status, value) in itertools.chain(results, jobs):
            if status == "ok":
                pending.append((path, value))
                n_pending += len(value)
                if n_pending >= batch_frames:
                    tracks.extend(_infer(pending, runner=runner, labels=bundle.labels, batch_frames=batch_frames))
                    pending, n_pending = [], 0
            else:
                skipped.append(Skipped(path, value))
            bar.update(1)
        tracks.extend(_infer(pending, runner=runner, labels=bundle.labels, batch_frames=batch_frames))
    finally:
        jobs.close()
        bar.close()
    return ClassifyReport(
        model=str(bundle.path),
        model_name=bundle.model_name,
        labels=list(bundle.labels),
        backend=runner.backend if runner is not None else "none",
        tracks=tracks,
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )


def _infer(pending: list[tuple[str, np.ndarray]], *, runner, labels: list[str], batch_frames: int) -> list[TrackResult]:
    """Run the frames of several tracks in batches; average each track's frame probabilities.

    Batches hold at most ``batch_frames`` frames, so a long file (a 2 h mix has 2,400 frames)
    needs no more memory for inference than a short one.
    """
    if not pending:
        return []
    frames = np.concatenate([f for _, f in pending])
    probs = np.concatenate([runner.predict(frames[i : i + batch_frames]) for i in range(0, len(frames), batch_frames)])
    out: list[TrackResult] = []
    start = 0
    for path, frames in pending:
        out.append(track_result(path, probs[start : start + len(frames)], labels=labels))
        start += len(frames)
    return out


def track_result(path: str, frame_probabilities: np.ndarray, *, labels: Sequence[str]) -> TrackResult:
    """A track's result from its frames' softmax outputs: their mean, and its arg-max label.

    Parameters
    ----------
    path : str
    frame_probabilities : numpy.ndarray
        ``(n_frames, n_labels)``, ``n_frames >= 1``.
    labels : sequence of str

    Returns
    -------
    TrackResult
    """
    mean = np.asarray(frame_probabilities, dtype=np.float64).mean(axis=0)
    return TrackResult(
        path=path,
        label=labels[int(np.argmax(mean))],
        probabilities={label: float(p) for label, p in zip(labels, mean)},
        frames=int(len(frame_probabilities)),
    )


def _frames_in_order(files: list[str], *, config, workers: int) -> Iterator[tuple[str, tuple[str, object]]]:
    """Yield ``(path, ("ok", frames) | ("skip", reason))`` per file, in order.

    With ``workers > 1``, a process pool decodes ahead of the consumer, at most ``4 * workers``
    files at a time (:func:`spotidance.core.workers.map_ordered`), so memory stays bounded however
    many files there are.
    """
    job = functools.partial(frames_or_reason, config=config)
    yield from zip(files, map_ordered(job, files, workers=workers, what="a file"))


# --------------------------------------------------------------------------------------------
# output


def format_report(report: ClassifyReport, *, fmt: str = "table") -> str:
    """The classified tracks as an aligned table, CSV or JSON.

    Parameters
    ----------
    report : ClassifyReport
    fmt : {"table", "csv", "json"}
        ``table`` and ``csv`` hold one row per classified track (``path, label, frames`` and one
        probability column per label, named ``p_<label>``); ``json`` also lists the skipped
        files with their reasons and says which model and runtime answered.

    Returns
    -------
    str
        Ends with a newline.
    """
    if fmt == "table":
        return _format_table(report)
    if fmt == "csv":
        return _format_csv(report)
    if fmt == "json":
        return _format_json(report)
    raise SpotidanceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _format_table(report: ClassifyReport) -> str:
    headers = ["file", "label", *[f"p_{label}" for label in report.labels], "frames"]
    rows = [[t.path, t.label, *[f"{t.probabilities[label]:.3f}" for label in report.labels], t.frames] for t in report.tracks]
    return format_table(rows, headers=headers) + "\n"


def _format_csv(report: ClassifyReport) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "frames", *[f"p_{label}" for label in report.labels]])
    for t in report.tracks:
        writer.writerow([t.path, t.label, t.frames, *[f"{t.probabilities[label]:.6f}" for label in report.labels]])
    return buf.getvalue()


def _format_json(report: ClassifyReport) -> str:
    data = {
        "model": report.model,
        "model_name": report.model_name,
        "backend": report.backend,
        "labels": report.labels,
        "tracks": [dataclasses.asdict(t) for t in report.tracks],
        "skipped": [dataclasses.asdict(s) for s in report.skipped],
    }
    return json.dumps(data, indent=2) + "\n"


def write_output(text: str, *, output: str | os.PathLike) -> Path:
    """Write ``text`` to ``output`` atomically (a temporary file, then ``os.replace``)."""
    out = Path(output)
    if out.is_dir():
        raise SpotidanceError(f"--output {out}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise SpotidanceError(f"--output {out}: folder {out.parent} does not exist")
    write_atomic(out, text)
    return out


def format_for(output: str | None, fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from ``output``'s suffix (``.csv``/``.json``), else table."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")
