"""Tempo accuracy on the dev set: the new estimator vs the old path vs librosa's default.

Build the dev set first (``benchmarks/devset/build_devset.py``), then::

    .venv/bin/python benchmarks/bench_tempo.py [--cache /work/devset-cache] [--items] [--only-new]

A hit is an estimate within 4 % of the manifest's BPM, with no octave leniency. Printed per split
(``tune``: the items looked at while building the estimator; ``heldout``: other seeds rendered with
another soundfont; ``heldout-debian``: tracker modules from Debian) and per genre, with the CPU
milliseconds a clip of each method (``time.process_time``, so threads count), and the median and
90th-percentile absolute error (BPM) of each method's hits.

``old`` is the path that estimate_tempo replaced (librosa onset strength at hop 512, librosa beat
tracking, least-squares refinement), kept here as a frozen copy so the comparison stays possible.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MANIFEST = ROOT / "benchmarks" / "devset" / "manifest.csv"
SR = 22050
CLIP = 30.0


def read_clip(path: Path) -> np.ndarray:
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr != SR:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    return y[: int(CLIP * SR)]


def _old_tempo_from_onsets(onset_env: np.ndarray, *, sample_rate: int, hop_length: int) -> float:
    """The old path, as it was in spotidance/analyze/features.py (commit 5bd26ef) before
    estimate_tempo replaced it: librosa beat tracking, refined by a least-squares line through the
    beat times when that agrees with the tracker within 5 %."""
    import librosa

    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sample_rate, hop_length=hop_length,
                                           units="time")
    tracked = float(np.atleast_1d(tempo)[0])
    if tracked <= 0 or len(beats) < 8:
        return tracked
    slope = float(np.polyfit(np.arange(len(beats)), beats, 1)[0])
    if slope > 0 and abs(60.0 / slope - tracked) <= 0.05 * tracked:
        return 60.0 / slope
    return tracked


def old_method(y: np.ndarray) -> float | None:
    import librosa

    hop = 512
    env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=hop)
    t = _old_tempo_from_onsets(env, sample_rate=SR, hop_length=hop)
    return t or None


def librosa_default(y: np.ndarray) -> float | None:
    import librosa

    tempo, _ = librosa.beat.beat_track(y=y, sr=SR)
    t = float(np.atleast_1d(tempo)[0])
    return t or None


def new_method(y: np.ndarray) -> float | None:
    from spotidance.analyze.tempo import estimate_tempo

    return estimate_tempo(y, sample_rate=SR).bpm


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/work/devset-cache"))
    ap.add_argument("--items", action="store_true", help="print every item")
    ap.add_argument("--only-new", action="store_true", help="run only the new estimator")
    ap.add_argument("--split", default=None, help="only this split")
    args = ap.parse_args(argv)
    with open(MANIFEST, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if args.split:
        rows = [r for r in rows if r["split"] == args.split]
    methods = {"new": new_method}
    if not args.only_new:
        methods.update({"old": old_method, "librosa": librosa_default})
    hits = defaultdict(lambda: defaultdict(int))  # (split, genre) -> method -> hits
    count = defaultdict(int)
    cpu = defaultdict(float)
    errors = defaultdict(list)  # method -> |error| in BPM of its hits
    missing = 0
    for r in rows:
        wav = args.cache / "audio" / f"{r['item']}.wav"
        if not wav.exists():
            missing += 1
            continue
        y = read_clip(wav)
        truth = float(r["bpm"])
        key = (r["split"], r["genre"])
        count[key] += 1
        line = [f"{r['item']:<28} {truth:7.2f}"]
        for name, fn in methods.items():
            t0 = time.process_time()
            est = fn(y)
            cpu[name] += time.process_time() - t0
            ok = est is not None and abs(est / truth - 1) <= 0.04
            hits[key][name] += ok
            if ok:
                errors[name].append(abs(est - truth))
            line.append(f"{name}={est if est is None else round(est, 2)!s:>7}{'' if ok else ' X'}")
        if args.items:
            print("  ".join(line), flush=True)
    if missing:
        print(f"{missing} items missing from {args.cache}: run benchmarks/devset/build_devset.py")
    n_total = sum(count.values())
    print(f"\nhits within 4% (no octave leniency), {n_total} clips of {CLIP:g} s at {SR} Hz")
    print(f"{'split':<15} {'genre':<8} {'n':>3}  " + "  ".join(f"{m:>8}" for m in methods))
    for split in sorted({k[0] for k in count}):
        for key in sorted(k for k in count if k[0] == split):
            print(f"{split:<15} {key[1]:<8} {count[key]:>3}  " + "  ".join(f"{hits[key][m]:>8}" for m in methods))
        keys = [k for k in count if k[0] == split]
        n = sum(count[k] for k in keys)
        print(f"{split:<15} {'ALL':<8} {n:>3}  " + "  ".join(f"{sum(hits[k][m] for k in keys):>8}" for m in methods))
    print("precision of the hits, median / 90th percentile |error| in BPM: " + ", ".join(
        f"{m} {np.median(errors[m]):.3f} / {np.percentile(errors[m], 90):.3f}" for m in methods if errors[m]))
    print("CPU ms per clip: " + ", ".join(f"{m} {1000 * cpu[m] / max(n_total, 1):.1f}" for m in methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
