"""Time spotidance.analyze.beatport.beatport2016_features on 30 s clips (columns 1-70).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python tools/pyaa_reference/bench_speed.py

Prints the CPU time (``time.process_time``, one thread) and the wall time per clip, best and
median of 40 calls on each of three synthetic 30 s clips (techno, edm, dnb from render_clip), and
the 1-minute load average, since other work on the machine inflates both.
"""

from __future__ import annotations

import os
import time

import numpy as np

from spotidance.analyze.beatport import beatport2016_features
from spotidance.synth import render_clip


def main() -> None:
    clips = [render_clip(g, seed=[3, i], duration=30.0, sample_rate=22050)[0] for i, g in enumerate(("techno", "edm", "dnb"))]
    for y in clips:
        beatport2016_features(y)  # warm-up (filter bank and chroma matrix caches, imports)
    cpu, wall = [], []
    for _ in range(40):
        for y in clips:
            c, w = time.process_time(), time.perf_counter()
            beatport2016_features(y)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
    cpu_ms, wall_ms = 1000 * np.array(cpu), 1000 * np.array(wall)
    print(f"per 30 s clip: CPU best {cpu_ms.min():.1f} ms, median {np.median(cpu_ms):.1f} ms; "
          f"wall best {wall_ms.min():.1f} ms, median {np.median(wall_ms):.1f} ms "
          f"({len(cpu)} calls; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
