#!/usr/bin/env python
"""Benchmark: the opt-in training options against the seed's settings, in the same run.

Renders synthetic techno / EDM / drum-and-bass previews (spotidance.synth.render), frames them
(spotidance.dataset.prepare), then trains each model with the seed's settings (the baseline) and with
each option alone, over several seeds (each seed: another split and initialisation), and prints
the held-out test scores: track-level accuracy and macro-F1 (mean and spread over the seeds),
frame-level accuracy, the difference from the baseline, the kept epoch's validation loss (lower:
more confident and right; it separates variants when accuracies saturate) and the fit time.

Variants: ``seed`` (defaults, BatchNorm momentum 0.99 as the seed), ``standardize``,
``pooling=avg``, ``spec_augment``, ``bn_momentum=0.9`` (binary-1d only). ``class_weights``
is not measured here: the synthetic labels are balanced, so its weights are all 1.

Usage::

    python benchmarks/bench_train_options.py --quick               # binary-1d, 12 clips/genre of 9 s, 2 seeds
    python benchmarks/bench_train_options.py                       # binary-1d, 24 clips/genre of 30 s, 3 seeds
    python benchmarks/bench_train_options.py --models multiclass-2d --seeds 0 1 --epochs 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GENRES = ("techno", "edm", "dnb")
VARIANTS: dict[str, dict] = {
    "seed": {},
    "standardize": {"standardize": True},
    "pooling=avg": {"pooling": "avg"},
    "spec_augment": {"spec_augment": True},
    "bn_momentum=0.9": {"bn_momentum": 0.9},
}


def build_data(root: Path, *, per_genre: int, duration: float) -> Path:
    from spotidance.synth import render as synth
    from spotidance.dataset.prepare import prepare

    synth.render_collection(root / "audio", genres=GENRES, per_genre=per_genre, seed=0, duration=duration, progress=True)
    prepare([root / "audio" / f"{g}.csv" for g in GENRES], out=root / "frames", progress=True)
    return root / "frames"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["binary-1d"], choices=["binary-1d", "multiclass-2d"])
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default 0 1 2 (--quick: 0 1)")
    parser.add_argument("--epochs", type=int, default=None, help="default 8 (--quick: 5)")
    parser.add_argument("--per-genre", type=int, default=None, help="clips per genre (default 24, --quick 12)")
    parser.add_argument("--duration", type=float, default=None, help="clip seconds (default 30, --quick 9)")
    parser.add_argument("--dataset", default=None, help="use this frame dataset instead of rendering one")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    epochs = args.epochs or (5 if args.quick else 8)
    per_genre = args.per_genre or (12 if args.quick else 24)
    duration = args.duration or (9.0 if args.quick else 30.0)

    from spotidance.core.tables import format_table
    from spotidance.model.train import train

    with tempfile.TemporaryDirectory(prefix="bench-options-") as tmp:
        dataset = Path(args.dataset) if args.dataset else build_data(Path(tmp), per_genre=per_genre, duration=duration)
        rows = []
        for model in args.models:
            base = None
            for variant, options in VARIANTS.items():
                if model != "binary-1d" and "bn_momentum" in options:
                    continue
                results = []
                for seed in seeds:
                    start = time.perf_counter()
                    r = train(dataset, model_name=model, out=Path(tmp) / "model", epochs=epochs, seed=seed, progress=False,
                              echo=lambda _: None, **options)  # fmt: skip
                    test = r.metrics["test"]
                    results.append((test["track"]["accuracy"], test["track"]["macro_f1"], test["frame"]["accuracy"], r.metrics["fit_seconds"],
                                    r.metrics["best_val_loss"]))  # fmt: skip
                    print(f"{model} {variant} seed {seed}: track acc {results[-1][0]:.3f} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
                acc = [x[0] for x in results]
                mean_acc = statistics.mean(acc)
                base = mean_acc if variant == "seed" else base
                rows.append([
                    model, variant, round(mean_acc, 3), round(statistics.pstdev(acc), 3),
                    round(statistics.mean(x[1] for x in results), 3), round(statistics.mean(x[2] for x in results), 3),
                    round(mean_acc - base, 3) if base is not None else 0.0, round(statistics.mean(x[4] for x in results), 4),
                    round(statistics.mean(x[3] for x in results), 1),
                ])  # fmt: skip
    print(f"test scores over seeds {seeds}, {epochs} epochs, dataset {dataset if args.dataset else f'{per_genre} x {len(GENRES)} clips of {duration:g} s'}")
    print(format_table(rows, headers=["model", "variant", "track acc", "sd", "track macro-F1", "frame acc", "vs seed", "best val loss", "fit s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
