#!/usr/bin/env python
"""Benchmark: training throughput of both models, streamed from disk vs the seeds' in-RAM way.

Builds a frame dataset of N synthetic 128x128 frames on disk (shards of 640 frames, like
``prepare`` writes), then for each model (``binary-1d``, ``multiclass-2d``) times, in the same run:

* baseline: the seeds' way: every frame loaded into one NumPy array in RAM, then
  ``model.fit(x, y, batch_size, shuffle=True)``;
* spotidance: ``train``'s way: :class:`spotidance.model.train.FrameSequence` reads shuffled batches
  from the memory-mapped shards (``FrameDataset.read``) while Keras trains.

Both fit a fresh model with the same seed and the model's default batch size, alternately for
``--rounds`` rounds (so other load on a shared machine hits both alike); the first epoch of each
fit (graph tracing) is excluded and the median of the other epochs is reported as training
frames/s. The ratio spotidance / baseline shows what streaming costs (1.0 = nothing).

Usage::

    python benchmarks/bench_train.py            # 1,920 frames, 3 epochs x 2 rounds (~15 min on 2 cores)
    python benchmarks/bench_train.py --quick    # 192 frames, 2 epochs x 2 rounds (~2 min)
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


def make_dataset(path: Path, *, n_frames: int, n_labels: int = 3, per_shard: int = 640, seed: int = 0) -> Path:
    import numpy as np

    from spotidance.audio.config import SpectrogramConfig
    from spotidance.dataset.frames import DatasetWriter

    config = SpectrogramConfig()
    writer = DatasetWriter(path, config)
    rng = np.random.default_rng(seed)
    frames_per_track = 10
    batch = []
    for t in range(n_frames // frames_per_track):
        label = t % n_labels
        x = rng.normal(-50, 8, (frames_per_track, config.n_mels, config.frame_length)).astype(np.float32)
        x[:, 10 + 30 * label : 22 + 30 * label, :] += 20
        batch.append(({"track_id": f"t{t}", "label": f"genre{label}", "artist": "", "path": "", "source_key": f"t{t}"}, x))
        if len(batch) * frames_per_track >= per_shard:
            writer.commit(batch)
            batch = []
    if batch:
        writer.commit(batch)
    return path


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return EpochTimer()


def fresh_model(name: str, n_labels: int, lr: float):
    import keras

    from spotidance.model.architectures import build_model

    keras.utils.set_random_seed(0)
    model = build_model(name, n_labels=n_labels)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run(name: str, ds, *, epochs: int, rounds: int) -> dict[str, float]:
    """Median training frames/s of both ways, alternating them ``rounds`` times (other load
    on the machine then hits both alike)."""
    from spotidance.model.architectures import DEFAULTS
    from spotidance.model.train import frame_sequence_class

    defaults = DEFAULTS[name]
    n, y, n_labels = len(ds), ds.frame_labels, len(ds.labels)
    Sequence = frame_sequence_class()
    speeds: dict[str, list[float]] = {"baseline": [], "streamed": []}
    ram_mb = 0.0
    for _ in range(rounds):
        # baseline: all frames in RAM as one array, model.fit on it
        x = ds.read(range(n))
        ram_mb = x.nbytes / 1e6
        model, timer = fresh_model(name, n_labels, defaults.learning_rate), epoch_timer()
        model.fit(x, y, batch_size=defaults.batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
        speeds["baseline"] += [n / t for t in timer.times[1:]]
        del x
        # spotidance: shuffled batches streamed from the memory-mapped shards
        seq = Sequence(ds, range(n), y, batch_size=defaults.batch_size, shuffle=True, seed=0)
        model, timer = fresh_model(name, n_labels, defaults.learning_rate), epoch_timer()
        model.fit(seq, epochs=epochs, verbose=0, callbacks=[timer])
        speeds["streamed"] += [n / t for t in timer.times[1:]]
    return {way: statistics.median(v) for way, v in speeds.items()} | {"ram_mb": ram_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=None, help="frames in the dataset (default 1920; --quick 384)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fit, the first excluded (default 3; --quick 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of both ways (default 2)")
    parser.add_argument("--models", nargs="+", default=["binary-1d", "multiclass-2d"])
    parser.add_argument("--quick", action="store_true", help="small run (192 frames, 2 epochs)")
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else 3)
    if epochs < 2 or args.rounds < 1:
        parser.error("--epochs must be at least 2 (the first epoch is excluded) and --rounds at least 1")
    n_frames = args.frames or (192 if args.quick else 1920)

    from spotidance.dataset.frames import FrameDataset
    from spotidance.core.tables import format_table

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        ds = FrameDataset.open(make_dataset(Path(tmp) / "frames", n_frames=n_frames))
        print(f"{len(ds)} frames of 128x128 ({len(ds) * 128 * 128 * 4 / 1e6:.0f} MB), {len(ds.labels)} labels, "
              f"{epochs} epochs per fit (first excluded), {args.rounds} rounds, cores: {len(os.sched_getaffinity(0))}", file=sys.stderr)  # fmt: skip
        rows = []
        for name in args.models:
            r = run(name, ds, epochs=epochs, rounds=args.rounds)
            rows.append([name, round(r["baseline"], 1), round(r["streamed"], 1), round(r["streamed"] / r["baseline"], 2), round(r["ram_mb"], 1)])
    print(format_table(rows, headers=["model", "in RAM (seed) frames/s", "streamed frames/s", "ratio", "RAM array MB"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
