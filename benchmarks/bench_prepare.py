#!/usr/bin/env python
"""Benchmark: `prepare` against the seed's sequential librosa loop, in the same run.

Renders N synthetic 30 s mp3 previews (spotidance.synth.render), then times

* baseline: the binary seed's loop, one file after another:
  ``librosa.load(path)`` (default 22,050 Hz) -> ``melspectrogram(n_mels=128)`` -> ``power_to_db(ref=1.0)``
  -> ten 128x128 frames kept in a list;
* spotidance: ``prepare`` into a fresh dataset on disk (worker processes, commits, manifest).

Prints clips/s of both and the ratio. Targets (issue 2): ratio >= 3 and >= 50 clips/s on 2 cores.

Usage::

    python benchmarks/bench_prepare.py               # 200 clips
    python benchmarks/bench_prepare.py --clips 40 --workdir /tmp/bench-audio   # reuse rendered audio
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def baseline(paths: list[Path]) -> float:
    import librosa
    import numpy as np

    def one(path: Path) -> np.ndarray:
        y, sr = librosa.load(path)
        db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128), ref=1.0)
        n = db.shape[1] // 128
        return np.stack([db[:, i * 128 : (i + 1) * 128] for i in range(n)])

    one(paths[0])  # warm up numba/caches so the loop is measured at its best
    start = time.perf_counter()
    frames = [one(p) for p in paths]
    elapsed = time.perf_counter() - start
    assert all(f.shape[1:] == (128, 128) for f in frames)
    return elapsed


def ours(folder: Path, out: Path, workers: int | None) -> float:
    from spotidance.dataset.prepare import prepare

    start = time.perf_counter()
    summary = prepare([folder], out=out, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    assert summary.added > 0 and not summary.skipped, summary.skipped
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="number of 30 s clips (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="prepare's worker processes (default: all cores)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep rendered audio here and reuse it")
    args = parser.parse_args()

    from spotidance.core.workers import default_workers
    from spotidance.synth.render import render_collection

    tmp = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    audio_dir = args.workdir or tmp / "audio"
    per_genre = -(-args.clips // 2)
    print(f"rendering {2 * per_genre} synthetic 30 s mp3s in {audio_dir} ...", file=sys.stderr)
    render_collection(audio_dir, genres=("techno", "edm"), per_genre=per_genre, seed=0, duration=30.0, progress=True)
    folder = tmp / "labels"
    folder.mkdir()
    for genre in ("techno", "edm"):
        (folder / genre).symlink_to((audio_dir / genre).resolve(), target_is_directory=True)
    paths = sorted(p for g in ("techno", "edm") for p in (folder / g).glob("*.mp3"))[: 2 * per_genre]
    n = len(paths)

    t_base = baseline(paths)
    t_ours = ours(folder, tmp / "dataset", args.workers)
    base_rate, our_rate = n / t_base, n / t_ours
    ratio = base_rate and our_rate / base_rate
    print(f"\nprepare benchmark: {n} clips of 30 s, {default_workers()} cores")
    print(f"{'pipeline':<34}{'seconds':>9}{'clips/s':>10}")
    print(f"{'baseline (sequential librosa)':<34}{t_base:>9.2f}{base_rate:>10.1f}")
    print(f"{'spotidance prepare':<34}{t_ours:>9.2f}{our_rate:>10.1f}")
    print(f"ratio: {ratio:.2f}x   (targets: >= 3x and >= 50 clips/s)")
    print(f"result: {'PASS' if ratio >= 3 and our_rate >= 50 else 'BELOW TARGET'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
