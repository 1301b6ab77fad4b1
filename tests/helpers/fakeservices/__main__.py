"""Run the fake services on their own: ``python -m tests.helpers.fakeservices --tracks 1000 --latency 0.05``.

Prints one JSON line (``env``: the environment pointing the collector at it, ``token``: a user
token to cache, ``playlist``: the playlist id) and serves until stdin closes or it is killed.
Used by ``benchmarks/bench_collect.py`` so the fake does not share the collector's interpreter.
"""

from __future__ import annotations

import argparse
import json
import sys

from tests.helpers.fakeservices.catalog import make_playlist
from tests.helpers.fakeservices.clips import render_clips
from tests.helpers.fakeservices.server import FakeServices


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.fakeservices")
    parser.add_argument("--mode", choices=["legacy", "dev2026"], default="dev2026")
    parser.add_argument("--tracks", type=int, default=230)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--playlist", default="3cEYpjA9oz9GiPac4AsH4n")
    args = parser.parse_args()
    fake = FakeServices(mode=args.mode, clips=render_clips(4, seconds=4.0), latency=args.latency)
    fake.add_playlist(make_playlist(args.playlist, n_tracks=args.tracks))
    fake.start()
    print(json.dumps({"env": fake.env(), "token": fake.issue_user_token(), "playlist": args.playlist}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    fake.stop()


if __name__ == "__main__":
    main()
