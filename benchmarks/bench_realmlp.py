"""Experiment: RealMLP as a fifth soft-vote member of ``ensemble-mlp`` (23 Beatport subgenres; not shipped).

Usage::

    pip install torch==2.13.0 pytabkit        # not dependencies of spotidance
    .venv/bin/python benchmarks/bench_realmlp.py [--seeds 10,11,12,13,14] [--weight 0.2] [--json FILE]

On the folds of ``bench_beatport.py`` (10-fold ``stratified_folds`` of each fold seed) it fits,
in every training fold, the package's ``ensemble-mlp`` recipe exactly as ``spotidance train``
does, and pytabkit's ``RealMLP_TD_Classifier`` (its tuned defaults, one thread, seeded like the
recipe) on the same input (the 71 columns plus the engineered tempo columns). The candidate's
probabilities are ``(P_recipe + w * P_realmlp) / (1 + w)``: the recipe's weights sum to 1, so this
is the five-member soft vote with the weights renormalised. It prints the 10-fold mean accuracy of
the recipe, RealMLP alone and the candidate for each fold seed, and their means over the seeds.

``docs/tabular.md`` ("Third protocol") records why this was not built: on the fresh fold seeds
10-14 the candidate gained 0.13 points for twice the training cost and a PyTorch dependency.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench_beatport puts the repository on sys.path too
from bench_beatport import DEFAULT_TABLE, table_args_checked, write_json


def realmlp_proba(D_train, y_train, D_test, *, n_classes: int, seed: int) -> np.ndarray:
    import torch
    from pytabkit import RealMLP_TD_Classifier

    torch.set_num_threads(1)
    model = RealMLP_TD_Classifier(device="cpu", random_state=seed, n_threads=1, verbosity=0)
    model.fit(D_train, y_train)
    proba = np.zeros((len(D_test), n_classes))
    proba[:, model.classes_] = model.predict_proba(D_test)
    return proba


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--seeds", default="10,11,12,13,14", help="comma-separated fold seeds (empty: --seed)")
    parser.add_argument("--weight", type=float, default=0.2, help="RealMLP's soft-vote weight (the recipe's sum to 1)")
    parser.add_argument("--recipe", default="ensemble-mlp")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    seeds = table_args_checked(args)
    if seeds is None:
        return 2
    try:
        import pytabkit  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        print("this experiment needs PyTorch and pytabkit, which spotidance does not depend on: "
              "pip install torch==2.13.0 pytabkit", file=sys.stderr)
        return 2

    import pandas as pd
    from threadpoolctl import threadpool_limits

    from spotidance.tabular.features import read_table
    from spotidance.tabular.recipes import design, fit_recipe, get_recipe
    from spotidance.tabular.train import stratified_folds

    warnings.simplefilter("ignore")
    ft = read_table(pd.read_csv(args.table, index_col=0), label_column="class")
    recipe = get_recipe(args.recipe)
    D = design(ft.X, ft.feature_columns, recipe)
    k = len(ft.labels)
    rows = []
    for seed in seeds:
        names = (args.recipe, "realmlp", f"{args.recipe} + {args.weight:g} realmlp")
        accs = {name: [] for name in names}
        cpu = {"recipe": 0.0, "realmlp": 0.0}
        for i, (tr, te) in enumerate(stratified_folds(ft.y, 10, seed=seed)):
            c0 = time.process_time()
            model, _ = fit_recipe(ft.X, ft.y, tr, columns=ft.feature_columns, labels=ft.labels, recipe=recipe, seed=seed + i)
            p_recipe = model._proba(D[te])
            c1 = time.process_time()
            with threadpool_limits(limits=1):
                p_rm = realmlp_proba(D[tr], ft.y[tr], D[te], n_classes=k, seed=seed + i)
            cpu["recipe"] += c1 - c0
            cpu["realmlp"] += time.process_time() - c1
            for name, p in zip(names, (p_recipe, p_rm, (p_recipe + args.weight * p_rm) / (1 + args.weight))):
                accs[name].append(float(np.mean(p.argmax(axis=1) == ft.y[te])))
        row = {"seed": seed, **{name: float(np.mean(a)) for name, a in accs.items()},
               "cpu_s_recipe": cpu["recipe"], "cpu_s_realmlp": cpu["realmlp"]}
        rows.append(row)
        print(f"seed {seed}: " + "  ".join(f"{name} {100 * row[name]:.2f}" for name in names)
              + f"  (CPU s: recipe {cpu['recipe']:.0f}, realmlp {cpu['realmlp']:.0f})", flush=True)
    print()
    print("| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean (+- sd over seeds) |")
    print("|---|" + "---|" * len(seeds) + "---|")
    for name in names:
        vals = [100 * r[name] for r in rows]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {np.mean(vals):.2f} +- {np.std(vals):.2f} |")
    if args.json:
        return write_json(args, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
