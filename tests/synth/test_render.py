"""The synthetic genre renderer: deterministic, the tempo it claims, genre traits, real mp3 files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from spotidance.synth import render as synth
from spotidance.core.errors import SpotidanceError
from spotidance.core.schema import CSV_COLUMNS


def test_same_seed_same_samples_other_seed_other_clip():
    a, meta_a = synth.render_clip("techno", seed=3, duration=4.0)
    b, meta_b = synth.render_clip("techno", seed=3, duration=4.0)
    c, _ = synth.render_clip("techno", seed=4, duration=4.0)
    assert a.dtype == np.float32 and a.shape == (4 * synth.SAMPLE_RATE,)
    assert np.array_equal(a, b) and meta_a == meta_b
    assert not np.allclose(a, c)
    assert 0.05 < np.abs(a).max() <= 0.98


@pytest.mark.parametrize("genre", sorted(synth.GENRES))
def test_clips_have_the_tempo_they_claim(genre):
    """librosa's beat tracker finds the claimed tempo, or its half/double (octave errors allowed)."""
    import librosa

    low, high = synth.GENRES[genre].tempo
    for i in range(3):
        audio, meta = synth.render_clip(genre, seed=[11, i], duration=12.0, sample_rate=22050)
        assert low <= meta["tempo"] <= high
        tempo, _ = librosa.beat.beat_track(y=audio, sr=22050)
        ratio = float(np.atleast_1d(tempo)[0]) / meta["tempo"]
        assert any(abs(ratio - k) / k < 0.05 for k in (0.5, 1.0, 2.0)), (genre, meta["tempo"], ratio)


def test_genre_traits_overlap_but_differ():
    """EDM mostly has vocals and techno mostly not, yet both kinds occur in both genres."""
    draws = {g: [synth.draw_traits(g, np.random.default_rng([1, k])) for k in range(400)] for g in ("techno", "edm")}
    vocal = {g: np.mean([d["vocal"] for d in ds]) for g, ds in draws.items()}
    assert 0.05 < vocal["techno"] < 0.3 and 0.65 < vocal["edm"] < 0.95
    tempos = {g: [d["tempo"] for d in ds] for g, ds in draws.items()}
    assert min(tempos["techno"]) < 126 and max(tempos["techno"]) > 130  # techno spans big room's range
    with pytest.raises(SpotidanceError, match="unknown genre"):
        synth.draw_traits("polka", np.random.default_rng(0))


def test_vocal_clips_carry_low_instrumentalness():
    metas = [synth.render_clip("edm", seed=[2, k], duration=3.0)[1] for k in range(8)]
    for m in metas:
        assert (m["instrumentalness"] < 0.35) == m["vocal"]


def test_collection_writes_real_mp3s_and_collect_format_csvs(tmp_path):
    from spotidance.audio.decode import load

    summary = synth.render_collection(tmp_path / "a", genres=("techno", "dnb"), per_genre=2, seed=5, duration=30.0, workers=2)
    assert summary.rendered == 4 and summary.reused == 0
    for genre in ("techno", "dnb"):
        with open(tmp_path / "a" / f"{genre}.csv", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        assert [r["label"] for r in rows] == [genre, genre]
        assert {r["features_source"] for r in rows} == {"synthetic"} and {r["preview_source"] for r in rows} == {"synthetic"}
        assert rows[0]["isrc"] == "" and rows[0]["track_popularity"] == ""  # nothing invented
        clip = tmp_path / "a" / rows[0]["preview_path"]
        y = load(clip, sample_rate=22050)
        assert abs(len(y) / 22050 - 30.0) < 0.1
        assert abs(float(rows[0]["tempo"]) - summary.rows[[r["track_id"] for r in summary.rows].index(rows[0]["track_id"])]["tempo"]) < 1e-9
    # same seed into another folder: byte-identical mp3s
    synth.render_collection(tmp_path / "b", genres=("techno",), per_genre=1, seed=5, duration=30.0, workers=1)
    assert (tmp_path / "a/techno/techno-000.mp3").read_bytes() == (tmp_path / "b/techno/techno-000.mp3").read_bytes()


def test_rerun_renders_only_what_is_missing(tmp_path):
    first = synth.render_collection(tmp_path, genres=("edm",), per_genre=2, seed=1, duration=3.0, workers=1)
    clip = tmp_path / "edm" / "edm-000.mp3"
    mtime = clip.stat().st_mtime_ns
    again = synth.render_collection(tmp_path, genres=("edm",), per_genre=3, seed=1, duration=3.0, workers=1)
    assert (first.rendered, again.rendered, again.reused) == (2, 1, 2)
    assert clip.stat().st_mtime_ns == mtime
    assert again.rows[:2] == first.rows
    clip.with_suffix(".json").unlink()  # an interrupted clip (no ground truth yet) is rendered again
    assert synth.render_collection(tmp_path, genres=("edm",), per_genre=3, seed=1, duration=3.0, workers=1).rendered == 1
    with pytest.raises(SpotidanceError, match="other settings"):
        synth.render_collection(tmp_path, genres=("edm",), per_genre=3, seed=2, duration=3.0, workers=1)


def test_command_renders_and_rejects_unknown_genres(tmp_path):
    from click.testing import CliRunner

    from spotidance.cli import cli

    runner = CliRunner()  # through the group, as users run it (a command invoked alone caches click's help option)
    bad = runner.invoke(cli, ["synth", str(tmp_path), "--genres", "polka"])
    assert bad.exit_code == 2 and "choose from" in bad.output
    ok = runner.invoke(cli, ["synth", str(tmp_path), "--per-genre", "1", "--duration", "2", "--workers", "1", "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert "techno" in ok.output and (tmp_path / "edm" / "edm-000.mp3").is_file()
