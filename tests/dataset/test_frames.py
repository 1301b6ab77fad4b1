"""The frame dataset's manifest is untrusted input: validated whole, shards checked, damage repaired."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError
from spotidance.dataset.frames import (
    MANIFEST,
    SHARD_DIR,
    DatasetWriter,
    FrameDataset,
    ManifestError,
    damaged_shards,
    validate_manifest,
)


def make(path, *, tracks: int = 3, frames: int = 2):
    writer = DatasetWriter(path, SpectrogramConfig())
    rng = np.random.default_rng(0)
    writer.commit([({"track_id": f"t{i}", "label": "ab"[i % 2], "artist": "", "path": f"{i}.mp3", "source_key": f"k{i}"},
                    rng.standard_normal((frames, 128, 128)).astype(np.float32)) for i in range(tracks)])  # fmt: skip
    return path


@pytest.fixture
def manifest(tmp_path):
    return json.loads((make(tmp_path / "ds") / MANIFEST).read_text())


def test_a_sound_manifest_passes_and_defaults_skipped(manifest):
    del manifest["skipped"]
    assert validate_manifest(manifest)["skipped"] == []


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.pop("tracks"), "no 'tracks'"),
    (lambda m: m.update(version="one"), "version 'one'"),
    (lambda m: m.update(version=True), "version True"),
    (lambda m: m.update(labels="ab"), "'labels' is not a JSON list"),
    (lambda m: m.update(labels=["a", "a"]), "distinct"),
    (lambda m: m["tracks"][0].update(label="polka"), "'polka' is not in 'labels'"),
    (lambda m: m["tracks"][0].pop("offset"), "has no 'offset'"),
    (lambda m: m["tracks"][0].update(offset=-1), "offset -1"),
    (lambda m: m["tracks"][0].update(n_frames=2.5), "n_frames 2.5"),
    (lambda m: m["tracks"][0].update(n_frames=2**60), "n_frames"),
    (lambda m: m["tracks"][0].update(track_id=7), "track_id is not a string"),
    (lambda m: m["tracks"][1].update(track_id="t0"), "appears twice"),
    (lambda m: m["tracks"][0].update(shard="../../victim.txt"), "not a shard file name"),
    (lambda m: m["tracks"][0].update(shard="/etc/passwd.npy"), "not a shard file name"),
    (lambda m: m["tracks"][0].update(shard=".hidden.npy"), "not a shard file name"),
    (lambda m: m["spectrogram"].update(n_mels="128"), "spectrogram.n_mels"),
    (lambda m: m["spectrogram"].update(power=float("nan")), "spectrogram.power"),
    (lambda m: m["spectrogram"].update(colour="blue"), "unknown settings"),
    (lambda m: m.update(spectrogram=[]), "'spectrogram' is not a JSON object"),
    (lambda m: m.update(skipped=[{"path": 1}]), "skipped[0]"),
])  # fmt: skip
def test_every_damage_is_one_line(manifest, edit, message):
    edit(manifest)
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        validate_manifest(manifest, file="ds/dataset.json")
    text = str(info.value)
    assert "\n" not in text and text.startswith("ds/dataset.json: damaged manifest")


def test_not_a_dataset_and_newer_versions_are_told_apart(manifest):
    with pytest.raises(ManifestError, match="a JSON list"):
        validate_manifest([manifest])
    other = copy.deepcopy(manifest)
    other["format"] = "something-else"
    with pytest.raises(SpotidanceError, match="not a spotidance frame dataset"):
        validate_manifest(other)
    manifest["version"] = 99
    with pytest.raises(SpotidanceError, match="newer than this spotidance reads"):
        validate_manifest(manifest)


def test_shards_are_checked_by_header_and_size(tmp_path):
    path = make(tmp_path / "ds")
    ds = FrameDataset.open(path)
    config = ds.config
    tracks = ds.manifest["tracks"]
    assert damaged_shards(path, tracks, config) == {}
    shard = path / SHARD_DIR / tracks[0]["shard"]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    assert "truncated" in damaged_shards(path, tracks, config)[shard.name]
    np.save(shard, np.zeros((6, 96, 128), np.float32))
    assert "not float32 (n, 128, 128)" in damaged_shards(path, tracks, config)[shard.name]
    np.save(shard, np.zeros((2, 128, 128), np.float32))
    assert "the manifest needs 6" in damaged_shards(path, tracks, config)[shard.name]
    shard.unlink()
    assert damaged_shards(path, tracks, config) == {shard.name: "missing shard"}
    with pytest.raises(SpotidanceError, match="rerun `spotidance prepare`"):
        FrameDataset.open(path)


def test_the_writer_forgets_tracks_of_damaged_shards_and_keeps_the_others(tmp_path):
    path = make(tmp_path / "ds")
    writer = DatasetWriter(path, SpectrogramConfig())
    rng = np.random.default_rng(1)
    writer.commit([({"track_id": "late", "label": "a", "artist": "", "path": "late.mp3", "source_key": "kl"},
                    rng.standard_normal((1, 128, 128)).astype(np.float32))])  # fmt: skip
    first = json.loads((path / MANIFEST).read_text())["tracks"][0]["shard"]
    (path / SHARD_DIR / first).unlink()
    writer = DatasetWriter(path, SpectrogramConfig())
    assert sorted(t["track_id"] for t in writer.repaired) == ["t0", "t1", "t2"]
    assert list(writer.known()) == ["late"]
    ds = FrameDataset.open(path)  # consistent at once, before anything is framed again
    assert len(ds) == 1


def test_a_hostile_shard_name_never_touches_a_file_outside(tmp_path):
    path = make(tmp_path / "shared" / "ds")
    victim = tmp_path / "shared" / "victim.txt"
    victim.write_text("mine")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["tracks"][0]["shard"] = "../../victim.txt"
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ManifestError):
        DatasetWriter(path, SpectrogramConfig())
    with pytest.raises(ManifestError):
        FrameDataset.open(path)
    assert victim.read_text() == "mine"


def test_a_folder_left_with_only_shard_leftovers_is_reused(tmp_path):
    path = tmp_path / "ds"
    (path / SHARD_DIR).mkdir(parents=True)
    (path / SHARD_DIR / ".0123abcd.npy.tmp").write_bytes(b"half")
    writer = DatasetWriter(path, SpectrogramConfig())  # a first run stopped by a full disk
    assert list((path / SHARD_DIR).iterdir()) == []
    assert writer.known() == {}
    (path / "notes.txt").write_text("someone else's")
    with pytest.raises(SpotidanceError, match="not a frame dataset"):
        DatasetWriter(tmp_path / "ds", SpectrogramConfig())
