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

Over time (``segment_seconds``, ``classify --segments``): each file is cut into consecutive
windows (:func:`window_bounds`), every model predicts each window (a CNN: the mean of the frames
whose centre falls in it; a tabular model: the features of the window's audio), the fused window
probabilities are smoothed by a centred moving average over :data:`SMOOTH_WINDOWS` windows
(:func:`smooth`), and runs of windows with the same label become :class:`Segment` s
(:func:`merge_segments`). The track's probabilities are then the mean over its windows.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spotidance.analyze.beatport import BEATPORT2016_COLUMNS
from spotidance.analyze.features import CORE_COLUMNS
from spotidance.analyze.features import SAMPLE_RATE as FEATURE_SAMPLE_RATE
from spotidance.analyze.run import analyze_signal
from spotidance.audio.config import SpectrogramConfig
from spotidance.audio.decode import load
from spotidance.audio.files import Skipped, find_audio_files
from spotidance.audio.spectrogram import frames_from_audio
from spotidance.core.errors import AudioDecodeError, SpotidanceError, short_reason
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.core.workers import default_workers, map_ordered
from spotidance.model.bundle import load_runner, read_bundle
from spotidance.tabular.bundle import load_tabular_bundle
from spotidance.tabular.shipped import shipped_models, shipped_path

#: Output formats of :func:`format_report`.
FORMATS: tuple[str, ...] = ("table", "csv", "json")

#: Frames per inference call (tracks are grouped until a batch is full).
BATCH_FRAMES = 64

#: The model ``classify`` uses when none is given: shipped, trained on real Beatport tracks.
DEFAULT_MODEL = "beatport2016-3"

#: Labels listed by ``--top`` by default.
DEFAULT_TOP = 3

#: A table shows every label's probability up to this many labels, else the ``--top`` ones.
MAX_TABLE_LABELS = 4

#: Window length of ``--segments`` when none is given, seconds.
SEGMENT_SECONDS = 30.0

#: Shortest window ``--segments`` accepts, seconds (tempo needs a few beats).
MIN_SEGMENT_SECONDS = 5.0

#: Windows in the centred moving average that smooths window probabilities (odd).
SMOOTH_WINDOWS = 3


@dataclasses.dataclass(frozen=True)
class Segment:
    """A stretch of a file with one label (or one window of it, in :attr:`TrackResult.windows`).

    Attributes
    ----------
    start, end : float
        Seconds from the start of the file.
    label : str
        The most probable label over the stretch.
    probability : float
        The mean (smoothed) probability of ``label`` over the stretch's windows.
    probabilities : dict
        Label -> mean smoothed probability over the stretch's windows.
    """

    start: float
    end: float
    label: str
    probability: float
    probabilities: dict[str, float]

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
        Label -> probability, in the models' label order: a CNN's mean softmax over the file's
        frames, a tabular model's class probability, or (several models) their mean.
    frames : int
        Number of frames a CNN averaged (0 when only tabular models answered).
    novelty : float or None
        How unlike the tabular model's training data the file is (Mahalanobis distance in its
        feature space; the largest over several tabular models); None without a tabular model.
    unlike_training : bool or None
        ``novelty`` above the model's threshold, calibrated so that at most 5 % of its training
        rows exceed it under cross-validation: the label is then a guess (not dance music, or
        another style).
    segments : list of Segment or None
        With ``segment_seconds``: the file's stretches of one label, in time order (else None).
        ``probabilities`` is then the mean over the windows, ``novelty`` the median of the
        windows' and ``unlike_training`` true when most windows are unlike the training data.
    windows : list of Segment or None
        With ``segment_seconds``: every window with its smoothed probabilities (else None).
    """

    path: str
    label: str
    probabilities: dict[str, float]
    frames: int
    novelty: float | None = None
    unlike_training: bool | None = None
    segments: list[Segment] | None = None
    windows: list[Segment] | None = None

    def top(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities, most probable first."""
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[: max(1, k)]


@dataclasses.dataclass
class ClassifyReport:
    """Everything one ``classify`` run found.

    Attributes
    ----------
    model : str
        The model (a bundle folder or a shipped model's name); several joined by ``" + "``.
    model_name : str
    labels : list of str
    backend : str
        How the models ran: ``"litert"`` or ``"keras"`` for a CNN, ``"numpy"`` for a tabular model,
        joined by ``" + "`` for several.
    tracks : list of TrackResult
        In the order the files were found.
    skipped : list of Skipped
    seconds : float
        Wall time of :func:`classify`, model loading included.
    segment_seconds : float or None
        The window length when the files were classified over time, else None.
    """

    model: str
    model_name: str
    labels: list[str]
    backend: str
    tracks: list[TrackResult]
    skipped: list[Skipped]
    seconds: float
    segment_seconds: float | None = None

    @property
    def has_novelty(self) -> bool:
        return any(t.novelty is not None for t in self.tracks) or "numpy" in self.backend.split(" + ")

    @property
    def has_frames(self) -> bool:
        return any(m in self.backend.split(" + ") for m in ("litert", "keras"))


# --------------------------------------------------------------------------------------------
# models


@dataclasses.dataclass
class _Model:
    """A loaded model of either kind, as :func:`classify` uses it."""

    name: str
    path: str
    model_name: str
    labels: list[str]
    kind: str  # "cnn" or "tabular"
    bundle: Any = None  # CNN: the Bundle
    tabular: Any = None  # tabular: the TabularModel
    runner: Any = None  # CNN: set once the worker pool has started
    backend: str = "numpy"


def resolve_models(models: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[_Model]:
    """Load the models named by shipped name or folder (default: :data:`DEFAULT_MODEL`).

    Raises
    ------
    SpotidanceError
        An unknown name, an unusable bundle, or models whose label sets differ.
    """
    if models is None:
        specs: list[str] = [DEFAULT_MODEL]
    elif isinstance(models, (str, os.PathLike)):
        specs = [os.fspath(models)]
    else:
        specs = [os.fspath(m) for m in models] or [DEFAULT_MODEL]
    loaded = [_load_model(spec) for spec in specs]
    first = loaded[0]
    for other in loaded[1:]:
        if sorted(other.labels) != sorted(first.labels):
            raise SpotidanceError(
                f"models to combine must share their labels: {first.name} has {', '.join(first.labels)}; "
                f"{other.name} has {', '.join(other.labels)}"
            )
    return loaded


def _load_model(spec: str) -> _Model:
    path = Path(spec)
    if not path.exists() and spec in shipped_models():
        model = load_tabular_bundle(shipped_path(spec))
        return _Model(spec, str(shipped_path(spec)), spec, list(model.labels), "tabular", tabular=model)
    if not path.exists() and os.sep not in spec and "/" not in spec:
        raise SpotidanceError(
            f"no model {spec!r}: not a folder, and not a shipped model ({', '.join(shipped_models()) or 'none installed'})"
        )
    if _bundle_kind(path) == "tabular":
        model = load_tabular_bundle(path)
        return _Model(spec, str(path), str(model.card.get("name") or path.name), list(model.labels), "tabular", tabular=model)
    bundle = read_bundle(path)
    return _Model(spec, str(bundle.path), bundle.model_name, list(bundle.labels), "cnn", bundle=bundle)


def _bundle_kind(path: Path) -> str:
    """``"tabular"`` or ``"cnn"`` from a bundle folder's ``bundle.json`` (``"cnn"`` when unsure: its reader explains)."""
    try:
        manifest = json.loads((path / "bundle.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cnn"
    return "tabular" if isinstance(manifest, dict) and manifest.get("kind") == "tabular" else "cnn"


def _feature_set_for(models: list[_Model]) -> str | None:
    """The ``analyze`` feature set the tabular models need (None when there is none)."""
    needed = {c for m in models if m.kind == "tabular" for c in m.tabular.feature_columns}
    if not needed:
        return None
    core = set(CORE_COLUMNS)
    beatport = set(BEATPORT2016_COLUMNS)
    unknown = sorted(needed - core - beatport)
    if unknown:
        shown = ", ".join(unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        raise SpotidanceError(
            f"the model needs feature columns that analyze does not compute ({shown}); classify a CSV of those "
            "features in Python with spotidance.tabular instead"
        )
    return "core" if needed <= core else "all" if needed & core else "beatport2016"


# --------------------------------------------------------------------------------------------
# classifying


def classify(
    models: str | os.PathLike | Sequence[str | os.PathLike] | None,
    paths: Sequence[str | os.PathLike],
    *,
    workers: int | None = None,
    backend: str = "auto",
    batch_frames: int = BATCH_FRAMES,
    segment_seconds: float | None = None,
    progress: bool = False,
    found: tuple[list[str], list[Skipped]] | None = None,
) -> ClassifyReport:
    """Classify audio files with one or more models (CNN bundles, tabular bundles, shipped models).

    Parameters
    ----------
    models : path-like, str, sequence of them, or None
        Model bundle folders (from ``spotidance train``) or shipped model names
        (:func:`spotidance.tabular.shipped.shipped_models`); None: :data:`DEFAULT_MODEL`.
        Several models must share their labels; their track probabilities are averaged (fusion).
    paths : sequence of path-like
        Files, folders and glob patterns (see :func:`find_audio_files`).
    workers : int, optional
        Decoding processes (default: one per core, at most one per file; 1 decodes in this
        process).
    backend : {"auto", "litert", "keras"}
        Inference runtime of CNN bundles (see :func:`spotidance.model.bundle.load_runner`).
    batch_frames : int
        Frames per CNN inference call.
    segment_seconds : float, optional
        Classify over time: cut each file into windows of this many seconds and give each track
        its :attr:`TrackResult.segments` (see the module's notes). At least
        :data:`MIN_SEGMENT_SECONDS`, and at least one CNN frame.
    progress : bool
        Show a progress bar on stderr.
    found : tuple of (list of str, list of Skipped), optional
        What :func:`find_audio_files` already made of ``paths`` (the command expands them once, to
        check its outputs against the inputs before any work); ``paths`` is then not expanded again
        (a ``-`` in it would find standard input already read).

    Returns
    -------
    ClassifyReport

    Raises
    ------
    SpotidanceError
        If a model cannot be read or run, the models do not share their labels, or
        ``segment_seconds`` is too short.
    """
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    loaded = resolve_models(models)
    labels = list(loaded[0].labels)
    cnn_configs = {json.dumps(m.bundle.config.to_dict(), sort_keys=True) for m in loaded if m.kind == "cnn"}
    if len(cnn_configs) > 1:
        raise SpotidanceError("CNN models to combine must use the same spectrogram settings")
    config = next((m.bundle.config for m in loaded if m.kind == "cnn"), None)
    if segment_seconds is not None:
        shortest = max(MIN_SEGMENT_SECONDS, config.frame_seconds if config is not None else 0.0)
        if not (segment_seconds >= shortest and np.isfinite(segment_seconds)):
            raise SpotidanceError(f"segments of {segment_seconds:g} s are too short: give at least {shortest:g} s")
        segment_seconds = float(segment_seconds)
    feature_set = _feature_set_for(loaded)
    columns = sorted({c for m in loaded if m.kind == "tabular" for c in m.tabular.feature_columns})
    files, skipped = find_audio_files(paths) if found is None else (list(found[0]), list(found[1]))
    n_workers = max(1, min(workers or default_workers(), len(files)))

    tracks: list[TrackResult] = []
    bar = progress_bar(enabled=progress and len(files) > 1, total=len(files), desc="classifying", unit="file")
    job = functools.partial(_inputs_job, config=config, feature_set=feature_set, columns=tuple(columns),
                            segment_seconds=segment_seconds)
    infer = _infer if segment_seconds is None else _infer_windows
    jobs = zip(files, map_ordered(job, files, workers=n_workers, what="a file"))
    try:
        # The pool's processes start on the first next(): before Keras (and TensorFlow's
        # threads) can be imported by load_runner, so they never fork a TensorFlow process.
        first = next(jobs, None)
        if files:
            for m in loaded:
                if m.kind == "cnn":
                    m.runner = load_runner(m.bundle, backend=backend)
                    m.backend = m.runner.backend
        pending: list[tuple[str, dict[str, Any]]] = []
        n_pending = 0
        # One BLAS thread for the models in this process: the cores are busy decoding, and a
        # tabular model's rows cost less CPU on one thread (0.24-0.30 against 0.46-0.49 ms a row
        # in batches of 64-200; OpenBLAS's second thread mostly spins).
        with threadpool_limits(1):
            for path, (status, value) in itertools.chain([] if first is None else [first], jobs):
                if status == "ok":
                    pending.append((path, value))
                    n_pending += len(value["frames"]) if value.get("frames") is not None else 1
                    if n_pending >= batch_frames:
                        infer(pending, models=loaded, labels=labels, batch_frames=batch_frames, tracks=tracks, skipped=skipped)
                        pending, n_pending = [], 0
                else:
                    skipped.append(Skipped(path, value))
                bar.update(1)
            infer(pending, models=loaded, labels=labels, batch_frames=batch_frames, tracks=tracks, skipped=skipped)
    finally:
        bar.close()
    return ClassifyReport(
        model=" + ".join(m.name for m in loaded),
        model_name=" + ".join(m.model_name for m in loaded),
        labels=labels,
        backend=" + ".join(m.backend if (files or m.kind == "tabular") else "none" for m in loaded),
        tracks=tracks,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        segment_seconds=segment_seconds,
    )


def _inputs_job(path: str, *, config: SpectrogramConfig | None, feature_set: str | None,
                columns: tuple[str, ...] = (), segment_seconds: float | None = None) -> tuple[str, Any]:
    """For worker processes: one decode, then the frames and/or features the models need.

    Returns ``("ok", {"frames": array or None, "features": dict or None})`` or ``("skip", reason)``;
    with ``segment_seconds``, ``features`` is None and ``"windows"`` lists each window's
    ``start``, ``end`` (seconds), ``frames`` (a ``(first, stop)`` range of ``frames``) and
    ``features`` (a dict, or None when a feature could not be measured in the window).
    """
    try:
        rate = config.sample_rate if config is not None else FEATURE_SAMPLE_RATE
        y = load(path, sample_rate=rate)
        if segment_seconds is not None:
            return "ok", _window_inputs(y, rate=rate, path=path, config=config, feature_set=feature_set,
                                        columns=columns, segment_seconds=segment_seconds)
        frames = features = None
        if config is not None:
            frames = frames_from_audio(y, config=config)
            if len(frames) == 0:
                raise AudioDecodeError(
                    f"too short: {len(y) / config.sample_rate:.2f} s, one frame needs {config.frame_seconds:.2f} s"
                )
        if feature_set is not None:
            if rate != FEATURE_SAMPLE_RATE:
                y = load(path, sample_rate=FEATURE_SAMPLE_RATE)
            features = analyze_signal(y, sample_rate=FEATURE_SAMPLE_RATE, feature_set=feature_set, columns=columns)
        return "ok", {"frames": frames, "features": features}
    except SpotidanceError as exc:
        return "skip", short_reason(exc, limit=160)
    except MemoryError:
        return "skip", "file too large to decode"
    except Exception as exc:  # a decoder bug must not end the run: report it against the file
        return "skip", f"unexpected error: {type(exc).__name__}: {short_reason(exc, limit=100)}"


def _window_inputs(y: np.ndarray, *, rate: int, path: str, config: SpectrogramConfig | None, feature_set: str | None,
                   columns: tuple[str, ...], segment_seconds: float) -> dict[str, Any]:
    """:func:`_inputs_job`'s answer over time, for samples ``y`` at ``rate`` (see there)."""
    duration = len(y) / rate
    bounds = window_bounds(duration, segment_seconds)
    frames = None
    ranges = [(0, 0)] * len(bounds)
    if config is not None:
        frames = frames_from_audio(y, config=config)
        if len(frames) == 0:
            raise AudioDecodeError(f"too short: {duration:.2f} s, one frame needs {config.frame_seconds:.2f} s")
        centres = (np.arange(len(frames)) + 0.5) * config.frame_seconds  # a frame counts in the window of its centre
        edges = np.searchsorted(centres, [b[0] for b in bounds[1:]])
        ranges = list(itertools.pairwise([0, *edges.tolist(), len(frames)]))
    if feature_set is not None and rate != FEATURE_SAMPLE_RATE:
        y = load(path, sample_rate=FEATURE_SAMPLE_RATE)
    windows = []
    for (start, end), frame_range in zip(bounds, ranges):
        features = None
        if feature_set is not None:
            part = y[round(start * FEATURE_SAMPLE_RATE): round(end * FEATURE_SAMPLE_RATE)]
            try:
                features = analyze_signal(part, sample_rate=FEATURE_SAMPLE_RATE, feature_set=feature_set, columns=columns)
            except SpotidanceError:
                features = None  # a window without sound, say: the other windows still count
        windows.append({"start": start, "end": end, "frames": frame_range, "features": features})
    return {"frames": frames, "features": None, "windows": windows}


def window_bounds(duration: float, seconds: float) -> list[tuple[float, float]]:
    """Consecutive windows of ``seconds`` covering ``duration`` seconds.

    A remainder of at least half a window is a window of its own; a shorter one lengthens the last
    window. A file shorter than one window is one window.

    Parameters
    ----------
    duration : float
    seconds : float

    Returns
    -------
    list of (start, end)
    """
    full = int(duration // seconds)
    if full == 0:
        return [(0.0, float(duration))]
    bounds = [(i * seconds, (i + 1) * seconds) for i in range(full)]
    rest = duration - full * seconds
    if rest >= seconds / 2:
        bounds.append((full * seconds, float(duration)))
    elif rest > 0:
        bounds[-1] = (bounds[-1][0], float(duration))
    return bounds


def smooth(probabilities: np.ndarray, *, width: int = SMOOTH_WINDOWS) -> np.ndarray:
    """A centred moving average over ``width`` windows (fewer at the ends), rows renormalised to sum 1.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(n_windows, n_labels)``.
    width : int
        Odd; 1 leaves the rows as they are.

    Returns
    -------
    numpy.ndarray
    """
    p = np.asarray(probabilities, dtype=np.float64)
    half = max(0, int(width) // 2)
    if half == 0 or len(p) < 2:
        return p.copy()
    cum = np.vstack([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
    idx = np.arange(len(p))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(p))
    out = (cum[hi] - cum[lo]) / (hi - lo)[:, None]
    return out / out.sum(axis=1, keepdims=True)


def merge_segments(windows: Sequence[tuple[float, float]], probabilities: np.ndarray, *,
                   labels: Sequence[str]) -> list[Segment]:
    """Runs of consecutive windows with the same arg-max label, as :class:`Segment` s.

    Parameters
    ----------
    windows : sequence of (start, end)
        Seconds, in time order.
    probabilities : numpy.ndarray
        ``(n_windows, n_labels)`` (smoothed) window probabilities.
    labels : sequence of str

    Returns
    -------
    list of Segment
        A segment's probabilities are the mean over its windows.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    best = np.argmax(p, axis=1) if len(p) else np.zeros(0, dtype=int)
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(p) + 1):
        if i == len(p) or best[i] != best[start]:
            mean = p[start:i].mean(axis=0)
            label = labels[int(best[start])]
            segments.append(Segment(
                start=float(windows[start][0]), end=float(windows[i - 1][1]), label=label,
                probability=float(mean[int(best[start])]),
                probabilities={lab: float(v) for lab, v in zip(labels, mean)},
            ))
            start = i
    return segments


def _infer_windows(pending: list[tuple[str, dict[str, Any]]], *, models: list[_Model], labels: list[str],
                   batch_frames: int, tracks: list[TrackResult], skipped: list[Skipped]) -> None:
    """Like :func:`_infer`, per window: each model predicts each window, models are averaged, then smoothed.

    A window a tabular model cannot measure (no rhythm in it) is predicted by the other models
    only, and left out when no model could predict it; a track with no window left is skipped.
    """
    if not pending:
        return
    n_labels = len(labels)
    per_track: list[list[np.ndarray]] = [[] for _ in pending]  # per model: (n_windows, n_labels), NaN = no answer
    nov: list[list[np.ndarray]] = [[] for _ in pending]
    flags: list[list[np.ndarray]] = [[] for _ in pending]
    for m in models:
        order = [m.labels.index(label) for label in labels]
        if m.kind == "cnn":
            frames = np.concatenate([v["frames"] for _, v in pending])
            probs = np.concatenate([m.runner.predict(frames[i : i + batch_frames]) for i in range(0, len(frames), batch_frames)])
            probs = np.asarray(probs, dtype=np.float64)[:, order]
            offset = 0
            for k, (_, v) in enumerate(pending):
                out = np.full((len(v["windows"]), n_labels), np.nan)
                for w, win in enumerate(v["windows"]):
                    a, b = win["frames"]
                    if b > a:
                        out[w] = probs[offset + a : offset + b].mean(axis=0)
                per_track[k].append(out)
                offset += len(v["frames"])
        else:
            cols = m.tabular.feature_columns
            rows = [(k, w) for k, (_, v) in enumerate(pending) for w, win in enumerate(v["windows"])
                    if win["features"] is not None and all(_finite(win["features"].get(c)) for c in cols)]
            outs = [np.full((len(v["windows"]), n_labels), np.nan) for _, v in pending]
            scores = [np.full(len(v["windows"]), np.nan) for _, v in pending]
            novel = [np.zeros(len(v["windows"]), dtype=bool) for _, v in pending]
            if rows:
                table = {c: np.array([float(pending[k][1]["windows"][w]["features"][c]) for k, w in rows]) for c in cols}
                pred = m.tabular.predict(table)
                p = np.asarray(pred.probabilities, dtype=np.float64)[:, order]
                sc = np.asarray(pred.novelty_score, dtype=np.float64)
                fl = np.asarray(pred.novel, dtype=bool)
                for j, (k, w) in enumerate(rows):
                    outs[k][w], scores[k][w], novel[k][w] = p[j], sc[j], fl[j]
            for k in range(len(pending)):
                per_track[k].append(outs[k])
                nov[k].append(scores[k])
                flags[k].append(novel[k])
    for k, (path, v) in enumerate(pending):
        stack = np.stack(per_track[k])  # (n_models, n_windows, n_labels)
        answered = ~np.isnan(stack).any(axis=2)  # (n_models, n_windows)
        keep = answered.any(axis=0)
        if not keep.any():
            names = ", ".join(m.name for m in models if m.kind == "tabular")
            skipped.append(Skipped(path, f"could not measure the features {names} needs in any window (no rhythm or no sound?)"))
            continue
        with np.errstate(invalid="ignore"):
            fused = np.nanmean(stack[:, keep], axis=0)  # (n_kept, n_labels)
        bounds = [(win["start"], win["end"]) for win, kept in zip(v["windows"], keep) if kept]
        smoothed = smooth(fused)
        mean = fused.mean(axis=0)
        novelty = unlike = None
        if nov[k]:
            score = np.fmax.reduce(np.stack(nov[k]), axis=0)[keep]
            flag = np.logical_or.reduce(np.stack(flags[k]), axis=0)[keep]
            measured = np.isfinite(score)
            if measured.any():
                novelty = float(np.median(score[measured]))
                unlike = bool(flag[measured].mean() > 0.5)
        tracks.append(TrackResult(
            path=path,
            label=labels[int(np.argmax(mean))],
            probabilities={label: float(p) for label, p in zip(labels, mean)},
            frames=0 if v["frames"] is None else int(len(v["frames"])),
            novelty=novelty,
            unlike_training=unlike,
            segments=merge_segments(bounds, smoothed, labels=labels),
            windows=[Segment(start=float(a), end=float(b), label=labels[int(np.argmax(p))], probability=float(p.max()),
                             probabilities={label: float(x) for label, x in zip(labels, p)})
                     for (a, b), p in zip(bounds, smoothed)],
        ))


def _infer(pending: list[tuple[str, dict[str, Any]]], *, models: list[_Model], labels: list[str],
           batch_frames: int, tracks: list[TrackResult], skipped: list[Skipped]) -> None:
    """Every model's track probabilities for several tracks, averaged over the models (fusion).

    Appends to ``tracks``, or to ``skipped`` a track whose features a tabular model needs could
    not be measured (no tempo in a clip without rhythm, say). CNN frames run in batches of at most
    ``batch_frames`` frames, so a long file (a 2 h mix has 2,400 frames) needs no more memory for
    inference than a short one.
    """
    for m in models:
        if m.kind != "tabular":
            continue
        keep = []
        for path, v in pending:
            missing = [c for c in m.tabular.feature_columns if not _finite(v["features"].get(c))]
            if missing:
                skipped.append(Skipped(path, f"could not measure {', '.join(missing[:3])} for {m.name} (no rhythm or no sound?)"))
            else:
                keep.append((path, v))
        pending = keep
    if not pending:
        return
    per_model: list[np.ndarray] = []
    novelty: np.ndarray | None = None
    unlike: np.ndarray | None = None
    n_frames = [0] * len(pending)
    for m in models:
        order = [m.labels.index(label) for label in labels]  # this model's columns in the report's order
        if m.kind == "cnn":
            frames = np.concatenate([v["frames"] for _, v in pending])
            probs = np.concatenate([m.runner.predict(frames[i : i + batch_frames]) for i in range(0, len(frames), batch_frames)])
            means, start = [], 0
            for k, (_, v) in enumerate(pending):
                n = len(v["frames"])
                means.append(np.asarray(probs[start : start + n], dtype=np.float64).mean(axis=0))
                n_frames[k], start = n, start + n
            per_model.append(np.stack(means)[:, order])
        else:
            table = {c: np.array([float(v["features"][c]) for _, v in pending]) for c in m.tabular.feature_columns}
            pred = m.tabular.predict(table)
            per_model.append(np.asarray(pred.probabilities, dtype=np.float64)[:, order])
            score = np.asarray(pred.novelty_score, dtype=np.float64)
            novelty = score if novelty is None else np.fmax(novelty, score)
            flag = np.asarray(pred.novel, dtype=bool)
            unlike = flag if unlike is None else (unlike | flag)
    fused = np.mean(per_model, axis=0)
    for k, (path, _) in enumerate(pending):
        tracks.append(TrackResult(
            path=path,
            label=labels[int(np.argmax(fused[k]))],
            probabilities={label: float(p) for label, p in zip(labels, fused[k])},
            frames=n_frames[k],
            novelty=None if novelty is None or not np.isfinite(novelty[k]) else float(novelty[k]),
            unlike_training=None if unlike is None else bool(unlike[k]),
        ))


def _finite(value: Any) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


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


# --------------------------------------------------------------------------------------------
# output


def format_report(report: ClassifyReport, *, fmt: str = "table", top: int = DEFAULT_TOP) -> str:
    """The classified tracks as an aligned table, CSV or JSON.

    Parameters
    ----------
    report : ClassifyReport
    fmt : {"table", "csv", "json"}
        ``table``: one row per track with its label, every label's probability when the model has at
        most :data:`MAX_TABLE_LABELS` labels (``p_<label>`` columns) or else the ``top`` most probable
        labels, the frames a CNN used, and with a tabular model the novelty score and an
        ``unlike training data`` flag. ``csv``: ``path, label, frames``, one ``p_<label>`` column per
        label, ``top`` (``label:probability`` pairs) and, with a tabular model, ``novelty`` and
        ``unlike_training``. ``json``: all of it per track (``top`` as a list), the skipped files with
        their reasons, and which models and runtimes answered. Classified over time
        (``report.segment_seconds``): ``table`` has one row per segment (file, start, end, label,
        probability), ``csv`` the columns ``path, start_s, end_s, label`` and one ``p_<label>``
        per label, one row per segment, and ``json`` adds ``segments`` and ``windows`` to each track.
    top : int
        How many labels ``top`` lists.

    Returns
    -------
    str
        Ends with a newline.
    """
    if fmt == "table":
        return _format_segments_table(report) if report.segment_seconds is not None else _format_table(report, top=top)
    if fmt == "csv":
        return _format_segments_csv(report) if report.segment_seconds is not None else _format_csv(report, top=top)
    if fmt == "json":
        return _format_json(report, top=top)
    raise SpotidanceError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _novelty_cells(t: TrackResult) -> list[str]:
    if t.novelty is None:
        return ["", ""]
    return [f"{t.novelty:.2f}", "UNLIKE" if t.unlike_training else "ok"]


def _format_table(report: ClassifyReport, *, top: int) -> str:
    wide = len(report.labels) <= MAX_TABLE_LABELS
    headers = ["file", "label"]
    headers += [f"p_{label}" for label in report.labels] if wide else [f"top {top}"]
    headers += ["frames"] if report.has_frames else []
    headers += ["novelty", "training-like"] if report.has_novelty else []
    rows = []
    for t in report.tracks:
        row = [t.path, t.label]
        row += [f"{t.probabilities[label]:.3f}" for label in report.labels] if wide else [
            "  ".join(f"{label} {p:.2f}" for label, p in t.top(top))]
        row += [t.frames] if report.has_frames else []
        row += _novelty_cells(t) if report.has_novelty else []
        rows.append(row)
    text = format_table(rows, headers=headers) + "\n"
    if report.has_novelty and any(t.unlike_training for t in report.tracks):
        text += ("UNLIKE: the file is unlike the model's training data (in its feature space); its label is a guess.\n")
    return text


def _format_csv(report: ClassifyReport, *, top: int) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    extra = ["novelty", "unlike_training"] if report.has_novelty else []
    writer.writerow(["path", "label", "frames", *[f"p_{label}" for label in report.labels], "top", *extra])
    for t in report.tracks:
        cells = [t.path, t.label, t.frames, *[f"{t.probabilities[label]:.6f}" for label in report.labels],
                 " ".join(f"{label}:{p:.4f}" for label, p in t.top(top))]
        if report.has_novelty:
            cells += ["" if t.novelty is None else f"{t.novelty:.4f}", "" if t.unlike_training is None else str(t.unlike_training).lower()]
        writer.writerow(cells)
    return buf.getvalue()


def _format_json(report: ClassifyReport, *, top: int) -> str:
    tracks = []
    for t in report.tracks:
        item = dataclasses.asdict(t)
        for key in ("segments", "windows"):
            if item[key] is None:
                del item[key]
        item["top"] = [{"label": label, "probability": p} for label, p in t.top(top)]
        tracks.append(item)
    data = {
        "model": report.model,
        "model_name": report.model_name,
        "backend": report.backend,
        "labels": report.labels,
        **({} if report.segment_seconds is None else {"segment_seconds": report.segment_seconds}),
        "tracks": tracks,
        "skipped": [dataclasses.asdict(s) for s in report.skipped],
    }
    return json.dumps(data, indent=2) + "\n"


def clock_time(seconds: float) -> str:
    """``seconds`` as ``m:ss`` (``h:mm:ss`` from an hour on), rounded to the second."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _format_segments_table(report: ClassifyReport) -> str:
    rows = [[t.path, clock_time(seg.start), clock_time(seg.end), seg.label, f"{seg.probability:.3f}"]
            for t in report.tracks for seg in (t.segments or [])]
    text = format_table(rows, headers=["file", "start", "end", "label", "probability"]) + "\n"
    unlike = [t.path for t in report.tracks if t.unlike_training]
    if unlike:
        text += (f"UNLIKE: {len(unlike)} file(s) mostly unlike the model's training data ({unlike[0]}"
                 f"{', ...' if len(unlike) > 1 else ''}); their labels are guesses.\n")
    return text


def _format_segments_csv(report: ClassifyReport) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "start_s", "end_s", "label", *[f"p_{label}" for label in report.labels]])
    for t in report.tracks:
        for seg in t.segments or []:
            writer.writerow([t.path, f"{seg.start:.2f}", f"{seg.end:.2f}", seg.label,
                             *[f"{seg.probabilities[label]:.6f}" for label in report.labels]])
    return buf.getvalue()


def format_for(output: str | None, fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from ``output``'s suffix (``.csv``/``.json``), else table."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    return {".csv": "csv", ".json": "json"}.get(suffix, "table")
