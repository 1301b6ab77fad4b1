"""`spotidance collect` end to end against the local fake of Spotify, Deezer, ReccoBeats and the CDNs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spotidance.collect.run import collect
from spotidance.core.schema import CSV_COLUMNS, CSV_SCHEMA_VERSION, FEATURES_SOURCES, PREVIEW_SOURCES
from tests.helpers.fakeservices import CLIENT_ID, CLIENT_SECRET, Fault, make_playlist
from tests.helpers.fakeservices import server as fakeserver
from tests.helpers.fakeservices.fixtures import PLAYLIST_ID
from tests.helpers.cli import run_main as run_cli

LABEL = "warehouse-techno"
ROOT = Path(__file__).resolve().parents[1]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def expected_previews(tracks) -> int:
    """Tracks the fake's Deezer has a preview for (by ISRC or, for other versions, by search)."""
    unique = {t.sid: t for t in tracks}.values()
    return sum(1 for t in unique if t.deezer is not None and t.deezer.has_preview)




def test_legacy_app_collects_all_230_tracks_with_spotify_previews_and_features(fake_services, tmp_path):
    fake = fake_services("legacy", login=False)
    playlist = fake.playlists[PLAYLIST_ID]
    summary = collect(f"https://open.spotify.com/playlist/{PLAYLIST_ID}?si=abc", out=tmp_path / "out", progress=False)

    rows = read_rows(tmp_path / "out" / f"{LABEL}.csv")
    assert list(rows[0]) == list(CSV_COLUMNS)
    unique = list(dict.fromkeys(t.sid for t in playlist.tracks))
    assert [r["track_id"] for r in rows] == unique  # playlist order, complete, no duplicate
    assert len({r["track_id"] for r in rows}) == len(rows) == 230
    assert summary.skipped == {"unavailable (null row)": 4, "local file": 3, "podcast episode": 2, "duplicate": 1}
    # older apps page /tracks at 100 with the `track` key (/items is unknown to them)
    pages = [e for e in fake.requests("spotify", "/tracks") if e.status == 200]
    assert [e.query.get("limit") for e in pages] == ["100"] * 3
    by_id = {t.sid: t for t in playlist.tracks}
    for row in rows:
        t = by_id[row["track_id"]]
        assert row["track_popularity"] == str(t.popularity) and row["isrc"] == t.isrc
        assert row["preview_source"] in PREVIEW_SOURCES and row["features_source"] in FEATURES_SOURCES
        if t.spotify_preview:
            assert row["preview_source"] == "spotify" and row["mp3"].endswith(f"/cdn/spotify/{t.sid}.mp3")
        if t.spotify_features:
            assert row["features_source"] == "spotify"
            assert float(row["tempo"]) == pytest.approx(t.features()["tempo"])
            assert row["time_signature"] == "4"
        if row["preview_path"]:
            assert (tmp_path / "out" / row["preview_path"]).stat().st_size > 1000
    assert sum(1 for r in rows if r["preview_source"] == "deezer") > 0  # no Spotify preview -> Deezer
    meta = json.loads((tmp_path / "out" / f"{LABEL}.csv.meta.json").read_text())
    assert meta["schema_version"] == CSV_SCHEMA_VERSION and meta["columns"] == list(CSV_COLUMNS)
    assert meta["playlist"] == f"spotify:playlist:{PLAYLIST_ID}"


def test_dev2026_app_collects_through_items_deezer_and_reccobeats(fake_services, tmp_path):
    fake = fake_services("dev2026")
    playlist = fake.playlists[PLAYLIST_ID]
    summary = collect(f"spotify:playlist:{PLAYLIST_ID}", out=tmp_path / "out", progress=False, features="auto")
    rows = read_rows(tmp_path / "out" / f"{LABEL}.csv")
    assert len(rows) == 230 and summary.tracks == 230
    assert summary.skipped["local file"] == 3 and summary.skipped["podcast episode"] == 2
    pages = [e for e in fake.requests("spotify", "/items") if e.status == 200]
    assert len(pages) == 5 and {e.query["limit"] for e in pages} == {"50"}
    # >= 90 % previews through the Deezer fallback (Spotify gives none to new apps)
    with_preview = [r for r in rows if r["preview_path"]]
    assert len(with_preview) / len(rows) >= 0.9
    assert {r["preview_source"] for r in with_preview} == {"deezer"}
    assert all(r["track_popularity"] == "" for r in rows)  # Spotify removed it: nothing invented
    # audio features: one 403, remembered (not retried per batch)
    assert len(fake.requests("spotify", "audio-features")) == 1
    recco = fake.requests("reccobeats")
    assert recco and all(len(e.query["ids"].split(",")) <= 40 for e in recco)
    by_id = {t.sid: t for t in playlist.tracks}
    for row in rows:
        t = by_id[row["track_id"]]
        if t.reccobeats:
            assert row["features_source"] == "reccobeats"
            assert float(row["danceability"]) == pytest.approx(t.features()["danceability"])
            assert row["duration_ms"] == "" and row["time_signature"] == ""  # ReccoBeats has neither
    try:
        import spotidance.analyze.features  # noqa: F401
    except ImportError:
        pass
    else:
        local = [r for r in rows if r["features_source"] == "local"]
        assert local and all(r["preview_path"] and r["loudness"] and r["energy"] for r in local)
        assert sum(1 for r in local if r["tempo"]) >= len(local) // 2  # a clip without rhythm may have none


def test_a_mismatched_deezer_version_is_rejected_and_the_right_one_found_by_search(fake_services, tmp_path):
    fake = fake_services("dev2026")
    playlist = fake.playlists[PLAYLIST_ID]
    collect(PLAYLIST_ID, out=tmp_path / "out", progress=False, features="none", label="t")
    rows = {r["track_id"]: r for r in read_rows(tmp_path / "out" / "t.csv")}
    mismatched = [t for t in playlist.tracks if t.deezer and t.deezer.isrc_points_to]
    assert len(mismatched) >= 5
    for t in mismatched:
        row = rows[t.sid]
        assert row["deezer_id"] == str(t.deezer.did)  # not the instrumental the ISRC points to
        assert row["deezer_id"] != str(t.deezer.isrc_points_to.did)
        assert row["preview_source"] == ("deezer" if t.deezer.has_preview else "")
    searches = fake.requests("deezer", "/search")
    assert len(searches) >= len(mismatched)
    missing = [t for t in playlist.tracks if t.deezer is None]
    assert all(rows[t.sid]["preview_path"] == "" and rows[t.sid]["deezer_id"] == "" for t in missing)


def test_rerun_requests_nothing_already_saved(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=60)
    collect(PLAYLIST_ID, out=tmp_path / "out", progress=False, features="reccobeats")
    first = (tmp_path / "out" / f"{LABEL}.csv").read_text()
    before = len(fake.log)
    summary = collect(PLAYLIST_ID, out=tmp_path / "out", progress=False, features="reccobeats")
    assert (tmp_path / "out" / f"{LABEL}.csv").read_text() == first
    again = fake.log[before:]
    assert [e for e in again if e.service in ("deezer", "cdn", "reccobeats")] == []
    assert [e for e in again if "/items" in e.path] == []  # the listing was complete
    assert summary.tracks == 60


def test_quota_exceeded_saves_progress_and_a_rerun_gives_the_uninterrupted_csv(fake_services, tmp_path, capsys):
    fake = fake_services("dev2026", n_tracks=120)
    collect(PLAYLIST_ID, out=tmp_path / "whole", progress=False, features="reccobeats")
    whole = (tmp_path / "whole" / f"{LABEL}.csv").read_text()

    fake.faults.append(Fault("spotify", "quota", path="/items", after=1))  # the 2nd page
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path / "cut"), "--features", "reccobeats", "--quiet"], capsys)
    assert code == 3
    line = err.strip().splitlines()[-1]
    assert line.startswith("spotidance: error: Spotify stopped us (QUOTA_EXCEEDED)") and "rerun the same command after" in line
    assert "Traceback" not in err
    saved = read_rows(tmp_path / "cut" / f"{LABEL}.csv")
    assert 0 < len(saved) < 120

    # as if killed in the middle of the next page: some of its tracks journaled, its offset not
    page2 = [t for kind, t in fake.playlists[PLAYLIST_ID].rows[50:60] if kind == "track"]
    with (tmp_path / "cut" / f".{LABEL}.csv.journal").open("a") as fh:
        for t in page2:
            fh.write(json.dumps({"track_id": t.sid, "track_name": t.name}) + "\n")
    offsets_before = [e.query.get("offset") for e in fake.requests("spotify", "/items") if e.status == 200]
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path / "cut"), "--features", "reccobeats", "--quiet"], capsys)
    assert code == 0, err
    assert (tmp_path / "cut" / f"{LABEL}.csv").read_text() == whole
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("skipped: duplicate")] == ["1"]
    offsets = [e.query.get("offset") for e in fake.requests("spotify", "/items") if e.status == 200]
    new = offsets[len(offsets_before):]
    assert new and "0" not in new[len(offsets_before) // 2 :]  # continued from the saved offset
    assert "with a preview" in out


class _HeldSleep:
    """The fake's ``time`` module with a ``sleep`` that ends early once ``released`` is set."""

    def __init__(self, released: threading.Event) -> None:
        self._released = released

    def __getattr__(self, name: str):
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self._released.wait(seconds)


class _WatchedLog(list):
    """The fake's request log, counting CDN requests and telling waiters about each new one."""

    def __init__(self) -> None:
        super().__init__()
        self.cdn = 0
        self.changed = threading.Condition()

    def append(self, entry) -> None:
        super().append(entry)
        with self.changed:
            self.cdn += entry.service == "cdn"
            self.changed.notify_all()


def test_a_run_killed_halfway_resumes_without_repeating_downloads(fake_services, tmp_path, monkeypatch):
    fake = fake_services("dev2026", n_tracks=120, latency=0.01)
    collect(PLAYLIST_ID, out=tmp_path / "whole", progress=False, features="reccobeats", workers=4)
    whole = (tmp_path / "whole" / f"{LABEL}.csv").read_text()
    # From the 41st preview download on, the CDN holds every request until `released`: the run
    # cannot finish before it is killed, whatever the machine's speed (no polling against a clock).
    released = threading.Event()
    monkeypatch.setattr(fakeserver, "time", _HeldSleep(released))
    log = _WatchedLog()
    with fake._lock:
        fake.log = log
        fake.faults.append(Fault("cdn", "slow", after=40, times=-1, seconds=600.0))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "spotidance", "collect", PLAYLIST_ID, "--out", str(tmp_path / "cut"),
           "--features", "reccobeats", "--workers", "4", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with log.changed:
            assert log.changed.wait_for(lambda: log.cdn > 40 or proc.poll() is not None, timeout=120), "the run stalled or ended before its 41st download"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        released.set()  # the held requests end (the slow fault is a no-op from now on)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    done_files = {p.name for p in (tmp_path / "cut" / LABEL).glob("*.mp3")}
    first_run_cdn = len(fake.requests("cdn"))
    first_run_deezer = len(fake.requests("deezer"))
    assert 0 < len(done_files) < 110

    summary = collect(PLAYLIST_ID, out=tmp_path / "cut", progress=False, features="reccobeats", workers=4)
    assert (tmp_path / "cut" / f"{LABEL}.csv").read_text() == whole
    second = fake.requests("cdn")[first_run_cdn:]
    # no file that was complete at the kill is downloaded again (downloads are by Deezer id)
    by_did = {str(t.deezer.did): t.sid for t in fake.playlists[PLAYLIST_ID].tracks if t.deezer}
    again = {by_did.get(Path(e.path).stem, "?") + ".mp3" for e in second}
    assert not (again & done_files)
    # nor looked up on Deezer again (their lookup was journaled before the kill)
    done_tracks = [t for t in fake.playlists[PLAYLIST_ID].tracks if f"{t.sid}.mp3" in done_files]
    asked = {e.path for e in fake.requests("deezer")[first_run_deezer:]}
    assert not [t for t in done_tracks if f"/deezer/track/isrc:{t.isrc}" in asked or f"/deezer/track/{t.deezer.did}" in asked]
    assert summary.with_preview >= 0.9 * 120
    assert list((tmp_path / "cut").glob(f".{LABEL}.csv.journal")) == []
    assert not list((tmp_path / "cut" / LABEL).glob(".*part*"))


@pytest.fixture
def quick_backoff(monkeypatch):
    """Retries back off 10 ms instead of 0.5 s (the behaviour is the same, the tests faster)."""
    import spotidance.collect.http as http

    monkeypatch.setattr(http, "DEFAULT_BACKOFF", 0.01)


def test_short_429_is_waited_out_with_a_message_and_5xx_retried(fake_services, tmp_path, capsys, quick_backoff):
    fake = fake_services("dev2026", n_tracks=40)
    fake.faults += [Fault("spotify", "429", path="/items", after=0, retry_after=1),
                    Fault("deezer", "500", times=2), Fault("reccobeats", "500", times=1)]  # fmt: skip
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--features", "reccobeats", "--quiet"], capsys)
    assert code == 0, err
    assert "Spotify asked to wait 1 s (HTTP 429); waiting" in err
    rows = read_rows(tmp_path / f"{LABEL}.csv")
    assert len(rows) == 40
    assert [e.status for e in fake.requests("deezer")].count(500) == 2
    assert sum(1 for r in rows if r["preview_path"]) == expected_previews(fake.playlists[PLAYLIST_ID].tracks)
    assert [e.status for e in fake.requests("reccobeats")][:1] == [500]
    assert any(r["features_source"] == "reccobeats" for r in rows)


def test_a_retry_after_longer_than_max_wait_stops_with_a_rerun_time(fake_services, tmp_path, capsys):
    fake = fake_services("dev2026", n_tracks=10)
    fake.faults.append(Fault("reccobeats", "429", retry_after=120, times=-1))
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--features", "reccobeats",
                              "--max-wait", "5", "--quiet"], capsys)  # fmt: skip
    assert code == 3
    assert "ReccoBeats stopped us (rate limited)" in err and "(in 2 min)" in err
    rows = read_rows(tmp_path / f"{LABEL}.csv")
    assert len(rows) == 10  # the listing and the previews are kept
    assert sum(1 for r in rows if r["preview_path"]) == expected_previews(fake.playlists[PLAYLIST_ID].tracks) > 0


def test_deezer_throttling_body_is_backed_off(fake_services, tmp_path, capsys, quick_backoff):
    fake = fake_services("dev2026", n_tracks=8)
    fake.faults.append(Fault("deezer", "throttle", after=2, times=1))
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--features", "none", "--quiet", "--workers", "1"], capsys)
    assert code == 0, err
    assert "Deezer is throttling us (quota limit exceeded); backing off" in err
    throttled = [e for e in fake.requests("deezer")]
    assert len(throttled) >= 9


def test_truncated_and_expired_previews_are_fetched_again(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=12)
    tracks = fake.playlists[PLAYLIST_ID].tracks
    truncated, expired, broken = tracks[1], tracks[2], tracks[3]
    fake.faults += [
        Fault("cdn", "truncate", path=f"/{truncated.deezer.did}.mp3", times=1),
        Fault("deezer", "expire", path=f"isrc:{expired.isrc}", times=1),
        Fault("cdn", "truncate", path=f"/{broken.deezer.did}.mp3", times=-1),
    ]  # fmt: skip
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="none", label="x")
    rows = {r["track_id"]: r for r in read_rows(tmp_path / "x.csv")}
    assert rows[truncated.sid]["preview_path"] and rows[expired.sid]["preview_path"]
    assert [e.status for e in fake.requests("cdn", f"/{expired.deezer.did}.mp3")] == [403, 200]
    assert len(fake.requests("cdn", f"/{truncated.deezer.did}.mp3")) == 2
    assert rows[broken.sid]["preview_path"] == ""
    assert summary.preview_misses["preview not usable audio (truncated) (a rerun retries)"] == 1
    assert not (tmp_path / "x" / f"{broken.sid}.mp3").exists()
    fake.faults.clear()  # a healthy service: the rerun fetches what failed in passing
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="none", label="x")
    rows = {r["track_id"]: r for r in read_rows(tmp_path / "x.csv")}
    assert rows[broken.sid]["preview_path"] and not any("rerun" in k for k in summary.preview_misses)


def test_refusals_end_with_what_to_do(fake_services, tmp_path, capsys, monkeypatch):
    fake = fake_services("dev2026", login=False, n_tracks=5)
    fake.add_playlist(make_playlist("37i9dQZF1DXcBWIGoYBM5M", n_tracks=3, name="Editorial"))
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "run `spotidance login` if it is yours" in err and "Deezer playlist" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["collect", "spotify:playlist:37i9dQZF1DXcBWIGoYBM5M", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "editorial" in err and "404" in err
    code, _, err = run_cli(["collect", "https://example.com/x", "--out", str(tmp_path)], capsys)
    assert code == 2 and "is not a playlist" in err
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "wrong-secret-value")
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "invalid_client" in err and "wrong-secret-value" not in err
    assert "Traceback" not in err
    assert not (tmp_path / f"{LABEL}.csv").exists()
    (tmp_path / "mine.csv").write_text("track_id,whatever\n1,2\n")
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", CLIENT_SECRET)
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--label", "mine", "--quiet"], capsys)
    assert code == 2 and "not written by `spotidance collect`" in err
    assert (tmp_path / "mine.csv").read_text() == "track_id,whatever\n1,2\n"
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path), "--label", "../up", "--quiet"], capsys)
    assert code == 2 and "--label" in err


def test_someone_elses_playlist_is_refused_to_a_logged_in_user(fake_services, tmp_path, capsys):
    fake = fake_services("dev2026", n_tracks=None)
    fake.add_playlist(make_playlist("5aXbAwQ7n0IHxDvp6hd8Lq", n_tracks=5, owner="someone-else"))
    code, _, err = run_cli(["collect", "5aXbAwQ7n0IHxDvp6hd8Lq", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "it is not yours" in err and "copy its tracks" in err


def test_no_credential_or_token_appears_in_any_output(fake_services, tmp_path, capsys):
    fake = fake_services("legacy", n_tracks=30)
    code, out, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    texts = [out, err] + [p.read_text(errors="replace") for p in (tmp_path / "o").glob("*") if p.is_file()]
    secrets = [CLIENT_SECRET, CLIENT_ID] + list(fake.tokens) + list(fake.refresh_tokens)
    assert len(secrets) >= 3
    for text in texts:
        for secret in secrets:
            assert secret not in text
    cache = tmp_path / "cache" / "spotify-user-token.json"
    assert oct(cache.stat().st_mode & 0o777) == "0o600"


def test_deezer_playlist_needs_no_spotify_credentials(fake_services, tmp_path, monkeypatch):
    fake = fake_services("dev2026", n_tracks=30, login=False)
    fake.add_deezer_playlist("9200461", "Lounge Soirée", fake.playlists[PLAYLIST_ID].tracks)
    monkeypatch.delenv("SPOTIPY_CLIENT_ID")
    monkeypatch.delenv("SPOTIPY_CLIENT_SECRET")
    summary = collect("https://www.deezer.com/fr/playlist/9200461", out=tmp_path, progress=False, features="reccobeats")
    rows = read_rows(tmp_path / "lounge-soirée.csv")  # letters of every script are kept (NFC)
    on_deezer = [t for t in fake.playlists[PLAYLIST_ID].tracks if t.deezer]
    assert len(rows) == len(on_deezer) == summary.tracks
    for row, t in zip(rows, on_deezer):
        assert row["deezer_id"] == row["track_id"] == str(t.deezer.did) and row["isrc"] == t.isrc
        assert row["features_source"] == ("reccobeats" if t.reccobeats else "")
    assert fake.requests("spotify") == [] and fake.requests("accounts") == []


def test_limit_and_no_previews(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=120)
    summary = collect(PLAYLIST_ID, out=tmp_path, label="first", limit=30, previews=False, features="spotify", progress=False)
    rows = read_rows(tmp_path / "first.csv")
    assert summary.tracks == 30 and len(rows) >= 30
    assert fake.requests("cdn") == [] and fake.requests("deezer") == []
    assert all(r["preview_path"] == "" for r in rows)
    assert len(fake.requests("spotify", "/tracks")) == 1  # one page of 100 is enough for 30


def test_login_with_pkce_caches_a_private_token(fake_services, tmp_path, monkeypatch):
    import socket

    import requests

    from spotidance.collect.sources.spotify import login, token_cache_path

    fake = fake_services("dev2026", login=False, n_tracks=5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shown: list[str] = []
    name = login(redirect_uri=f"http://127.0.0.1:{port}/callback", open_url=lambda url: requests.get(url, timeout=10),
                 show=shown.append, timeout=20)  # fmt: skip
    assert name == "Fake User"
    assert "code_challenge=" in shown[0] and CLIENT_SECRET not in shown[0]
    path = token_cache_path()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    token = json.loads(path.read_text())
    assert fake.tokens.get(token["access_token"]) == "fakeuser"
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="none", previews=False)
    assert summary.tracks == 5


def test_login_command_logout_and_help(fake_services, tmp_path, capsys):
    from spotidance.collect.sources.spotify import token_cache_path

    fake_services("dev2026", n_tracks=None)  # login=True caches a token
    assert token_cache_path().exists()
    code, out, _ = run_cli(["login", "--logout"], capsys)
    assert code == 0 and "logged out" in out and not token_cache_path().exists()
    code, out, _ = run_cli(["login", "--logout"], capsys)
    assert code == 0 and "no cached login" in out
    code, _, err = run_cli(["login", "--redirect-uri", "https://example.com/cb", "--no-browser"], capsys)
    assert code == 2 and "loopback" in err


def test_an_expired_login_is_refreshed_and_a_revoked_one_explained(fake_services, tmp_path, capsys):
    from spotidance.collect.sources.spotify import PrivateTokenCache, token_cache_path

    fake = fake_services("dev2026", n_tracks=5, login=False)
    token = fake.issue_user_token()
    token["expires_at"] = int(time.time()) - 10
    PrivateTokenCache().save_token_to_cache(token)
    assert collect(PLAYLIST_ID, out=tmp_path / "a", previews=False, features="none", progress=False).tracks == 5
    refreshed = json.loads(token_cache_path().read_text())
    assert refreshed["access_token"] != token["access_token"] and refreshed["expires_at"] > time.time()
    assert oct(token_cache_path().stat().st_mode & 0o777) == "0o600"

    fake.refresh_tokens.clear()  # revoked
    PrivateTokenCache().save_token_to_cache({**refreshed, "expires_at": int(time.time()) - 10})
    code, _, err = run_cli(["collect", PLAYLIST_ID, "--out", str(tmp_path / "b"), "--quiet"], capsys)
    assert code == 2 and "run `spotidance login` again" in err and "Traceback" not in err


def test_a_service_down_for_features_or_a_failing_cdn_does_not_stop_the_run(fake_services, tmp_path, quick_backoff):
    fake = fake_services("dev2026", n_tracks=20)
    tracks = fake.playlists[PLAYLIST_ID].tracks
    flaky = tracks[1]
    fake.faults += [Fault("reccobeats", "500", times=-1), Fault("cdn", "500", path=f"/{flaky.deezer.did}.mp3", times=-1)]
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="reccobeats", label="x")
    assert any("ReccoBeats is not answering" in note for note in summary.notes)
    assert summary.preview_misses["preview download failed (HTTP 500) (a rerun retries)"] == 1
    fake.faults.clear()
    summary = collect(PLAYLIST_ID, out=tmp_path, progress=False, features="reccobeats", label="x")
    rows = {r["track_id"]: r for r in read_rows(tmp_path / "x.csv")}
    assert rows[flaky.sid]["preview_path"] and any(r["features_source"] == "reccobeats" for r in rows.values())
    assert not any("rerun" in k for k in summary.preview_misses)
