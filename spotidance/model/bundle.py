"""The model bundle: a trained classifier as one self-describing folder.

``spotidance train`` writes a bundle; ``evaluate`` and ``classify`` read it. Layout (format
``spotidance-model``, version :data:`BUNDLE_VERSION`)::

    MODEL_DIR/
      bundle.json     what the model is: labels, spectrogram configuration, training settings,
                      creation time, spotidance version, and the SHA-256 of every other file
      model.keras     the Keras model (input ``(None, n_mels, frame_length)`` float32 frames,
                      ``[mel, time]`` exactly as :func:`spotidance.audio.spectrogram.frames_from_audio`
                      gives them; output softmax ``(None, n_labels)``)
      model.tflite    the same model exported for the LiteRT runtime (float32, builtin ops), so
                      ``classify`` runs without importing TensorFlow
      metrics.json    the scores from training (see ``spotidance train``)
      split.json      the track ids on each side of the train / validation / test split
      <name>.png      figures (learning curves, confusion matrix)

:func:`read_bundle` reads only the JSON files (it imports neither TensorFlow nor Keras) and is
the single place that decides whether this spotidance can use a bundle: it refuses an unknown
format, a newer ``bundle_version``, missing files and corrupt JSON with a one-line message, and
is where a converter from older versions goes (:func:`_upgrade`). The model files' checksums are
verified when a model is loaded (:meth:`Bundle.verified_file`).

:func:`write_bundle` builds the bundle in a hidden sibling folder and renames it into place, so
a crash or Ctrl-C never leaves a half-written bundle: ``MODEL_DIR`` is either the old bundle or
the new one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from spotidance import __version__
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.atomic import output_errors
from spotidance.core.bundle_files import fsync_dir, read_json, sha256_file, swap_into_place, write_text_synced
from spotidance.core.errors import SpotidanceError, short_reason
from spotidance.core.extras import require
from spotidance.dataset.frames import checked_config
from spotidance.model.runners import BACKENDS, KerasRunner, LiteRTRunner, Runner, litert_available

#: The ``format`` field of every ``bundle.json``.
BUNDLE_FORMAT = "spotidance-model"

#: Version of the bundle layout this spotidance writes and reads. Raise it whenever the layout or
#: the meaning of a field changes, and teach :func:`_upgrade` to convert the previous version.
BUNDLE_VERSION = 1

MANIFEST = "bundle.json"
KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"

#: LiteRT and Keras probabilities on the same frames must agree this closely, or the bundle is
#: written without ``model.tflite`` (``classify`` then falls back to Keras).
TFLITE_TOLERANCE = 1e-4

_HINT = "train a new one with `spotidance train`"

#: A file name ``bundle.json`` may list: a plain name inside the bundle folder (a bundle is
#: untrusted input; ``../x`` must never be read).
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A model bundle read from disk (see :func:`read_bundle`).

    Attributes
    ----------
    path : pathlib.Path
        The bundle folder.
    model_name : str
        The architecture, e.g. ``"binary-1d"``.
    labels : list of str
        Label names; output ``i`` of the model is the probability of ``labels[i]``.
    config : SpectrogramConfig
        How the training frames were made; audio must be framed the same way.
    training : dict
        Training settings (seed, epochs, batch size, options, ...).
    metrics : dict
        Contents of ``metrics.json``.
    split : dict
        ``{"train": [...], "validation": [...], "test": [...]}`` track ids.
    created : str
        UTC ISO time the bundle was written.
    spotidance_version : str
        Version of spotidance that wrote it.
    files : dict
        File name -> ``{"sha256": ..., "bytes": ...}``.
    manifest : dict
        The whole ``bundle.json``.
    """

    path: Path
    model_name: str
    labels: list[str]
    config: SpectrogramConfig
    training: dict[str, Any]
    metrics: dict[str, Any]
    split: dict[str, list[str]]
    created: str
    spotidance_version: str
    files: dict[str, dict[str, Any]]
    manifest: dict[str, Any]

    @property
    def has_tflite(self) -> bool:
        """Whether the bundle holds a LiteRT model."""
        return TFLITE_FILE in self.files

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(n_mels, frame_length)``: the shape of one input frame."""
        return (self.config.n_mels, self.config.frame_length)

    def verified_file(self, name: str) -> Path:
        """Path of a bundle file after checking its SHA-256 against ``bundle.json``.

        Raises
        ------
        SpotidanceError
            If the file is not part of the bundle, is missing or has been altered.
        """
        entry = self.files.get(name)
        if entry is None:
            raise SpotidanceError(f"{self.path}: the bundle has no {name}; {_HINT}")
        file = self.path / name
        if not file.is_file():
            raise SpotidanceError(f"{self.path}: {name} is missing; restore the bundle or {_HINT}")
        if sha256_file(file) != entry.get("sha256"):
            raise SpotidanceError(f"{self.path}: {name} is damaged (checksum mismatch); restore the bundle or {_HINT}")
        return file

    def keras_model(self):
        """Load the Keras model (imports Keras and TensorFlow: several seconds).

        Returns
        -------
        keras.Model
        """
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no TensorFlow start-up lines before our message
        keras = require("keras", extra="train", purpose="load this bundle's Keras model")  # built-in layers only

        file = self.verified_file(KERAS_FILE)
        try:
            return keras.saving.load_model(file, compile=False)
        except Exception as exc:
            if "Lambda" in str(exc) or "arbitrary code" in str(exc):
                raise SpotidanceError(
                    f"{file}: the model holds a Lambda layer (Python code), which spotidance never runs from a bundle; {_HINT}"
                ) from None
            raise SpotidanceError(f"{file}: Keras cannot load it ({short_reason(exc, limit=200)}); {_HINT}") from None


def check_config(bundle: Bundle, config: SpectrogramConfig, *, what: str = "the data") -> None:
    """Refuse data framed differently from the frames the model was trained on.

    Parameters
    ----------
    bundle : Bundle
    config : SpectrogramConfig
        The configuration of the data about to be scored (e.g. a frame dataset's).
    what : str
        Name of the data, for the message.

    Raises
    ------
    SpotidanceError
        Listing every differing setting (model's value vs the data's).
    """
    diffs = bundle.config.differences(config)
    if diffs:
        raise SpotidanceError(
            f"{what} was framed differently from the frames model {bundle.path} was trained on "
            f"({'; '.join(diffs)}, model vs data); re-run `spotidance prepare` with the model's settings"
        )


# --------------------------------------------------------------------------------------------
# reading


def read_bundle(model_dir: str | os.PathLike) -> Bundle:
    """Read a model bundle's description (JSON files only; no TensorFlow import).

    Parameters
    ----------
    model_dir : path-like
        A folder written by :func:`write_bundle`.

    Returns
    -------
    Bundle

    Raises
    ------
    SpotidanceError
        If the folder is not a bundle, was written by a newer spotidance, is incomplete or has
        corrupt JSON. The message says what to do.
    """
    path = Path(model_dir)
    if not path.exists():
        raise SpotidanceError(f"{path}: no such model folder")
    if not path.is_dir():
        raise SpotidanceError(f"{path}: not a model folder (a bundle is a folder written by `spotidance train`)")
    manifest = read_json(path / MANIFEST, missing=f"{path}: not a model bundle (no {MANIFEST}); give the --out folder of `spotidance train`", hint=_HINT)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise SpotidanceError(f"{path / MANIFEST}: not a spotidance model bundle (format is not {BUNDLE_FORMAT!r})")
    if manifest.get("kind", "cnn") != "cnn":
        raise SpotidanceError(
            f"{path}: a {manifest.get('kind')!s:.20} model bundle, not a CNN: use it with `spotidance classify --model`; "
            "evaluate and this reader take the CNN bundles of `spotidance train --model binary-1d|multiclass-2d`"
        )
    version = manifest.get("bundle_version")
    if not isinstance(version, int) or version < 1:
        raise SpotidanceError(f"{path / MANIFEST}: invalid bundle_version {version!r}; {_HINT}")
    if version > BUNDLE_VERSION:
        raise SpotidanceError(
            f"{path}: bundle version {version} was written by a newer spotidance "
            f"({manifest.get('spotidance_version', '?')}); this one ({__version__}) reads up to version "
            f"{BUNDLE_VERSION}: upgrade spotidance (pip install -U spotidance)"
        )
    manifest = _upgrade(manifest, path=path)
    files, labels, config, model_name = _validate(manifest, file=path / MANIFEST)
    if len(labels) < 2:
        raise SpotidanceError(f"{path / MANIFEST}: a classifier needs at least 2 labels, found {len(labels)}; {_HINT}")
    for required in (KERAS_FILE, METRICS_FILE, SPLIT_FILE):
        if required not in files:
            raise SpotidanceError(f"{path / MANIFEST}: lists no {required}; {_HINT}")
    missing = sorted(name for name in files if not (path / name).is_file())
    if missing:
        raise SpotidanceError(f"{path}: incomplete bundle, missing {', '.join(missing)}; restore the folder or {_HINT}")
    metrics = read_json(path / METRICS_FILE, missing=f"{path}: {METRICS_FILE} is missing; {_HINT}", hint=_HINT)
    split = read_json(path / SPLIT_FILE, missing=f"{path}: {SPLIT_FILE} is missing; {_HINT}", hint=_HINT)
    if not isinstance(split, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in split.values()
    ):
        raise SpotidanceError(f"{path / SPLIT_FILE}: damaged (not lists of track ids per side); restore the bundle or {_HINT}")
    return Bundle(
        path=path,
        model_name=model_name,
        labels=labels,
        config=config,
        training=dict(manifest.get("training") or {}),
        metrics=metrics if isinstance(metrics, dict) else {},
        split=split if isinstance(split, dict) else {},
        created=str(manifest.get("created", "")),
        spotidance_version=str(manifest.get("spotidance_version", "")),
        files=files,
        manifest=manifest,
    )


def _validate(manifest: dict[str, Any], *, file: Path) -> tuple[dict[str, dict[str, Any]], list[str], SpectrogramConfig, str]:
    """Check ``bundle.json``'s fields (types, names inside the folder) before any is used.

    Returns ``files, labels, config, model_name``; raises a one-line :class:`SpotidanceError`.
    """

    def bad(what: str) -> SpotidanceError:
        return SpotidanceError(f"{file}: damaged bundle description ({what}); restore the bundle or {_HINT}")

    for key in ("files", "labels", "spectrogram", "model_name"):
        if key not in manifest:
            raise bad(f"no {key!r}")
    files, labels, model_name = manifest["files"], manifest["labels"], manifest["model_name"]
    if not isinstance(files, dict):
        raise bad("'files' is not a JSON object")
    for name, entry in files.items():
        if not _FILE_NAME.match(name) or name == MANIFEST:
            raise bad(f"'files' names {name[:60]!r}, not a file inside the bundle folder")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
            raise bad(f"'files' entry {name!r} has no valid sha256")
        size = entry.get("bytes", 0)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad(f"'files' entry {name!r} has an invalid size")
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise bad("'labels' must be a list of distinct non-empty strings")
    if not isinstance(model_name, str) or not model_name:
        raise bad("'model_name' is not a string")
    for key in ("training", "tflite", "input"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise bad(f"{key!r} is not a JSON object")
    config = checked_config(manifest["spectrogram"], bad=bad)
    return dict(files), list(labels), config, model_name


def _upgrade(manifest: dict[str, Any], *, path: Path) -> dict[str, Any]:
    """Convert a manifest of an older ``bundle_version`` to the current one.

    Version 1 is the first, so there is nothing to convert yet. When version 2 arrives, add a
    ``if manifest["bundle_version"] == 1: ...`` step here (and keep the test bundles of every
    old version), or raise a :class:`SpotidanceError` saying the bundle must be retrained.
    """
    return manifest


# --------------------------------------------------------------------------------------------
# writing


def write_bundle(
    out_dir: str | os.PathLike,
    *,
    model,
    model_name: str,
    labels: list[str],
    config: SpectrogramConfig,
    training: dict[str, Any],
    metrics: dict[str, Any],
    split: dict[str, list[str]],
    figures: dict[str, str | os.PathLike] | None = None,
) -> Path:
    """Write a trained model and everything needed to use it as a bundle folder, atomically.

    Parameters
    ----------
    out_dir : path-like
        The bundle folder. An existing bundle there is replaced; any other non-empty folder is
        refused (nothing is deleted).
    model : keras.Model
        Input ``(None, n_mels, frame_length)`` float32 frames, ``[mel, time]``; output softmax
        ``(None, len(labels))``. Any reshaping or scaling must be inside the model.
    model_name : str
        The architecture's name.
    labels : list of str
        Label names in the order of the model's outputs.
    config : SpectrogramConfig
        The configuration of the frames the model was trained on.
    training : dict
        Training settings and seed (JSON-ready; NumPy scalars are converted).
    metrics : dict
        Scores, written to ``metrics.json``.
    split : dict
        ``{"train": [...], "validation": [...], "test": [...]}`` track ids.
    figures : dict, optional
        Figure name -> existing PNG file, copied into the bundle as ``<name>.png``.

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    SpotidanceError
        If the model's input or output shape does not match ``config`` and ``labels``, a figure
        is missing, or ``out_dir`` is a non-empty folder that is not a bundle.
    """
    out = Path(out_dir)
    labels = [str(x) for x in labels]
    _check_model_shapes(model, config=config, n_labels=len(labels))
    _check_target(out)
    figure_files = _figure_files(figures or {})

    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with output_errors(out, hint="; the previous bundle there, if any, is unchanged"):
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.mkdir()
            model.save(tmp / KERAS_FILE)
            tflite_info = _export_tflite(model, tmp / TFLITE_FILE, config=config)
            _write_json(tmp / METRICS_FILE, metrics)
            _write_json(tmp / SPLIT_FILE, {k: [str(t) for t in v] for k, v in split.items()})
            for name, source in figure_files.items():
                shutil.copyfile(source, tmp / name)
            files = {
                p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                for p in sorted(tmp.iterdir())
                if p.is_file()
            }
            manifest = {
                "format": BUNDLE_FORMAT,
                "bundle_version": BUNDLE_VERSION,
                "spotidance_version": __version__,
                "model_name": model_name,
                "labels": labels,
                "spectrogram": config.to_dict(),
                "input": {"shape": [config.n_mels, config.frame_length], "layout": "mel,time", "dtype": "float32"},
                "training": training,
                "tflite": tflite_info,
                "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                "files": files,
            }
            _write_json(tmp / MANIFEST, manifest)  # written last: a folder without it is not a bundle
            fsync_dir(tmp)
            swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _check_model_shapes(model, *, config: SpectrogramConfig, n_labels: int) -> None:
    if n_labels < 2:
        raise SpotidanceError(f"a classifier needs at least 2 labels, got {n_labels}")
    in_shape = tuple(model.input_shape[1:])
    out_shape = tuple(model.output_shape[1:])
    if in_shape != (config.n_mels, config.frame_length):
        raise SpotidanceError(
            f"model input shape {in_shape} does not match the frames (n_mels, frame_length) = "
            f"({config.n_mels}, {config.frame_length})"
        )
    if out_shape != (n_labels,):
        raise SpotidanceError(f"model output shape {out_shape} does not match the {n_labels} labels")


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SpotidanceError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise SpotidanceError(f"{out}: folder is not empty and not a model bundle; choose another --out (nothing was changed)")


def _figure_files(figures: dict[str, str | os.PathLike]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, source in figures.items():
        source = Path(source)
        if not source.is_file():
            raise SpotidanceError(f"figure {name!r}: {source} does not exist")
        file_name = Path(name).name if name.lower().endswith(".png") else f"{Path(name).name}.png"
        if file_name in (MANIFEST, KERAS_FILE, TFLITE_FILE, METRICS_FILE, SPLIT_FILE):
            raise SpotidanceError(f"figure name {name!r} collides with a bundle file")
        out[file_name] = source
    return out


def _export_tflite(model, file: Path, *, config: SpectrogramConfig) -> dict[str, Any]:
    """Export ``model`` for LiteRT and check it against Keras on probe frames.

    Uses Keras' own ``model.export(format="litert")`` (the TFLite converter with builtin ops,
    float32). A model the converter cannot handle, or whose LiteRT outputs differ from Keras' by
    more than :data:`TFLITE_TOLERANCE`, is written without ``model.tflite``; ``classify`` then
    uses Keras, which is slower to start but gives the same answers.

    Returns
    -------
    dict
        ``{"exported": bool, "max_abs_diff": float | None, "reason": str | None}``.
    """
    import contextlib
    import io

    import numpy as np

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            model.export(str(file), format="litert", verbose=False)
    except Exception as exc:
        file.unlink(missing_ok=True)
        return {"exported": False, "max_abs_diff": None, "reason": f"export failed: {short_reason(exc)}"}


    probe = probe_frames(config=config)
    expected = np.asarray(model(probe, training=False), dtype=np.float32)
    got = LiteRTRunner(file).predict(probe)
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= TFLITE_TOLERANCE:
        file.unlink(missing_ok=True)
        return {"exported": False, "max_abs_diff": diff, "reason": f"LiteRT and Keras disagree by {diff:.2g}"}
    return {"exported": True, "max_abs_diff": diff, "reason": None}


def probe_frames(*, config: SpectrogramConfig, n: int = 4, seed: int = 0):
    """Deterministic random frames in the range of real log-mel dB values, for checks.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n, n_mels, frame_length)``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if config.normalize == "frame":
        values = rng.standard_normal((n, config.n_mels, config.frame_length))
    else:
        values = rng.uniform(-80.0, 20.0, (n, config.n_mels, config.frame_length))
    return values.astype(np.float32)


def _write_json(file: Path, data: Any) -> None:
    write_text_synced(file, json.dumps(_finite(data), indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """Replace NaN and infinities (e.g. an undefined precision) by ``None``: strict JSON has neither."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return _finite(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    """Make NumPy scalars and arrays, paths and sets JSON-ready."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def load_runner(bundle: "Bundle", *, backend: str = "auto", num_threads: int = 1) -> Runner:
    """The fastest runner for ``bundle`` that works here.

    Parameters
    ----------
    bundle : Bundle
    backend : {"auto", "litert", "keras"}
        ``"auto"``: LiteRT when the bundle has ``model.tflite`` and the runtime is installed,
        else Keras. ``"litert"`` fails with a message when that is impossible.
    num_threads : int
        LiteRT interpreter threads.

    Returns
    -------
    Runner
        Checked against the bundle: input ``(n_mels, frame_length)``, one output per label.

    Raises
    ------
    SpotidanceError
    """
    if backend not in BACKENDS:
        raise SpotidanceError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    use_litert = backend == "litert" or (backend == "auto" and bundle.has_tflite and litert_available())
    if use_litert:
        if not bundle.has_tflite:
            reason = (bundle.manifest.get("tflite") or {}).get("reason") or "not exported"
            raise SpotidanceError(f"{bundle.path}: the bundle has no LiteRT model ({reason}); use --backend keras")
        runner: Runner = LiteRTRunner(bundle.verified_file(TFLITE_FILE), num_threads=num_threads)
    else:
        runner = KerasRunner(bundle.keras_model())
    if tuple(runner.input_shape) != bundle.input_shape or runner.n_outputs != len(bundle.labels):
        raise SpotidanceError(
            f"{bundle.path}: the {runner.backend} model takes {tuple(runner.input_shape)} frames and gives "
            f"{runner.n_outputs} outputs, but the bundle describes {bundle.input_shape} frames and "
            f"{len(bundle.labels)} labels; the bundle is inconsistent, retrain it"
        )
    return runner
