"""Scoring a classifier on frames, per frame and per track, and ``spotidance evaluate``.

The same scores are used at the end of training (on the held-out test set) and by
:func:`evaluate` (a bundle on another frame dataset):

* **frame level**: each 3 s frame's arg-max label against its track's label;
* **track level**: a track's probabilities are the mean of its frames' softmax outputs (exactly
  what ``classify`` reports for a file), its label their arg-max.

At each level: accuracy, macro-F1 (the unweighted mean of the F1 of the labels that occur in the
data), per-label precision, recall, F1 and support, and the confusion matrix (rows: true label,
columns: predicted, in the model's label order), all from :mod:`sklearn.metrics`.

:func:`evaluate` runs the bundle through :func:`spotidance.model.bundle.load_runner` (LiteRT when
possible), so it does not import TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from spotidance.core.atomic import check_output, write_output
from spotidance.core.errors import SpotidanceError
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.dataset.frames import MANIFEST, SHARD_DIR, FrameDataset
from spotidance.model.bundle import check_config, load_runner, read_bundle


#: Frames per inference call when scoring (as classify; multiclass-2d's first layer alone holds 2 MB per frame).
PREDICT_BATCH = 64


def track_means(probabilities: np.ndarray, track_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average frame probabilities per track.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(n_frames, n_labels)``.
    track_ids : sequence of str
        Each frame's track.

    Returns
    -------
    tracks : numpy.ndarray
        Sorted unique track ids.
    means : numpy.ndarray
        ``(n_tracks, n_labels)`` mean probabilities.
    first : numpy.ndarray
        Index of each track's first frame (to look up its true label).
    """
    tracks, first, inverse = np.unique(np.asarray(track_ids, dtype=str), return_index=True, return_inverse=True)
    sums = np.zeros((len(tracks), probabilities.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, probabilities)
    counts = np.bincount(inverse, minlength=len(tracks)).astype(np.float64)
    return tracks, sums / counts[:, None], first


def level_scores(y_true: np.ndarray, y_pred: np.ndarray, *, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-label precision/recall/F1/support and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Label ids (positions in ``labels``).
    labels : sequence of str

    Returns
    -------
    dict
        ``n, accuracy, macro_f1, per_label{label: {precision, recall, f1, support}},
        confusion_matrix`` (list of rows, true x predicted).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    present = sorted(set(int(v) for v in y_true))
    if len(y_true) == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_label": {}, "confusion_matrix": []}
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_label": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(labels)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def score(probabilities: np.ndarray, y_true: np.ndarray, track_ids: Sequence[str], *, labels: Sequence[str]) -> dict[str, Any]:
    """Frame-level and track-level scores of frame probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(n_frames, n_labels)`` softmax outputs.
    y_true : numpy.ndarray
        Each frame's true label id.
    track_ids : sequence of str
        Each frame's track id.
    labels : sequence of str
        Label names (model output order).

    Returns
    -------
    dict
        ``{"frame": {...}, "track": {...}}``, each as :func:`level_scores`.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    frame = level_scores(y_true, probabilities.argmax(axis=1), labels=labels)
    _, means, first = track_means(probabilities, track_ids)
    track = level_scores(y_true[first], means.argmax(axis=1), labels=labels)
    return {"frame": frame, "track": track}


def track_predictions(
    probabilities: np.ndarray,
    y_true: np.ndarray,
    track_ids: Sequence[str],
    *,
    labels: Sequence[str],
    paths: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per track: id, path, true and predicted label, frames, mean probabilities.

    The probabilities are what ``classify`` reports for the same audio file.
    """
    tracks, means, first = track_means(np.asarray(probabilities, dtype=np.float64), track_ids)
    counts = dict(zip(*np.unique(np.asarray(track_ids, dtype=str), return_counts=True)))
    y_true = np.asarray(y_true)
    return [
        {
            "track_id": str(t),
            "path": (paths or {}).get(str(t), ""),
            "label": labels[int(y_true[f])],
            "predicted": labels[int(np.argmax(m))],
            "frames": int(counts[t]),
            "probabilities": {name: float(p) for name, p in zip(labels, m)},
        }
        for t, m, f in zip(tracks, means, first)
    ]


def predict_frames(
    predict: Callable[[np.ndarray], np.ndarray],
    dataset,
    indices: np.ndarray,
    *,
    batch_size: int = PREDICT_BATCH,
    progress: bool = False,
    desc: str = "scoring",
) -> np.ndarray:
    """Probabilities for the dataset frames at ``indices``, read and predicted in batches.

    Parameters
    ----------
    predict : callable
        Frames ``(k, n_mels, frame_length)`` -> probabilities ``(k, n_labels)``.
    dataset : FrameDataset
    indices : numpy.ndarray
        Global frame indices.
    batch_size : int
    progress : bool
        tqdm bar on stderr.
    desc : str
        The bar's label.

    Returns
    -------
    numpy.ndarray
        ``(len(indices), n_labels)`` float32.
    """
    indices = np.asarray(indices, dtype=np.int64)
    parts = []
    with progress_bar(enabled=progress, total=len(indices), desc=desc, unit="frame", leave=False) as bar:
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            parts.append(np.asarray(predict(dataset.read(batch)), dtype=np.float32))
            bar.update(len(batch))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)


def format_scores(metrics: dict[str, Any], *, title: str = "test") -> str:
    """Readable tables of a :func:`score` result: summary, per label, track-level confusion matrix."""
    def num(v):
        return "-" if v is None else round(float(v), 4)

    frame, track = metrics["frame"], metrics["track"]
    summary = format_table(
        [[f"{title}: {level}", s["n"], num(s["accuracy"]), num(s["macro_f1"])] for level, s in (("tracks", track), ("frames", frame))],
        headers=["scored on", "n", "accuracy", "macro-F1"],
    )
    labels = list(track["per_label"])
    per_label = format_table(
        [
            [name, track["per_label"][name]["support"], num(track["per_label"][name]["precision"]), num(track["per_label"][name]["recall"]),
             num(frame["per_label"][name]["precision"]), num(frame["per_label"][name]["recall"])]
            for name in labels
        ],
        headers=["label", "tracks", "track precision", "track recall", "frame precision", "frame recall"],
    )  # fmt: skip
    matrix = format_table(
        [[f"true {name}", *row] for name, row in zip(labels, track["confusion_matrix"])],
        headers=["tracks", *[f"pred {name}" for name in labels]],
    )
    return "\n\n".join([summary, per_label, matrix])


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` found: scores per frame and per track, and what was scored.

    Attributes
    ----------
    frame, track : dict
        :func:`level_scores` per 3 s frame and per track.
    tracks : list of dict
        One row per track (:func:`track_predictions`).
    model : str
        The bundle's folder.
    model_name : str
        The bundle's architecture.
    dataset : str
        The dataset's folder.
    labels : list of str
        The model's labels, in output order.
    dataset_labels : list of str
        The labels the dataset has frames of.
    backend : str
        The inference runtime used.
    tracks_seen_in_training : int
        Dataset tracks in the bundle's train or validation split (their scores are not held-out).
    """

    frame: dict[str, Any]
    track: dict[str, Any]
    tracks: list[dict[str, Any]]
    model: str
    model_name: str
    dataset: str
    labels: list[str]
    dataset_labels: list[str]
    backend: str
    tracks_seen_in_training: int

    @property
    def scores(self) -> dict[str, Any]:
        """``{"frame": ..., "track": ...}``, as :func:`score` returns (for :func:`format_scores`)."""
        return {"frame": self.frame, "track": self.track}

    def as_dict(self) -> dict[str, Any]:
        """Every field, in order (what ``--json`` writes)."""
        return asdict(self)


def evaluate(
    model_dir: str | os.PathLike,
    dataset: str | os.PathLike,
    *,
    backend: str = "auto",
    batch_size: int = PREDICT_BATCH,
    progress: bool = False,
) -> EvaluationResult:
    """Score a model bundle on a frame dataset, per frame and per track.

    Parameters
    ----------
    model_dir : path-like
        A bundle written by ``spotidance train``.
    dataset : path-like
        A frame dataset from ``spotidance prepare`` made with the bundle's spectrogram settings.
        Its labels are matched to the model's by name; it may hold only some of them.
    backend : {"auto", "litert", "keras"}
        Inference runtime (see :func:`spotidance.model.bundle.load_runner`).
    batch_size : int
        Frames per inference call.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    SpotidanceError
        Unreadable bundle or dataset, different spectrogram settings, labels the model does not
        know, an empty dataset.
    """
    bundle = read_bundle(model_dir)
    ds = FrameDataset.open(dataset)
    check_config(bundle, ds.config, what=f"dataset {dataset}")
    if len(ds) == 0:
        raise SpotidanceError(f"dataset {dataset} has no frames; add audio with `spotidance prepare`")
    y, present = map_labels(ds, bundle.labels, what=f"dataset {dataset}", model=str(bundle.path))
    runner = load_runner(bundle, backend=backend)
    indices = np.arange(len(ds))
    probabilities = predict_frames(runner.predict, ds, indices, batch_size=batch_size, progress=progress, desc="evaluating")
    scores = score(probabilities, y, ds.frame_track_ids, labels=bundle.labels)
    tracks = track_predictions(probabilities, y, ds.frame_track_ids, labels=bundle.labels,
                               paths={t["track_id"]: t.get("path", "") for t in ds.manifest["tracks"]})  # fmt: skip
    seen = set(bundle.split.get("train", [])) | set(bundle.split.get("validation", []))
    return EvaluationResult(
        frame=scores["frame"],
        track=scores["track"],
        tracks=tracks,
        model=str(bundle.path),
        model_name=bundle.model_name,
        dataset=str(Path(dataset)),
        labels=list(bundle.labels),
        dataset_labels=present,
        backend=runner.backend,
        tracks_seen_in_training=int(len(seen & set(ds.frame_track_ids.tolist()))),
    )


def evaluation_inputs(model_dir: str | os.PathLike, dataset: str | os.PathLike) -> tuple[Path, ...]:
    """The files :func:`evaluate` reads: an output must not be one of them.

    The whole bundle folder, and the dataset's manifest, shards and track table (so that a new
    file inside the dataset folder, such as ``DATASET/scores.json``, stays allowed).
    """
    ds = Path(dataset)
    return (Path(model_dir), ds / MANIFEST, ds / SHARD_DIR, ds / "tracks.csv")


def check_scores_output(out: str | os.PathLike, *, model_dir: str | os.PathLike, dataset: str | os.PathLike) -> str:
    """Refuse, before scoring, a ``--json`` output that would overwrite an input or cannot be written."""
    return check_output(out, inputs=evaluation_inputs(model_dir, dataset), what="--json", make_parents=True)


def write_scores(
    result: EvaluationResult, *, out: str | os.PathLike, model_dir: str | os.PathLike, dataset: str | os.PathLike
) -> str:
    """Write :func:`evaluate`'s result as JSON to ``out`` (``-``: standard output).

    Follows :func:`spotidance.core.atomic.write_output`: never over an input, straight through to
    a terminal, pipe or ``/dev/stdout``, a symlink's target replaced atomically, a failed write
    one line with the earlier file intact.

    Returns
    -------
    str
        ``"stdout"``, ``"stream"`` or ``"file"``.
    """
    import json

    text = json.dumps(result.as_dict(), indent=1) + "\n"
    return write_output(out, text, inputs=evaluation_inputs(model_dir, dataset), what="--json", make_parents=True)


def map_labels(ds, labels: Sequence[str], *, what: str, model: str) -> tuple[np.ndarray, list[str]]:
    """Each frame's label id in ``labels`` (matched by name), and the dataset labels present.

    Raises
    ------
    SpotidanceError
        If the dataset has frames of a label the model does not know.
    """
    counts = np.bincount(ds.frame_labels, minlength=len(ds.labels))
    present = [name for name, n in zip(ds.labels, counts) if n > 0]
    unknown = [name for name in present if name not in labels]
    if unknown:
        raise SpotidanceError(
            f"{what} has labels the model does not know ({', '.join(unknown)}); model {model} knows "
            f"{', '.join(labels)}: evaluate on a dataset of those labels"
        )
    index = {name: i for i, name in enumerate(labels)}
    table = np.array([index.get(name, -1) for name in ds.labels], dtype=np.int64)
    return table[ds.frame_labels], present
