#!/usr/bin/env python
"""Benchmark: `spotidance classify` against the seed's way of classifying, in the same run.

Builds an untrained model bundle (``spotidance.model.architectures.build_model`` when it exists, else a
stand-in with the binary-1d layer stack; speed does not depend on the weights) and N 30 s stereo
mp3s at 44.1 kHz rendered by ffmpeg, then times

cold start, one 30 s mp3, each a fresh process (median of ``--repeat`` runs after one warm-up):
  * baseline, the seed's way: ``import tensorflow``, ``keras.models.load_model``,
    ``librosa.load``, ``melspectrogram`` + ``power_to_db``, ``model.predict``, mean of frames;
  * ``python -m spotidance classify MODEL_DIR one.mp3`` (LiteRT, no TensorFlow import).
  Target (issue 5): under 2 s.

a folder of N mp3s:
  * baseline 1, the seed's loop in one warm process (model already loaded, imports not
    counted): per file ``librosa.load`` -> log-mel -> frames -> ``model.predict`` -> mean;
  * baseline 2, ``spotidance classify --workers 1`` (the same code, sequential), a fresh process;
  * ``spotidance classify`` with its default parallelism (one decoding process per core), a
    fresh process: start-up, model loading and output included.
  Target (issue 5): >= 30 tracks/s on 2 cores.

With ``--shipped NAME`` (a shipped tabular model, such as ``beatport2016-3``), the same two
measurements for ``spotidance classify FILES --model NAME`` instead, with no seed baseline (there
is none for the tabular models): targets of issue 10, cold start under 1.5 s, >= 30 files/s.

Usage::

    python benchmarks/bench_classify.py                  # 200 files
    python benchmarks/bench_classify.py --shipped beatport2016-3
    python benchmarks/bench_classify.py --files 60 --repeat 3 --workdir /tmp/bench-classify
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = ["edm", "techno"]

SEED_WAY = r"""
import sys, time
import numpy as np
import tensorflow as tf
import keras
import librosa
model = keras.models.load_model(sys.argv[1], compile=False)
y, sr = librosa.load(sys.argv[2], sr=22050)
db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128), ref=1.0)
n = db.shape[1] // 128
frames = np.stack([db[:, i * 128 : (i + 1) * 128] for i in range(n)])
probs = model.predict(frames, verbose=0).mean(axis=0)
print(int(np.argmax(probs)), n)
"""


def render_mp3s(folder: Path, n: int) -> list[Path]:
    """N 30 s stereo 44.1 kHz mp3s: 8 distinct renderings (tone + noise + beat), copied."""
    from spotidance.audio.decode import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    distinct = []
    for i in range(min(8, n)):
        file = folder / f"track{i:04d}.mp3"
        if not file.exists():
            freq = 110 * (i + 2)
            graph = (f"sine=f={freq}:d=30:r=44100[a];anoisesrc=d=30:r=44100:a=0.08:seed={i}[b];"
                     f"sine=f=55:d=30:r=44100,volume='0.6*lt(mod(t,0.5),0.1)':eval=frame[c];"
                     "[a][b][c]amix=inputs=3,pan=stereo|c0=c0|c1=0.8*c0")
            subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-filter_complex", graph,
                            "-c:a", "libmp3lame", "-b:a", "128k", str(file)], check=True)
        distinct.append(file)
    files = []
    for i in range(n):
        file = folder / f"track{i:04d}.mp3"
        if not file.exists():
            shutil.copyfile(distinct[i % len(distinct)], file)
        files.append(file)
    return files


def build_bundle(out: Path, model_name: str) -> str:
    """Write an untrained bundle; returns where the model came from."""
    import keras

    from spotidance.audio.config import SpectrogramConfig
    from spotidance.model.bundle import write_bundle

    config = SpectrogramConfig()
    try:
        from spotidance.model.architectures import build_model

        model = build_model(model_name, n_labels=len(LABELS), config=config)
        source = f"spotidance.model.architectures.build_model({model_name!r})"
    except ImportError:
        model = _stand_in_binary_1d(config)
        source = "stand-in binary-1d stack (spotidance.model.architectures not available)"
    write_bundle(out, model=model, model_name=model_name, labels=LABELS, config=config,
                 training={"untrained": True}, metrics={}, split={"train": [], "validation": [], "test": []})
    return source


def _stand_in_binary_1d(config):
    import keras
    from keras import layers

    inp = keras.Input((config.n_mels, config.frame_length))
    x = layers.Permute((2, 1))(inp)
    for i, filters in enumerate((64, 128, 256)):
        reg = keras.regularizers.L2(0.001) if i == 0 else None
        x = layers.Conv1D(filters, 4, activation="relu", kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling1D(2)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inp, layers.Dense(len(LABELS), activation="softmax")(x))


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def timed_cpu(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its waited-for children, e.g. worker processes)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_utime + usage.ru_stime


def median_time(cmd: list[str], repeat: int) -> float:
    timed(cmd)  # warm-up: file system cache, .pyc files
    return statistics.median(timed(cmd) for _ in range(repeat))


def seed_loop(model_file: Path, files: list[Path]) -> float:
    """Seconds for the seed's per-file loop, model loaded and librosa warmed up beforehand."""
    import keras
    import librosa
    import numpy as np

    model = keras.models.load_model(model_file, compile=False)

    def one(path: Path) -> int:
        y, sr = librosa.load(path, sr=22050)
        db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128), ref=1.0)
        n = db.shape[1] // 128
        frames = np.stack([db[:, i * 128 : (i + 1) * 128] for i in range(n)])
        return int(np.argmax(model.predict(frames, verbose=0).mean(axis=0)))

    one(files[0])
    start = time.perf_counter()
    for f in files:
        one(f)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="mp3s in the folder (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="timed cold starts of ours (default 5; baseline: 2)")
    parser.add_argument("--model", default="binary-1d", help="architecture for the bundle (default binary-1d)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep rendered audio and the bundle here")
    parser.add_argument("--skip-seed-loop", action="store_true", help="do not time the seed's per-file loop")
    parser.add_argument("--shipped", default=None, metavar="NAME", help="time a shipped tabular model instead")
    args = parser.parse_args()
    if args.shipped:
        return bench_shipped(args)

    from spotidance.core.workers import default_workers

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-classify-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "mp3"
    print(f"rendering {args.files} 30 s mp3s in {folder} ...", file=sys.stderr)
    files = render_mp3s(folder, args.files)
    bundle = work / f"model-{args.model}"
    source = build_bundle(bundle, args.model)
    one = str(files[0])
    py = sys.executable
    spot = [py, "-m", "spotidance", "classify", str(bundle)]

    print(f"timing cold starts on {one} ...", file=sys.stderr)
    cold_base = median_time([py, "-c", SEED_WAY, str(bundle / "model.keras"), one], max(1, min(args.repeat, 2)))
    cold_ours = median_time([*spot, one, "--quiet"], args.repeat)

    print(f"timing the folder of {len(files)} files ...", file=sys.stderr)
    seq = timed([*spot, str(folder), "--quiet", "--workers", "1", "--format", "csv"])
    par = timed([*spot, str(folder), "--quiet", "--format", "csv"])
    loop = None if args.skip_seed_loop else seed_loop(bundle / "model.keras", files)

    n = len(files)
    print()
    print(f"machine: {default_workers()} cores; model: {source}; {n} x 30 s stereo 44.1 kHz mp3 (128 kb/s)")
    print()
    print("cold start, one 30 s mp3 (fresh process; median)")
    print(f"  seed way (TensorFlow + Keras load + librosa)  {cold_base:7.2f} s")
    print(f"  spotidance classify (LiteRT)                  {cold_ours:7.2f} s   {cold_base / cold_ours:5.1f}x faster"
          f"   target < 2 s: {'met' if cold_ours < 2 else 'MISSED'}")
    print()
    print(f"folder of {n} mp3s (tracks/s)")
    if loop is not None:
        print(f"  seed loop, warm process, imports not counted  {n / loop:7.1f}")
    print(f"  spotidance classify --workers 1 (sequential)  {n / seq:7.1f}")
    ratio = f"   {(n / par) / (n / loop):5.1f}x seed loop" if loop is not None else ""
    print(f"  spotidance classify (parallel, cold process)  {n / par:7.1f}   {seq / par:5.1f}x sequential{ratio}"
          f"   target >= 30: {'met' if n / par >= 30 else 'MISSED'}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def bench_shipped(args) -> int:
    """Cold start and folder throughput of ``classify --model NAME`` with a shipped tabular model."""
    from spotidance.core.workers import default_workers

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-classify-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "mp3"
    print(f"rendering {args.files} 30 s mp3s in {folder} ...", file=sys.stderr)
    files = render_mp3s(folder, args.files)
    spot = [sys.executable, "-m", "spotidance", "classify", "--model", args.shipped, "--quiet", "--format", "csv"]
    print(f"timing cold starts on {files[0]} ...", file=sys.stderr)
    cold = median_time([*spot, str(files[0])], args.repeat)
    print(f"timing the folder of {len(files)} files ...", file=sys.stderr)
    seq = timed([*spot, str(folder), "--workers", "1"])
    par, cpu = timed_cpu([*spot, str(folder)])
    n = len(files)
    cores = default_workers()
    print()
    print(f"machine: {default_workers()} cores, 1-min load average {os.getloadavg()[0]:.2f} at the end; "
          f"model: shipped {args.shipped}; {n} x 30 s stereo 44.1 kHz mp3 (128 kb/s)")
    print(f"  cold start, one 30 s mp3 (fresh process; median of {args.repeat})  {cold:6.2f} s"
          f"   target < 1.5 s: {'met' if cold < 1.5 else 'MISSED'}")
    print(f"  folder, --workers 1 (sequential)                    {n / seq:6.1f} tracks/s")
    print(f"  folder, parallel (cold process)                     {n / par:6.1f} tracks/s   {seq / par:4.1f}x sequential"
          f"   target >= 30: {'met' if n / par >= 30 else 'MISSED'}")
    print(f"  CPU of that run (all processes, start-up included)  {1000 * cpu / n:6.1f} ms a file: {cores} free cores"
          f" would give at most {n / (cpu / cores):.1f} tracks/s (arithmetic; other jobs on the machine inflate CPU"
          " time less than wall time)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
