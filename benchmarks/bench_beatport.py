"""Benchmark: tabular genre classifiers on the Beatport 2016 feature table (10-fold stratified CV).

Usage::

    .venv/bin/python benchmarks/bench_beatport.py [--table PATH] [--cv 10] [--seed 0 | --seeds 0,1,2,3,4]
        [--recipes shipped,ensemble,gbt,gbt-raw,kernel] [--skip-baselines] [--json FILE]

For the 23 subgenres and for the 3-class subset BigRoom / DrumAndBass / Techno it runs, on the
same folds (``StratifiedKFold(shuffle=True, random_state=seed)``): the shipped recipe (``shipped``,
the default: the recipe of the shipped model for those classes, ``ensemble-mlp`` for the 23
subgenres and ``ensemble`` for the three classes, see ``spotidance.tabular.shipped.SHIPPED_RECIPES``;
rounds tuned inside each training fold) and any other recipes asked for, beside scikit-learn's random forest (500 trees),
extra trees (500 trees) and HistGradientBoosting (defaults) on the raw 71 features. It prints
mean +- std of accuracy and macro-F1 over the folds, and the wall and CPU time of each
(the machine may be shared: CPU time is the steadier figure). With ``--seeds`` it repeats the
whole comparison for several fold seeds (the seed also seeds the models) and adds, per model, the
mean and standard deviation over the seeds of the 10-fold mean accuracy.

Goals: the shipped recipe >= 60.0 % on the 23 subgenres, >= 97 % on the 3 classes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_TABLE = REPO.parent / "shared" / "data" / "beatport-features-2016" / "features.csv"
THREE = ["BigRoom", "DrumAndBass", "Techno"]


def baselines(seed: int):
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )

    return {
        "random forest (500)": lambda: RandomForestClassifier(n_estimators=500, n_jobs=2, random_state=seed),
        "extra trees (500)": lambda: ExtraTreesClassifier(n_estimators=500, n_jobs=2, random_state=seed),
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }


def run_baseline(make, X, y, folds):
    from threadpoolctl import threadpool_limits

    from spotidance.tabular.train import _macro_f1

    accs, f1s = [], []
    k = int(y.max()) + 1
    for tr, te in folds:
        # OpenMP (HistGradientBoosting) single-threaded: spin-waiting threads on a shared 2-core
        # machine made it many times slower; the forests still use 2 joblib threads
        with threadpool_limits(limits=1, user_api="openmp"):
            model = make().fit(X[tr], y[tr])
            pred = model.predict(X[te])
        accs.append(float(np.mean(pred == y[te])))
        f1s.append(_macro_f1(y[te], pred, k))
    return {"accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "macro_f1_mean": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s))}


def table_args_checked(args) -> list[int] | None:
    """The fold seeds of ``--seeds`` (else ``[--seed]``), once ``--table`` and ``--json`` are checked.

    ``None`` (after one line on stderr) when the table is missing, ``--seeds`` is not a list of
    integers, or ``--json`` cannot be written (checked before the long run, so it costs nothing).
    """
    from spotidance.core.atomic import check_output
    from spotidance.core.errors import SpotidanceError

    if not args.table.is_file():
        print(f"{args.table}: no such table (the Beatport table lives in the project's shared data)", file=sys.stderr)
        return None
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [args.seed]
    except ValueError:
        print(f"--seeds must be comma-separated integers, got {args.seeds!r}", file=sys.stderr)
        return None
    try:
        if args.json:
            check_output(args.json, inputs=[args.table], what="--json")
    except SpotidanceError as exc:
        print(exc, file=sys.stderr)
        return None
    return seeds


def write_json(args, rows) -> int:
    """Write ``rows`` to ``--json`` (atomically; one line and 1 if it cannot be written)."""
    from spotidance.core.atomic import write_output
    from spotidance.core.errors import SpotidanceError

    try:
        write_output(args.json, json.dumps(rows, indent=1), inputs=[args.table], what="--json")
    except SpotidanceError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--cv", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None, help="comma-separated fold seeds (overrides --seed)")
    parser.add_argument("--recipes", default="shipped",
                        help="comma-separated recipes ('shipped': the shipped model's for those classes); "
                             "empty for baselines only")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--subsets", default="23,3")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seeds = table_args_checked(args)
    if seeds is None:
        return 2
    import pandas as pd

    from spotidance.tabular.features import read_table
    from spotidance.tabular.recipes import get_recipe
    from spotidance.tabular.shipped import SHIPPED_RECIPES
    from spotidance.tabular.train import _cross_validate, stratified_folds

    warnings.simplefilter("ignore", UserWarning)
    frame = pd.read_csv(args.table, index_col=0)
    rows = []
    for seed in seeds:
        for subset in args.subsets.split(","):
            labels = None if subset == "23" else THREE
            ft = read_table(frame, label_column="class", labels=labels)
            folds = stratified_folds(ft.y, args.cv, seed=seed)
            name = f"{len(ft.labels)} classes"
            shipped = SHIPPED_RECIPES["beatport2016-23" if subset == "23" else "beatport2016-3"]
            for recipe in [r for r in args.recipes.split(",") if r]:
                label = f"shipped ({shipped})" if recipe == "shipped" else recipe
                recipe = shipped if recipe == "shipped" else recipe
                w0, c0 = time.perf_counter(), time.process_time()
                cv = _cross_validate(ft.X, ft.y, ft.labels, ft.feature_columns, get_recipe(recipe), folds,
                                     seed=seed, say=lambda m: None)
                rows.append({"seed": seed, "subset": name, "model": f"spotidance {label}", **{k: cv[k] for k in (
                    "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std")},
                    "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0})
                _print_row(rows[-1])
            if not args.skip_baselines:
                for label, make in baselines(seed).items():
                    w0, c0 = time.perf_counter(), time.process_time()
                    res = run_baseline(make, ft.X, ft.y, folds)
                    rows.append({"seed": seed, "subset": name, "model": label, **res,
                                 "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0})
                    _print_row(rows[-1])
    print()
    print(f"| fold seed | subset | model | accuracy (mean +- std, {args.cv}-fold) | macro-F1 | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['subset']} | {r['model']} | {100 * r['accuracy_mean']:.2f} +- {100 * r['accuracy_std']:.2f} | "
              f"{100 * r['macro_f1_mean']:.2f} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} |")
    if len(seeds) > 1:
        print()
        print(f"| subset | model | mean over fold seeds {args.seeds} of the {args.cv}-fold mean accuracy (+- sd over seeds) | per seed |")
        print("|---|---|---|---|")
        for key in dict.fromkeys((r["subset"], r["model"]) for r in rows):
            accs = [r["accuracy_mean"] for r in rows if (r["subset"], r["model"]) == key]
            print(f"| {key[0]} | {key[1]} | {100 * np.mean(accs):.2f} +- {100 * np.std(accs):.2f} | "
                  f"{', '.join(f'{100 * a:.2f}' for a in accs)} |")
    if args.json:
        return write_json(args, rows)
    return 0


def _print_row(r):
    print(f"seed {r['seed']}  {r['subset']:>10}  {r['model']:<34} {100 * r['accuracy_mean']:6.2f} +- {100 * r['accuracy_std']:5.2f}  "
          f"F1 {100 * r['macro_f1_mean']:6.2f}  {r['wall_s']:6.0f} s wall {r['cpu_s']:6.0f} s CPU", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
