#!/usr/bin/env python
"""Benchmark: ``analyze --set all`` against the same figures computed the reference way, in one run.

Renders N synthetic 30 s mp3s (techno, EDM, drum and bass; spotidance.synth.render, seeded), then times

* reference, sequential, one file after another: ``librosa.load`` (22,050 Hz mono),
  ``librosa.beat.beat_track`` (tempo), ``pyloudnorm`` (integrated LUFS), and pyAudioAnalysis 0.3.14
  for the 70 Beatport 2016 columns exactly as Caparrini et al. computed them (short-term 50 ms windows,
  1 s mid-term windows, beat extraction). pyAudioAnalysis needs numpy < 2, so it runs in the separate
  pinned environment that ``tools/pyaa_reference/build.sh`` builds; its own per-file time is measured
  inside that process and added. Without that environment the pyAudioAnalysis part is left out and
  the ratio is printed as a lower bound.
* spotidance: ``spotidance.analyze.run.analyze(..., feature_set="all")`` over the folder, one worker per
  core (decoding included).

Prints clips/s of both, the ratio, and the accuracy of tempo (within 4 %, no octave leniency) and of
key+mode (exact) on the rendered clips, whose truth synth knows. Targets (issue 9): ratio >= 10 and
>= 20 clips/s on 2 cores. Tempo accuracy on real recordings is ``benchmarks/bench_tempo.py`` (the
development set), key accuracy in more detail ``benchmarks/bench_key.py``.

Usage::

    python benchmarks/bench_analyze.py                   # 200 clips
    python benchmarks/bench_analyze.py --clips 30 --workdir /tmp/bench-analyze   # reuse rendered audio
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENRES = ("techno", "edm", "dnb")
REF_PYTHON = Path(os.environ.get("SPOTIDANCE_PYAA_PYTHON", Path.home() / ".cache/spotidance/pyaa-ref/bin/python"))

PYAA_SCRIPT = r"""
import json, sys, time
import numpy as np
from pyAudioAnalysis import MidTermFeatures as mtf, ShortTermFeatures as stf
paths = json.loads(sys.argv[1])
sr = 22050
times = []
for p in paths:
    y = np.fromfile(p, dtype="<f4").astype(np.float64)[: 120 * sr]
    t0 = time.perf_counter()
    mt, st, _ = mtf.mid_feature_extraction(y, sr, 1.0 * sr, 1.0 * sr, 0.05 * sr, 0.05 * sr)
    bpm, conf = mtf.beat_extraction(st, 0.05)
    mt.mean(axis=1)
    times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": times}))
"""


def reference(paths: list[Path], tmp: Path) -> tuple[float, float | None]:
    """Seconds for the reference way over ``paths``: (librosa + pyloudnorm part, pyAudioAnalysis part or None)."""
    import librosa
    import numpy as np
    import pyloudnorm

    meter = pyloudnorm.Meter(22050)
    raw_files = []
    librosa.beat.beat_track(y=librosa.load(paths[0])[0])  # warm up numba
    start = time.perf_counter()
    for i, p in enumerate(paths):
        y, sr = librosa.load(p, sr=22050, mono=True)
        librosa.beat.beat_track(y=y, sr=sr)
        meter.integrated_loudness(y.astype(np.float64))
        raw = tmp / f"raw{i}.f32"
        y.astype("<f4").tofile(raw)
        raw_files.append(str(raw))
    t_librosa = time.perf_counter() - start
    if not REF_PYTHON.exists():
        return t_librosa, None
    done = subprocess.run([str(REF_PYTHON), "-c", PYAA_SCRIPT, json.dumps(raw_files)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"pyAudioAnalysis reference failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return t_librosa, None
    return t_librosa, float(sum(json.loads(done.stdout)["seconds"]))


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (the worker processes)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def ours(folder: Path, out: Path, workers: int | None):
    """(wall seconds, CPU seconds of this process and its workers, the table) of one analyze run."""
    from spotidance.analyze.run import analyze

    cpu = _cpu_seconds()
    start = time.perf_counter()
    result = analyze([folder], out=out, feature_set="all", workers=workers)
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    assert not result.skipped, result.skipped
    return elapsed, cpu, result.table


def accuracy(table, audio_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per genre: (clips, tempo within 4 %, key and mode exact), truth from synth's CSVs."""
    truth = {}
    for g in GENRES:
        with (audio_dir / f"{g}.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                truth[Path(row["preview_path"]).name] = (g, float(row["tempo"]), int(row["key"]), int(row["mode"]))
    out: dict[str, list[int]] = {g: [0, 0, 0] for g in GENRES}
    for _, row in table.iterrows():
        g, tempo, key, mode = truth[Path(row["path"]).name]
        out[g][0] += 1
        out[g][1] += int(row["tempo"] == row["tempo"] and abs(row["tempo"] - tempo) <= 0.04 * tempo)
        out[g][2] += int(row["key"] == key and row["mode"] == mode)
    return {g: tuple(v) for g, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="number of 30 s clips (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="analyze's worker processes (default: all cores)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep rendered audio here and reuse it")
    args = parser.parse_args()

    from spotidance.core.workers import default_workers
    from spotidance.synth.render import render_collection

    tmp = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    audio_dir = args.workdir or tmp / "audio"
    per_genre = -(-args.clips // len(GENRES))
    print(f"rendering {len(GENRES) * per_genre} synthetic 30 s mp3s in {audio_dir} ...", file=sys.stderr)
    render_collection(audio_dir, genres=GENRES, per_genre=per_genre, seed=7, duration=30.0)
    paths = sorted(p for g in GENRES for p in (audio_dir / g).glob("*.mp3"))
    n = len(paths)

    load_ours = os.getloadavg()[0]
    t_ours, cpu_ours, table = ours(audio_dir, tmp / "analysis.csv", args.workers)
    load_ref = os.getloadavg()[0]
    t_librosa, t_pyaa = reference(paths, tmp)
    t_ref = t_librosa + (t_pyaa or 0.0)
    print(f"\nanalyze benchmark: {n} synthetic clips of 30 s, {default_workers()} cores; "
          f"1-min load average {load_ours:.2f} before spotidance, {load_ref:.2f} before the reference, "
          f"{os.getloadavg()[0]:.2f} at the end (other jobs on the machine slow both; compare the ratio)")
    print(f"  reference (sequential): librosa load + beat_track + pyloudnorm {t_librosa:.1f} s"
          + (f", pyAudioAnalysis 70 columns {t_pyaa:.1f} s" if t_pyaa is not None else ", pyAudioAnalysis: not measured (run tools/pyaa_reference/build.sh)"))
    print(f"  reference: {n / t_ref:.1f} clips/s;  spotidance analyze --set all: {n / t_ours:.1f} clips/s")
    bound = "" if t_pyaa is not None else " (lower bound: pyAudioAnalysis not included)"
    print(f"  ratio: {t_ref / t_ours:.1f}x{bound}   targets: >= 10x and >= 20 clips/s")
    cores = args.workers or default_workers()
    print(f"  spotidance's CPU (main process and workers): {1000 * cpu_ours / n:.1f} ms a clip: {cores} free cores would"
          f" give at most {n / (cpu_ours / cores):.1f} clips/s (arithmetic, not a measurement)")
    print("\n  accuracy on these synthetic clips (truth from synth):")
    print(f"  {'genre':<8} {'clips':>5} {'tempo within 4 %':>17} {'key+mode exact':>15}")
    for g, (k, t_ok, key_ok) in accuracy(table, audio_dir).items():
        print(f"  {g:<8} {k:>5} {t_ok:>11} ({t_ok / max(k, 1):.0%}) {key_ok:>9} ({key_ok / max(k, 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
