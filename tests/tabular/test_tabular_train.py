"""Training protocol of spotidance.tabular: folds, nested tuning, metrics, bad tables, warnings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import recipes
from spotidance.tabular.recipes import Recipe
from spotidance.tabular.train import (
    LearnedNothingWarning,
    stratified_folds,
    train_tabular,
)

#: A small, fast version of the default recipe (same code path, fewer rounds and landmarks).
FAST = Recipe("ensemble", max_rounds=40, early_stopping=10, kernel_components=30)


def synthetic(n_per_class=30, n_classes=3, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.normal(size=(len(y), 4))
    X[:, 0] += shift * y
    frame = pd.DataFrame(X, columns=["energy", "centroid", "flux", "zcr"])
    frame["tempo"] = 100 + 15 * y + rng.normal(scale=3, size=len(y))
    frame["track_id"] = [f"t{i}" for i in range(len(y))]  # text id: ignored
    frame["position"] = np.arange(len(y))  # numeric id-like column: ignored
    frame["genre"] = np.array(["dnb", "house", "techno", "trance", "dub"])[y]
    return frame


def test_folds_partition_the_rows_and_never_share_one():
    y = np.repeat(np.arange(4), [10, 12, 15, 9])
    folds = stratified_folds(y, 5, seed=3)
    assert len(folds) == 5
    tests = [set(te.tolist()) for _, te in folds]
    for i, (tr, te) in enumerate(folds):
        assert not set(tr.tolist()) & set(te.tolist())
        assert set(tr.tolist()) | set(te.tolist()) == set(range(len(y)))
        for j in range(i):
            assert not tests[i] & tests[j]
    assert set().union(*tests) == set(range(len(y)))


def test_tuning_and_fitting_only_see_the_training_folds(monkeypatch, tmp_path):
    calls = {"tune": [], "fit": []}
    real_tune, real_fit = recipes.tune_recipe, recipes.fit_recipe

    def spy_tune(X, y, rows, **kw):
        calls["tune"].append(np.array(rows))
        return real_tune(X, y, rows, **kw)

    def spy_fit(X, y, rows, **kw):
        calls["fit"].append(np.array(rows))
        return real_fit(X, y, rows, **kw)

    monkeypatch.setattr(recipes, "tune_recipe", spy_tune)
    monkeypatch.setattr(recipes, "fit_recipe", spy_fit)
    frame = synthetic()
    result = train_tabular(frame, label_column="genre", cv=4, seed=1, recipe=FAST, out=tmp_path / "m")
    folds = json.loads((tmp_path / "m" / "split.json").read_text())["folds"]
    assert len(folds) == 4
    # one tuning + one fit per fold, then one of each on all rows for the final model
    assert len(calls["tune"]) == len(calls["fit"]) == 5
    for i, test_rows in enumerate(folds):
        assert not set(calls["tune"][i].tolist()) & set(test_rows), f"fold {i}: the tuner saw scored rows"
        assert not set(calls["fit"][i].tolist()) & set(test_rows), f"fold {i}: the model saw scored rows"
        assert set(calls["tune"][i].tolist()) | set(test_rows) == set(range(len(frame)))
    assert set(calls["tune"][-1].tolist()) == set(range(len(frame)))
    assert result.metrics["cv"]["k"] == 4


def test_cv_metrics_file_and_separable_data(tmp_path):
    result = train_tabular(synthetic(shift=4.0), label_column="genre", cv=3, recipe=FAST, out=tmp_path / "m")
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    cv = metrics["cv"]
    for key in ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "per_class"):
        assert key in cv
    assert cv["accuracy_mean"] > 0.8  # classes 4 sd apart on one feature
    assert set(cv["per_class"]) == {"dnb", "house", "techno"}
    assert set(cv["per_class"]["dnb"]) >= {"precision", "recall", "f1"}
    assert result.table.feature_columns == ["energy", "centroid", "flux", "zcr", "tempo"]
    assert "track_id" in result.table.ignored_columns and "position" in result.table.ignored_columns
    assert not result.learned_nothing


def test_holdout_protocol_scores_a_disjoint_test_part(tmp_path):
    result = train_tabular(synthetic(n_per_class=40, shift=3.0), label_column="genre", recipe=FAST, out=tmp_path / "m")
    split = json.loads((tmp_path / "m" / "split.json").read_text())
    tr, va, te = (set(split[k]) for k in ("train", "validation", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert len(tr | va | te) == 120
    assert len(te) == 18 and len(va) == 18  # 15 % of each class of 40 (6) x 3
    assert 0.0 <= result.metrics["test"]["accuracy"] <= 1.0
    assert result.metrics["test"]["n_test"] == 18


def test_a_model_that_learned_nothing_warns_loudly():
    frame = synthetic(n_per_class=20)
    for col in ("energy", "centroid", "flux", "zcr", "tempo"):
        frame[col] = 1.0  # nothing to learn from
    with pytest.warns(LearnedNothingWarning, match="LEARNED NOTHING"):
        result = train_tabular(frame, label_column="genre", cv=4, recipe=FAST)
    assert result.learned_nothing


def test_nan_rows_are_dropped_and_counted():
    frame = synthetic()
    frame.loc[[3, 50], "flux"] = np.nan
    with pytest.warns(UserWarning, match="dropped 2 row"):
        result = train_tabular(frame, label_column="genre", cv=3, recipe=FAST)
    assert result.table.dropped_rows == 2 and result.metrics["n_rows"] == 88


def _bad(kind):
    frame = synthetic(n_per_class=10)
    kwargs = {"label_column": "genre"}
    if kind == "no label column":
        kwargs["label_column"] = "subgenre"
    elif kind == "no numeric features":
        frame = frame[["track_id", "genre"]]
    elif kind == "one class":
        frame["genre"] = "techno"
    elif kind == "class with one row":
        frame.loc[0, "genre"] = "acid"
    elif kind == "infinite value":
        frame.loc[5, "centroid"] = np.inf
    elif kind == "non-numeric requested column":
        kwargs["feature_columns"] = ["energy", "track_id"]
    elif kind == "missing requested column":
        kwargs["feature_columns"] = ["energy", "loudness"]
    return frame, kwargs


@pytest.mark.parametrize("kind,needle", [
    ("no label column", "no label column 'subgenre'"),
    ("no numeric features", "no numeric feature columns"),
    ("one class", "at least 2 classes"),
    ("class with one row", "class acid has a single row"),
    ("infinite value", "infinite values in feature column centroid (1)"),
    ("non-numeric requested column", "track_id is not numeric"),
    ("missing requested column", "no feature column loudness"),
])
def test_bad_tables_give_one_line_errors_and_write_nothing(tmp_path, kind, needle):
    frame, kwargs = _bad(kind)
    csv = tmp_path / "table.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "model"
    with pytest.raises(SpotidanceError) as info:
        train_tabular(csv, cv=2, recipe=FAST, out=out, **kwargs)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # no temporary folder left either


def test_cv_larger_than_the_smallest_class_is_refused():
    with pytest.raises(SpotidanceError, match="smallest class has 10"):
        train_tabular(synthetic(n_per_class=10), label_column="genre", cv=11, recipe=FAST)


def test_seeded_training_is_reproducible():
    a = train_tabular(synthetic(), label_column="genre", cv=3, seed=5, recipe=FAST)
    b = train_tabular(synthetic(), label_column="genre", cv=3, seed=5, recipe=FAST)
    assert a.metrics["cv"]["accuracy_mean"] == b.metrics["cv"]["accuracy_mean"]
    X = synthetic(seed=9).drop(columns=["genre"])
    np.testing.assert_array_equal(a.model.predict_proba(X), b.model.predict_proba(X))


def test_holdout_tuner_never_sees_the_test_part(monkeypatch, tmp_path):
    seen = []
    real_tune = recipes.tune_recipe

    def spy_tune(X, y, rows, **kw):
        seen.append((np.array(rows), kw.get("holdout")))
        return real_tune(X, y, rows, **kw)

    monkeypatch.setattr(recipes, "tune_recipe", spy_tune)
    train_tabular(synthetic(n_per_class=40), label_column="genre", recipe=FAST, out=tmp_path / "m")
    split = json.loads((tmp_path / "m" / "split.json").read_text())
    rows, holdout = seen[0]
    assert not set(rows.tolist()) & set(split["test"])
    assert set(holdout.tolist()) == set(split["validation"])
