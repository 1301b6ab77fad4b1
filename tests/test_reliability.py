"""Reliability through the real entry point: no input or fault destroys data, crashes with a traceback, or hangs.

Each case runs ``spotidance ...`` (in-process through :func:`spotidance.cli.main`, or as a
subprocess where the process itself matters: stdout, signals, hangs) and asserts the outcome: the
exit code, one error line without a traceback, inputs byte-identical, earlier outputs intact, a
rerun that recovers. Full-disk and read-only cases run on a small tmpfs where this machine lets
the test mount one (root, ``mount`` available); elsewhere they skip and say why. See
docs/reliability.md for the guarantees these cases check.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from spotidance.audio.config import SpectrogramConfig
from spotidance.dataset.frames import MANIFEST, SHARD_DIR, DatasetWriter, FrameDataset
from tests.helpers.audio import tone, write_audio
from tests.helpers.tiny_bundle import LABELS, tiny_bundle
from tests.helpers.cli import run_main as run

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ helpers




def run_process(args: list[str], *, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m spotidance ARGS`` as a separate process (its own stdout, signals)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "spotidance", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout, check=False)  # fmt: skip


def one_error_line(err: str) -> str:
    """The single ``spotidance: error`` line of ``err``; fails on a traceback or several lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("spotidance: error")]
    assert len(lines) == 1, err
    return lines[0]


def usage_error(err: str) -> str:
    """A usage error: the whole of stderr is one ``spotidance: error:`` line naming the option, no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spotidance: error: "), err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def make_dataset(path: Path, *, labels=LABELS, per_label: int = 2, frames: int = 2, seed: int = 0) -> Path:
    """A small frame dataset of random dB frames (no audio needed)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(path, SpectrogramConfig())
    added = [({"track_id": f"{label}-{i}", "label": label, "artist": f"a{i}", "path": f"{label}/{i}.mp3",
               "source_key": f"{label}|{i}"}, rng.uniform(-80, 0, (frames, 128, 128)).astype(np.float32))
             for label in labels for i in range(per_label)]  # fmt: skip
    writer.commit(added)
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory)


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "frames")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A label folder for prepare: two labels, two 3.5 s clips each (one frame per clip)."""
    root = tmp_path_factory.mktemp("clips")
    for label, seed in (("techno", 0), ("edm", 10)):
        (root / label).mkdir()
        for i in range(2):
            write_audio(root / label / f"{label}-{i}.wav", tone(3.5, seed=seed + i, freq=300 + 100 * i), sample_rate=22050)
    return root


class Tmpfs:
    """Mounts small tmpfs file systems for full-disk and read-only cases, and unmounts them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.mounted: list[Path] = []

    def mount(self, name: str, *, size: str = "3m", readonly: bool = False) -> Path:
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("full-disk / read-only cases need root and `mount` to mount a small tmpfs")
        point = self.base / name
        point.mkdir(parents=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): full-disk cases skipped")
        self.mounted.append(point)
        if readonly:
            self.remount(point, "ro")
        return point

    def remount(self, point: Path, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(point)], check=True)

    def fill(self, point: Path) -> None:
        """Take every free byte of the file system at ``point``."""
        for name, block in (("filler", 65536), ("filler2", 512)):
            try:
                with open(point / name, "wb", buffering=0) as fh:
                    while True:
                        fh.write(b"\0" * block)
            except OSError:
                pass

    def cleanup(self) -> None:
        for point in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@pytest.fixture
def tmpfs(tmp_path):
    mounts = Tmpfs(tmp_path / "mnt")
    yield mounts
    mounts.cleanup()


# ------------------------------------------------------------------------- one output rule (evaluate --json)


@pytest.mark.parametrize("target", ["dataset.json", "shard", "tracks.csv", "bundle.json", "model.tflite"])
def test_an_output_that_is_an_input_is_refused_and_the_inputs_stay_byte_identical(bundle, dataset, tmp_path, capsys, target):
    model = tmp_path / "model"
    shutil.copytree(bundle, model)
    DatasetWriter(dataset, SpectrogramConfig()).write_track_table()
    shard = next((dataset / SHARD_DIR).iterdir())
    path = {"dataset.json": dataset / MANIFEST, "shard": shard, "tracks.csv": dataset / "tracks.csv",
            "bundle.json": model / "bundle.json", "model.tflite": model / "model.tflite"}[target]  # fmt: skip
    before = snapshot(dataset), snapshot(model)
    code, out, err = run(["evaluate", model, dataset, "--json", path, "--quiet"], capsys)
    assert code == 2
    assert "is one of this run's inputs" in one_error_line(err)
    assert (snapshot(dataset), snapshot(model)) == before
    assert out == ""  # refused before any scoring


def test_a_new_file_inside_the_dataset_folder_is_allowed_and_replaced_on_rerun(bundle, dataset, capsys):
    for _ in range(2):
        code, _, err = run(["evaluate", bundle, dataset, "--json", dataset / "scores.json", "--quiet"], capsys)
        assert code == 0, err
        assert json.loads((dataset / "scores.json").read_text())["track"]["accuracy"] >= 0
    assert FrameDataset.open(dataset).labels == LABELS


def test_json_dash_is_stdout_and_the_tables_go_to_stderr(bundle, dataset, tmp_path):
    done = run_process(["evaluate", bundle, dataset, "--json", "-", "--quiet"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"] == LABELS
    assert "accuracy" in done.stderr
    assert not (tmp_path / "-").exists()


def test_dev_stdout_is_written_through_never_replaced(bundle, dataset, tmp_path):
    was_link = os.path.islink("/dev/stdout")
    done = run_process(["evaluate", bundle, dataset, "--json", "/dev/stdout", "--quiet"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["labels"] == LABELS
    assert os.path.islink("/dev/stdout") == was_link  # as root, the old code replaced the link with a file


def test_a_symlink_output_writes_its_target_and_stays_a_link(bundle, dataset, tmp_path, capsys):
    target = tmp_path / "real" / "scores.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "scores.json"
    link.symlink_to(target)
    code, _, err = run(["evaluate", bundle, dataset, "--json", link, "--quiet"], capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["labels"] == LABELS


def test_a_fifo_output_is_written_through(bundle, dataset, tmp_path, capsys):
    fifo = tmp_path / "scores.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    try:
        code, _, err = run(["evaluate", bundle, dataset, "--json", fifo, "--quiet"], capsys)
    finally:
        if reader.is_alive():  # the command failed before opening the FIFO: release the reader
            with open(fifo, "wb"):
                pass
        reader.join()
    assert code == 0, err
    assert json.loads(received[0])["labels"] == LABELS
    assert fifo.is_fifo()


def test_a_write_error_is_one_line_naming_the_path(bundle, dataset, capsys):
    code, _, err = run(["evaluate", bundle, dataset, "--json", "/dev/full", "--quiet"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "/dev/full" in line and "no space left on device" in line


def test_a_full_disk_keeps_the_earlier_output_and_leaves_no_temporary(bundle, dataset, tmpfs, capsys):
    disk = tmpfs.mount("full", size="1m")
    out = disk / "scores.json"
    out.write_text("earlier scores\n")
    tmpfs.fill(disk)
    code, _, err = run(["evaluate", bundle, dataset, "--json", out, "--quiet"], capsys)
    assert code == 2
    assert "no space left on device" in one_error_line(err)
    assert out.read_text() == "earlier scores\n"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "filler2", "scores.json"]


def test_a_read_only_output_folder_is_refused_before_any_work(bundle, dataset, tmpfs, capsys):
    disk = tmpfs.mount("ro", readonly=True)
    code, out, err = run(["evaluate", bundle, dataset, "--json", disk / "scores.json", "--quiet"], capsys)
    assert code == 2 and out == ""
    assert "cannot write" in one_error_line(err)


def test_train_checks_that_out_is_writable_before_the_first_epoch(dataset, tmpfs, capsys):
    disk = tmpfs.mount("ro-train", readonly=True)
    code, out, err = run(["train", dataset, "--model", "binary-1d", "--out", disk / "model", "--epochs", "1", "--quiet"], capsys)
    assert code == 2
    assert "read-only file system" in one_error_line(err)
    assert out == ""  # refused up front: no split, no epoch, no scores


# ------------------------------------------------------------------------------ manifests are untrusted


def _edit(manifest: dict, case: str) -> object:
    tracks = manifest["tracks"]
    if case == "no tracks key":
        del manifest["tracks"]
    elif case == "label not in labels":
        tracks[0]["label"] = "polka"
    elif case == "version is text":
        manifest["version"] = "one"
    elif case == "a JSON list":
        return [manifest]
    elif case == "n_frames past the shard":
        tracks[-1]["n_frames"] = 500
    elif case == "n_mels changed":
        manifest["spectrogram"]["n_mels"] = 96
    elif case == "shard outside the dataset":
        tracks[0]["shard"] = "../../victim.txt"
    elif case == "negative offset":
        tracks[0]["offset"] = -3
    elif case == "huge n_frames":
        tracks[0]["n_frames"] = 2**62
    elif case == "duplicate track id":
        tracks[1]["track_id"] = tracks[0]["track_id"]
    elif case == "hop_length is text":
        manifest["spectrogram"]["hop_length"] = "512"
    return manifest


MANIFEST_CASES = ["no tracks key", "label not in labels", "version is text", "a JSON list", "n_frames past the shard",
                  "n_mels changed", "shard outside the dataset", "negative offset", "huge n_frames",
                  "duplicate track id", "hop_length is text"]  # fmt: skip


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_dataset_manifest_is_one_line_in_evaluate_and_prepare(bundle, tmp_path, clips, capsys, case):
    dataset = make_dataset(tmp_path / "shared" / "frames", labels=["techno", "edm", "house"])
    victim = tmp_path / "shared" / "victim.txt"  # where frames/shards/../../victim.txt points
    victim.write_text("not yours\n")
    manifest = json.loads((dataset / MANIFEST).read_text())
    (dataset / MANIFEST).write_text(json.dumps(_edit(manifest, case)))
    before = snapshot(dataset)
    code, _, err = run(["evaluate", bundle, dataset, "--quiet"], capsys)
    assert code == 2
    one_error_line(err)
    code, _, err = run(["prepare", clips, "--out", dataset, "--workers", "1", "--quiet"], capsys)
    if case == "n_frames past the shard":  # a manifest that overruns its shard: prepare repairs the dataset
        assert code == 0, err
        assert len(FrameDataset.open(dataset)) > 0
    else:
        assert code == 2
        one_error_line(err)
        assert snapshot(dataset) == before
    assert victim.read_text() == "not yours\n"  # nothing outside the dataset is touched


@pytest.mark.parametrize("case", ["file outside the bundle", "labels not a list", "n_mels is text", "a JSON list",
                                  "split not lists"])
def test_a_damaged_bundle_manifest_is_one_line(bundle, dataset, tmp_path, capsys, case):
    model = tmp_path / "model"
    shutil.copytree(bundle, model)
    manifest = json.loads((model / "bundle.json").read_text())
    if case == "file outside the bundle":
        manifest["files"]["../../victim.txt"] = {"sha256": "0" * 64, "bytes": 1}
    elif case == "labels not a list":
        manifest["labels"] = "ab"
    elif case == "n_mels is text":
        manifest["spectrogram"]["n_mels"] = "many"
    elif case == "a JSON list":
        manifest = [manifest]
    elif case == "split not lists":
        (model / "split.json").write_text(json.dumps({"train": 5}))
    (model / "bundle.json").write_text(json.dumps(manifest))
    code, _, err = run(["evaluate", model, dataset, "--quiet"], capsys)
    assert code == 2
    assert str(model) in one_error_line(err)


@pytest.mark.parametrize("damage", ["deleted", "truncated", "replaced by text"])
def test_prepare_repairs_missing_or_damaged_shards_on_rerun(clips, tmp_path, capsys, damage):
    out = tmp_path / "frames"
    code, _, err = run(["prepare", clips, "--out", out, "--workers", "1", "--quiet"], capsys)
    assert code == 0, err
    reference = FrameDataset.open(out)
    expected = {t: reference.track_frames(t) for t in dict.fromkeys(reference.frame_track_ids)}
    shard = next((out / SHARD_DIR).iterdir())
    if damage == "deleted":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:5000])
    else:
        shard.write_text("hello")
    code, _, err = run(["train", out, "--model", "binary-1d", "--out", tmp_path / "model", "--quiet"], capsys)
    assert code == 2 and "rerun `spotidance prepare`" in one_error_line(err)
    code, out_text, err = run(["prepare", clips, "--out", out, "--workers", "1", "--quiet"], capsys)
    assert code == 0, err
    assert "repaired: 4 tracks" in out_text
    ds = FrameDataset.open(out)
    assert len(ds) == len(reference) and sorted(ds.frame_track_ids) == sorted(reference.frame_track_ids)
    for track_id, frames in expected.items():  # framed again, bit for bit
        np.testing.assert_array_equal(ds.track_frames(track_id), frames)


def test_prepare_inputs_a_user_can_get_wrong_are_named(tmp_path, clips, capsys):
    bom = tmp_path / "bom.csv"
    rel = os.path.relpath(clips / "techno" / "techno-0.wav", tmp_path)
    bom.write_bytes(f"\ufefftrack_id,label,preview_path\nt1,techno,{rel}\n".encode())
    code, _, err = run(["prepare", bom, "--out", tmp_path / "f1", "--workers", "1", "--quiet"], capsys)
    assert code == 0, err  # a UTF-8 BOM (Excel) is not part of the first column's name
    header_only = tmp_path / "empty.csv"
    header_only.write_text("track_id,label,preview_path\n")
    code, _, err = run(["prepare", header_only, "--out", tmp_path / "f2", "--quiet"], capsys)
    assert code == 2 and "empty.csv" in one_error_line(err)
    bad = tmp_path / "bad" / "techno"
    bad.mkdir(parents=True)
    (bad / "a.mp3").write_text("not audio")
    (bad / "b.mp3").write_bytes(b"")
    code, _, err = run(["prepare", bad.parent, "--out", tmp_path / "f3", "--workers", "1", "--quiet"], capsys)
    line = one_error_line(err)
    assert code == 2 and "empty file" in line and "not a readable audio file" in line  # the reasons, not "see above"


# ------------------------------------------------------------------------------ numbers and special files


@pytest.mark.parametrize("args", [
    ["synth", "{tmp}/clips", "--seed", "-1"],
    ["synth", "{tmp}/clips", "--seed", str(2**70)],
    ["demo", "--out", "{tmp}/demo", "--seed", "-5"],
    ["demo", "--out", "{tmp}/demo", "--seed", str(2**32)],
    ["collect", "deezer:playlist:1", "--out", "{tmp}/data", "--max-wait", "nan"],
    ["collect", "deezer:playlist:1", "--out", "{tmp}/data", "--max-wait", "inf"],
])  # fmt: skip
def test_numeric_options_out_of_range_are_one_line_and_write_nothing(tmp_path, capsys, args):
    code, _, err = run([a.format(tmp=tmp_path) for a in args], capsys)
    assert code == 2
    usage_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_synth_records_no_bad_seed_and_a_valid_rerun_works(tmp_path, capsys):
    from spotidance.core.errors import SpotidanceError
    from spotidance.synth.render import render_collection

    with pytest.raises(SpotidanceError, match="seed"):
        render_collection(tmp_path / "clips", seed=-1, per_genre=1, duration=1.0, workers=1)
    assert not (tmp_path / "clips" / "synth.json").exists()
    code, _, err = run(["synth", tmp_path / "clips", "--per-genre", "1", "--duration", "1", "--seed", "3",
                        "--workers", "1", "--quiet"], capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "clips" / "synth.json").read_text())["seed"] == 3


def test_prepare_refuses_a_fifo_instead_of_hanging(tmp_path):
    fifo = tmp_path / "playlist.csv"
    os.mkfifo(fifo)
    done = run_process(["prepare", fifo, "--out", tmp_path / "frames", "--quiet"], timeout=60)
    assert done.returncode == 2
    assert "not a regular file" in one_error_line(done.stderr)


def test_a_fifo_named_as_a_preview_is_skipped_with_a_reason(tmp_path, clips, capsys):
    os.mkfifo(tmp_path / "pipe.mp3")
    rel = os.path.relpath(clips / "edm" / "edm-0.wav", tmp_path)
    (tmp_path / "x.csv").write_text(f"track_id,label,preview_path\nt1,edm,pipe.mp3\nt2,edm,{rel}\n")
    code, out, err = run(["prepare", tmp_path / "x.csv", "--out", tmp_path / "frames", "--workers", "1", "--quiet"], capsys)
    assert code == 0, err
    assert "not a regular file" in out


def test_ctrl_c_early_in_a_large_synth_run_stops_within_seconds(tmp_path):
    out = tmp_path / "clips"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "spotidance", "synth", str(out), "--per-genre", "100000",
                             "--duration", "4", "--workers", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(out.glob("*/*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waits for the child to render a first clip (not for a thread of ours)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert stopped_in < 5.0, f"stopped {stopped_in:.1f} s after Ctrl-C"  # 2 s on an idle machine


# ------------------------------------------------------------------------------ full disk during work


def test_prepare_on_a_full_disk_is_one_line_leaves_no_partial_shard_and_a_rerun_recovers(tmp_path, tmpfs, capsys):
    src = tmp_path / "src" / "techno"
    src.mkdir(parents=True)
    for i in range(6):  # 6 x 10 frames x 64 KiB = 3.8 MiB > 3 MiB
        write_audio(src / f"t{i}.wav", tone(30, seed=i, sample_rate=22050), sample_rate=22050)
    disk = tmpfs.mount("prepare", size="3m")
    out = disk / "frames"
    code, _, err = run(["prepare", src.parent, "--out", out, "--workers", "1", "--quiet"], capsys)
    assert code == 2
    assert "no space left on device" in one_error_line(err)
    assert [p.name for p in (out / SHARD_DIR).iterdir()] == []  # no half shard keeps the disk full
    tmpfs.remount(disk, "size=8m")
    code, _, err = run(["prepare", src.parent, "--out", out, "--workers", "1", "--quiet"], capsys)
    assert code == 0, err
    assert len(FrameDataset.open(out)) == 60


def test_synth_on_a_full_disk_is_one_line(tmp_path, tmpfs, capsys):
    disk = tmpfs.mount("synth", size="1m")
    code, _, err = run(["synth", disk / "clips", "--per-genre", "3", "--duration", "30", "--workers", "1", "--quiet"], capsys)
    assert code == 2
    line = one_error_line(err)
    assert "no space left on device" in line
    assert not list((disk / "clips").rglob(".*.tmp"))


# ------------------------------------------------------------------------------ the rule as a library call


def test_write_output_refuses_inputs_by_identity_not_by_name(tmp_path):
    from spotidance.core.atomic import check_output, write_output
    from spotidance.core.errors import SpotidanceError

    song = tmp_path / "music" / "song.mp3"
    song.parent.mkdir()
    song.write_bytes(b"ID3 audio")
    os.link(song, tmp_path / "hardlink.mp3")
    (tmp_path / "alias.mp3").symlink_to(song)
    for target in (song, tmp_path / "hardlink.mp3", tmp_path / "alias.mp3", tmp_path / "music" / "." / "song.mp3"):
        with pytest.raises(SpotidanceError, match="is one of this run's inputs"):
            write_output(target, "label\n", inputs=[song], what="--output")
    with pytest.raises(SpotidanceError, match="inside an input folder"):
        write_output(song, "label\n", inputs=[song.parent], what="--output")
    assert song.read_bytes() == b"ID3 audio"
    assert check_output(tmp_path / "music" / "labels.csv", inputs=[song.parent]) == "file"  # a new file is fine
    dangling = tmp_path / "out.csv"
    dangling.symlink_to(tmp_path / "elsewhere.csv")
    assert write_output(dangling, b"a,b\n") == "file"
    assert dangling.is_symlink() and (tmp_path / "elsewhere.csv").read_bytes() == b"a,b\n"
    with pytest.raises(SpotidanceError, match="is a folder"):
        write_output(tmp_path, "x")
    with pytest.raises(SpotidanceError, match="does not exist"):
        write_output(tmp_path / "no" / "x.csv", "x")
