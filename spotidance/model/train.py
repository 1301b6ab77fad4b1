"""``spotidance train``: fit a CNN on a frame dataset, score it honestly, write a model bundle.

The order of things is what makes the scores trustworthy:

1. The dataset's tracks are split first (:func:`spotidance.model.split.split_tracks`: by track, or by
   artist, stratified by label, 70/15/15, seeded); no track has frames on two sides.
2. The model is fitted on the training frames only, streamed from the memory-mapped shards in
   shuffled batches (:class:`FrameSequence`), so a dataset larger than RAM trains the same way.
3. The epoch is chosen on the validation set only: the weights of the epoch with the lowest
   validation loss are restored at the end (and, with a patience, training stops once the
   validation loss has not improved for that many epochs).
4. The test set is scored once, with those weights, per frame and per track
   (:func:`spotidance.model.evaluate.score`).

After every epoch a checkpoint (weights, optimizer state, the epoch, the best epoch so far and its
weights, the history) is written to a hidden folder next to ``out`` (:func:`checkpoint_folder`);
Ctrl-C raises :class:`TrainingInterrupted`, and a rerun with the same settings and dataset resumes
at the next epoch. The checkpoint is removed once the bundle is written. When the kept epoch
predicts one label for most validation tracks, or does no better than always guessing the largest
label, a warning is printed and recorded (``metrics.json``: ``warnings``).

Everything lands in a bundle (:func:`spotidance.model.bundle.write_bundle`): the model, its LiteRT
export, labels, spectrogram settings, the training settings and seed, ``metrics.json``, the
split and two figures (``learning_curves.png``, ``confusion_matrix.png``).

Keras, TensorFlow and matplotlib are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spotidance.core.atomic import check_writable_folder
from spotidance.core.errors import SpotidanceError
from spotidance.core.extras import require
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.dataset.frames import FrameDataset
from spotidance.model.architectures import BN_MOMENTUM, build_model, check_model_name, check_options, DEFAULTS, model_options
from spotidance.model.bundle import MANIFEST, write_bundle
from spotidance.model.evaluate import format_scores, predict_frames, score, track_predictions
from spotidance.model.runners import KerasRunner
from spotidance.model.split import check_no_leak, DEFAULT_FRACTIONS, SIDES, Split, split_tracks


#: Largest SpecAugment mask, as a fraction of the frame's height / width.
MASK_FRACTION = 0.125

#: Warn when the kept epoch predicts one label for more than this share of the validation tracks.
ONE_LABEL_SHARE = 0.9

#: Layout version of the checkpoint folder (another version is not resumed).
CHECKPOINT_VERSION = 1


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`; says whether and where a rerun resumes.

    Attributes
    ----------
    checkpoint : pathlib.Path
        The checkpoint folder (see :func:`checkpoint_folder`).
    epochs_done : int
        Epochs saved in it (0: nothing saved, a rerun starts over).
    finished : bool
        Training had ended (all epochs run, or stopped early); a rerun only scores and writes the bundle.
    """

    def __init__(self, *, checkpoint: Path, epochs_done: int, finished: bool) -> None:
        self.checkpoint, self.epochs_done, self.finished = checkpoint, epochs_done, finished
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line for the user: what was saved and what a rerun does."""
        if self.finished:
            return (f"interrupted after training ended (epoch {self.epochs_done}; checkpoint in {self.checkpoint}); "
                    "rerun the same command to score the model and write the bundle without training again")
        if self.epochs_done == 0:
            return "interrupted before this run saved an epoch; rerun the same command to start again"
        return (f"interrupted; {_epochs_text(self.epochs_done)} saved in {self.checkpoint}: rerun the same command to "
                f"resume from epoch {self.epochs_done + 1} (other settings or another dataset start over)")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How a CNN is trained, resolved and checked (see :meth:`for_model`).

    Attributes
    ----------
    epochs, batch_size : int
    learning_rate : float
        Adam's learning rate.
    patience : int or None
        Epochs without a lower validation loss before stopping; ``None``: never stop early.
    standardize : bool
        A per-mel-band Normalization layer adapted on the training frames.
    pooling : str
        ``"seed"``, or ``"avg"`` for global average pooling.
    spec_augment : bool
        One random time mask and one mel-band mask per training frame.
    class_weights : bool
        Weight frames by inverse label frequency ("balanced").
    bn_momentum : float
        binary-1d's BatchNorm momentum (0.99: Keras' default).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int | None
    standardize: bool = False
    pooling: str = "seed"
    spec_augment: bool = False
    class_weights: bool = False
    bn_momentum: float = BN_MOMENTUM

    @classmethod
    def for_model(cls, model_name: str, *, epochs: int | None = None, batch_size: int | None = None,
                  learning_rate: float | None = None, patience: int | None = None, standardize: bool = False,
                  pooling: str = "seed", spec_augment: bool = False, class_weights: bool = False,
                  bn_momentum: float = BN_MOMENTUM) -> TrainSettings:  # fmt: skip
        """The settings of ``model_name``: its defaults (:data:`~spotidance.model.architectures.DEFAULTS`)
        where a value is ``None``, everything checked before any work is done.

        Raises
        ------
        SpotidanceError
            Unknown model or pooling, numbers out of range.
        """
        check_model_name(model_name)
        check_options(pooling=pooling, bn_momentum=bn_momentum)
        defaults = DEFAULTS[model_name]
        epochs = defaults.epochs if epochs is None else int(epochs)
        batch_size = defaults.batch_size if batch_size is None else int(batch_size)
        learning_rate = defaults.learning_rate if learning_rate is None else float(learning_rate)
        patience = defaults.patience if patience is None else (int(patience) or None)
        if epochs < 1 or batch_size < 1:
            raise SpotidanceError(f"epochs and batch size must be at least 1 (got {epochs} and {batch_size})")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise SpotidanceError(f"the learning rate must be a positive number, got {learning_rate}")
        if patience is not None and patience < 1:
            raise SpotidanceError(f"patience must be positive (0: never stop early), got {patience}")
        return cls(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                   standardize=bool(standardize), pooling=pooling, spec_augment=bool(spec_augment),
                   class_weights=bool(class_weights), bn_momentum=float(bn_momentum))  # fmt: skip

    @property
    def options(self) -> dict[str, Any]:
        """The model and data options, as the bundle's ``training.json`` records them."""
        return {"standardize": self.standardize, "pooling": self.pooling, "spec_augment": self.spec_augment,
                "class_weights": self.class_weights, "bn_momentum": self.bn_momentum}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class TrainData:
    """A frame dataset made ready for training: labels in use, the split, frames per side.

    Attributes
    ----------
    labels : list of str
        Labels with frames, in dataset order (the model's output order).
    split : Split
    y : numpy.ndarray
        Each frame's label id in ``labels``.
    indices : dict
        Side -> global frame indices.
    sizes : dict
        Side -> ``{"tracks": n, "frames": n}``.
    n_tracks, n_frames : int
        Of the whole dataset.
    """

    labels: list[str]
    split: Split
    y: np.ndarray
    indices: dict[str, np.ndarray]
    sizes: dict[str, dict[str, int]]
    n_tracks: int
    n_frames: int


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    model_dir : pathlib.Path
        The bundle written.
    model_name : str
    labels : list of str
    split : Split
    metrics : dict
        The contents of ``metrics.json`` (``test``, ``validation``, ``history``, ...).
    best_epoch : int
        1-based epoch whose weights were kept.
    epochs_run : int
    seconds : float
        Wall time of the whole call (of this run, when it resumed from a checkpoint).
    warnings : list of str
        Why the model is probably useless (also in ``metrics.json`` and printed); empty when fine.
    """

    model_dir: Path
    model_name: str
    labels: list[str]
    split: Split
    metrics: dict[str, Any]
    best_epoch: int
    epochs_run: int
    seconds: float
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def test_track_accuracy(self) -> float:
        """Track-level accuracy on the held-out test set."""
        return float(self.metrics["test"]["track"]["accuracy"])


def train(
    dataset: str | os.PathLike,
    *,
    model_name: str,
    out: str | os.PathLike,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
    group_by_artist: bool = False,
    patience: int | None = None,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    standardize: bool = False,
    pooling: str = "seed",
    spec_augment: bool = False,
    class_weights: bool = False,
    bn_momentum: float = BN_MOMENTUM,
) -> TrainResult:
    """Train ``model_name`` on the frame dataset, score it and write a model bundle to ``out``.

    Parameters
    ----------
    dataset : path-like
        A frame dataset from ``spotidance prepare`` with at least 2 labels of 3 tracks each.
    model_name : {"binary-1d", "multiclass-2d"}
    out : path-like
        Bundle folder (new, empty, or an old bundle to replace).
    epochs, batch_size, learning_rate : optional
        Default: the model's seed settings (:data:`spotidance.model.architectures.DEFAULTS`).
    seed : int
        Seeds the split, the weights, the shuffling and the augmentation.
    group_by_artist : bool
        Keep each artist's tracks on one side of the split.
    patience : int, optional
        Stop after this many epochs without a lower validation loss; 0 never stops early;
        default: the model's. The best epoch's weights are kept either way.
    fractions : (train, validation, test)
        Shares of each label's tracks.
    progress : bool
        A tqdm bar per epoch on stderr.
    echo : callable
        Receives the summary lines (split, one line per epoch, score tables).
    standardize, pooling, spec_augment, class_weights, bn_momentum
        Model and data options (see :class:`TrainSettings`).

    Returns
    -------
    TrainResult

    Raises
    ------
    SpotidanceError
        Unknown model or pooling, bad numbers, an unusable ``out``, a dataset with too few
        labels or tracks, a diverged training run.
    TrainingInterrupted
        Ctrl-C (a ``KeyboardInterrupt``); the checkpoint of the last finished epoch stays, and the
        same call resumes from it.

    Notes
    -----
    A checkpoint is resumed only when the model, every training setting, the seed, the split
    options and the dataset's contents are those it was made with; otherwise it is replaced (and
    ``echo`` says so). Resuming restores the weights, the optimizer state, the dropout seed state,
    the epoch counter (so the shuffling order and augmentation masks continue where they were), the
    best epoch so far with its weights, and the history.
    """
    started = time.perf_counter()
    settings = TrainSettings.for_model(model_name, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                       patience=patience, standardize=standardize, pooling=pooling,
                                       spec_augment=spec_augment, class_weights=class_weights, bn_momentum=bn_momentum)  # fmt: skip
    out = Path(out)
    _check_out(out)
    require("keras", extra="train", purpose="train a CNN")  # before any work

    checkpoint = None
    try:
        ds = FrameDataset.open(dataset)
        data = _prepare_data(ds, seed=seed, group_by_artist=group_by_artist, fractions=fractions)
        echo(_describe(data))

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        fingerprint = _fingerprint(model_name, settings, seed=seed, group_by_artist=group_by_artist, fractions=fractions, ds=ds,
                                   keras_version=keras.__version__)  # fmt: skip
        checkpoint = _Checkpoint(checkpoint_folder(out), fingerprint)
        keras.utils.set_random_seed(seed)
        stats = channel_stats(ds, data.indices["train"]) if settings.standardize else None
        model = build_model(model_name, n_labels=len(data.labels), config=ds.config, stats=stats, **model_options(settings.options))
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        _check_space(out, model)  # a full disk is reported now, not after the last epoch
        return _train_and_write(model, ds, data, settings=settings, checkpoint=checkpoint, model_name=model_name, out=out,
                                seed=seed, group_by_artist=group_by_artist, dataset=dataset, progress=progress, echo=echo,
                                started=started)  # fmt: skip
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        done, finished = (checkpoint.epochs_done, checkpoint.finished) if checkpoint else (0, False)
        raise TrainingInterrupted(checkpoint=checkpoint_folder(out), epochs_done=done, finished=finished) from None


def _train_and_write(model, ds, data: TrainData, *, settings: TrainSettings, checkpoint: _Checkpoint, model_name: str,
                     out: Path, seed: int, group_by_artist: bool, dataset, progress: bool, echo: Callable[[str], None],
                     started: float) -> TrainResult:  # fmt: skip
    """Fit (resuming from ``checkpoint`` when it matches), score, warn and write the bundle."""
    import keras

    labels, split, opts = data.labels, data.split, settings.options
    state = checkpoint.load(model, echo=echo)
    best, history, fit_seconds = _fit(model, ds, data, settings=settings, seed=seed, progress=progress, echo=echo,
                                      checkpoint=checkpoint, state=state)  # fmt: skip
    epochs_run = len(history.get("loss", []))
    scores, predictions = _score_sides(model, ds, data, progress=progress)  # test: once, with the kept weights
    warnings = useless_model_warnings(predictions["validation"], best_epoch=best.best_epoch, model_name=model_name, settings=settings)
    metrics = {
        "model_name": model_name,
        "labels": labels,
        "test": scores["test"],
        "validation": scores["validation"],
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best,
        "epochs_run": epochs_run,
        "stopped_early": bool(best.stopped),
        "history": history,
        "test_tracks": predictions["test"],
        "sizes": data.sizes,
        "fit_seconds": fit_seconds,
        "train_frames_per_second": len(data.indices["train"]) * epochs_run / fit_seconds if fit_seconds > 0 else None,
        "resumed_after_epoch": state["epochs_done"] if state else None,
        "warnings": warnings,
    }
    training = {
        "model_name": model_name,
        "seed": int(seed),
        "epochs": settings.epochs,
        "epochs_run": epochs_run,
        "best_epoch": best.best_epoch,
        "batch_size": settings.batch_size,
        "optimizer": "adam",
        "learning_rate": settings.learning_rate,
        "loss": "sparse_categorical_crossentropy",
        "monitor": "val_loss",
        "patience": settings.patience,
        "group_by_artist": bool(group_by_artist),
        "fractions": list(split.fractions),
        "options": opts,
        "dataset": str(Path(dataset).resolve()),
        "sizes": data.sizes,
        "keras_version": keras.__version__,
    }

    with tempfile.TemporaryDirectory(prefix="spotidance-figures-") as tmp:
        figures = {
            "learning_curves": plot_learning_curves(history, best_epoch=best.best_epoch, file=Path(tmp) / "learning_curves.png", title=model_name),
            "confusion_matrix": plot_confusion(scores["test"], labels=labels, file=Path(tmp) / "confusion_matrix.png", title=f"{model_name}: test set"),
        }
        metrics["seconds"] = time.perf_counter() - started
        write_bundle(out, model=model, model_name=model_name, labels=labels, config=ds.config, training=training,
                     metrics=metrics, split=split.as_dict(), figures=figures)  # fmt: skip

    checkpoint.remove()
    echo(format_scores(scores["test"], title="test"))
    echo(f"model bundle -> {out}  (best epoch {best.best_epoch} of {epochs_run}; figures and metrics.json inside)")
    for line in warnings:  # last, so it cannot scroll away
        echo(f"spotidance: warning: {line}")
    return TrainResult(out, model_name, labels, split, metrics, best.best_epoch, epochs_run, time.perf_counter() - started, warnings)


def useless_model_warnings(tracks: list[dict[str, Any]], *, best_epoch: int, model_name: str, settings: TrainSettings) -> list[str]:
    """The warning (at most one, one line) when the kept epoch looks useless on the validation tracks.

    Useless: it predicts one label for more than :data:`ONE_LABEL_SHARE` of the tracks (and more
    often than that label occurs), or its track accuracy is no better than always guessing the
    most frequent label (the majority-label rate).

    Parameters
    ----------
    tracks : list of dict
        Per-track rows with ``label`` and ``predicted`` (:func:`~spotidance.model.evaluate.track_predictions`).
    best_epoch : int
    model_name : str
    settings : TrainSettings
        To suggest only what was not tried.

    Returns
    -------
    list of str
        Empty when neither holds.
    """
    n = len(tracks)
    if n == 0:
        return []
    true = [row["label"] for row in tracks]
    predicted = [row["predicted"] for row in tracks]
    top = max(sorted(set(predicted)), key=predicted.count)
    share = predicted.count(top) / n
    majority = max(true.count(label) for label in set(true)) / n
    accuracy = sum(t == p for t, p in zip(true, predicted)) / n
    reasons = []
    if share > ONE_LABEL_SHARE and share > true.count(top) / n:
        reasons.append(f"predicts {top!r} for {predicted.count(top)} of {n} validation tracks")
    if accuracy <= majority:
        reasons.append(f"its validation track accuracy {accuracy:.3f} is no better than always guessing the largest label ({majority:.3f})")
    if not reasons:
        return []
    tries = []
    if model_name == "binary-1d" and settings.bn_momentum > 0.9:
        tries.append("--bn-momentum 0.9")
    if not settings.standardize:
        tries.append("--standardize")
    tries.append(f"more --epochs (this run: {settings.epochs})")
    tries.append("more tracks per label")
    return [f"the kept epoch ({best_epoch}) {' and '.join(reasons)}: the model is probably useless; try {', '.join(tries)}"]


# --------------------------------------------------------------------------------------------
# settings and data


def _fit(model, ds, data: TrainData, *, settings: TrainSettings, seed: int, progress: bool, echo: Callable[[str], None],
         checkpoint: _Checkpoint, state: dict[str, Any] | None):  # fmt: skip
    """Fit on the training frames, validate every epoch, checkpoint after each; returns (best-epoch
    callback, history, seconds). ``state``: a loaded checkpoint to continue from (model already restored)."""
    y = data.y
    first = state["epochs_done"] if state else 0
    history = {k: list(v) for k, v in state["history"].items()} if state else {}
    seconds = float(state["fit_seconds"]) if state else 0.0
    train_idx, val_idx = data.indices["train"], data.indices["validation"]
    weights = balanced_weights(y[train_idx], n_labels=len(data.labels)) if settings.class_weights else None
    Sequence = frame_sequence_class()
    train_seq = Sequence(ds, train_idx, y[train_idx], batch_size=settings.batch_size, shuffle=True, seed=seed,
                         spec_augment=settings.spec_augment, class_weights=weights, first_epoch=first)  # fmt: skip
    val_seq = Sequence(ds, val_idx, y[val_idx], batch_size=settings.batch_size)
    best = _best_epoch_callback(settings.patience, state=state["best"] if state else None)
    bar = _epoch_bar_callback(epochs=settings.epochs, steps=len(train_seq), enabled=progress, echo=echo, best=best)
    if not (state and state["finished"]):
        saver = _checkpoint_callback(checkpoint, best=best, history=history, seconds=seconds, epochs=settings.epochs)
        started = time.perf_counter()
        fitted = model.fit(train_seq, validation_data=val_seq, epochs=settings.epochs, initial_epoch=first, verbose=0,
                           callbacks=[best, saver, bar])  # fmt: skip
        seconds += time.perf_counter() - started
        for k, values in fitted.history.items():
            history.setdefault(k, []).extend(float(v) for v in values)
    else:  # only scoring and the bundle were left
        best.set_model(model)
        best.on_train_end()  # the kept weights
    if best.best_epoch is None:
        raise SpotidanceError("training diverged (the validation loss was never finite); try --standardize or a lower --learning-rate")
    return best, history, seconds


# --------------------------------------------------------------------------------------------
# the checkpoint


def _epochs_text(n: int) -> str:
    return "epoch 1 is" if n == 1 else f"epochs 1-{n} are"


def checkpoint_folder(out: str | os.PathLike) -> Path:
    """The hidden checkpoint folder of bundle folder ``out``: ``.NAME.partial`` beside it."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}.partial"


def _fingerprint(model_name: str, settings: TrainSettings, *, seed: int, group_by_artist: bool, fractions, ds,
                 keras_version: str) -> dict[str, Any]:  # fmt: skip
    """What a checkpoint must have been made with to be resumed (JSON-ready)."""
    content = json.dumps({"labels": ds.manifest["labels"], "spectrogram": ds.manifest["spectrogram"], "tracks": ds.manifest["tracks"]},
                         sort_keys=True, default=str)  # fmt: skip
    fingerprint = {
        "version": CHECKPOINT_VERSION,
        "model_name": model_name,
        "settings": dataclasses.asdict(settings),
        "seed": int(seed),
        "group_by_artist": bool(group_by_artist),
        "fractions": [float(f) for f in fractions],
        "dataset_sha256": hashlib.sha256(content.encode()).hexdigest(),
        "keras_version": keras_version,
    }
    return json.loads(json.dumps(fingerprint))


def _jsonable(value):
    """Tuples and arrays (of random states) as JSON lists."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Checkpoint:
    """The checkpoint folder: ``state.json`` (fingerprint, epochs done, history, best epoch) and the
    arrays of the last epoch (``epoch-N.npz``: model variables, optimizer variables, best weights)."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any]) -> None:
        self.folder, self.fingerprint = folder, fingerprint
        self.epochs_done, self.finished = 0, False

    def load(self, model, *, echo: Callable[[str], None]) -> dict[str, Any] | None:
        """Restore ``model`` (and its optimizer) from a matching checkpoint; its state, or ``None`` to start over."""
        file = self.folder / "state.json"
        if not file.is_file():
            return None
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
            old = state.get("fingerprint", {})
            if old != self.fingerprint:
                differs = sorted(k for k in set(old) | set(self.fingerprint) if old.get(k) != self.fingerprint.get(k))
                if "settings" in differs:
                    differs.remove("settings")
                    a, b = old.get("settings") or {}, self.fingerprint["settings"]
                    differs += sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                echo(f"a checkpoint in {self.folder} was made with other settings or another dataset "
                     f"({', '.join(differs)} differ); starting over")  # fmt: skip
                return None
            with np.load(self.folder / state["arrays"]) as arrays:
                variables = [arrays[f"variable_{i}"] for i in range(state["counts"]["variables"])]
                optimizer = [arrays[f"optimizer_{i}"] for i in range(state["counts"]["optimizer"])]
                best = [arrays[f"best_{i}"] for i in range(state["counts"]["best"])]
            model.optimizer.build(model.trainable_variables)
            if len(variables) != len(model.variables) or len(optimizer) != len(model.optimizer.variables):
                raise ValueError("the arrays do not fit the model")
            for v, a in zip(model.variables, variables):
                v.assign(a)
            for v, a in zip(model.optimizer.variables, optimizer):
                v.assign(a)
            version, internal, gauss = state["python_random"]
            random.setstate((version, tuple(internal), gauss))
            name, keys, pos, has_gauss, cached = state["numpy_random"]
            np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            echo(f"the checkpoint in {self.folder} is unreadable ({exc}); starting over")
            return None
        state["best"]["weights"] = best or None
        self.epochs_done, self.finished = int(state["epochs_done"]), bool(state["finished"])
        what = "training had finished; scoring" if self.finished else f"continuing at epoch {self.epochs_done + 1}"
        echo(f"resuming from the checkpoint in {self.folder}: {_epochs_text(self.epochs_done)} done, {what}")
        return state

    def save(self, model, *, epochs_done: int, finished: bool, best, history: dict[str, list[float]], fit_seconds: float) -> None:
        """Write the state after epoch ``epochs_done``: arrays first, then ``state.json`` naming them (atomic)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epochs_done}.npz"
        best_weights = best.weights or []
        arrays = {f"variable_{i}": np.array(v) for i, v in enumerate(model.variables)}
        arrays |= {f"optimizer_{i}": np.array(v) for i, v in enumerate(model.optimizer.variables)}
        arrays |= {f"best_{i}": w for i, w in enumerate(best_weights)}
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, self.folder / name)
        state = {
            "fingerprint": self.fingerprint,
            "epochs_done": epochs_done,
            "finished": finished,
            "history": history,
            "fit_seconds": fit_seconds,
            "best": {
                "best": best.best if math.isfinite(best.best) else None,
                "best_epoch": best.best_epoch,
                "wait": best.wait,
                "stopped": best.stopped,
            },
            # Keras shuffles the batch order with Python's `random`: its state (and NumPy's) at this epoch's end
            "python_random": _jsonable(random.getstate()),
            "numpy_random": _jsonable(np.random.get_state(legacy=True)),
            "arrays": name,
            "counts": {"variables": len(model.variables), "optimizer": len(model.optimizer.variables), "best": len(best_weights)},
        }
        tmp = self.folder / ".state.json.tmp"
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.folder / "state.json")
        for old in self.folder.glob("epoch-*.npz"):
            if old.name != name:
                old.unlink()
        self.epochs_done, self.finished = epochs_done, finished

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _score_sides(model, ds, data: TrainData, *, progress: bool):
    """Scores and per-track predictions of the validation and test sides with the model's current weights."""
    predict = KerasRunner(model).predict  # eager calls: no tf.function retraced per batch shape
    y, labels, track_ids = data.y, data.labels, ds.frame_track_ids
    paths = {t["track_id"]: t.get("path", "") for t in ds.manifest["tracks"]}
    scores, predictions = {}, {}
    for side in ("validation", "test"):
        idx = data.indices[side]
        probs = predict_frames(predict, ds, idx, progress=progress, desc=f"scoring {side}")
        scores[side] = score(probs, y[idx], track_ids[idx], labels=labels)
        predictions[side] = track_predictions(probs, y[idx], track_ids[idx], labels=labels, paths=paths)
    return scores, predictions


def _check_out(out: Path) -> None:
    """Refuse an unusable bundle folder now, not after an hour of training."""
    if out.exists() and not out.is_dir():
        raise SpotidanceError(f"--out {out}: exists and is not a folder; choose a new folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise SpotidanceError(f"--out {out}: folder is not empty and is not a model bundle; choose a new folder")
    check_writable_folder(_build_folder(out), what=f"--out {out}")  # read-only, no permission: fail now


def _build_folder(out: Path) -> Path:
    """Where the bundle is built (a hidden sibling of ``out``): the nearest existing folder above it."""
    folder = out.absolute().parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_space(out: Path, model) -> None:
    """Refuse to train when the bundle (Keras + LiteRT copies of the weights, figures) will not fit."""
    need = 2 * 4 * int(model.count_params()) + 4_000_000
    check_writable_folder(_build_folder(out), need_bytes=need, what=f"--out {out}")


def _prepare_data(ds, *, seed: int, group_by_artist: bool, fractions) -> TrainData:
    """Labels in use, the split, frame indices per side and frame label ids."""
    if len(ds) == 0:
        raise SpotidanceError(f"dataset {ds.path} has no frames; add audio with `spotidance prepare`")
    tracks = ds.manifest["tracks"]
    counts = np.bincount(ds.frame_labels, minlength=len(ds.labels))
    labels = [name for name, n in zip(ds.labels, counts) if n > 0]
    if len(labels) < 2:
        raise SpotidanceError(f"dataset {ds.path} has {len(labels)} label ({', '.join(labels)}); a classifier needs at least 2")
    split = split_tracks(
        [t["track_id"] for t in tracks],
        [t["label"] for t in tracks],
        artists=[t.get("artist", "") for t in tracks],
        group_by_artist=group_by_artist,
        fractions=fractions,
        seed=seed,
    )
    check_no_leak(split.as_dict())
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index.get(name, -1) for name in ds.labels], dtype=np.int64)[ds.frame_labels]
    indices = {side: np.flatnonzero(np.isin(ds.frame_track_ids, getattr(split, side))) for side in SIDES}
    sizes = {side: {"tracks": len(getattr(split, side)), "frames": int(len(indices[side]))} for side in SIDES}
    return TrainData(labels=labels, split=split, y=y, indices=indices, sizes=sizes, n_tracks=len(tracks), n_frames=len(ds))


def _describe(data: TrainData) -> str:
    head = f"{data.n_frames} frames of {data.n_tracks} tracks, labels: {', '.join(data.labels)}"
    split = data.split
    how = "by artist" if split.group_by_artist else "by track"
    rows = [[side, data.sizes[side]["tracks"], data.sizes[side]["frames"]] for side in SIDES]
    return f"{head}; split {how} (seed {split.seed}):\n" + format_table(rows, headers=["side", "tracks", "frames"])


def channel_stats(ds, indices: np.ndarray, *, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-band mean and variance of the frames at ``indices``, read in chunks.

    Returns
    -------
    mean, variance : numpy.ndarray
        float64, ``(n_mels,)`` each.
    """
    total = np.zeros(ds.config.n_mels)
    squares = np.zeros(ds.config.n_mels)
    n = 0
    for start in range(0, len(indices), chunk):
        frames = ds.read(indices[start : start + chunk]).astype(np.float64)
        total += frames.sum(axis=(0, 2))
        squares += np.square(frames).sum(axis=(0, 2))
        n += frames.shape[0] * frames.shape[2]
    mean = total / max(n, 1)
    return mean, np.maximum(squares / max(n, 1) - mean**2, 1e-6)


def balanced_weights(y: np.ndarray, *, n_labels: int) -> np.ndarray:
    """Per-label weights ``n / (n_labels * n_label)`` (scikit-learn's "balanced"); 0 for absent labels."""
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, len(y) / (n_labels * counts), 0.0)
    return w.astype(np.float32)


def spec_augment(frames: np.ndarray, *, rng: np.random.Generator, fraction: float = MASK_FRACTION) -> np.ndarray:
    """One random mel-band mask and one time mask per frame, filled with the frame's mean (in place).

    Mask widths are uniform in ``0 .. fraction * size``, after Park et al. (2019), SpecAugment.
    """
    n, n_mels, length = frames.shape
    fill = frames.mean(axis=(1, 2))
    for i in range(n):
        f = int(rng.integers(0, int(n_mels * fraction) + 1))
        f0 = int(rng.integers(0, n_mels - f + 1))
        t = int(rng.integers(0, int(length * fraction) + 1))
        t0 = int(rng.integers(0, length - t + 1))
        frames[i, f0 : f0 + f, :] = fill[i]
        frames[i, :, t0 : t0 + t] = fill[i]
    return frames


# --------------------------------------------------------------------------------------------
# Keras pieces, built lazily (importing Keras takes seconds)

_SEQUENCE_CLASS = None


def frame_sequence_class():
    """The :class:`FrameSequence` class (a ``keras.utils.PyDataset``), created on first use."""
    global _SEQUENCE_CLASS
    if _SEQUENCE_CLASS is not None:
        return _SEQUENCE_CLASS
    import keras

    class FrameSequence(keras.utils.PyDataset):
        """Batches of dataset frames read from disk by index (nothing is loaded up front).

        Parameters
        ----------
        ds : FrameDataset
        indices : numpy.ndarray
            Global frame indices of this side.
        y : numpy.ndarray
            Their label ids.
        batch_size : int
        shuffle : bool
            A new seeded order every epoch (training); else dataset order.
        seed : int
        spec_augment : bool
            Mask each training frame (see :func:`spec_augment`).
        class_weights : numpy.ndarray, optional
            Per-label weights; batches then carry sample weights.
        first_epoch : int
            0-based epoch to start at (a resumed run continues the order and masks of that epoch).
        """

        def __init__(self, ds, indices, y, *, batch_size, shuffle=False, seed=0, spec_augment=False, class_weights=None,
                     first_epoch=0, **kwargs):  # fmt: skip
            super().__init__(**kwargs)
            self.ds, self.indices, self.y = ds, np.asarray(indices, np.int64), np.asarray(y, np.int64)
            self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, int(seed)
            self.augment, self.class_weights = spec_augment, class_weights
            self.epoch = int(first_epoch)
            self._order = self._make_order()

        def _make_order(self) -> np.ndarray:
            if not self.shuffle:
                return np.arange(len(self.indices))
            return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.indices))

        def __len__(self) -> int:
            return math.ceil(len(self.indices) / self.batch_size)

        def __getitem__(self, i: int):
            pick = self._order[i * self.batch_size : (i + 1) * self.batch_size]
            frames = self.ds.read(self.indices[pick])
            if self.augment:
                spec_augment(frames, rng=np.random.default_rng([self.seed, self.epoch, i, 1]))
            labels = self.y[pick]
            if self.class_weights is not None:
                return frames, labels, self.class_weights[labels]
            return frames, labels

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self._order = self._make_order()

    _SEQUENCE_CLASS = FrameSequence
    return FrameSequence


def _best_epoch_callback(patience: int | None, *, state: dict[str, Any] | None = None):
    """Tracks the lowest validation loss, keeps those weights, stops after ``patience`` bad epochs.
    ``state``: a checkpoint's ``best`` entry to continue from."""
    import keras

    class BestEpoch(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.best_epoch, self.weights, self.wait, self.stopped = math.inf, None, None, 0, False
            if state:
                self.best = math.inf if state["best"] is None else float(state["best"])
                self.best_epoch, self.weights = state["best_epoch"], state["weights"]
                self.wait, self.stopped = int(state["wait"]), bool(state["stopped"])

        def on_epoch_end(self, epoch, logs=None):
            value = float((logs or {}).get("val_loss", math.nan))
            if math.isfinite(value) and value < self.best:
                self.best, self.best_epoch, self.wait = value, epoch + 1, 0
                self.weights = self.model.get_weights()
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self.model.stop_training = True
                    self.stopped = True

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return BestEpoch()


def _checkpoint_callback(checkpoint: _Checkpoint, *, best, history: dict[str, list[float]], seconds: float, epochs: int):
    """Saves ``checkpoint`` after every epoch (after ``best`` has seen it); ``history``: the epochs before this run."""
    import keras

    class Checkpointer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.history = {k: list(v) for k, v in history.items()}
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                self.history.setdefault(k, []).append(float(v))
            finished = epoch + 1 >= epochs or bool(best.stopped)
            checkpoint.save(self.model, epochs_done=epoch + 1, finished=finished, best=best, history=self.history,
                            fit_seconds=seconds + time.perf_counter() - self.started)  # fmt: skip

    return Checkpointer()


def _epoch_bar_callback(*, epochs: int, steps: int, enabled: bool, echo: Callable[[str], None], best):
    """A tqdm bar per epoch (stderr) and one summary line per epoch through ``echo``."""
    import keras

    class EpochBar(keras.callbacks.Callback):
        bar = None

        def on_epoch_begin(self, epoch, logs=None):
            self.bar = progress_bar(enabled=enabled, total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False)

        def on_train_batch_end(self, batch, logs=None):
            if logs and "loss" in logs:
                self.bar.set_postfix_str(f"loss {float(logs['loss']):.4f}", refresh=False)
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            self.bar.close()
            logs = logs or {}
            parts = [f"{k} {float(logs[k]):.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
            mark = "  *best so far" if best.best_epoch == epoch + 1 else ""
            echo(f"epoch {epoch + 1}/{epochs}: " + "  ".join(parts) + mark)

    return EpochBar()


# --------------------------------------------------------------------------------------------
# figures (matplotlib's object API with the Agg canvas: no pyplot, no display)


def plot_learning_curves(history: dict[str, list[float]], *, best_epoch: int, file: Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, training vs validation, with the kept epoch marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for prefix, name in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + key, [])
            ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"kept: epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(file, dpi=100)
    return file


def plot_confusion(scores: dict[str, Any], *, labels: list[str], file: Path, title: str = "") -> Path:
    """Frame-level and track-level confusion matrices side by side, counts in the cells."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = 2.5 + 0.6 * len(labels)
    fig = Figure(figsize=(2 * size + 1, size), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, level in zip(fig.subplots(1, 2), ("frame", "track")):
        matrix = np.asarray(scores[level]["confusion_matrix"], dtype=float).reshape(len(labels), len(labels))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        top = matrix.max() if matrix.size else 0
        for (r, c), v in np.ndenumerate(matrix):
            ax.text(c, r, f"{int(v)}", ha="center", va="center", color="white" if v > top / 2 else "black")
        acc = scores[level]["accuracy"]
        ax.set_title(f"{level}s (accuracy {acc:.2f})" if acc is not None else f"{level}s")
    if title:
        fig.suptitle(title)
    fig.savefig(file, dpi=100)
    return file
