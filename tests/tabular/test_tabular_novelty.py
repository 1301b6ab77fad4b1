"""The novelty flag: calibrated on out-of-fold distances, flags far-away rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spotidance.tabular.recipes import Recipe, fit_novelty, novelty_threshold
from spotidance.tabular.train import stratified_folds, train_tabular

FAST = Recipe("gbt", kernel=False, weights=(1.0,), max_rounds=30, early_stopping=10)


def gaussian_table(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    cov = np.eye(d) + 0.5  # correlated features: the Mahalanobis metric matters
    X = rng.multivariate_normal(np.zeros(d), cov, size=n)
    y = (X[:, 0] > 0).astype(int)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(d)])
    frame["label"] = np.array(["a", "b"])[y]
    return frame, cov


def test_threshold_flags_at_most_five_percent_out_of_fold():
    frame, _ = gaussian_table()
    X = frame.drop(columns=["label"]).to_numpy()
    y = (frame["label"] == "b").to_numpy().astype(int)
    folds = stratified_folds(y, 5, seed=0)
    threshold, oof = novelty_threshold(X, folds, rate=0.05)
    assert np.isfinite(oof).all()
    assert (oof > threshold).mean() <= 0.05
    assert (oof > threshold).mean() >= 0.04  # not a trivially huge threshold either
    # the tightest such threshold: one notch lower would flag more than 5 %
    assert (oof >= threshold).mean() > 0.05


def test_trained_model_flags_few_new_in_distribution_rows_and_all_far_rows():
    frame, _cov = gaussian_table()
    result = train_tabular(frame, label_column="label", cv=5, recipe=FAST)
    nov = result.metrics["novelty"]
    assert nov["oof_flagged_rate"] <= 0.05
    assert nov["train_flagged_rate"] <= 0.05
    fresh, _ = gaussian_table(n=2000, seed=7)
    flagged = result.model.predict(fresh.drop(columns=["label"])).novel.mean()
    assert flagged <= 0.08  # ~5 % expected on new rows of the same distribution
    rng = np.random.default_rng(3)
    far = rng.normal(size=(50, 6)) + 12.0
    prediction = result.model.predict(far)
    assert prediction.novel.all()
    assert (prediction.novelty_score > result.model.novelty.threshold).all()
    # a row off the correlation structure (each coordinate ordinary) is flagged too
    odd = np.zeros((1, 6))
    odd[0, :3], odd[0, 3:] = 2.5, -2.5
    assert result.model.predict(odd).novel.all()


def test_constant_column_keeps_the_score_finite():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=100), np.ones(100)])
    nov = fit_novelty(X, np.arange(100), threshold=3.0)
    assert np.isfinite(nov.score(X)).all()
