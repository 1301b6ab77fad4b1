"""Collect for real playlists: several playlists under one label, the exporters' columns, Parquet,
and labels from playlist names in any script (against the local fakes of the services)."""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from pathlib import Path

import pytest

from spotidance.collect.names import MAX_LABEL_BYTES, check_label, safe_label
from spotidance.collect.run import collect
from spotidance.collect.sources.spotify import added_at
from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import PlaylistStore, read_table
from spotidance.core.schema import CATALOGUE_COLUMNS, CSV_COLUMNS, CSV_SCHEMA_VERSION
from tests.helpers.cli import run_main as run_cli
from tests.helpers.fakeservices import Fault, Playlist, make_playlist
from tests.helpers.fakeservices.catalog import ARTIST_GENRES
from tests.helpers.fakeservices.fixtures import PLAYLIST_ID

OTHER_ID = "7xOtherPlaylistAbCdEf12"


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def two_playlists(fake, *, n1: int = 30, n2: int = 25, shared: int = 4) -> tuple[Playlist, Playlist, list]:
    """The fixture's playlist (``n1`` tracks) and another (``n2`` own tracks + ``shared`` of the first)."""
    first = fake.playlists[PLAYLIST_ID]
    other = make_playlist(OTHER_ID, n_tracks=n2, name="Techno Two", seed=5, nulls=1, locals_=0, episodes=0, duplicates=0)
    unique = list({t.sid: t for t in first.tracks}.values())
    common = unique[3 : 3 + shared]
    for k, t in enumerate(common):
        other.rows.insert(2 + 3 * k, ("track", t))
    fake.add_playlist(other)
    return first, other, common


def test_two_playlists_under_one_label_give_one_row_per_track(fake_services, tmp_path, capsys):
    fake = fake_services("legacy", n_tracks=30)
    first, other, common = two_playlists(fake)
    code, out, err = run_cli(["collect", PLAYLIST_ID, f"spotify:playlist:{OTHER_ID}", "--label", "techno", "-o", tmp_path,
                              "--features", "none", "--no-previews", "--json", "-q"], capsys)  # fmt: skip
    assert code == 0, err
    rows = read_rows(tmp_path / "techno.csv")
    unique = list(dict.fromkeys([t.sid for t in first.tracks] + [t.sid for t in other.tracks]))
    assert [r["track_id"] for r in rows] == unique  # each track once, the first playlist's order first
    by_id = {r["track_id"]: r for r in rows}
    for t in common:  # in both: kept once, playlist_id = the first playlist that listed it
        assert by_id[t.sid]["playlist_id"] == PLAYLIST_ID
        assert by_id[t.sid]["playlist_ids"] == f"{PLAYLIST_ID};{OTHER_ID}"
    only_other = [t for t in other.tracks if t not in common]
    assert {by_id[t.sid]["playlist_ids"] for t in only_other} == {OTHER_ID}
    assert {by_id[t.sid]["playlist_id"] for t in only_other} == {OTHER_ID}
    assert {r["label"] for r in rows} == {"techno"}
    data = json.loads(out)
    assert data["tracks"] == len(unique) == 30 + 25 and data["shared"] == len(common) == 4
    assert data["playlists"] == {f"spotify:playlist:{PLAYLIST_ID}": 30, f"spotify:playlist:{OTHER_ID}": 25 + 4}
    assert data["skipped"]["duplicate"] == 1  # the first playlist's own duplicate row, not the shared tracks
    meta = json.loads((tmp_path / "techno.csv.meta.json").read_text())
    assert meta["playlists"] == [f"spotify:playlist:{PLAYLIST_ID}", f"spotify:playlist:{OTHER_ID}"]


def test_adding_a_playlist_to_a_label_later_gives_the_same_table(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=30)
    two_playlists(fake)
    collect([PLAYLIST_ID, OTHER_ID], out=tmp_path / "once", label="techno", features="none", previews=False)
    collect(PLAYLIST_ID, out=tmp_path / "twice", label="techno", features="none", previews=False)
    listed = len(fake.requests("spotify", f"/playlists/{PLAYLIST_ID}/"))
    summary = collect(OTHER_ID, out=tmp_path / "twice", label="techno", features="none", previews=False)
    assert (tmp_path / "twice" / "techno.csv").read_text() == (tmp_path / "once" / "techno.csv").read_text()
    assert len(fake.requests("spotify", f"/playlists/{PLAYLIST_ID}/")) == listed  # the first one is not listed again
    assert summary.tracks == 29 and summary.playlists == {f"spotify:playlist:{OTHER_ID}": 29}
    # without --label, a playlist of an earlier run finds its label again
    again = collect([OTHER_ID, PLAYLIST_ID], out=tmp_path / "twice", features="none", previews=False)
    assert again.label == "techno" and again.tracks == 55 and again.shared == 4


def test_a_playlist_named_like_another_is_not_merged_into_its_table_unasked(fake_services, tmp_path, capsys):
    fake = fake_services("legacy", n_tracks=30)
    first, other, _ = two_playlists(fake)
    other.name = first.name  # two different playlists, one name
    label = safe_label(first.name)
    assert collect(PLAYLIST_ID, out=tmp_path, features="none", previews=False).label == label
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, _, err = run_cli(["collect", OTHER_ID, "-o", tmp_path, "--features", "none", "--no-previews", "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.strip().endswith(f"{tmp_path / (label + '.csv')} holds other playlists: pass --label {label} to add this one "
                                "to it, or another --label")  # fmt: skip
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written
    # the same playlist again (found by the earlier-run lookup) and an explicit --label still add to it
    assert collect(PLAYLIST_ID, out=tmp_path, features="none", previews=False).label == label
    summary = collect(OTHER_ID, out=tmp_path, label=label, features="none", previews=False)
    assert summary.label == label and len(read_rows(tmp_path / f"{label}.csv")) == 30 + 25
    # and a playlist of that name and no earlier table still names a new one
    assert collect(OTHER_ID, out=tmp_path / "fresh", features="none", previews=False).label == label


def test_a_shared_track_keeps_the_first_playlists_added_at_even_when_unknown(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=30)
    first, other, common = two_playlists(fake)
    first.added_at = "1970-01-01T00:00:00Z"  # Spotify does not know: empty
    other.added_at = "2025-06-07T08:09:10Z"
    collect([PLAYLIST_ID, OTHER_ID], out=tmp_path, label="techno", features="none", previews=False)
    by_id = {r["track_id"]: r for r in read_rows(tmp_path / "techno.csv")}
    assert {by_id[t.sid]["added_at"] for t in common} == {""}
    assert {by_id[t.sid]["playlist_id"] for t in common} == {PLAYLIST_ID}
    assert {by_id[t.sid]["added_at"] for t in other.tracks if t not in common} == {"2025-06-07T08:09:10Z"}


def test_a_stop_in_the_second_playlist_resumes_there(fake_services, tmp_path, capsys):
    fake = fake_services("dev2026", n_tracks=60)
    other = make_playlist(OTHER_ID, n_tracks=120, name="Techno Two", seed=5)
    fake.add_playlist(other)
    args = dict(label="techno", features="reccobeats", previews=False)
    collect([PLAYLIST_ID, OTHER_ID], out=tmp_path / "whole", **args)
    whole = (tmp_path / "whole" / "techno.csv").read_text()

    fake.faults.append(Fault("spotify", "quota", path=f"/playlists/{OTHER_ID}/items", after=1))
    code, _, err = run_cli(["collect", PLAYLIST_ID, OTHER_ID, "--label", "techno", "-o", tmp_path / "cut",
                            "--features", "reccobeats", "--no-previews", "-q"], capsys)  # fmt: skip
    assert code == 3 and "Traceback" not in err
    assert f"stopped during listing of playlist {OTHER_ID}" in err.strip().splitlines()[-1]
    saved = read_rows(tmp_path / "cut" / "techno.csv")
    assert 60 < len(saved) < 60 + 120
    first_pages = len(fake.requests("spotify", f"/playlists/{PLAYLIST_ID}/items"))
    recco = len(fake.requests("reccobeats"))
    code, _, err = run_cli(["collect", PLAYLIST_ID, OTHER_ID, "--label", "techno", "-o", tmp_path / "cut",
                            "--features", "reccobeats", "--no-previews", "-q"], capsys)  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "cut" / "techno.csv").read_text() == whole
    assert len(fake.requests("spotify", f"/playlists/{PLAYLIST_ID}/items")) == first_pages  # done: not listed again
    asked = {i for e in fake.requests("reccobeats")[recco:] for i in e.query["ids"].split(",")}
    assert not asked & {t.sid for t in fake.playlists[PLAYLIST_ID].tracks}  # its features were saved


def test_limit_counts_each_playlist(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=30)
    first, other, common = two_playlists(fake)
    summary = collect([PLAYLIST_ID, OTHER_ID], out=tmp_path, label="t", limit=5, features="none", previews=False)
    assert summary.playlists == {f"spotify:playlist:{PLAYLIST_ID}": 5, f"spotify:playlist:{OTHER_ID}": 5}
    rows = read_rows(tmp_path / "t.csv")
    assert [r["track_id"] for r in rows][:5] == [t.sid for t in first.tracks[:5]]
    # the rest of a playlist comes with a rerun without --limit, from where the listing stopped
    summary = collect([PLAYLIST_ID, OTHER_ID], out=tmp_path, label="t", features="none", previews=False)
    assert summary.tracks == 55 and len(read_rows(tmp_path / "t.csv")) == 55


def test_exporter_columns_from_spotify_where_it_gives_them(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=120)
    playlist = fake.playlists[PLAYLIST_ID]
    summary = collect(PLAYLIST_ID, out=tmp_path, label="t", features="none", previews=False)
    rows = read_rows(tmp_path / "t.csv")
    assert list(rows[0]) == list(CSV_COLUMNS) and set(CATALOGUE_COLUMNS) <= set(rows[0])
    by_id = {t.sid: t for t in playlist.tracks}
    for row in rows:
        t = by_id[row["track_id"]]
        assert row["album_name"] == f"{t.name} EP"
        assert row["added_at"] == "2026-01-02T03:04:05Z"
        assert row["artist_genres"] == ";".join(ARTIST_GENRES[t.artist])  # "" for the unclassified artist
    assert {r["artist_genres"] for r in rows if by_id[r["track_id"]].artist == "Juno Fell"} == {""}
    calls = fake.requests("spotify", "/artists")
    artists = {t.artist_id for t in playlist.tracks}
    assert len(calls) == 1 and set(calls[0].query["ids"].split(",")) == artists  # each artist once, batched
    assert summary.with_genres == sum(1 for r in rows if r["artist_genres"])
    before = len(fake.log)
    collect(PLAYLIST_ID, out=tmp_path, label="t", features="none", previews=False)
    assert [e for e in fake.log[before:] if "/artists" in e.path] == []  # known: not asked again


def test_many_artists_are_asked_50_at_a_time(fake_services, tmp_path, monkeypatch):
    from tests.helpers.fakeservices import catalog

    monkeypatch.setattr(catalog, "ARTISTS", tuple(f"Artist {i}" for i in range(120)))
    fake = fake_services("legacy", n_tracks=130)
    collect(PLAYLIST_ID, out=tmp_path, label="t", features="none", previews=False)
    sizes = [len(e.query["ids"].split(",")) for e in fake.requests("spotify", "/artists")]
    assert sizes == [50, 50, 20]


def test_no_genres_from_a_2026_app_are_left_empty_with_a_note(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=20)
    summary = collect(PLAYLIST_ID, out=tmp_path, label="t", features="none", previews=False)
    rows = read_rows(tmp_path / "t.csv")
    assert {r["artist_genres"] for r in rows} == {""} and all(r["album_name"] for r in rows)
    assert any("no genres field" in note for note in summary.notes)
    assert len(fake.requests("spotify", "/artists")) == 1


@pytest.mark.parametrize("single_status", [403, 404])
def test_refused_artists_calls_are_asked_once_per_run(fake_services, tmp_path, single_status):
    fake = fake_services("legacy", n_tracks=30)
    two_playlists(fake)
    fake.artists_status = 403
    fake.artist_status = single_status  # a 404 before any artist was found: the call itself is missing
    summary = collect([PLAYLIST_ID, OTHER_ID], out=tmp_path, label="t", features="none", previews=False)
    asked = fake.requests("spotify", "/artists")
    assert len(asked) == 2 and "ids" in asked[0].query and "ids" not in asked[1].query  # the batch, then one artist
    assert {r["artist_genres"] for r in read_rows(tmp_path / "t.csv")} == {""}
    assert [n for n in summary.notes if "refuses GET /artists" in n] == [
        f"artist genres: Spotify refuses GET /artists to this app (HTTP {single_status}); artist_genres left empty"
    ]


def test_a_removed_batch_artists_call_falls_back_to_one_artist_at_a_time(fake_services, tmp_path):
    fake = fake_services("legacy", n_tracks=30)
    collect(PLAYLIST_ID, out=tmp_path / "batch", label="t", features="none", previews=False)
    expected = {r["track_id"]: r["artist_genres"] for r in read_rows(tmp_path / "batch" / "t.csv")}
    assert any(expected.values())
    fake.artists_status = 404
    before = len(fake.log)
    summary = collect(PLAYLIST_ID, out=tmp_path / "single", label="t", features="none", previews=False)
    rows = read_rows(tmp_path / "single" / "t.csv")
    assert {r["track_id"]: r["artist_genres"] for r in rows} == expected
    asked = [e for e in fake.log[before:] if "/artists" in e.path]
    artists = {r["artist_id"] for r in rows}
    assert len(asked) == 1 + len(artists) and {e.path.rsplit("/", 1)[1] for e in asked[1:]} == artists
    assert any("refuses the batch GET /artists to this app (HTTP 404); each artist was asked on its own" in n
               for n in summary.notes)
    before = len(fake.log)
    collect(PLAYLIST_ID, out=tmp_path / "single", label="t", features="none", previews=False)
    assert [e for e in fake.log[before:] if "/artists" in e.path] == []  # known: not asked again


def test_a_401_from_artists_is_a_token_error_not_a_refusal_for_the_run(fake_services, tmp_path, capsys):
    fake = fake_services("legacy", n_tracks=30)
    two_playlists(fake)
    fake.artists_status = 401
    code, _, err = run_cli(["collect", PLAYLIST_ID, OTHER_ID, "--label", "t", "-o", tmp_path, "--features", "none",
                            "--no-previews", "-q"], capsys)  # fmt: skip
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "refused our access token when asked for artist genres (401)" in err and "spotidance login" in err
    assert len(read_rows(tmp_path / "t.csv")) == 30  # the first playlist's listing is kept for the rerun
    meta = json.loads((tmp_path / "t.csv.meta.json").read_text())
    assert not meta["state"].get("artist_genres")  # nothing recorded as refused or empty: a rerun asks again


def test_spotify_unknown_added_at_is_empty_not_1970():
    assert added_at({"added_at": "1970-01-01T00:00:00Z"}) == "" and added_at({"added_at": None}) == ""
    assert added_at({"added_at": "2021-05-06T07:08:09Z"}) == "2021-05-06T07:08:09Z" and added_at({}) == ""


def test_deezer_playlists_give_album_and_added_at_but_no_genres(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=30, login=False)
    tracks = fake.playlists[PLAYLIST_ID].tracks
    fake.add_deezer_playlist("9200461", "Lounge", tracks)
    collect("deezer:playlist:9200461", out=tmp_path, label="lounge", features="none", previews=False)
    rows = read_rows(tmp_path / "lounge.csv")
    positions: dict[str, int] = {}
    for i, t in enumerate(tracks):
        if t.deezer:
            positions.setdefault(str(t.deezer.did), i)  # a repeated track keeps its first row
    for row in rows:
        position = positions[row["track_id"]]
        assert row["album_name"].endswith(" EP") and row["artist_genres"] == ""
        # time_add 0 means unknown (as in the recorded bodies): empty, not 1970
        assert row["added_at"] == ("" if position % 7 == 3 else f"2026-01-{1 + position // 24:02d}T{position % 24:02d}:00:00Z")
    assert fake.requests("spotify") == []


def test_a_version_1_csv_still_resumes_and_loads(fake_services, tmp_path):
    fake = fake_services("dev2026", n_tracks=20)
    collect(PLAYLIST_ID, out=tmp_path, label="old", features="none", previews=False)
    rows = read_rows(tmp_path / "old.csv")
    # as the previous version wrote it: the old header, one playlist and its listing state at the top
    old_columns = [c for c in CSV_COLUMNS if c not in CATALOGUE_COLUMNS + ("playlist_ids",)]
    with (tmp_path / "old.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=old_columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta = json.loads((tmp_path / "old.csv.meta.json").read_text())
    listing = meta["state"].pop("listings")[f"spotify:playlist:{PLAYLIST_ID}"]
    meta["state"]["listing"] = {**listing, "rows": len(rows)}
    meta.update({"schema_version": 1, "playlist": f"spotify:playlist:{PLAYLIST_ID}", "playlist_name": "Warehouse Techno"})
    for key in ("playlists", "playlist_names", "format"):
        meta.pop(key, None)
    (tmp_path / "old.csv.meta.json").write_text(json.dumps(meta))

    store = PlaylistStore(tmp_path, "old").load()
    assert {r["playlist_ids"] for r in store.rows.values()} == {PLAYLIST_ID}
    before = len(fake.log)
    summary = collect(PLAYLIST_ID, out=tmp_path, features="none", previews=False)  # finds its label
    assert summary.label == "old" and summary.tracks == 20
    assert [e for e in fake.log[before:] if "/items" in e.path] == []  # the listing was complete
    new = read_rows(tmp_path / "old.csv")
    assert list(new[0]) == list(CSV_COLUMNS) and [r["track_id"] for r in new] == [r["track_id"] for r in rows]
    meta = json.loads((tmp_path / "old.csv.meta.json").read_text())
    assert meta["schema_version"] == CSV_SCHEMA_VERSION and meta["playlist_names"] == {f"spotify:playlist:{PLAYLIST_ID}": "Warehouse Techno"}


# ------------------------------------------------------------------------------------------ Parquet


def test_parquet_round_trip_resume_and_readers(fake_services, tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    fake = fake_services("dev2026", n_tracks=40)
    collect(PLAYLIST_ID, out=tmp_path / "csv", label="t", features="reccobeats", previews=False)
    summary = collect(PLAYLIST_ID, out=tmp_path / "pq", label="t", fmt="parquet", features="reccobeats", previews=False)
    path = tmp_path / "pq" / "t.parquet"
    assert summary.csv_path == path and not (tmp_path / "pq" / "t.csv").exists()
    frame = pd.read_parquet(path)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 40
    assert str(frame["tempo"].dtype) == "float64" and str(frame["key"].dtype) == "Int64"
    assert str(frame["track_id"].dtype) == "string"
    # the same values as the CSV, cell for cell
    assert read_table(path)[1] == read_rows(tmp_path / "csv" / "t.csv")
    before = len(fake.log)
    again = collect(PLAYLIST_ID, out=tmp_path / "pq", label="t", fmt="parquet", features="reccobeats", previews=False)
    assert again.tracks == 40 and [e for e in fake.log[before:] if e.service in ("reccobeats",) or "/items" in e.path] == []
    assert json.loads((tmp_path / "pq" / "t.parquet.meta.json").read_text())["format"] == "parquet"
    assert list((tmp_path / "pq").glob(".*journal")) == []


def test_parquet_tables_are_read_by_eda_and_prepare(fake_services, tmp_path):
    pytest.importorskip("pyarrow")
    from spotidance.core.playlist_csv import parquet_bytes
    from spotidance.dataset.prepare import sources_from_inputs
    from spotidance.eda.run import read_labelled_csvs

    for label, tempo in (("techno", 130.0), ("house", 122.0)):
        rows = [{**dict.fromkeys(CSV_COLUMNS, ""), "track_id": f"{label}{i}", "label": label, "tempo": str(tempo + i % 3),
                 "energy": str(0.5 + i / 100), "preview_path": f"{label}/{i}.mp3", "preview_source": "deezer",
                 "playlist_ids": "123"} for i in range(6)]  # fmt: skip
        (tmp_path / f"{label}.parquet").write_bytes(parquet_bytes(rows))
    data = read_labelled_csvs([tmp_path])
    assert sorted(data.frame["label"].unique()) == ["house", "techno"] and "tempo" in data.features
    assert "playlist_ids" not in data.features
    sources, problems = sources_from_inputs([tmp_path / "techno.parquet"])
    assert [s.track_id for s in sources] == [f"techno{i}" for i in range(6)] and problems == []


def test_parquet_list_columns_are_read_and_record_columns_refused_in_one_line(fake_services, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from spotidance.dataset.prepare import sources_from_inputs
    from spotidance.eda.run import read_labelled_csvs

    for label, tempo in (("techno", 130.0), ("house", 122.0)):  # as another exporter writes them: genres as a list
        n = 6
        pq.write_table(pa.table({
            "track_id": [f"{label}{i}" for i in range(n)], "label": [label] * n, "tempo": [tempo + i % 3 for i in range(n)],
            "energy": [0.5 + i / 100 for i in range(n)], "preview_path": [f"{label}/{i}.mp3" for i in range(n)],
            "genres": [["minimal techno", "house"] if i % 2 else [] for i in range(n)], "playlist_ids": [["123", "456"]] * n,
        }), tmp_path / f"{label}.parquet")  # fmt: skip
    _, rows = read_table(tmp_path / "techno.parquet")
    assert [r["genres"] for r in rows[:2]] == ["", "minimal techno;house"] and rows[0]["playlist_ids"] == "123;456"
    data = read_labelled_csvs([tmp_path])
    assert sorted(data.frame["label"].unique()) == ["house", "techno"] and "tempo" in data.features
    sources, problems = sources_from_inputs([tmp_path / "techno.parquet"])
    assert [s.track_id for s in sources] == [f"techno{i}" for i in range(6)] and problems == []

    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.table({"track_id": ["a", "b"], "label": ["x", "x"], "album": [{"name": "A", "year": 1999}] * 2}),
                   bad / "n.parquet")  # fmt: skip
    with pytest.raises(SpotidanceError, match="column 'album' holds records"):
        read_table(bad / "n.parquet")
    code, _, err = run_cli(["eda", bad / "n.parquet", tmp_path / "house.parquet", "--out", tmp_path / "report"], capsys)
    assert code != 0 and "Traceback" not in err and "column 'album' holds records" in err, err


def test_parquet_keeps_text_in_a_number_column_rather_than_blank_it(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from spotidance.core.playlist_csv import parquet_bytes

    rows = [{**dict.fromkeys(CSV_COLUMNS, ""), "track_id": f"t{i}", "tempo": tempo, "energy": str(0.5 + i / 10), "key": key}
            for i, (tempo, key) in enumerate([("120.5", "5"), ("about 128", "7"), ("", "n/a")])]  # fmt: skip
    (tmp_path / "t.parquet").write_bytes(parquet_bytes(rows))
    _, back = read_table(tmp_path / "t.parquet")
    assert [r["tempo"] for r in back] == ["120.5", "about 128", ""] and [r["key"] for r in back] == ["5", "7", "n/a"]
    assert [r["energy"] for r in back] == ["0.5", "0.6", "0.7"]
    schema = pq.read_schema(tmp_path / "t.parquet")
    assert str(schema.field("energy").type) == "double" and "string" in str(schema.field("tempo").type)


def test_parquet_without_pyarrow_is_one_line_naming_the_extra(fake_services, tmp_path, capsys, monkeypatch):
    fake_services("dev2026", n_tracks=5)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    code, _, err = run_cli(["collect", PLAYLIST_ID, "-o", tmp_path / "out", "--format", "parquet", "-q"], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "spotidance: error: to write Parquet files, install the 'parquet' extra: pip install 'spotidance[parquet]' (pyarrow is missing)"
    ]
    assert not (tmp_path / "out").exists()  # refused before anything was asked or written


def test_a_label_in_the_other_format_is_refused(fake_services, tmp_path, capsys):
    fake_services("dev2026", n_tracks=5)
    assert run_cli(["collect", PLAYLIST_ID, "-o", tmp_path, "--label", "t", "--features", "none", "--no-previews", "-q"], capsys)[0] == 0
    pytest.importorskip("pyarrow")
    code, _, err = run_cli(["collect", PLAYLIST_ID, "-o", tmp_path, "--label", "t", "--format", "parquet", "-q"], capsys)
    assert code == 2 and err.strip().splitlines()[-1].endswith("holds this label already: rerun with --format csv, or pass another --label or --out")


# ------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Techno Bunker!", "techno-bunker"),
        ("テクノ", "テクノ"),
        ("Техно", "техно"),
        ("🔥 techno", "techno"),
        ("Lounge Soirée", "lounge-soirée"),
        ("Lounge Soire\u0301e", "lounge-soirée"),  # decomposed (as macOS types it): NFC
        ("हिन्दी टेक्नो", "हिन्दी-टेक्नो"),  # combining vowel signs are kept
        ("a/b\\c:d*e?f\"g<h>i|j", "a-b-c-d-e-f-g-h-i-j"),
        ("..hidden", "hidden"),
        ("line\nbreak\x00\x1f", "line-break"),
        ("CON", "con_"),
        ("com1", "com1_"),
        ("Lpt9.mix", "lpt9-mix"),
        ("🔥🔥", ""),
        ("Vol. 2 — Ω", "vol-2-ω"),
        ("❤️ Techno", "techno"),  # U+FE0F (variation selector) goes with its emoji
        ("Techno ❤️", "techno"),
        ("1️⃣ techno", "1-techno"),  # the keycap's marks sit on U+FE0F, not on the digit
        ("e\ufe0e\U000e0100x", "e-x"),
        ("\u0301abc", "abc"),  # a mark with nothing to sit on
        ("a - \u0301b", "a-b"),
        ("T\u0308echno", "\u1e97echno"),  # lower() gives t + U+0308: NFC again composes it
        ("\u03aa\u0301", "\u0390"),
    ],
)
def test_labels_from_names_keep_every_script(name, label):
    assert safe_label(name) == label


def test_labels_from_names_hold_no_invisible_characters():
    for name in ("❤️ Techno", "İstanbul", "🏳️‍🌈 house", "👍🏽 x", "Ｔｅｃｈｎｏ ✔️", "\u0301\ufe0f"):
        label = safe_label(name)
        assert label == unicodedata.normalize("NFC", label)
        assert not any("\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef" for ch in label), repr(label)
        assert not label or unicodedata.category(label[0])[0] in "LN", repr(label)
        if label:
            assert check_label(label) == label
    assert safe_label("İstanbul").startswith("i") and safe_label("İstanbul").endswith("stanbul")


def test_long_names_are_cut_in_bytes_never_inside_a_character():
    for name in ("テクノ" * 60, "é" * 200, "a" * 300, "ने" * 80, "x" + "🔥y" * 90):
        label = safe_label(name)
        assert MAX_LABEL_BYTES - 8 < len(label.encode("utf-8")) <= MAX_LABEL_BYTES
        assert label == unicodedata.normalize("NFC", label) and not label.endswith("-")
    label = safe_label("ने" * 80)  # a letter and its vowel sign: never the letter without its sign
    assert label == "ने" * (len(label) // 2) and len(label) % 2 == 0
    assert safe_label("テクノ" * 60) == ("テクノ" * 60)[:33]  # 3 bytes each: 99 of 100


@pytest.mark.parametrize("bad", ["a/b", "..", ".hidden", "-x", "nul", "Con.csv", "x" * 101, "a b", "tab\t", "end.",
                                 "\u0301x", "techno\ufe0f", "\ufe0ftechno", "a-\u0301b"])
def test_bad_labels_are_refused(bad):
    with pytest.raises(SpotidanceError, match="--label"):
        check_label(bad)


def test_good_labels_are_kept_nfc():
    assert check_label("Techno_2026.v1") == "Techno_2026.v1"
    assert check_label("テクノ") == "テクノ" and check_label("Soire\u0301e") == "Soirée"


@pytest.mark.parametrize(("name", "expected"), [("テクノ", "テクノ"), ("Техно", "техно"), ("🔥 techno", "techno"), ("🔥🔥", None)])
def test_playlists_named_in_any_script_name_their_table(fake_services, tmp_path, name, expected):
    fake = fake_services("dev2026", n_tracks=3)
    fake.playlists[PLAYLIST_ID].name = name
    summary = collect(PLAYLIST_ID, out=tmp_path, features="none", previews=False)
    label = expected or f"spotify-{PLAYLIST_ID}"
    assert summary.label == label and (tmp_path / f"{label}.csv").is_file()
    assert {r["label"] for r in read_rows(tmp_path / f"{label}.csv")} == {label}
    assert json.loads((tmp_path / f"{label}.csv.meta.json").read_text())["playlist_names"] == {f"spotify:playlist:{PLAYLIST_ID}": name}


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "Missing argument 'PLAYLIST...'"),
        ([PLAYLIST_ID, "https://example.com/x"], "is not a playlist"),
        ([PLAYLIST_ID, "--label", "a/b"], "--label 'a/b' must be letters or digits"),
        ([PLAYLIST_ID, "--label", "aux"], "reserved device name on Windows"),
        ([PLAYLIST_ID, "--format", "xlsx"], "'xlsx' is not one of 'csv', 'parquet'"),
        ([PLAYLIST_ID, "--limit", "0"], "--limit"),
        ([PLAYLIST_ID, "deezer:playlist:1", "--features", "spotify"], "--features spotify needs Spotify playlists"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(fake_services, tmp_path, capsys, args, says):
    fake_services("dev2026", n_tracks=3)
    code, out, err = run_cli(["collect", *args, "-o", tmp_path, "-q"], capsys)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spotidance: error:") and says in lines[0], err


def test_playlists_collected_under_two_labels_need_label(fake_services, tmp_path, capsys):
    fake = fake_services("legacy", n_tracks=10)
    two_playlists(fake, n1=10, n2=5, shared=0)
    collect(PLAYLIST_ID, out=tmp_path, label="a", features="none", previews=False)
    collect(OTHER_ID, out=tmp_path, label="b", features="none", previews=False)
    code, _, err = run_cli(["collect", PLAYLIST_ID, OTHER_ID, "-o", tmp_path, "-q"], capsys)
    assert code == 2 and err.strip() == ("spotidance: error: these playlists were collected under different labels (a, b): "
                                         "pass --label to say which one they go to")  # fmt: skip
