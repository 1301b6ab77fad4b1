"""The collector's parts: playlist references, Deezer matching, row filtering, the CSV store,
pacing, retries and rate limits of the HTTP layer, ReccoBeats mapping."""

from __future__ import annotations

import csv
import json
import threading
import time

import pytest
import requests

from spotidance.core.errors import SpotidanceError
from spotidance.collect.http import Limits, PacedSession, Pacer, RateLimited, ServiceUnavailable, raise_for_rate_limit, service_url
from spotidance.core.playlist_csv import PlaylistStore, cell, find_label
from spotidance.core.schema import CSV_COLUMNS, CSV_SCHEMA_VERSION
from spotidance.collect.sources import parse_playlist
from spotidance.collect.sources.deezer import DeezerClient, deezer_session, durations_match, find_track, titles_match
from spotidance.collect.sources.reccobeats import ReccoBeatsClient
from spotidance.collect.sources.spotify import row_object, track_fields
from tests.helpers.fakeservices import Fault, make_tracks



@pytest.mark.parametrize(
    ("text", "service", "pid"),
    [
        ("https://open.spotify.com/playlist/3cEYpjA9oz9GiPac4AsH4n?si=1a2b", "spotify", "3cEYpjA9oz9GiPac4AsH4n"),
        ("https://open.spotify.com/intl-de/playlist/3cEYpjA9oz9GiPac4AsH4n", "spotify", "3cEYpjA9oz9GiPac4AsH4n"),
        ("spotify:playlist:37i9dQZF1DXcBWIGoYBM5M", "spotify", "37i9dQZF1DXcBWIGoYBM5M"),
        ("spotify:user:someone:playlist:3cEYpjA9oz9GiPac4AsH4n", "spotify", "3cEYpjA9oz9GiPac4AsH4n"),
        (" 3cEYpjA9oz9GiPac4AsH4n ", "spotify", "3cEYpjA9oz9GiPac4AsH4n"),
        ("https://www.deezer.com/fr/playlist/9200461", "deezer", "9200461"),
        ("https://deezer.com/playlist/9200461?utm_source=x", "deezer", "9200461"),
        ("deezer:playlist:9200461", "deezer", "9200461"),
    ],
)
def test_playlist_references(text, service, pid):
    ref = parse_playlist(text)
    assert (ref.service, ref.id) == (service, pid)


@pytest.mark.parametrize("text", ["", "https://open.spotify.com/album/3cEYpjA9oz9GiPac4AsH4n", "deezer:album:1", "hello world", "https://link.deezer.com/s/abc"])
def test_not_a_playlist_is_a_one_line_error(text):
    with pytest.raises(SpotidanceError) as info:
        parse_playlist(text)
    assert "\n" not in str(info.value) and ("playlist" in str(info.value))


@pytest.mark.parametrize(
    ("spotify", "deezer", "same"),
    [
        ("Harder, Better, Faster, Stronger", "Harder Better Faster Stronger", True),
        ("Lila - Original Mix", "Lila", True),
        ("Lila", "Lila (Instrumental)", False),
        ("Lila - Radio Edit", "Lila", False),
        ("Lila - Remastered 2011", "Lila (Remastered)", True),
        ("Café del Mar", "Cafe Del Mar", True),
        ("Lila", "Something Else", False),
    ],
)
def test_titles_match(spotify, deezer, same):
    assert titles_match(spotify, deezer) is same


def test_search_results_must_be_by_the_same_artist():
    from spotidance.collect.sources.deezer import _same_artist

    assert _same_artist({"artist": {"name": "Daft Punk & Pharrell Williams"}}, "Daft Punk")
    assert _same_artist({"artist": {"name": "Röyksopp"}}, "Royksopp")
    assert not _same_artist({"artist": {"name": "Someone Else"}}, "Daft Punk")


def test_durations_match():
    assert durations_match(224_000, 226) and durations_match(400_000, 414)
    assert not durations_match(224_000, 265)
    assert durations_match("", 200) and durations_match(224_000, 0)  # unknown agrees


def test_rows_without_a_usable_track_are_skipped_with_a_reason():
    track = {"id": "abc", "type": "track", "name": "T", "artists": [{"id": "a1", "name": "A"}], "album": {"release_date": "2020"},
             "duration_ms": 1000, "external_ids": {"isrc": "usabc1234567"}, "preview_url": None}  # fmt: skip
    assert row_object({"item": track}) == (track, "")
    assert row_object({"item": None, "track": track}) == (track, "")  # `item`, else `track`
    assert row_object({"item": None})[1] == "unavailable (null row)"
    assert row_object(None)[1] == "unavailable (null row)"
    assert row_object({"is_local": True, "item": {**track, "id": None, "is_local": True}})[1] == "local file"
    assert row_object({"item": {"type": "episode", "id": "e1"}})[1] == "podcast episode"
    fields = track_fields(track, label="x", playlist_id="p")
    assert fields["isrc"] == "USABC1234567" and fields["mp3"] == "" and fields["track_popularity"] == ""


def test_cells_are_stable_text():
    import numpy as np

    assert [cell(None), cell(3), cell(0.000586), cell(128.014), cell(np.float32(0.5)), cell(float("nan")), cell(True)] == [
        "", "3", "0.000586", "128.014", "0.5", "", "1"]  # fmt: skip


def test_store_rewrites_atomically_without_duplicates_and_replays_its_journal(tmp_path):
    store = PlaylistStore(tmp_path, "lbl").load()
    store.update("a", {"track_name": "A", "tempo": 120.5})
    store.update("b", {"track_name": "B"})
    store.update("a", {"features_source": "local"})
    store.set_state("misses", {"b": "not on Deezer"}, merge=True)
    store.save(playlist="spotify:playlist:x")
    store.update("c", {"track_name": "C"})  # journaled, not yet in the CSV
    store.set_state("misses", {"c": "no preview on Deezer"}, merge=True)
    store.close()
    with (tmp_path / "lbl.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["track_id"] for r in rows] == ["a", "b"] and list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["tempo"] == "120.5" and rows[0]["features_source"] == "local"
    meta = json.loads((tmp_path / "lbl.csv.meta.json").read_text())
    assert meta["schema_version"] == CSV_SCHEMA_VERSION and meta["rows"] == 2
    with (tmp_path / ".lbl.csv.journal").open("a") as fh:
        fh.write('{"track_id": "d", "track_na')  # a line cut short by a kill
    again = PlaylistStore(tmp_path, "lbl").load()
    assert list(again.rows) == ["a", "b", "c"]
    assert again.state["misses"] == {"b": "not on Deezer", "c": "no preview on Deezer"}
    again.save()
    assert not (tmp_path / ".lbl.csv.journal").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert find_label(tmp_path, "spotify:playlist:x") == "lbl" and find_label(tmp_path, "deezer:playlist:1") is None


def test_store_refuses_a_newer_schema(tmp_path):
    (tmp_path / "x.csv.meta.json").write_text(json.dumps({"schema_version": CSV_SCHEMA_VERSION + 1}))
    with pytest.raises(SpotidanceError, match="newer spotidance"):
        PlaylistStore(tmp_path, "x").load()


def test_pacer_spaces_requests_after_the_burst():
    """Eight threads at once on a stopped clock: the burst goes unpaced, the rest wait their turn."""
    waits: list[float] = []
    pacer = Pacer(10.0, burst=3, clock=lambda: 100.0, sleep=waits.append)
    threads = [threading.Thread(target=pacer.wait) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # unpaced, the 3rd would wait 0.2 s; then 10 per second: one slot each, whichever thread gets it
    assert sorted(waits) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_pacer_pause_holds_back_the_next_requests():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = Pacer(10.0, burst=2, clock=lambda: now[0], sleep=sleep)
    pacer.wait()
    pacer.pause(5.0)
    pacer.wait()
    assert waits == pytest.approx([5.0])  # everyone after a pause waits it out
    pacer.wait()
    assert waits == pytest.approx([5.0, 0.1])  # then the rate applies again


def test_service_urls_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("SPOTIDANCE_SPOTIFY_API_URL", raising=False)
    assert service_url("spotify_api") == "https://api.spotify.com/v1/"
    assert service_url("deezer") == "https://api.deezer.com"
    monkeypatch.setenv("SPOTIDANCE_SPOTIFY_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SPOTIDANCE_DEEZER_API_URL", "http://127.0.0.1:9/deezer/")
    assert service_url("spotify_api") == "http://127.0.0.1:9/v1/" and service_url("deezer") == "http://127.0.0.1:9/deezer"


def test_session_retries_5xx_waits_short_429_and_returns_long_ones(fake_services):
    fake = fake_services("dev2026", n_tracks=3)
    notes: list[str] = []
    session = PacedSession("reccobeats", limits=Limits(backoff=0.01, max_wait=2), notify=notes.append)
    url = fake.base_url + "/reccobeats/v1/audio-features"
    fake.faults += [Fault("reccobeats", "500", times=2), Fault("reccobeats", "429", retry_after=1, after=0, times=1)]
    t0 = time.monotonic()
    response = session.get(url, params={"ids": "x"})
    assert response.status_code == 200 and time.monotonic() - t0 >= 1.0
    assert notes == ["ReccoBeats asked to wait 1 s (HTTP 429); waiting"]
    assert [e.status for e in fake.requests("reccobeats")] == [500, 500, 429, 200]
    fake.faults.append(Fault("reccobeats", "quota"))  # QUOTA_EXCEEDED is never waited out
    response = session.get(url, params={"ids": "x"})
    with pytest.raises(RateLimited) as info:
        raise_for_rate_limit("ReccoBeats", response)
    assert info.value.reason == "QUOTA_EXCEEDED" and info.value.retry_after == 86400
    fake.faults.append(Fault("reccobeats", "500", times=-1))
    response = session.get(url, params={"ids": "x"})
    assert response.status_code == 500  # after `retries` retries the caller decides


def test_session_times_out_and_gives_up_with_a_short_reason(fake_services):
    fake = fake_services("dev2026", n_tracks=3)
    fake.faults.append(Fault("deezer", "slow", seconds=0.6, times=-1))
    session = PacedSession("deezer", limits=Limits(backoff=0.01, retries=1, timeout=(1.0, 0.2)))
    with pytest.raises(ServiceUnavailable, match="Deezer is not answering .timed out 2 times") as info:
        session.get(fake.base_url + "/deezer/track/1")
    assert info.value.down  # one request's worth of timeouts: down for the rest of the run
    n = len(fake.requests("deezer"))
    with pytest.raises(ServiceUnavailable, match="declared down"):
        session.get(fake.base_url + "/deezer/track/2")
    assert len(fake.requests("deezer")) == n  # not asked again
    with pytest.raises(ServiceUnavailable, match="connection failed"):
        PacedSession("x", limits=Limits(backoff=0.01, retries=1)).get("http://127.0.0.1:9/nothing")


def test_deezer_errors_in_200_bodies(fake_services):
    fake = fake_services("dev2026", n_tracks=30)
    client = DeezerClient(deezer_session(limits=Limits(backoff=0.01)))
    assert client.track(-1) is None  # code 800 with HTTP 200
    assert client.track_by_isrc("NOPE00000000") is None
    fake.faults.append(Fault("deezer", "throttle", times=-1))
    with pytest.raises(RateLimited, match="throttled"):
        client.track(1)
    fake.faults.clear()
    tracks = make_tracks(30)
    t = next(t for t in tracks if t.deezer and t.deezer.isrc_points_to)
    found, why = find_track(client, isrc=t.isrc, title=t.name, artist=t.artist, duration_ms=t.duration_ms)
    assert found["id"] == t.deezer.did and why == ""
    found, why = find_track(client, isrc=t.isrc, title="Nothing Like It", artist=t.artist, duration_ms=t.duration_ms)
    assert found is None and why == "ISRC resolved to another version"


def test_reccobeats_maps_answers_back_through_href(fake_services):
    fake = fake_services("dev2026", n_tracks=50)
    tracks = [t for t in {t.sid: t for t in fake.playlists["3cEYpjA9oz9GiPac4AsH4n"].tracks}.values()][:40]
    client = ReccoBeatsClient(PacedSession("reccobeats"))
    found = client.audio_features([t.sid for t in tracks])
    assert set(found) == {t.sid for t in tracks if t.reccobeats}  # unknown ids silently missing
    for t in tracks:
        if t.reccobeats:
            assert found[t.sid]["energy"] == t.features()["energy"] and "duration_ms" not in found[t.sid]
    by_isrc = client.audio_features([t.isrc for t in tracks[:5]])
    assert set(by_isrc) == {t.isrc for t in tracks[:5] if t.reccobeats}
    with pytest.raises(ValueError):
        client.audio_features(["x"] * 41)


def _response(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response


class _StubSession:
    """Answers every GET with one recorded body."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response

    def get(self, url, params=None):
        return self.response


def test_recorded_deezer_bodies_are_read_as_deezer_means_them(shared_dir):
    from spotidance.collect.sources.deezer import is_throttled, matches

    specs = shared_dir / "specs" / "deezer"
    quota = (specs / "error-quota-limit-exceeded-http200.json").read_bytes()
    assert is_throttled(_response(quota))
    assert not is_throttled(_response((specs / "error-track-not-found-http200.json").read_bytes()))
    assert DeezerClient(_StubSession(_response((specs / "error-track-not-found-http200.json").read_bytes()))).track(-1) is None
    assert DeezerClient(_StubSession(_response((specs / "error-unknown-path-http404.json").read_bytes(), 404))).track(-1) is None
    with pytest.raises(RateLimited):
        DeezerClient(_StubSession(_response(quota))).track(1)
    with pytest.raises(ServiceUnavailable, match="Wrong parameter"):
        DeezerClient(_StubSession(_response((specs / "error-parameter-exception-http200.json").read_bytes()))).get("/genre/-1")
    hbfs = json.loads((specs / "track-3135556.json").read_text())
    assert matches(hbfs, title="Harder, Better, Faster, Stronger", duration_ms=224_693)
    assert not matches(hbfs, title="Harder, Better, Faster, Stronger", duration_ms=310_000)
    stay = json.loads((specs / "track-1425844092.json").read_text())
    assert matches(stay, title="STAY (with Justin Bieber)", duration_ms=141_805)
    assert not matches(stay, title="STAY - Instrumental", duration_ms=141_805)


def test_the_fake_answers_with_the_recorded_shapes(shared_dir, fake_services):
    fake = fake_services("legacy", n_tracks=3)
    recorded = json.loads((shared_dir / "specs" / "deezer" / "track-3135556.json").read_text())
    t = next(t for t in fake.playlists["3cEYpjA9oz9GiPac4AsH4n"].tracks if t.deezer)
    ours = fake.deezer_track(t.deezer)
    assert set(ours) <= set(recorded) | {"type"} and {"id", "title", "isrc", "duration", "preview", "bpm", "gain"} <= set(ours)
    assert {type(ours[k]) for k in ("id", "duration")} == {int} and isinstance(ours["preview"], str)
    spec = (shared_dir / "specs" / "spotify-web-api-openapi.yml").read_text().split("\n    TrackObject:\n", 1)[1]
    props = spec.split("\n    EpisodeObject:", 1)[0]
    documented = {line.strip()[:-1] for line in props.splitlines() if line.startswith("        ") and not line.startswith("         ") and line.strip().endswith(":")}
    assert set(fake.track_object(t)) - {"is_local"} <= documented


def test_spotipy_never_sleeps_through_a_day_long_retry_after(fake_services):
    from spotidance.collect.sources.spotify import SpotifySource

    fake = fake_services("dev2026", n_tracks=3)
    source = SpotifySource(PacedSession("spotify"))
    adapter = source.client._session.get_adapter("http://127.0.0.1")
    assert isinstance(source.client._session, PacedSession) and adapter.max_retries.total == 0
    fake.faults.append(Fault("spotify", "quota", path="/items"))
    start = time.monotonic()
    with pytest.raises(RateLimited) as info:
        next(source.iter_pages("3cEYpjA9oz9GiPac4AsH4n"))
    assert time.monotonic() - start < 5
    assert (info.value.service, info.value.reason, info.value.retry_after) == ("Spotify", "QUOTA_EXCEEDED", 86400)
