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
import glob
import itertools
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from spotidance.core.errors import SpotidanceError

#: Output formats of :func:`format_report`.
FORMATS: tuple[str, ...] = ("table", "csv", "json")

#: Frames per inference call (tracks are grouped until a batch is full).
BATCH_FRAMES = 64

_GLOB_CHARS = frozenset("*?[")


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


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A path that could not be classified, and why."""

    path: str
    reason: str


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
# finding files


def find_audio_files(paths: Iterable[str | os.PathLike]) -> tuple[list[str], list[Skipped]]:
    """Expand files, folders and glob patterns into audio files.

    Parameters
    ----------
    paths : iterable of path-like
        A file is taken as it is, whatever its extension (decoding says whether it is audio).
        A folder contributes every file with an audio extension
        (:data:`spotidance.audio.decode.AUDIO_EXTENSIONS`) below it, hidden ones excepted, sorted.
        A path that does not exist but contains ``*``, ``?`` or ``[`` is a glob pattern
        (``**`` matches folders recursively); folders it matches are searched as above.

    Returns
    -------
    files : list of str
        Without repeats (the same file reached twice is classified once), in the order found.
    problems : list of Skipped
        Paths that name nothing, and folders or patterns without audio files.
    """
    from spotidance.audio.decode import is_audio_path

    files: list[str] = []
    problems: list[Skipped] = []
    seen: set[str] = set()

    def add(file: str) -> None:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            files.append(file)

    for raw in paths:
        item = os.fspath(raw)
        if os.path.isfile(item):
            add(item)
        elif os.path.isdir(item):
            found = _scan_folder(item, is_audio_path)
            if not found:
                problems.append(Skipped(item, "folder holds no audio files"))
            for file in found:
                add(file)
        elif _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            found = []
            for match in matches:
                if os.path.isdir(match):
                    found.extend(_scan_folder(match, is_audio_path))
                elif os.path.isfile(match) and is_audio_path(match):
                    found.append(match)
            if not found:
                problems.append(Skipped(item, "no audio files match this pattern"))
            for file in found:
                add(file)
        elif os.path.lexists(item):
            problems.append(Skipped(item, "not a regular file or folder"))
        else:
            problems.append(Skipped(item, "no such file or folder"))
    return files, problems


def _scan_folder(folder: str, is_audio) -> list[str]:
    out: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith(".") and is_audio(n))
    return out


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
    from spotidance.model.bundle import read_bundle
    from spotidance.model.bundle import load_runner

    started = time.perf_counter()
    bundle = read_bundle(model_dir)
    files, skipped = find_audio_files(paths)
    n_workers = max(1, min(workers or _default_workers(), len(files)))

    tracks: list[TrackResult] = []
    bar = _progress(total=len(files), enabled=progress)
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
    files at a time, so memory stays bounded however many files there are.
    """
    from spotidance.dataset.prepare import _frames_job, _init_worker

    if workers <= 1:
        from threadpoolctl import threadpool_limits

        from spotidance.model.runners import quiet_native_stderr

        for path in files:
            with threadpool_limits(1), quiet_native_stderr():
                result = _frames_job(path, config)
            yield path, result
        return

    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool

    pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
    try:
        window: deque = deque()
        todo = iter(files)
        for path in todo:
            window.append((path, pool.submit(_frames_job, path, config)))
            if len(window) >= 4 * workers:
                break
        while window:
            path, future = window.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                window.append((nxt, pool.submit(_frames_job, nxt, config)))
            try:
                result = future.result()
            except BrokenProcessPool:
                raise SpotidanceError(
                    f"a decoding process died while reading {path} (out of memory?); retry with --workers 1"
                ) from None
            yield path, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _default_workers() -> int:
    from spotidance.dataset.prepare import default_workers

    return default_workers()


def _progress(*, total: int, enabled: bool):
    if not enabled or total <= 1:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="classifying", unit="file", dynamic_ncols=True)


class _NoBar:
    """Stands in for a tqdm bar when there is none (and spares the import)."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


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
    from spotidance.core.tables import format_table

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
    from spotidance.core.atomic import write_atomic

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
