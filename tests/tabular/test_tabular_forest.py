"""The extra-trees member (bundle version 2): NumPy prediction equals scikit-learn's, pickle-free
round trip, validation of its arrays, and the bundle version it is written with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import load_tabular_bundle
from spotidance.tabular.bundle import BUNDLE_VERSION
from spotidance.tabular.model import Forest, TabularModel
from spotidance.tabular.recipes import Recipe
from spotidance.tabular.train import train_tabular
from tests.helpers.tabular import edited_copy, forbid_pickle
from tests.helpers.tabular import three_class_table as table

FAST_FOREST = Recipe("ensemble", max_rounds=40, early_stopping=10, kernel_components=30, forest=True,
                     forest_trees=20, weights=(0.4,))
FAST_NO_FOREST = Recipe("ensemble", max_rounds=40, early_stopping=10, kernel_components=30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("forest") / "model"
    result = train_tabular(table(), cv=3, recipe=FAST_FOREST, out=out)
    return result, out


@pytest.mark.parametrize("n_classes,min_leaf", [(2, 1), (5, 2), (5, 3)])
def test_numpy_forest_equals_scikit_learn(n_classes, min_leaf):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

    rng = np.random.default_rng(n_classes + min_leaf)
    y = rng.integers(0, n_classes, 500)
    X = rng.normal(size=(500, 6)) + 0.6 * y[:, None]
    X[:, 5] = np.round(X[:, 5])  # ties: many rows exactly on a split value
    Xt = np.vstack([X[:100], rng.normal(size=(300, 6)) * 2, rng.normal(size=(50, 6)) * 1e6])
    for cls in (ExtraTreesClassifier, RandomForestClassifier):
        sk = cls(n_estimators=25, min_samples_leaf=min_leaf, bootstrap=False, random_state=0).fit(X, y)
        forest = Forest.from_sklearn(sk)
        np.testing.assert_allclose(forest.predict_proba(Xt), sk.predict_proba(Xt), rtol=0, atol=1e-12)
    # a split threshold that float32 cannot hold exactly still routes float32 inputs as scikit-learn does
    t = forest.threshold[forest.feature >= 0]
    assert t.dtype == np.float32 and forest.counts.dtype.kind == "u"


def test_bootstrap_forest_is_refused():
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    sk = RandomForestClassifier(n_estimators=3, random_state=0).fit(rng.normal(size=(50, 2)), rng.integers(0, 2, 50))
    with pytest.raises(SpotidanceError, match="without bootstrap"):
        Forest.from_sklearn(sk)


def test_forest_recipe_round_trip_without_pickle_and_version_2(trained, monkeypatch):
    result, out = trained

    forbid_pickle(monkeypatch)
    loaded = load_tabular_bundle(out)
    assert loaded.forest is not None and set(loaded.members()) == {"gbt", "forest", "kernel", "linear"}
    fresh = table(seed=5)
    np.testing.assert_allclose(loaded.predict_proba(fresh), result.model.predict_proba(fresh), rtol=0, atol=1e-12)
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["bundle_version"] == 2
    assert manifest["model"]["components"] == ["gbt", "forest", "kernel", "linear"]
    assert manifest["model"]["weights"]["forest"] == pytest.approx(0.2)


def test_forest_member_equals_its_scikit_learn_forest_inside_the_model(trained):
    """The shipped prediction path (design matrix -> Forest) equals scikit-learn refitted the same way."""
    from sklearn.ensemble import ExtraTreesClassifier

    from spotidance.tabular.features import read_table
    from spotidance.tabular.recipes import design

    result, _ = trained
    ft = read_table(table(), label_column="class")
    D = design(ft.X, ft.feature_columns, FAST_FOREST)
    sk = ExtraTreesClassifier(n_estimators=20, min_samples_leaf=2, max_features="sqrt", max_depth=48,
                              bootstrap=False, n_jobs=1, random_state=0).fit(D, ft.y)
    Dt = design(read_table(table(seed=7), label_column="class").X, ft.feature_columns, FAST_FOREST)
    np.testing.assert_allclose(result.model.forest.predict_proba(Dt), sk.predict_proba(Dt), rtol=0, atol=1e-12)


def test_a_model_without_forest_is_still_written_as_version_1(tmp_path):
    out = tmp_path / "m"
    train_tabular(table(), cv=3, recipe=FAST_NO_FOREST, out=out)
    assert json.loads((out / "bundle.json").read_text())["bundle_version"] == 1
    assert load_tabular_bundle(out).forest is None


def test_a_newer_or_too_old_bundle_version_is_refused_in_one_line(trained, tmp_path):
    _, out = trained
    copy = edited_copy(out, tmp_path / "newer", lambda manifest: manifest.update(bundle_version=BUNDLE_VERSION + 1))
    with pytest.raises(SpotidanceError, match="newer spotidance"):
        load_tabular_bundle(copy)
    # a forest in a version-1 bundle: written by no spotidance
    edited_copy(out, copy, lambda manifest: manifest.update(bundle_version=1))
    with pytest.raises(SpotidanceError, match="version 1 cannot hold the members it lists"):
        load_tabular_bundle(copy)


def test_forest_arrays_are_validated_as_untrusted_input(trained):
    result, _ = trained
    arrays, spec = result.model.to_arrays()
    internal = np.flatnonzero(arrays["forest.feature"] >= 0)
    looping = dict(arrays)
    looping["forest.right"] = arrays["forest.right"].copy()
    looping["forest.right"][internal[1]] = internal[0]
    with pytest.raises(SpotidanceError, match="forest child index out of range"):
        TabularModel.from_arrays(looping, spec)
    short = dict(arrays)
    short["forest.counts"] = arrays["forest.counts"][:-1]
    with pytest.raises(SpotidanceError, match="forest leaves and class counts"):
        TabularModel.from_arrays(short, spec)
    signed = dict(arrays)
    signed["forest.counts"] = arrays["forest.counts"].astype(np.int64) - 1
    with pytest.raises(SpotidanceError, match="forest.counts has dtype"):
        TabularModel.from_arrays(signed, spec)
    far = dict(arrays)
    far["forest.feature"] = arrays["forest.feature"].copy()
    far["forest.feature"][internal[0]] = 10_000
    with pytest.raises(SpotidanceError, match="forest split feature out of range"):
        TabularModel.from_arrays(far, spec)
    shallow = json.loads(json.dumps(spec))
    shallow["forest"]["max_depth"] = 1
    model = TabularModel.from_arrays(arrays, shallow)
    with pytest.raises(SpotidanceError, match="did not reach a leaf"):
        model.predict_proba(table(seed=3))
