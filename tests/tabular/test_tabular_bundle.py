"""The tabular bundle: pickle-free round trip, exactness of the NumPy predictor, validation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import load_tabular_bundle
from spotidance.tabular.model import KernelLogit, TabularModel, Trees
from spotidance.tabular.recipes import Recipe
from spotidance.tabular.train import train_tabular
from tests.helpers.tabular import edited_copy, forbid_pickle
from tests.helpers.tabular import three_class_table as table

FAST = Recipe("ensemble", max_rounds=40, early_stopping=10, kernel_components=30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "model"
    result = train_tabular(table(), cv=3, recipe=FAST, out=out)
    return result, out


def test_round_trip_reproduces_predictions_without_pickle(trained, monkeypatch):
    result, out = trained

    forbid_pickle(monkeypatch)
    loaded = load_tabular_bundle(out)
    fresh = table(seed=4)
    np.testing.assert_allclose(loaded.predict_proba(fresh), result.model.predict_proba(fresh), rtol=0, atol=1e-12)
    assert loaded.labels == ["BigRoom", "DrumAndBass", "Techno"]
    assert loaded.novelty.threshold == pytest.approx(result.model.novelty.threshold)
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.joblib"))


def test_bundle_family_and_card(trained):
    _, out = trained
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["format"] == "spotidance-model" and manifest["bundle_version"] == 1
    assert manifest["kind"] == "tabular"
    card = manifest["card"]
    assert card["feature_columns"] == ["a", "b", "c", "d", "69-BPM", "71-BPMessentia"]
    assert card["labels"] == ["BigRoom", "DrumAndBass", "Techno"]
    assert "accuracy_mean" in card["metrics"] and card["recipe"]["name"] == "ensemble"
    assert "tempo_chroma_sin(69-BPM)" in manifest["model"]["model_features"]
    assert set(manifest["files"]) == {"model.npz", "metrics.json", "split.json", "MODEL_CARD.md"}
    assert "## Feature columns" in (out / "MODEL_CARD.md").read_text()


def test_columns_are_matched_by_name_and_missing_ones_refused(trained):
    result, _ = trained
    fresh = table(seed=2)
    shuffled = fresh[list(reversed(fresh.columns))]
    np.testing.assert_array_equal(result.model.predict_proba(shuffled), result.model.predict_proba(fresh))
    with pytest.raises(SpotidanceError, match="lacks feature column.*71-BPMessentia"):
        result.model.predict_proba(fresh.drop(columns=["71-BPMessentia"]))
    with pytest.raises(SpotidanceError, match="needs 6 columns"):
        result.model.predict_proba(np.zeros((2, 5)))
    bad = fresh.copy()
    bad.loc[0, "b"] = np.inf
    with pytest.raises(SpotidanceError, match="infinite values in b"):
        result.model.predict(bad)


def test_damaged_or_foreign_bundles_are_refused(trained, tmp_path):
    import shutil

    _, out = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = bytearray((copy / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.npz").write_bytes(bytes(data))
    with pytest.raises(SpotidanceError, match="damaged"):
        load_tabular_bundle(copy)

    cnn = tmp_path / "cnn"
    shutil.copytree(out, cnn)
    manifest = json.loads((cnn / "bundle.json").read_text())
    del manifest["kind"]
    (cnn / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(SpotidanceError, match="cnn model bundle, not a tabular one"):
        load_tabular_bundle(cnn)

    deep = edited_copy(out, tmp_path / "deep", lambda manifest: manifest["model"]["gbt"].update(max_depth=10**6))
    with pytest.raises(SpotidanceError, match="max_depth out of range"):
        load_tabular_bundle(deep)


def test_arrays_are_validated_as_untrusted_input(trained):
    result, _ = trained
    arrays, spec = result.model.to_arrays()
    looping = dict(arrays)
    left = arrays["gbt.left"].copy()
    internal = np.flatnonzero(arrays["gbt.feature"] >= 0)
    left[internal[1]] = internal[0]  # a child pointing back up the tree: could loop
    looping["gbt.left"] = left
    with pytest.raises(SpotidanceError, match="child index out of range"):
        TabularModel.from_arrays(looping, spec)
    wrong = dict(arrays)
    wrong["kernel.coef"] = arrays["kernel.coef"][:, :2]
    with pytest.raises(SpotidanceError, match="kernel array shapes"):
        TabularModel.from_arrays(wrong, spec)
    nan = dict(arrays)
    nan["gbt.threshold"] = arrays["gbt.threshold"].copy()
    nan["gbt.threshold"][0] = np.nan
    with pytest.raises(SpotidanceError, match="non-finite"):
        TabularModel.from_arrays(nan, spec)
    obj = dict(arrays)
    obj["gbt.feature"] = arrays["gbt.feature"].astype(object)
    with pytest.raises(SpotidanceError, match="dtype"):
        TabularModel.from_arrays(obj, spec)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_numpy_trees_equal_lightgbm_including_missing_values(n_classes):
    import lightgbm as lgb

    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 400)
    X = rng.normal(size=(400, 5)) + 0.7 * y[:, None]
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values: LightGBM's NaN routing
    X[rng.random(X.shape) < 0.05] = 0.0
    clf = lgb.LGBMClassifier(n_estimators=30, num_leaves=6, n_jobs=1, verbose=-1, random_state=0).fit(X, y)
    trees = Trees.from_lightgbm(clf.booster_)
    Xt = rng.normal(size=(300, 5)) + 0.7 * rng.integers(0, n_classes, 300)[:, None]
    Xt[rng.random(Xt.shape) < 0.1] = np.nan
    np.testing.assert_allclose(trees.predict_proba(Xt), clf.predict_proba(Xt), rtol=0, atol=1e-9)


def test_numpy_kernel_logit_equals_scikit_learn():
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import LogisticRegression

    from spotidance.tabular.recipes import _fit_kernel

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    X = rng.normal(size=(200, 4)) + y[:, None]
    recipe = Recipe("kernel", gbt=False, kernel_components=50, clip=100.0)
    model = _fit_kernel(X, y, n_classes=3, recipe=recipe, seed=0)
    Z = (X - X.mean(0)) / X.std(0)
    ny = Nystroem(gamma=recipe.kernel_gamma / 4, n_components=50, random_state=0)
    lr = LogisticRegression(C=recipe.kernel_C, max_iter=500).fit(ny.fit_transform(Z), y)
    Xt = rng.normal(size=(50, 4)) * 2
    expected = lr.predict_proba(ny.transform((Xt - X.mean(0)) / X.std(0)))
    np.testing.assert_allclose(model.predict_proba(Xt), expected, atol=1e-8)
    assert isinstance(model, KernelLogit)


def test_loading_and_predicting_imports_no_training_library(trained):
    _, out = trained
    code = (
        "import sys, numpy as np\n"
        "from spotidance.tabular import load_tabular_bundle\n"
        f"m = load_tabular_bundle({str(out)!r})\n"
        "p = m.predict(np.full((3, len(m.feature_columns)), 100.0))\n"
        "assert p.probabilities.shape == (3, 3)\n"
        "print(sorted(k for k in ('lightgbm', 'sklearn', 'scipy', 'pandas', 'joblib') if k in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
