"""`prepare`: frame datasets from label folders and CSVs; bad files, reruns, interruption."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from spotidance.dataset import prepare as prep
from spotidance.audio import spectrogram
from spotidance.audio.config import SpectrogramConfig
from spotidance.dataset.frames import FrameDataset
from spotidance.core.errors import SpotidanceError
from tests.helpers.audio import tone, write_audio

CONFIG = SpectrogramConfig()


@pytest.fixture()
def label_folder(tmp_path, audio_dir):
    root = tmp_path / "music"
    (root / "techno").mkdir(parents=True)
    (root / "edm" / "sub").mkdir(parents=True)
    shutil.copy(audio_dir / "clip30.mp3", root / "techno" / "a.mp3")
    write_audio(root / "techno" / "b.wav", tone(10, seed=5, sample_rate=22050), sample_rate=22050)
    shutil.copy(audio_dir / "clip10.mp3", root / "edm" / "sub" / "c.mp3")
    for bad in ("truncated.mp3", "corrupt.mp3", "zero.mp3", "notes.mp3", "silent.wav", "clip2.mp3"):
        shutil.copy(audio_dir / bad, root / "edm" / bad)
    (root / "edm" / "cover.jpg").write_bytes(b"\xff\xd8 not audio, and not an audio extension")
    return root


def test_folder_dataset_with_every_bad_kind(label_folder, tmp_path):
    summary = prep.prepare([label_folder], out=tmp_path / "ds", workers=2, progress=False)
    ds = FrameDataset.open(tmp_path / "ds")
    assert summary.added == 3 and len(ds) == 10 + 3 + 3
    assert summary.frames_per_label == {"edm": 3, "techno": 13}
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in summary.skipped}
    assert set(reasons) == {"truncated.mp3", "corrupt.mp3", "zero.mp3", "notes.mp3", "silent.wav", "clip2.mp3"}
    assert reasons["truncated.mp3"].startswith("truncated")
    assert reasons["zero.mp3"].startswith("empty")
    assert reasons["silent.wav"].startswith("silent")
    assert reasons["clip2.mp3"].startswith("too short")
    assert {s["path"] for s in ds.skipped} == {s["path"] for s in summary.skipped}
    # frames read back from disk equal a fresh computation, in track order
    tracks = ds.tracks.set_index("track_id")
    first = int(tracks.loc["techno/a.mp3", "first_frame"])
    with threadpool_limits(1):  # as prepare computes them
        expected = spectrogram.file_frames(label_folder / "techno" / "a.mp3", config=CONFIG)
    np.testing.assert_array_equal(ds.read(range(first, first + 10)), expected)
    assert list(ds.frame_track_ids[first : first + 10]) == ["techno/a.mp3"] * 10
    # unsorted, repeated indices come back in the order asked
    idx = np.array([15, 0, 7, 0])
    np.testing.assert_array_equal(ds.read(idx)[1], ds.read([0])[0])
    np.testing.assert_array_equal(ds.read(idx)[0], ds.read([15])[0])
    assert (tmp_path / "ds" / "tracks.csv").exists()


def test_parallel_equals_sequential(label_folder, tmp_path):
    prep.prepare([label_folder], out=tmp_path / "seq", workers=1, progress=False)
    prep.prepare([label_folder], out=tmp_path / "par", workers=2, progress=False)
    a, b = FrameDataset.open(tmp_path / "seq"), FrameDataset.open(tmp_path / "par")
    assert list(a.frame_track_ids) == list(b.frame_track_ids)
    np.testing.assert_array_equal(a.read(range(len(a))), b.read(range(len(b))))


def count_jobs(monkeypatch):
    calls = []
    real = spectrogram.frames_or_reason

    def counting(path, *, config):
        calls.append(path)
        return real(path, config=config)

    monkeypatch.setattr(spectrogram, "frames_or_reason", counting)
    return calls


def test_incremental_rerun_does_no_repeated_work(label_folder, tmp_path, monkeypatch, audio_dir):
    calls = count_jobs(monkeypatch)
    prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    assert len(calls) == 9
    manifest = (tmp_path / "ds" / "dataset.json").read_text()
    calls.clear()
    again = prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    assert calls == [] and again.added == 0 and again.unchanged == 3 and again.previously_skipped == 6
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["tracks"] == json.loads(manifest)["tracks"]
    # a new track: only it is framed
    shutil.copy(audio_dir / "clip10.mp3", label_folder / "edm" / "new.mp3")
    more = prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    assert calls == [str(label_folder / "edm" / "new.mp3")] and more.added == 1
    assert FrameDataset.open(tmp_path / "ds").frames_per_label() == {"edm": 6, "techno": 13}


def test_interrupted_run_keeps_previous_dataset_and_resumes(label_folder, tmp_path, monkeypatch, audio_dir):
    prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    before = (tmp_path / "ds" / "dataset.json").read_bytes()
    for i in range(4):
        shutil.copy(audio_dir / "clip10.mp3", label_folder / "techno" / f"n{i}.mp3")
    real = spectrogram.frames_or_reason
    done = []

    def interrupting(path, *, config):
        if len(done) == 2:
            raise KeyboardInterrupt
        done.append(path)
        return real(path, config=config)

    monkeypatch.setattr(spectrogram, "frames_or_reason", interrupting)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False, commit_every=64)
    # nothing was committed: the manifest is byte-for-byte the previous one and still opens
    assert (tmp_path / "ds" / "dataset.json").read_bytes() == before
    assert len(FrameDataset.open(tmp_path / "ds")) == 16
    # with a commit after every track, a second interruption keeps the two tracks it finished
    done.clear()
    with pytest.raises(KeyboardInterrupt):
        prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False, commit_every=1)
    assert len(FrameDataset.open(tmp_path / "ds")) == 16 + 2 * 3
    calls = count_jobs(monkeypatch)
    monkeypatch.setattr(spectrogram, "frames_or_reason", lambda p, *, config: (calls.append(p), real(p, config=config))[1])
    final = prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    assert final.added == 2 and len(calls) == 2
    ds = FrameDataset.open(tmp_path / "ds")
    assert len(ds) == 16 + 4 * 3
    assert len(list((tmp_path / "ds" / "shards").iterdir())) == len({t["shard"] for t in ds.manifest["tracks"]})


def test_csv_input_uses_label_artist_and_preview_path(tmp_path, audio_dir):
    out = tmp_path / "collected"
    (out / "previews").mkdir(parents=True)
    shutil.copy(audio_dir / "clip10.mp3", out / "previews" / "t1.mp3")
    shutil.copy(audio_dir / "clip30.mp3", out / "previews" / "t2.mp3")
    rows = [
        {"track_id": "t1", "label": "techno", "artist_id": "artistA", "artist_name": "A", "preview_path": "previews/t1.mp3"},
        {"track_id": "t2", "label": "", "artist_id": "", "artist_name": "B", "preview_path": "previews/t2.mp3"},
        {"track_id": "t3", "label": "techno", "artist_id": "artistC", "artist_name": "C", "preview_path": ""},
        {"track_id": "t4", "label": "techno", "artist_id": "artistD", "artist_name": "D", "preview_path": "previews/t1.mp3"},
    ]
    for row in rows:
        row["preview_source"] = "spotify" if row["track_id"] == "t4" else "deezer"
    with open(out / "dark-techno.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = prep.prepare([out / "dark-techno.csv"], out=tmp_path / "ds", workers=1, progress=False)
    ds = FrameDataset.open(tmp_path / "ds")
    tracks = ds.tracks.set_index("track_id")
    assert tracks.loc["t1", "label"] == "techno" and tracks.loc["t1", "artist"] == "artistA"
    assert tracks.loc["t2", "label"] == "dark-techno" and tracks.loc["t2", "artist"] == "B"
    assert [s["reason"] for s in summary.skipped] == ["no preview file in the CSV", prep.SPOTIFY_PREVIEW_REASON]
    assert "t4" not in tracks.index  # a Spotify preview is never framed for training


def test_empty_and_wrong_inputs_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpotidanceError, match="no audio files"):
        prep.prepare([tmp_path / "empty"], out=tmp_path / "ds", progress=False)
    with pytest.raises(SpotidanceError, match="no such file"):
        prep.prepare([tmp_path / "nope"], out=tmp_path / "ds", progress=False)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(SpotidanceError, match="expected a .csv"):
        prep.prepare([tmp_path / "x.txt"], out=tmp_path / "ds", progress=False)


def test_other_config_on_existing_dataset_is_refused(label_folder, tmp_path):
    prep.prepare([label_folder], out=tmp_path / "ds", workers=1, progress=False)
    with pytest.raises(SpotidanceError, match="normalize"):
        prep.prepare([label_folder], out=tmp_path / "ds", config=SpectrogramConfig(normalize="frame"), progress=False)


def test_cli_errors_are_one_line_without_traceback(tmp_path, label_folder):
    run = subprocess.run([sys.executable, "-m", "spotidance", "prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "Traceback" not in run.stderr
    assert "no such file or folder" in run.stderr
    ok = subprocess.run([sys.executable, "-m", "spotidance", "prepare", str(label_folder), "--out", str(tmp_path / "o"), "--quiet"],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "techno" in ok.stdout and "truncated" in ok.stdout
