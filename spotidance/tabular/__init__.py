"""Genre classifiers on tables of audio features (gradient-boosted trees and friends).

Training uses LightGBM and scikit-learn; prediction needs NumPy only (see
:mod:`spotidance.tabular.model`). Importing this package is cheap: the training code and its
libraries (LightGBM, scikit-learn) are imported inside the functions that train.

Public API::

    train_tabular(table, *, label_column="class", feature_columns=None, labels=None, cv=None,
                  seed=0, out=None, recipe=None, card=None, progress=None) -> TabularTrainResult
    save_tabular_bundle(out_dir, *, model, metrics, split=None) -> Path
    load_tabular_bundle(path) -> TabularModel
    TabularModel.predict_proba(frame_or_array) / .predict(...) -> Prediction / .novelty_score(...)
    shipped_models() -> list[str];  load_shipped(name) -> TabularModel
"""

from __future__ import annotations

from spotidance.tabular.bundle import load_tabular_bundle, save_tabular_bundle
from spotidance.tabular.model import Prediction, TabularModel
from spotidance.tabular.shipped import load_shipped, shipped_models, shipped_path
from spotidance.tabular.train import TabularTrainResult, train_tabular

__all__ = [
    "Prediction", "TabularModel", "TabularTrainResult", "load_shipped", "load_tabular_bundle",
    "save_tabular_bundle", "shipped_models", "shipped_path", "train_tabular",
]
