#!/usr/bin/env python
"""Benchmark: does averaging a CNN and a tabular model (``classify --model A --model B``) help?

Synthetic data only (``spotidance.synth``): synthetic clips are not real music, and the figures
say nothing about Beatport tracks or anyone's record collection. For each seed, in one run:

1. render ``--per-genre`` training clips of techno, edm and dnb (30 s mp3s) and
   ``--test-per-genre`` held-out clips with another seed (seed + 1000);
2. ``prepare`` the training clips into frames and train each CNN of ``--cnn`` on them
   (``--epochs``; the CNN's own 70/15/15 split of the training clips);
3. ``analyze`` the same training clips (core features) and train a tabular model on
   :data:`FEATURES` with ``train_tabular`` (default recipe);
4. classify the held-out clips with each CNN alone, the tabular model alone and each CNN with
   the tabular model (``classify`` with both models: the mean of their probabilities), and print
   each one's held-out track accuracy, then the mean and standard deviation over the seeds.

Usage::

    python benchmarks/bench_fusion.py                                    # seeds 0 1 2, both CNNs
    python benchmarks/bench_fusion.py --seeds 0 --cnn binary-1d --workdir /tmp/bench-fusion
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GENRES = ("techno", "edm", "dnb")
FEATURES = ["tempo", "tempo_confidence", "loudness", "energy", "key_strength"]


def run_seed(work: Path, *, seed: int, cnns: list[str], per_genre: int, test_per_genre: int, epochs: int) -> list[dict]:
    """Train and score every model for one seed; returns one row per model (or fusion)."""
    from spotidance.analyze.run import analyze
    from spotidance.classify.run import classify
    from spotidance.dataset.prepare import prepare
    from spotidance.model.train import train
    from spotidance.synth import render_collection
    from spotidance.tabular.train import train_tabular

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    render_collection(work / "train", genres=GENRES, per_genre=per_genre, seed=seed)
    render_collection(work / "test", genres=GENRES, per_genre=test_per_genre, seed=seed + 1000)
    print(f"[seed {seed}] {per_genre} + {test_per_genre} clips per genre rendered ({time.perf_counter() - t0:.0f} s)")

    models: dict[str, list[Path]] = {}
    for cnn in cnns:
        t0 = time.perf_counter()
        out = work / f"cnn-{cnn}-{epochs}"
        if not (out / "bundle.json").is_file():
            if not (work / "frames").exists():
                prepare([str(work / "train" / f"{g}.csv") for g in GENRES], out=work / "frames")
            train(work / "frames", model_name=cnn, out=out, epochs=epochs, seed=seed, echo=lambda msg: None,
                  **({"bn_momentum": 0.9} if cnn == "binary-1d" else {}))
        models[f"{cnn} alone"] = [out]
        print(f"[seed {seed}] CNN {cnn}, {epochs} epochs ({time.perf_counter() - t0:.0f} s)")

    t0 = time.perf_counter()
    tab = work / "tabular"
    if not (tab / "bundle.json").is_file():
        files = sorted(str(p) for g in GENRES for p in (work / "train" / g).glob("*.mp3"))
        table = analyze(files, feature_set="core").table
        table["class"] = [Path(p).parent.name for p in table["path"]]
        train_tabular(table[["class", *FEATURES]], label_column="class", feature_columns=FEATURES, seed=seed,
                      out=tab, card={"name": "synthetic-fusion-bench"})
    models["tabular alone"] = [tab]
    for cnn in cnns:
        models[f"{cnn} + tabular"] = [work / f"cnn-{cnn}-{epochs}", tab]
    print(f"[seed {seed}] tabular model on {', '.join(FEATURES)} ({time.perf_counter() - t0:.0f} s)")

    test = sorted(str(p) for g in GENRES for p in (work / "test" / g).glob("*.mp3"))
    rows = []
    for name, bundle in models.items():
        report = classify(bundle, test)
        right = sum(t.label == Path(t.path).parent.name for t in report.tracks)
        rows.append({"seed": seed, "model": name, "accuracy": right / len(test), "right": right, "tracks": len(test),
                     "skipped": len(report.skipped)})
        print(f"[seed {seed}] {name:26s} {right}/{len(test)} = {right / len(test):.1%} ({len(report.skipped)} skipped)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cnn", nargs="+", default=["binary-1d", "multiclass-2d"], choices=["binary-1d", "multiclass-2d"])
    parser.add_argument("--per-genre", type=int, default=20)
    parser.add_argument("--test-per-genre", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    from spotidance.core.tables import format_table

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-fusion-"))
    started = time.perf_counter()
    rows = []
    for seed in args.seeds:
        rows += run_seed(work / f"seed-{seed}", seed=seed, cnns=args.cnn, per_genre=args.per_genre,
                         test_per_genre=args.test_per_genre, epochs=args.epochs)
    (work / "fusion.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    names = list(dict.fromkeys(r["model"] for r in rows))
    summary = []
    for name in names:
        accs = [r["accuracy"] for r in rows if r["model"] == name]
        summary.append([name, *[f"{a:.1%}" for a in accs], f"{statistics.mean(accs):.1%}",
                        f"{statistics.stdev(accs):.1%}" if len(accs) > 1 else ""])
    print(f"\nheld-out track accuracy, synthetic techno / edm / dnb ({args.test_per_genre} clips per genre and seed; "
          f"{args.per_genre} training clips per genre; CNNs {args.epochs} epochs):")
    print(format_table(summary, headers=["model", *[f"seed {s}" for s in args.seeds], "mean", "sd"]))
    print(f"\n{time.perf_counter() - started:.0f} s in all; rows in {work / 'fusion.json'}")


if __name__ == "__main__":
    main()
