"""analyze and classify on a real two-worker Dask cluster give the local run's results exactly.

(prepare's equivalence, killed workers and unreachable schedulers: tests/core/test_cluster.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.analyze.run import analyze
from spotidance.classify.run import classify
from spotidance.core.cluster import use_scheduler
from spotidance.synth.render import render_clip
from tests.helpers.audio import write_audio
from tests.helpers.dask import dask_cluster, requires_dask

pytestmark = [pytest.mark.dask, requires_dask]


@pytest.fixture(scope="module")
def scheduler():
    with dask_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    for i, genre in enumerate(("techno", "edm", "dnb", "techno")):
        y, _ = render_clip(genre, seed=[50, i], duration=8.0, sample_rate=22050)
        write_audio(root / f"{i}-{genre}.wav", y, sample_rate=22050)
    (root / "broken.mp3").write_bytes(b"not audio" * 100)
    return root


def test_analyze_on_the_cluster_equals_the_local_run(scheduler, music, tmp_path):
    local = analyze([music], out=tmp_path / "local.csv", feature_set="all", workers=2)
    with use_scheduler(scheduler):
        remote = analyze([music], out=tmp_path / "remote.csv", feature_set="all", workers=2)
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "remote.csv").read_bytes()
    assert [(s.path, s.reason) for s in remote.skipped] == [(s.path, s.reason) for s in local.skipped]
    assert remote.analysed == local.analysed == 4


def test_classify_on_the_cluster_equals_the_local_run(scheduler, music):
    local = classify(None, [str(music)], workers=2)
    with use_scheduler(scheduler):
        remote = classify(None, [str(music)], workers=2)
    assert [t.path for t in remote.tracks] == [t.path for t in local.tracks]
    for a, b in zip(remote.tracks, local.tracks):
        assert a.label == b.label and a.novelty == b.novelty
        np.testing.assert_array_equal(list(a.probabilities.values()), list(b.probabilities.values()))
    assert [(s.path, s.reason) for s in remote.skipped] == [(s.path, s.reason) for s in local.skipped]
