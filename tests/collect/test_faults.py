"""collect under service faults: a silent service declared down once, final vs transient misses, Unicode titles."""

from __future__ import annotations

import csv
import json

import pytest

from spotidance.collect.run import collect, is_permanent_miss
from spotidance.collect.sources.deezer import titles_match
from tests.helpers.fakeservices import Fault
from tests.helpers.fakeservices.fixtures import PLAYLIST_ID
from tests.helpers.cli import run_main as run_cli




@pytest.fixture
def short_timeouts(monkeypatch):
    """Requests time out after 0.2 s and back off 10 ms (the behaviour is the same, the test fast)."""
    from spotidance.collect import http

    monkeypatch.setattr(http, "DEFAULT_BACKOFF", 0.01)
    monkeypatch.setattr(http, "DEFAULT_TIMEOUT", (1.0, 0.2))


def test_a_silent_deezer_is_declared_down_once_and_the_run_stops_with_progress_saved(fake_services, tmp_path, capsys, short_timeouts):
    fake = fake_services("dev2026", n_tracks=20)
    fake.faults.append(Fault("deezer", "slow", seconds=0.6, times=-1))  # accepts, never answers in time
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--label", "x", "--features", "none", "--quiet"], capsys)
    assert code == 3, err
    lines = [line for line in err.strip().splitlines() if line.startswith("spotidance: error")]
    assert len(lines) == 1 and "declared down for this run" in lines[0] and "progress saved" in lines[0]
    assert "Traceback" not in err
    # one request's worth of timeouts for the whole run, not 4 per track (20 tracks x 4 = 80)
    assert len(fake.requests("deezer")) <= 8 + 4
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 20  # the listing is saved
    fake.faults.clear()
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--label", "x", "--features", "none", "--quiet"], capsys)
    assert code == 0, err
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as fh:
        assert sum(1 for r in csv.DictReader(fh) if r["preview_path"]) > 0


def test_permanent_and_transient_misses():
    assert is_permanent_miss("not on Deezer") and is_permanent_miss("ISRC resolved to another version")
    assert is_permanent_miss("no preview on Deezer") and is_permanent_miss("preview larger than 5120 KiB")
    for transient in ("preview URL refused (HTTP 403)", "preview transfer broken (ChunkedEncodingError)",
                      "preview not usable audio (truncated: decoded 1.0 s of the 4.0 s its header declares)",
                      "preview download failed (HTTP 503)", "the preview server is not answering (timed out 4 times)"):
        assert not is_permanent_miss(transient), transient


def test_transient_misses_recorded_by_an_older_version_are_retried(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=6)
    tracks = fake.playlists[PLAYLIST_ID].tracks
    flaky = next(t for t in tracks if t.deezer is not None and t.deezer.has_preview)
    fake.faults.append(Fault("cdn", "truncate", path=f"/{flaky.deezer.did}.mp3", times=-1))
    collect(PLAYLIST_ID, out=tmp_path, progress=False, features="none", label="x")
    meta_path = tmp_path / "x.csv.meta.json"
    meta = json.loads(meta_path.read_text())
    state = meta.get("state") or meta
    # what an older version wrote: the transient failure as a permanent miss
    state.setdefault("preview_misses", {})[flaky.sid] = "preview not usable audio (truncated: decoded 1.0 s)"
    state.pop("preview_retry", None)
    meta_path.write_text(json.dumps(meta))
    fake.faults.clear()
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="none", label="x")
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as fh:
        rows = {r["track_id"]: r for r in csv.DictReader(fh)}
    assert rows[flaky.sid]["preview_path"]
    assert not any("rerun" in k for k in summary.preview_misses)


@pytest.mark.parametrize("title", ["Кино", "東京", "Ø", "Ελλάδα", "서울", "Café del Mar"])
def test_non_latin_titles_match_themselves(title):
    assert titles_match(title, title)
    assert titles_match(title, title.upper())
    assert not titles_match(title, f"{title} (Instrumental)")


def test_accents_on_latin_letters_do_not_matter_but_other_scripts_are_not_emptied():
    assert titles_match("Café del Mar", "Cafe Del Mar")
    assert titles_match("Ｔｏｋｙｏ", "Tokyo")  # full-width letters (NFKC)
    assert not titles_match("Кино", "東京")


def test_a_full_disk_is_one_line_and_a_rerun_with_space_finishes(fake_services, tmp_path, capsys):
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("the full-disk case needs root and `mount` to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        fake_services("dev2026", n_tracks=20)
        args = ["collect", PLAYLIST_ID, "--out", str(disk / "data"), "--label", "x", "--features", "none", "--quiet"]
        code, _, err = run_cli(args, capsys)
        assert code == 2, err
        assert "Traceback" not in err
        lines = [line for line in err.strip().splitlines() if line.startswith("spotidance: error")]
        assert len(lines) == 1 and "no space left on device" in lines[0]
        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
        with open(disk / "data" / "x.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 20 and len({r["track_id"] for r in rows}) == 20
        assert not list((disk / "data" / "x").glob(".*.part.mp3"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)
