"""Dask backend of map_ordered: a real scheduler and two worker processes on 127.0.0.1 (no mocks).

Same results as the local pool for a plain function and for `prepare` (frames, manifest tracks,
skip reasons, incremental rerun), a worker killed mid-task, bounded submission, and one-line
errors for a scheduler that does not answer and for a missing extra. Select with ``-m dask``.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from spotidance.audio import spectrogram
from spotidance.audio.config import SpectrogramConfig
from spotidance.cli import main
from spotidance.core import cluster
from spotidance.core.cluster import MISSING_EXTRA, use_scheduler
from spotidance.core.errors import SpotidanceError
from spotidance.core.workers import map_ordered
from spotidance.dataset import prepare as prep
from spotidance.dataset.frames import FrameDataset
from tests.helpers.audio import tone, write_audio
from tests.helpers.dask import (
    dask_cluster,
    kill_worker_once,
    mute_listener,
    requires_dask,
    silent_port,
    square,
    square_and_note,
)

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def scheduler():
    """One two-worker cluster for the module (start-up stays out of each test)."""
    with dask_cluster(n_workers=2) as address:
        yield address


# --------------------------------------------------------------------------------------------
# without Dask


def test_no_scheduler_means_the_local_pool():
    with use_scheduler(None) as client:
        assert client is None and cluster.current_client() is None
        assert list(map_ordered(square, range(5), workers=1)) == [square(i) for i in range(5)]


def test_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(SpotidanceError) as err:
        with use_scheduler("tcp://127.0.0.1:8786"):
            pass
    assert str(err.value) == MISSING_EXTRA and "spotidance[dask]" in MISSING_EXTRA and "\n" not in MISSING_EXTRA


def test_paths_in_results_are_swapped_back():
    result = ("skip", {"path": "/abs/a.mp3", "notes": ["/abs/a.mp3: truncated"]})
    assert cluster._swap_paths(result, "/abs/a.mp3", "a.mp3") == ("skip", {"path": "a.mp3", "notes": ["a.mp3: truncated"]})
    assert cluster._swap_paths(("ok", np.zeros(2)), "/x", "y")[0] == "ok"
    assert cluster.is_url("s3://bucket/a.mp3") and cluster.is_url("https://host/a.mp3")
    assert not cluster.is_url("/music/a.mp3") and not cluster.is_url("file:///music/a.mp3") and not cluster.is_url(3)


def test_a_url_is_read_through_a_local_copy(tmp_path, audio_dir):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/spotidance-test/clip10.mp3", (audio_dir / "clip10.mp3").read_bytes())
    config = SpectrogramConfig()
    try:
        with cluster.local_copy("memory://spotidance-test/clip10.mp3") as local:
            assert local.endswith(".mp3") and local != "memory://spotidance-test/clip10.mp3"
            got = spectrogram.frames_or_reason(local, config=config)
        with cluster.local_copy("memory://spotidance-test/missing.mp3") as missing:
            assert missing == "memory://spotidance-test/missing.mp3"  # the stage reports it unreadable
    finally:
        fs.rm("/spotidance-test", recursive=True)
    want = spectrogram.frames_or_reason(str(audio_dir / "clip10.mp3"), config=config)
    assert got[0] == want[0] == "ok"
    np.testing.assert_array_equal(got[1], want[1])


# --------------------------------------------------------------------------------------------
# on a real cluster


@requires_dask
def test_map_ordered_on_the_cluster_equals_local(scheduler):
    local = list(map_ordered(square, range(40), workers=2))
    with use_scheduler(scheduler) as client:
        assert len(client.nthreads()) == 2
        remote = list(map_ordered(square, range(40), workers=2))
    assert remote == local == [(i, i * i) for i in range(40)]


@requires_dask
def test_submission_is_bounded(scheduler):
    pulled = []

    def items():
        for i in range(100):
            pulled.append(i)
            yield i

    ahead = []
    with use_scheduler(scheduler):
        for n, _ in enumerate(map_ordered(square, items(), workers=2), start=1):
            ahead.append(len(pulled) - n)
    assert len(pulled) == 100
    assert max(ahead) <= cluster.IN_FLIGHT_PER_THREAD * cluster.ITEMS_PER_TASK * 2  # two single-threaded workers
    assert max(ahead) >= 2  # and it does run ahead


@requires_dask
def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(scheduler, tmp_path):
    items = [(i, 7, str(tmp_path)) for i in range(30)]
    with use_scheduler(scheduler) as client:
        results = list(map_ordered(kill_worker_once, items, workers=2))
        client.wait_for_workers(2, timeout=120)  # the nanny restarts the dead one: the cluster is whole again for later tests
    assert (tmp_path / "killed").exists()  # a worker really died, mid-task
    assert results == [(i, i * i) for i in range(30)]  # in order, none lost, none twice
    for i in range(30):  # every item ran to the end at least once (results a dead worker held are redone)
        assert list(tmp_path.glob(f"ran-{i}.*")), i


@requires_dask
def test_each_item_runs_once_when_nothing_fails(scheduler, tmp_path):
    with use_scheduler(scheduler):
        assert list(map_ordered(square_and_note, [(i, str(tmp_path)) for i in range(12)], workers=2)) == [square(i) for i in range(12)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"ran-{i}.0" for i in range(12))


@pytest.fixture()
def music(tmp_path, audio_dir):
    root = tmp_path / "music"
    (root / "techno").mkdir(parents=True)
    (root / "edm").mkdir(parents=True)
    shutil.copy(audio_dir / "clip30.mp3", root / "techno" / "a.mp3")
    write_audio(root / "techno" / "b.wav", tone(10, seed=5, sample_rate=22050), sample_rate=22050)
    shutil.copy(audio_dir / "clip10.mp3", root / "edm" / "c.mp3")
    for bad in ("truncated.mp3", "zero.mp3", "clip2.mp3"):
        shutil.copy(audio_dir / bad, root / "edm" / bad)
    return root


def _tracks(ds: FrameDataset) -> list[dict]:
    return [{k: v for k, v in t.items() if k != "shard"} for t in ds.manifest["tracks"]]


@requires_dask
def test_prepare_on_the_cluster_equals_local(scheduler, music, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative inputs: the workers' working directory is not ours
    local = prep.prepare(["music"], out="local", workers=2)
    with use_scheduler(scheduler):
        remote = prep.prepare(["music"], out="remote", workers=2)
    a, b = FrameDataset.open(tmp_path / "local"), FrameDataset.open(tmp_path / "remote")
    assert len(a) == len(b) == 10 + 3 + 3
    assert _tracks(a) == _tracks(b)
    assert list(a.frame_track_ids) == list(b.frame_track_ids)
    assert a.read(range(len(a))).tobytes() == b.read(range(len(b))).tobytes()  # bit for bit
    assert remote.skipped == local.skipped and len(remote.skipped) == 3  # same files, same reasons, same paths
    assert {s["path"] for s in b.skipped} == {s["path"] for s in a.skipped}

    # an incremental rerun on the cluster does no work, and adding a file frames only that one
    with use_scheduler(scheduler):
        again = prep.prepare(["music"], out="remote", workers=2)
        shutil.copy(music / "edm" / "c.mp3", music / "edm" / "d.mp3")
        more = prep.prepare(["music"], out="remote", workers=2)
    assert (again.added, again.unchanged, again.previously_skipped) == (0, 3, 3)
    assert (more.added, more.unchanged) == (1, 3)


@requires_dask
def test_prepare_command_takes_scheduler(scheduler, music, tmp_path, capsys):
    main(["prepare", str(music), "--out", str(tmp_path / "ds"), "--scheduler", scheduler, "--quiet"])
    out, err = capsys.readouterr()
    assert "3 tracks added" in out and err.startswith("dask: ") and f" at {scheduler}" in err


# --------------------------------------------------------------------------------------------
# a scheduler that does not answer


@requires_dask
@pytest.mark.parametrize("kind", ["nothing listening", "listening, never answering"])
def test_a_silent_scheduler_is_one_line_and_exit_3(kind, music, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    with mute_listener() as mute:
        address = f"tcp://127.0.0.1:{silent_port()}" if kind == "nothing listening" else mute
        with pytest.raises(SystemExit) as done:
            main(["prepare", str(music), "--out", str(tmp_path / "ds"), "--scheduler", address, "--quiet"])
    assert done.value.code == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"spotidance: error: dask scheduler {address} did not answer within 1 s") and "\n" not in err
    assert not (tmp_path / "ds").exists()


@requires_dask
def test_the_environment_variable_names_the_scheduler(music, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{silent_port()}"
    monkeypatch.setenv(cluster.ENV_VAR, address)
    with pytest.raises(SystemExit) as done:
        main(["prepare", str(music), "--out", str(tmp_path / "ds"), "--quiet"])
    assert done.value.code == 3 and address in capsys.readouterr().err


@requires_dask
def test_losing_the_scheduler_mid_run_is_one_line_and_exit_3(monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    got = []
    lc = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0")
    try:
        with pytest.raises(SpotidanceError) as err:
            with use_scheduler(lc.scheduler_address):
                for result in map_ordered(square, range(50), workers=2):
                    got.append(result)
                    if len(got) == 3:
                        lc.close()  # the scheduler and its workers go away; this client stays
    finally:
        lc.close()
    assert 3 <= len(got) < 50 and got == [square(i) for i in range(len(got))]  # what arrived is whole and in order
    assert err.value.exit_code == 3 and str(err.value).startswith("lost the dask scheduler (")


@requires_dask
def test_a_malformed_address_is_one_line_and_exit_2(music, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["prepare", str(music), "--out", str(tmp_path / "ds"), "--scheduler", "scheduler-without-port"])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and err.startswith("spotidance: error: --scheduler scheduler-without-port: not a scheduler address")
    assert "\n" not in err
