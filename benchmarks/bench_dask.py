#!/usr/bin/env python
"""Benchmark: `prepare` on the local process pool against a local two-worker Dask cluster, in one run.

Renders N synthetic 30 s mp3 previews (spotidance.synth.render_collection; reused from
``--workdir`` when already there), then frames them into fresh datasets, alternating

* local: ``prepare(..., workers=W)``: the process pool (its start-up counted, as a user sees it);
* dask: ``prepare(...)`` inside ``use_scheduler(address)`` on a ``LocalCluster`` of W single-threaded
  worker processes started once beforehand (as a standing cluster would be; its start-up is
  printed apart),

``--repeats`` times each, and checks that both datasets hold the same frames bit for bit. Prints
the median wall times, the cluster's overhead (target, issue 15: at most 15 % on 2 cores), and a
projection for 100,000 files on N workers from the measured costs:

* per file on a worker: the dask workers' CPU seconds / N (decode + STFT + mel + Dask's share;
  CPU time, so that a busy machine does not inflate it as it does wall time);
* per file in the client (receiving results, writing shards; for a LocalCluster also the
  scheduler, which runs in the client process): the client's CPU seconds during a dask run / N.

  time(100k files, N workers) ~ 100,000 x max(worker cost / N, client cost)

The client's cost bounds the speed-up: beyond ``worker cost / client cost`` workers, adding
more does not help. Reading the audio over a network filesystem or object store is not in it.

Usage::

    python benchmarks/bench_dask.py                                  # 200 clips, 2 workers
    python benchmarks/bench_dask.py --clips 40 --workdir /tmp/bench-audio --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def render(workdir: Path, clips: int) -> Path:
    from spotidance.synth import render_collection

    per_genre = (clips + 1) // 2
    render_collection(workdir, genres=("techno", "edm"), per_genre=per_genre, seed=0, duration=30.0)
    return workdir


def _worker_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def frame(folder: Path, out: Path, *, workers: int, address: str | None) -> tuple[float, float, float]:
    """``(wall s, this process's CPU s, CPU s of all processes)`` of one ``prepare`` into a fresh ``out``.

    All processes: this one, plus the pool's (reaped at its shutdown, so in RUSAGE_CHILDREN) or
    the dask workers' (asked with ``client.run``). CPU seconds do not depend on what else the
    machine runs, wall seconds do: compare both on a busy machine.
    """
    from spotidance.core.cluster import use_scheduler
    from spotidance.dataset.prepare import prepare

    shutil.rmtree(out, ignore_errors=True)
    with use_scheduler(address) as client:
        before = sum(client.run(_worker_cpu).values()) if client is not None else _children_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        summary = prepare([folder], out=out, workers=workers, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = sum(client.run(_worker_cpu).values()) if client is not None else _children_cpu()
    assert summary.added > 0 and not summary.skipped, summary.skipped
    return wall, cpu, cpu + after - before


def same_frames(a: Path, b: Path) -> bool:
    from spotidance.dataset.frames import FrameDataset

    x, y = FrameDataset.open(a), FrameDataset.open(b)
    return list(x.frame_track_ids) == list(y.frame_track_ids) and x.read(range(len(x))).tobytes() == y.read(range(len(y))).tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="number of 30 s clips (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="local pool processes = dask worker processes (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternating; medians are reported (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the rendered clips (kept; default: a temporary one)")
    parser.add_argument("--files", type=int, default=100_000, help="files in the projection (default 100,000)")
    args = parser.parse_args()

    from distributed import LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        folder = args.workdir or tmp / "clips"
        started = time.perf_counter()
        render(folder, args.clips)
        clips = sorted(folder.glob("*/*.mp3"))[: args.clips]
        print(f"{len(clips)} clips of 30 s in {folder} ({time.perf_counter() - started:.1f} s to render or reuse)")
        for clip in clips:  # both modes read from the page cache
            clip.read_bytes()
        data = tmp / "input"
        for clip in clips:
            (data / clip.parent.name).mkdir(parents=True, exist_ok=True)
            (data / clip.parent.name / clip.name).symlink_to(clip.resolve())

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
        startup = time.perf_counter() - t0
        try:
            frame(data, tmp / "warm", workers=args.workers, address=cluster.scheduler_address)  # import spotidance on the workers
            local, remote = [], []
            for _ in range(args.repeats):
                local.append(frame(data, tmp / "local", workers=args.workers, address=None))
                remote.append(frame(data, tmp / "dask", workers=args.workers, address=cluster.scheduler_address))
            identical = same_frames(tmp / "local", tmp / "dask")
        finally:
            cluster.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n, w = len(clips), args.workers
    t_local = statistics.median(r[0] for r in local)
    t_dask = statistics.median(r[0] for r in remote)
    client_cpu = statistics.median(r[1] for r in remote)
    cpu_local = statistics.median(r[2] for r in local)
    cpu_dask = statistics.median(r[2] for r in remote)
    overhead = t_dask / t_local - 1
    worker_cost = (cpu_dask - client_cpu) / n  # CPU seconds per file on the workers: what a dedicated core spends
    load = os.getloadavg()[0]
    client_cost = client_cpu / n
    print(f"local pool, {w} processes : {t_local:6.2f} s  ({n / t_local:5.1f} files/s)   runs: {', '.join(f'{r[0]:.2f}' for r in local)}")
    print(f"dask, {w} worker processes: {t_dask:6.2f} s  ({n / t_dask:5.1f} files/s)   runs: {', '.join(f'{r[0]:.2f}' for r in remote)}")
    print(f"cluster start-up (once)   : {startup:6.2f} s")
    print(f"dask overhead, wall       : {overhead:+.1%} (target <= +15 %)   identical frames: {identical}")
    print(f"CPU, all processes        : local {cpu_local:.2f} s, dask {cpu_dask:.2f} s ({cpu_dask / cpu_local - 1:+.1%})")
    local_client = statistics.median(r[1] for r in local) / n
    print(f"cost per file             : {worker_cost * 1000:.1f} ms on a worker core, {client_cost * 1000:.2f} ms in the client "
          f"with dask (incl. scheduler; {local_client * 1000:.2f} ms with the local pool)")
    print(f"projection for {args.files:,} files (compute only, no network reads):")
    ceiling = worker_cost / client_cost if client_cost > 0 else float("inf")
    for workers in (2, 8, 32, 128, 512):
        seconds = args.files * max(worker_cost / workers, client_cost)
        note = "  (client-bound)" if workers > ceiling else ""
        print(f"  {workers:4d} workers: {seconds / 60:7.1f} min{note}")
    print(f"  more than about {ceiling:.0f} workers do not help: the client then writes as fast as it can")
    if load > w + 1:
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores during the run: wall times are inflated and noisy")
    ok = identical and overhead <= 0.15
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
