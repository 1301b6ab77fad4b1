#!/usr/bin/env python
"""Benchmark: `collect` against a sequential collector, in the same run, on a slow fake network.

Starts the fake services (``tests/fakeservices``, a 2026 Development Mode app) in their own
process with 50 ms added to every answer, and a playlist of N tracks (default 1,000) with null,
local, episode and duplicate rows. Then times, each into a fresh folder:

* baseline: the same work one request at a time: page through ``/items``, then for each track
  the Deezer ISRC lookup (search on a mismatch), the preview download and its decode check, then
  ReccoBeats features 40 ids per request, then the CSV;
* spotidance: ``collect(..., features="reccobeats")`` (paced queues switched off, as against
  any local fake; concurrent lookups and downloads, ``--workers``).

Local (librosa) features are left out of both: they cost the same CPU either way.
Prints both wall times, tracks/s and the ratio (target >= 5x), and checks both CSVs agree.

Usage::

    python benchmarks/bench_collect.py            # 1,000 tracks, 50 ms latency
    python benchmarks/bench_collect.py --quick    # 200 tracks
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

ROOT = Path(__file__).resolve().parents[1]


def start_fake(tracks: int, latency: float) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.fakeservices", "--tracks", str(tracks), "--latency", str(latency)],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    info = json.loads(proc.stdout.readline())
    return proc, info


def baseline(playlist: str, out: Path) -> int:
    """A sequential collector built from the same parts as `collect`; returns the rows written."""
    from spotidance.collect.http import PacedSession
    from spotidance.core.playlist_csv import PlaylistStore
    from spotidance.collect.previews import PreviewRejected, download
    from spotidance.collect.sources.deezer import DeezerClient, deezer_session, find_track
    from spotidance.collect.sources.reccobeats import BATCH, ReccoBeatsClient
    from spotidance.collect.sources.spotify import SpotifySource, row_object, track_fields

    spotify = SpotifySource(PacedSession("spotify"))
    deezer = DeezerClient(deezer_session())
    recco = ReccoBeatsClient(PacedSession("reccobeats"))
    cdn = PacedSession("previews")
    store = PlaylistStore(out, "baseline").load()
    for rows, _, _ in spotify.iter_pages(playlist):
        for row in rows:
            obj, _ = row_object(row)
            if obj is not None and obj["id"] not in store.rows:
                store.update(obj["id"], track_fields(obj, label="baseline", playlist_id=playlist))
    for tid, row in list(store.rows.items()):
        track, _ = find_track(deezer, isrc=row["isrc"], title=row["track_name"], artist=row["artist_name"],
                              duration_ms=row["track_length"])  # fmt: skip
        if track is not None:
            store.update(tid, {"deezer_id": str(track["id"])})
        if track is None or not track.get("preview"):
            continue
        dest = out / "baseline" / f"{tid}.mp3"
        try:
            download(cdn, track["preview"], dest)
        except PreviewRejected:
            continue
        store.update(tid, {"deezer_id": str(track["id"]), "preview_source": "deezer", "preview_path": f"baseline/{tid}.mp3"})
    ids = list(store.rows)
    for i in range(0, len(ids), BATCH):
        for tid, values in recco.audio_features(ids[i : i + BATCH]).items():
            store.update(tid, {**values, "features_source": "reccobeats"})
    store.save()
    return len(store.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=1000, help="playlist length (default 1000)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer (default 0.05)")
    parser.add_argument("--workers", type=int, default=16, help="collect --workers (default 16)")
    parser.add_argument("--quick", action="store_true", help="200 tracks")
    args = parser.parse_args()
    tracks = 200 if args.quick else args.tracks

    proc, info = start_fake(tracks, args.latency)
    tmp = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    try:
        os.environ.update(info["env"])
        os.environ["SPOTIDANCE_CACHE_DIR"] = str(tmp / "cache")
        from spotidance.collect.run import collect
        from spotidance.collect.sources.spotify import PrivateTokenCache

        PrivateTokenCache().save_token_to_cache(info["token"])
        playlist = info["playlist"]

        start = time.perf_counter()
        n_base = baseline(playlist, tmp / "base")
        t_base = time.perf_counter() - start

        start = time.perf_counter()
        summary = collect(playlist, out=tmp / "ours", label="ours", features="reccobeats", workers=args.workers, progress=False)
        t_ours = time.perf_counter() - start

        def key_cols(path: Path) -> list[tuple]:
            with path.open(newline="") as fh:
                return [(r["track_id"], r["deezer_id"], r["tempo"], bool(r["preview_path"])) for r in csv.DictReader(fh)]

        same = key_cols(tmp / "base" / "baseline.csv") == key_cols(tmp / "ours" / "ours.csv")
        from spotidance.core.tables import format_table

        rows = [
            ("sequential baseline", n_base, round(t_base, 2), round(n_base / t_base, 1)),
            (f"spotidance collect (--workers {args.workers})", summary.tracks, round(t_ours, 2), round(summary.tracks / t_ours, 1)),
        ]
        print(f"{tracks}-track playlist, {args.latency * 1000:.0f} ms per request, fake services in their own process")
        print(format_table(rows, headers=("run", "tracks", "wall s", "tracks/s")))
        print(f"speed-up: {t_base / t_ours:.1f}x (target >= 5x); previews {summary.with_preview}/{summary.tracks}; "
              f"CSVs agree: {'yes' if same else 'NO'}")  # fmt: skip
        return 0 if same else 1
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        import shutil

        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
