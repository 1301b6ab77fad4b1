"""The perceptron member (bundle version 3): the quantile map, NumPy prediction equal to
scikit-learn's, pickle-free round trip, validation of its arrays, and the bundle version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import load_tabular_bundle
from spotidance.tabular.model import Mlp, TabularModel, quantile_normal
from spotidance.tabular.recipes import Recipe, fit_quantiles
from spotidance.tabular.train import train_tabular
from tests.helpers.tabular import edited_copy, forbid_pickle
from tests.helpers.tabular import three_class_table as table

FAST_MLP = Recipe("ensemble-mlp", max_rounds=40, early_stopping=10, kernel=False, forest=True, forest_trees=20,
                  mlp=True, mlp_hidden=(16, 8), mlp_max_iter=60, mlp_quantiles=50, weights=(0.4,))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp") / "model"
    result = train_tabular(table(), cv=3, recipe=FAST_MLP, out=out)
    return result, out


def test_quantile_map_is_monotone_bounded_and_sends_training_quantiles_to_their_normal_scores():
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=400), rng.exponential(size=400), np.round(rng.normal(size=400))])
    q, r = fit_quantiles(X, 101)
    assert q.shape == (101, 3) and r.shape == (101,)
    np.testing.assert_allclose(r[1:-1], norm.ppf(np.linspace(0, 1, 101)[1:-1]), rtol=1e-12)
    assert r[0] == pytest.approx(norm.ppf(1e-7)) and r[-1] == pytest.approx(-norm.ppf(1e-7))
    grid = np.linspace(-8, 8, 2001)[:, None].repeat(3, axis=1)
    Z = quantile_normal(grid, q, r)
    assert (np.diff(Z, axis=0) >= -1e-12).all()
    assert Z.min() == pytest.approx(r[0]) and Z.max() == pytest.approx(r[-1])
    # a continuous column: its own quantiles map onto the references
    np.testing.assert_allclose(quantile_normal(q, q, r)[:, 0], r, atol=1e-9)
    # a column of ties (rounded values): a tied value maps to the middle of its run of references
    value = 0.0
    run = np.flatnonzero(q[:, 2] == value)
    assert len(run) > 3
    z = quantile_normal(np.full((1, 3), value), q, r)[0, 2]
    assert z == pytest.approx(0.5 * (r[run[0]] + r[run[-1]]))
    # close to scikit-learn's QuantileTransformer away from the outermost bins
    from sklearn.preprocessing import QuantileTransformer

    sk = QuantileTransformer(n_quantiles=101, output_distribution="normal").fit(X[:, :2])
    probe = rng.normal(size=(200, 2)) * 0.5 + 0.5
    inner = (probe > q[2, :2]) & (probe < q[-3, :2])
    diff = np.abs(quantile_normal(probe, q[:, :2], r) - sk.transform(probe))[inner]
    assert diff.max() < 0.05


def test_numpy_mlp_equals_scikit_learn():
    import warnings

    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(1)
    for n_classes in (2, 4):
        y = rng.integers(0, n_classes, 300)
        X = rng.normal(size=(300, 5)) + 0.8 * y[:, None]
        q, r = fit_quantiles(X, 60)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = MLPClassifier(hidden_layer_sizes=(12, 7), alpha=1.0, max_iter=80, random_state=0).fit(
                quantile_normal(X, q, r), y)
        mlp = Mlp.from_sklearn(sk, quantiles=q, references=r)
        Xt = np.vstack([X[:50], rng.normal(size=(50, 5)) * 100])
        np.testing.assert_allclose(mlp.predict_proba(Xt), sk.predict_proba(quantile_normal(Xt, q, r)),
                                   rtol=0, atol=1e-12)


def test_mlp_recipe_round_trip_without_pickle_and_version_3(trained, monkeypatch):
    result, out = trained

    forbid_pickle(monkeypatch)
    loaded = load_tabular_bundle(out)
    assert set(loaded.members()) == {"gbt", "forest", "linear", "mlp"}
    fresh = table(seed=5)
    np.testing.assert_allclose(loaded.predict_proba(fresh), result.model.predict_proba(fresh), rtol=0, atol=1e-12)
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["bundle_version"] == 3
    assert manifest["model"]["components"] == ["gbt", "forest", "linear", "mlp"]
    assert manifest["model"]["mlp"]["hidden"] == [16, 8]
    assert manifest["model"]["weights"]["mlp"] == pytest.approx(0.2)
    assert result.metrics["cv"]["accuracy_mean"] > 0.6  # the table is easy; a broken member would drag it down


def test_a_version_2_manifest_listing_an_mlp_is_refused(trained, tmp_path):
    _, out = trained
    copy = edited_copy(out, tmp_path / "old", lambda manifest: manifest.update(bundle_version=2))
    with pytest.raises(SpotidanceError, match="version 2 cannot hold the members it lists"):
        load_tabular_bundle(copy)


def test_mlp_arrays_are_validated_as_untrusted_input(trained):
    result, _ = trained
    arrays, spec = result.model.to_arrays()
    unsorted = dict(arrays)
    unsorted["mlp.quantiles"] = arrays["mlp.quantiles"][::-1].copy()
    with pytest.raises(SpotidanceError, match="mlp quantiles are not ascending"):
        TabularModel.from_arrays(unsorted, spec)
    wide = dict(arrays)
    wide["mlp.w1"] = np.zeros((arrays["mlp.w1"].shape[0] + 1, arrays["mlp.w1"].shape[1]))
    with pytest.raises(SpotidanceError, match="mlp layer 1 shapes"):
        TabularModel.from_arrays(wide, spec)
    missing = {k: v for k, v in arrays.items() if k != "mlp.b2"}
    with pytest.raises(SpotidanceError, match="array mlp.b2 missing"):
        TabularModel.from_arrays(missing, spec)
    nan = dict(arrays)
    nan["mlp.w0"] = arrays["mlp.w0"].copy()
    nan["mlp.w0"][0, 0] = np.nan
    with pytest.raises(SpotidanceError, match="mlp.w0 has non-finite values"):
        TabularModel.from_arrays(nan, spec)
    deep = json.loads(json.dumps(spec))
    deep["mlp"]["n_layers"] = 99
    with pytest.raises(SpotidanceError, match="mlp n_layers out of range"):
        TabularModel.from_arrays(arrays, deep)
    short = json.loads(json.dumps(spec))
    short["mlp"]["n_layers"] = 2  # stops at the hidden layer: 8 outputs for 3 labels
    with pytest.raises(SpotidanceError, match="mlp outputs do not match the labels"):
        TabularModel.from_arrays(arrays, short)


def test_train_command_takes_a_recipe_and_refuses_it_for_a_cnn(tmp_path, capsys):
    from tests.helpers.cli import run_main

    table().to_csv(tmp_path / "features.csv", index=False)
    code, _, err = run_main(["train", tmp_path / "features.csv", "--model", "trees", "--recipe", "gbt", "--cv", "3",
                             "-o", tmp_path / "model", "-q"], capsys)
    assert code == 0, err
    manifest = json.loads((tmp_path / "model" / "bundle.json").read_text())
    assert manifest["model_name"] == "gbt" and manifest["model"]["components"] == ["gbt"]
    code, _, err = run_main(["train", tmp_path / "frames", "--model", "binary-1d", "--recipe", "gbt",
                             "-o", tmp_path / "cnn"], capsys)
    assert code == 2 and "--recipe are options of --model trees" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "cnn").exists()
    code, _, err = run_main(["train", tmp_path / "features.csv", "--model", "trees", "--recipe", "nope",
                             "-o", tmp_path / "m2"], capsys)
    assert code == 2 and "nope" in err and not (tmp_path / "m2").exists()
