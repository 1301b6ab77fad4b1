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
from typing import Any, Sequence

import numpy as np

from spotidance.analyze.beatport import BEATPORT2016_COLUMNS
from spotidance.analyze.features import CORE_COLUMNS
from spotidance.analyze.features import SAMPLE_RATE as FEATURE_SAMPLE_RATE
from spotidance.analyze.run import analyze_signal
from spotidance.audio.config import SpectrogramConfig
from spotidance.audio.decode import load
from spotidance.audio.files import Skipped, find_audio_files
from spotidance.audio.spectrogram import frames_from_audio
from spotidance.core.atomic import write_atomic
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
    """

    path: str
    label: str
    probabilities: dict[str, float]
    frames: int
    novelty: float | None = None
    unlike_training: bool | None = None

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
    """

    model: str
    model_name: str
    labels: list[str]
    backend: str
    tracks: list[TrackResult]
    skipped: list[Skipped]
    seconds: float

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
    progress: bool = False,
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
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    ClassifyReport

    Raises
    ------
    SpotidanceError
        If a model cannot be read or run, or the models do not share their labels.
    """
    started = time.perf_counter()
    loaded = resolve_models(models)
    labels = list(loaded[0].labels)
    cnn_configs = {json.dumps(m.bundle.config.to_dict(), sort_keys=True) for m in loaded if m.kind == "cnn"}
    if len(cnn_configs) > 1:
        raise SpotidanceError("CNN models to combine must use the same spectrogram settings")
    config = next((m.bundle.config for m in loaded if m.kind == "cnn"), None)
    feature_set = _feature_set_for(loaded)
    columns = sorted({c for m in loaded if m.kind == "tabular" for c in m.tabular.feature_columns})
    files, skipped = find_audio_files(paths)
    n_workers = max(1, min(workers or default_workers(), len(files)))

    tracks: list[TrackResult] = []
    bar = progress_bar(enabled=progress and len(files) > 1, total=len(files), desc="classifying", unit="file")
    job = functools.partial(_inputs_job, config=config, feature_set=feature_set, columns=tuple(columns))
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
        for path, (status, value) in itertools.chain([] if first is None else [first], jobs):
            if status == "ok":
                pending.append((path, value))
                n_pending += len(value["frames"]) if value.get("frames") is not None else 1
                if n_pending >= batch_frames:
                    _infer(pending, models=loaded, labels=labels, batch_frames=batch_frames, tracks=tracks, skipped=skipped)
                    pending, n_pending = [], 0
            else:
                skipped.append(Skipped(path, value))
            bar.update(1)
        _infer(pending, models=loaded, labels=labels, batch_frames=batch_frames, tracks=tracks, skipped=skipped)
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
    )


def _inputs_job(path: str, *, config: SpectrogramConfig | None, feature_set: str | None,
                columns: tuple[str, ...] = ()) -> tuple[str, Any]:
    """For worker processes: one decode, then the frames and/or features the models need.

    Returns ``("ok", {"frames": array or None, "features": dict or None})`` or ``("skip", reason)``.
    """
    try:
        rate = config.sample_rate if config is not None else FEATURE_SAMPLE_RATE
        y = load(path, sample_rate=rate)
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
        their reasons, and which models and runtimes answered.
    top : int
        How many labels ``top`` lists.

    Returns
    -------
    str
        Ends with a newline.
    """
    if fmt == "table":
        return _format_table(report, top=top)
    if fmt == "csv":
        return _format_csv(report, top=top)
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
        item["top"] = [{"label": label, "probability": p} for label, p in t.top(top)]
        tracks.append(item)
    data = {
        "model": report.model,
        "model_name": report.model_name,
        "backend": report.backend,
        "labels": report.labels,
        "tracks": tracks,
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
