#!/usr/bin/env python
"""Benchmark: the statistics of `eda` against a loop of scipy calls, in the same run.

Builds a synthetic table of L labels x R rows x F features (a few missing values, so both the
vectorised and the per-feature path run), then times

* baseline: one ``scipy.stats.mannwhitneyu`` call per pair of labels and feature (how the pairwise
  tests are usually written), plus Holm per feature;
* spotidance: ``eda.compare_features`` (Kruskal-Wallis per feature and the pairwise tests, one
  vectorised scipy call per pair of labels).

Checks that both give the same U and p-values, and prints both times and the ratio. Then times the
summary's classifier (``eda.separability``: 5-fold logistic regression, and again on the two best
features) and a whole ``spotidance eda`` report (tables only, and with figures) on the same data.

Usage::

    python benchmarks/bench_eda.py            # 23 labels x 100 rows x 71 features (the Beatport shape)
    python benchmarks/bench_eda.py --quick    # 6 labels x 60 rows x 20 features
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path


def make_csv(path: Path, *, labels: int, rows: int, features: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    names = [f"f{k:02d}" for k in range(features)]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", *names])
        for i in range(labels):
            centre = rng.normal(0, 0.5, features)
            values = rng.normal(centre, 1.0, (rows, features)).round(5).astype(object)
            values[rng.random((rows, features)) < 0.002] = ""  # a few missing cells
            for row in values:
                writer.writerow([f"genre{i:02d}", *row])


def baseline(data) -> tuple[float, dict]:
    from scipy.stats import mannwhitneyu

    from spotidance.eda.run import holm

    start = time.perf_counter()
    frame, out = data.frame, {}
    for feature in data.features:
        groups = {label: frame.loc[frame["label"] == label, feature].dropna() for label in data.labels}
        keys, ps = [], []
        for i, a in enumerate(data.labels):
            for b in data.labels[i + 1:]:
                result = mannwhitneyu(groups[a], groups[b], alternative="two-sided")
                keys.append((feature, a, b))
                ps.append(result.pvalue)
                out[(feature, a, b)] = (float(result.statistic), float(result.pvalue))
        holm(ps)
    return time.perf_counter() - start, out


def ours(data) -> tuple[float, dict]:
    from spotidance.eda.run import compare_features

    start = time.perf_counter()
    _, pairwise = compare_features(data)
    elapsed = time.perf_counter() - start
    return elapsed, {(r.feature, r.label_a, r.label_b): (r.U, r.p_value) for r in pairwise.itertuples()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 labels x 60 rows x 20 features")
    args = parser.parse_args()
    labels, rows, features = (6, 60, 20) if args.quick else (23, 100, 71)

    from spotidance.eda import run as eda

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        make_csv(path, labels=labels, rows=rows, features=features)
        data = eda.read_labelled_csvs([path])
        ours(data)  # warm-up (imports)
        t_base, base = baseline(data)
        t_ours, mine = ours(data)
        assert base.keys() == mine.keys(), "different pairs"
        worst = max(abs(base[k][1] - mine[k][1]) / max(base[k][1], 1e-300) for k in base)
        assert all(abs(base[k][0] - mine[k][0]) < 1e-6 for k in base) and worst < 1e-9, "results differ"
        print(f"data: {labels} labels x {rows} rows x {features} features, {len(base)} pairwise tests")
        print(f"{'pairwise statistics':32s} {'seconds':>8s}")
        print(f"{'baseline: loop of scipy calls':32s} {t_base:8.2f}")
        print(f"{'spotidance compare_features':32s} {t_ours:8.2f}   (includes Kruskal-Wallis per feature)")
        print(f"ratio (baseline / spotidance): {t_base / t_ours:.1f}x   results equal (p rel. diff {worst:.1e})")
        comparison, _ = eda.compare_features(data)
        start = time.perf_counter()
        sep = eda.separability(data, eda.rank_features(comparison))
        print(f"summary classifier (5-fold logistic regression x 2): {time.perf_counter() - start:.2f} s, "
              f"accuracy {sep.accuracy:.1%} (chance {sep.chance:.1%})")
        for figures in (False, True):
            start = time.perf_counter()
            eda.run_report([path], out_dir=Path(tmp) / f"report-{figures}", figures=figures)
            print(f"whole report, figures={figures!s:5s}: {time.perf_counter() - start:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
