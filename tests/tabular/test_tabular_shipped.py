"""The shipped Beatport 2016 tabular models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.tabular import load_shipped, shipped_models, shipped_path

NAMES = ["beatport2016-23", "beatport2016-3", "beatport2016-techno-edm"]
TABLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beatport-features-2016" / "features.csv"


def test_the_three_models_are_shipped():
    assert shipped_models() == NAMES
    with pytest.raises(SpotidanceError, match="no shipped tabular model 'nope'"):
        load_shipped("nope")


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_loads_and_predicts_on_rows_of_its_columns(name):
    model = load_shipped(name)
    assert len(model.feature_columns) == 71
    assert model.feature_columns[0] == "1-ZCRm" and model.feature_columns[-1] == "71-BPMessentia"
    # rows at the training mean, and spread +-1 sd along the first axes
    rows = np.tile(model.novelty.mean, (5, 1))
    rows[1:, :4] += np.array([[1], [-1], [0.5], [-0.5]]) * model.novelty.scale[:4]
    frame = {c: rows[:, j] for j, c in enumerate(model.feature_columns)}
    prediction = model.predict(frame)
    assert prediction.probabilities.shape == (5, len(model.labels))
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert set(prediction.labels) <= set(model.labels)
    assert not prediction.novel[0]  # the training mean is not novel
    assert model.predict(rows + 50 * model.novelty.scale).novel.all()
    card = json.loads((shipped_path(name) / "bundle.json").read_text())["card"]
    assert card["metrics"]["k"] == 10 and card["feature_columns"] == model.feature_columns
    assert "licence" in card["data"]


def test_each_shipped_model_was_trained_with_its_listed_recipe():
    from spotidance.tabular.shipped import SHIPPED_RECIPES

    assert sorted(SHIPPED_RECIPES) == NAMES
    for name in NAMES:
        manifest = json.loads((shipped_path(name) / "bundle.json").read_text())
        assert manifest["card"]["recipe"]["name"] == SHIPPED_RECIPES[name] == manifest["model_name"]
    assert "mlp" in load_shipped("beatport2016-23").members()


def test_shipped_labels():
    assert load_shipped("beatport2016-3").labels == ["BigRoom", "DrumAndBass", "Techno"]
    assert len(load_shipped("beatport2016-23").labels) == 23
    assert load_shipped("beatport2016-techno-edm").labels == ["edm", "techno"]


def test_shipped_three_class_model_is_sane_on_the_table():
    if not TABLE.is_file():
        pytest.skip("../shared/data/beatport-features-2016 is not present (only in the project's workplace)")
    import pandas as pd

    frame = pd.read_csv(TABLE, index_col=0)
    model = load_shipped("beatport2016-3")
    rows = frame[frame["class"].isin(model.labels)]
    prediction = model.predict(rows)
    # rows the model was fitted on: nearly all right, and few flagged novel
    assert np.mean(np.array(prediction.labels) == rows["class"].to_numpy()) > 0.95
    assert prediction.novel.mean() <= 0.05
    # a subgenre it never saw is flagged more often than its own classes
    other = frame[frame["class"].isin(["HipHop", "ReggaeDub", "ElectronicaDowntempo"])]
    assert model.predict(other).novel.mean() > prediction.novel.mean()


def test_the_cnn_bundle_reader_explains_a_tabular_bundle():
    from spotidance.model.bundle import read_bundle
    from spotidance.tabular.shipped import shipped_path

    with pytest.raises(SpotidanceError, match="tabular model bundle, not a CNN"):
        read_bundle(shipped_path("beatport2016-3"))


def test_a_tabular_bundle_json_that_is_a_fifo_or_nested_too_deep_is_one_line(tmp_path):
    import os
    import shutil

    from spotidance.tabular.bundle import load_tabular_bundle
    from spotidance.tabular.shipped import shipped_path

    copy = Path(shutil.copytree(shipped_path("beatport2016-3"), tmp_path / "m"))
    (copy / "bundle.json").unlink()
    os.mkfifo(copy / "bundle.json")
    with pytest.raises(SpotidanceError, match="not a regular file"):
        load_tabular_bundle(copy)  # must not block reading the FIFO
    (copy / "bundle.json").unlink()
    (copy / "bundle.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SpotidanceError, match="corrupt JSON"):
        load_tabular_bundle(copy)
