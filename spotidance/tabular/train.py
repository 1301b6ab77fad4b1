"""Training a tabular genre classifier: :func:`train_tabular`.

Two protocols, both seeded:

* ``cv=K``: stratified K-fold cross-validation. Each fold's model is fitted (and tuned, on an
  inner split of the training folds only: :func:`spotidance.tabular.recipes.tune_recipe`) without
  the fold it is scored on; the figures are the mean and standard deviation over folds of accuracy
  and macro-F1, and per-class precision / recall / F1 of the pooled out-of-fold predictions.
* no ``cv``: a stratified 70 / 15 / 15 train / validation / test split of the rows; the tuner
  uses the validation part (early stopping, soft-vote weight), the test part is scored once.

Either way the model that is returned and written is then fitted on *all* rows (tuned on an inner
split of all rows), and the novelty threshold comes from out-of-fold distances (the CV folds, or
a 5-fold split without ``cv``).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import recipes as _recipes
from spotidance.tabular.bundle import save_tabular_bundle
from spotidance.tabular.features import FeatureTable, read_table
from spotidance.tabular.model import TabularModel

#: Fraction of training rows the novelty flag may flag under cross-validation.
NOVELTY_RATE = 0.05


class LearnedNothingWarning(UserWarning):
    """The model's held-out accuracy is not above always predicting the largest class."""


@dataclasses.dataclass
class TabularTrainResult:
    """What :func:`train_tabular` did.

    Attributes
    ----------
    model : TabularModel
        Fitted on all rows, with its novelty model and card.
    metrics : dict
        As written to ``metrics.json`` (``cv.accuracy_mean`` etc., or ``test.accuracy`` etc.).
    table : FeatureTable
        The checked input.
    out : pathlib.Path or None
        The bundle folder, when one was written.
    learned_nothing : bool
        Held-out accuracy not above the majority-class rate (a loud warning was issued).
    seconds : float
        Wall time of the whole run.
    """

    model: TabularModel
    metrics: dict[str, Any]
    table: FeatureTable
    out: Path | None
    learned_nothing: bool
    seconds: float


def stratified_folds(y: np.ndarray, k: int, *, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold (shuffled, seeded) as ``[(train_rows, test_rows), ...]``.

    Raises
    ------
    SpotidanceError
        ``k < 2`` or a class with fewer rows than ``k`` (named).
    """
    from sklearn.model_selection import StratifiedKFold

    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise SpotidanceError(f"--cv must be an integer of at least 2, got {k!r}")
    counts = np.bincount(y)
    if counts.min() < k:
        raise SpotidanceError(
            f"{k}-fold cross-validation needs at least {k} rows per class; the smallest class has "
            f"{int(counts.min())}: use a smaller --cv"
        )
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in skf.split(np.zeros(len(y)), y)]


def train_tabular(
    table: Any,
    *,
    label_column: str = "class",
    feature_columns: list[str] | None = None,
    labels: list[str] | None = None,
    cv: int | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    recipe: str | _recipes.Recipe | None = None,
    card: dict[str, Any] | None = None,
    progress=None,
) -> TabularTrainResult:
    """Train (and score) a tabular genre classifier, optionally writing a bundle.

    Parameters
    ----------
    table : path-like or pandas.DataFrame
        A CSV of numeric features with a label column (see :func:`~spotidance.tabular.features.read_table`).
    label_column : str
    feature_columns : list of str, optional
        Exactly these feature columns (default: every numeric non-id column).
    labels : list of str, optional
        Keep only rows of these classes.
    cv : int, optional
        K for stratified K-fold cross-validation; ``None`` for a 70/15/15 split.
    seed : int
    out : path-like, optional
        Bundle folder to write (see :func:`spotidance.tabular.bundle.save_tabular_bundle`).
    recipe : str or Recipe, optional
        A name from :data:`spotidance.tabular.recipes.RECIPES` (``"ensemble"``, the default:
        boosted trees + extra trees + kernel and linear logistic regression; ``"ensemble-v1"``,
        ``"gbt"``, ``"gbt-raw"``, ...) or a :class:`~spotidance.tabular.recipes.Recipe`.
    card : dict, optional
        Extra model-card fields (``name``, ``data``: provenance and licence, ...).
    progress : callable, optional
        Called with one-line status strings.

    Returns
    -------
    TabularTrainResult

    Raises
    ------
    SpotidanceError
        A bad table (one line; nothing is written).
    """
    start = time.perf_counter()
    say = progress or (lambda msg: None)
    rec = _recipes.get_recipe(recipe)
    ft = read_table(table, label_column=label_column, feature_columns=feature_columns, labels=labels)
    X, y, classes, columns = ft.X, ft.y, ft.labels, ft.feature_columns
    n = len(y)
    if ft.dropped_rows:
        warnings.warn(f"{ft.source}: dropped {ft.dropped_rows} row(s) with missing feature values or label", stacklevel=2)
        say(f"dropped {ft.dropped_rows} row(s) with missing values")

    metrics: dict[str, Any] = {
        "protocol": f"stratified {cv}-fold cross-validation" if cv else "stratified 70/15/15 train/validation/test split",
        "seed": seed, "recipe": rec.name, "n_rows": n, "n_features": len(columns),
        "dropped_rows": ft.dropped_rows, "labels": classes, "class_counts": ft.class_counts,
        "majority_rate": float(np.bincount(y).max() / n),
    }
    if cv is not None:
        folds = stratified_folds(y, cv, seed=seed)
        metrics["cv"] = _cross_validate(X, y, classes, columns, rec, folds, seed=seed, say=say)
        headline = metrics["cv"]["accuracy_mean"]
        novelty_folds = folds
        split = {"folds": [[int(r) for r in te] for _, te in folds]}
    else:
        tr, va, te = _three_way(y, seed)
        # the tuner fits on the training part and chooses on the validation part
        tuned = _recipes.tune_recipe(X, y, np.concatenate([tr, va]), columns=columns, n_classes=len(classes),
                                     recipe=rec, seed=seed, holdout=va)
        model, _ = _recipes.fit_recipe(X, y, np.concatenate([tr, va]), columns=columns, labels=classes,
                                       recipe=rec, seed=seed, tuned=tuned)
        p = model._proba(_recipes.design(X[te], columns, rec))
        pred_te = p.argmax(axis=1)
        metrics["test"] = {
            "n_test": len(te), "accuracy": _accuracy(y[te], pred_te),
            "macro_f1": _macro_f1(y[te], pred_te, len(classes)),
            "per_class": _per_class(y[te], pred_te, classes),
            "confusion": _confusion(y[te], pred_te, len(classes)).tolist(),
        }
        metrics["validation"] = {"n_validation": len(va), "tuned": tuned}
        headline = metrics["test"]["accuracy"]
        novelty_folds = stratified_folds(y, min(5, int(np.bincount(y).min())), seed=seed) if np.bincount(y).min() >= 2 else []
        split = {"train": tr.tolist(), "validation": va.tolist(), "test": te.tolist()}

    learned_nothing = headline <= metrics["majority_rate"] + 1e-12
    metrics["learned_nothing"] = learned_nothing
    if learned_nothing:
        msg = (f"THE MODEL LEARNED NOTHING: held-out accuracy {headline:.3f} is not above the "
               f"majority-class rate {metrics['majority_rate']:.3f}; the features do not separate these labels")
        warnings.warn(msg, LearnedNothingWarning, stacklevel=2)
        say("WARNING: " + msg)

    say("fitting the final model on all rows")
    final, final_tuned = _recipes.fit_recipe(X, y, np.arange(n), columns=columns, labels=classes, recipe=rec, seed=seed)
    metrics["final"] = {"tuned": final_tuned, "n_rows": n}
    if novelty_folds:
        threshold, oof = _recipes.novelty_threshold(X, novelty_folds, rate=NOVELTY_RATE)
        final.novelty = _recipes.fit_novelty(X, np.arange(n), threshold=threshold)
        metrics["novelty"] = {
            "measure": "Mahalanobis distance, standardised raw features, Ledoit-Wolf covariance",
            "threshold": threshold, "target_rate": NOVELTY_RATE,
            "oof_flagged_rate": float((oof > threshold).mean()),
            "train_flagged_rate": float((final.novelty.score(X) > threshold).mean()),
            "folds": len(novelty_folds),
        }
    final.card = _card(ft, rec, metrics, card or {}, label_column=label_column)
    seconds = time.perf_counter() - start
    metrics["seconds"] = round(seconds, 2)
    written = None
    if out is not None:
        written = save_tabular_bundle(out, model=final, metrics=metrics, split=split)
    return TabularTrainResult(model=final, metrics=metrics, table=ft, out=written,
                              learned_nothing=learned_nothing, seconds=seconds)


def cross_validate(
    table: Any,
    *,
    label_column: str = "class",
    feature_columns: list[str] | None = None,
    labels: list[str] | None = None,
    cv: int = 10,
    seed: int = 0,
    recipe: str | _recipes.Recipe | None = None,
    progress=None,
) -> dict[str, Any]:
    """Stratified K-fold CV of a recipe, without fitting a final model (for benchmarks).

    Returns
    -------
    dict
        The ``cv`` part of ``metrics.json`` (``accuracy_mean``, ``accuracy_std``, ...).
    """
    rec = _recipes.get_recipe(recipe)
    ft = read_table(table, label_column=label_column, feature_columns=feature_columns, labels=labels)
    folds = stratified_folds(ft.y, cv, seed=seed)
    return _cross_validate(ft.X, ft.y, ft.labels, ft.feature_columns, rec, folds, seed=seed,
                           say=progress or (lambda msg: None))


def _cross_validate(X, y, classes, columns, rec, folds, *, seed, say) -> dict[str, Any]:
    n = len(y)
    pred = np.full(n, -1)
    fold_rows = []
    for i, (tr, te) in enumerate(folds):
        t0 = time.perf_counter()
        model, tuned = _recipes.fit_recipe(X, y, tr, columns=columns, labels=classes, recipe=rec, seed=seed + i)
        pred[te] = model._proba(_recipes.design(X[te], columns, rec)).argmax(axis=1)
        acc, f1 = _accuracy(y[te], pred[te]), _macro_f1(y[te], pred[te], len(classes))
        fold_rows.append({"fold": i, "n_test": len(te), "accuracy": acc, "macro_f1": f1,
                          "tuned": tuned, "seconds": round(time.perf_counter() - t0, 2)})
        say(f"fold {i + 1}/{len(folds)}: accuracy {acc:.3f}")
    accs = np.array([f["accuracy"] for f in fold_rows])
    f1s = np.array([f["macro_f1"] for f in fold_rows])
    return {
        "k": len(folds),
        "accuracy_mean": float(accs.mean()), "accuracy_std": float(accs.std()),
        "macro_f1_mean": float(f1s.mean()), "macro_f1_std": float(f1s.std()),
        "pooled_accuracy": _accuracy(y, pred),
        "per_class": _per_class(y, pred, classes),
        "confusion": _confusion(y, pred, len(classes)).tolist(),
        "folds": fold_rows,
    }


def _three_way(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 70/15/15 row split (each class keeps >= 1 training row)."""
    rng = np.random.default_rng(seed)
    tr, va, te = [], [], []
    for c in np.unique(y):
        pos = rng.permutation(np.flatnonzero(y == c))
        m = len(pos)
        n_te = round(0.15 * m) if m >= 3 else 0
        n_va = round(0.15 * m) if m >= 3 else 0
        n_te, n_va = (max(n_te, 1), max(n_va, 1)) if m >= 3 else (1 if m == 2 else 0, 0)
        te.extend(pos[:n_te]); va.extend(pos[n_te:n_te + n_va]); tr.extend(pos[n_te + n_va:])
    if not va:
        raise SpotidanceError("the table is too small for a train/validation/test split; use --cv or add rows")
    return (np.sort(np.array(tr, np.int64)), np.sort(np.array(va, np.int64)), np.sort(np.array(te, np.int64)))


def _accuracy(y, p) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(p))) if len(y) else float("nan")


def _confusion(y, p, k) -> np.ndarray:
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (np.asarray(y), np.asarray(p)), 1)
    return m


def _prf(y, p, k):
    m = _confusion(y, p, k)
    tp = np.diag(m).astype(float)
    pred_n, true_n = m.sum(axis=0), m.sum(axis=1)
    prec = np.divide(tp, pred_n, out=np.zeros(k), where=pred_n > 0)
    rec = np.divide(tp, true_n, out=np.zeros(k), where=true_n > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(k), where=(prec + rec) > 0)
    return prec, rec, f1, true_n


def _macro_f1(y, p, k) -> float:
    _, _, f1, true_n = _prf(y, p, k)
    present = true_n > 0
    return float(f1[present].mean()) if present.any() else float("nan")


def _per_class(y, p, classes) -> dict[str, dict[str, float]]:
    prec, rec, f1, true_n = _prf(y, p, len(classes))
    return {c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(true_n[i])}
            for i, c in enumerate(classes)}


def _card(ft: FeatureTable, rec, metrics: dict[str, Any], extra: dict[str, Any], *, label_column: str) -> dict[str, Any]:
    import datetime as _dt

    import spotidance

    card = {
        "name": extra.get("name", "tabular-model"),
        "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "spotidance_version": getattr(spotidance, "__version__", "?"),
        "data": extra.get("data", {"source": ft.source, "licence": "unknown (user data)"}),
        "label_column": label_column,
        "labels": ft.labels,
        "class_counts": ft.class_counts,
        "feature_columns": ft.feature_columns,
        "ignored_columns": ft.ignored_columns,
        "dropped_rows": ft.dropped_rows,
        "recipe": rec.to_dict(),
        "protocol": metrics["protocol"],
        "metrics": _headline(metrics),
    }
    for key, value in extra.items():
        card.setdefault(key, value)
    return card


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    if "cv" in metrics:
        cv = metrics["cv"]
        return {k: cv[k] for k in ("k", "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std")}
    return {"test_accuracy": metrics["test"]["accuracy"], "test_macro_f1": metrics["test"]["macro_f1"]}
