"""``classify`` with the shipped tabular models on synthetic clips, novelty in every format, and fusion."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spotidance.classify.run import classify, format_report
from spotidance.core.errors import SpotidanceError
from spotidance.synth import render_clip
from spotidance.tabular.shipped import load_shipped, shipped_models
from tests.helpers.audio import write_audio
from tests.helpers.cli import run_process
from tests.helpers.fresh import run_fresh
from tests.helpers.tabular import tiny_tabular
from tests.helpers.tiny_bundle import LABELS, tiny_bundle

RATE = 22050
GENRES = ("techno", "edm", "dnb")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    """One 8 s synthetic clip per genre (wav: no encoder delay, fast to decode)."""
    root = tmp_path_factory.mktemp("synth-clips")
    out = []
    for i, genre in enumerate(GENRES):
        y, _ = render_clip(genre, seed=[11, i], duration=8.0, sample_rate=RATE)
        out.append(str(write_audio(root / f"{genre}.wav", y, sample_rate=RATE)))
    return out


@pytest.fixture(scope="module")
def cnn_dir(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def tabular_dir(tmp_path_factory) -> Path:
    return tiny_tabular(tmp_path_factory)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_process(["classify", *args])


def test_three_shipped_models_are_installed():
    assert {"beatport2016-3", "beatport2016-23", "beatport2016-techno-edm"} <= set(shipped_models())


@pytest.mark.parametrize("name", ["beatport2016-3", "beatport2016-23", "beatport2016-techno-edm"])
def test_each_shipped_model_classifies_synthetic_clips(name, clips):
    report = classify(name, clips, workers=1)
    labels = list(load_shipped(name).labels)
    assert report.labels == labels and report.backend == "numpy" and report.model == name
    assert [t.path for t in report.tracks] == clips and not report.skipped
    for t in report.tracks:
        assert list(t.probabilities) == labels
        assert sum(t.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
        assert all(0.0 <= p <= 1.0 for p in t.probabilities.values())
        assert t.label == max(t.probabilities, key=t.probabilities.get)
        ranked = t.top(len(labels))
        assert [p for _, p in ranked] == sorted(t.probabilities.values(), reverse=True)
        assert ranked[0][0] == t.label and len(t.top(2)) == 2
        assert t.frames == 0
        assert t.novelty is not None and np.isfinite(t.novelty) and t.novelty >= 0
        assert isinstance(t.unlike_training, bool)


def test_default_model_is_beatport2016_3(clips):
    assert classify(None, clips[:1], workers=1).model == "beatport2016-3"


def test_novelty_and_unlike_flag_in_table_csv_and_json(clips):
    report = classify("beatport2016-3", clips, workers=1)
    flags = [t.unlike_training for t in report.tracks]

    header, _, *rows = format_report(report, fmt="table").splitlines()[: 2 + len(clips)]
    assert header.split()[-2:] == ["novelty", "training-like"]
    for t, row in zip(report.tracks, rows):
        assert row.split()[-2:] == [f"{t.novelty:.2f}", "UNLIKE" if t.unlike_training else "ok"]
    table = format_report(report, fmt="table")
    assert ("UNLIKE: the file is unlike" in table) == any(flags)

    rows = list(csv.DictReader(io.StringIO(format_report(report, fmt="csv"))))
    assert list(rows[0])[-2:] == ["novelty", "unlike_training"]
    assert [float(r["novelty"]) for r in rows] == pytest.approx([t.novelty for t in report.tracks], abs=1e-4)
    assert [r["unlike_training"] for r in rows] == [str(f).lower() for f in flags]

    data = json.loads(format_report(report, fmt="json"))
    assert [t["novelty"] for t in data["tracks"]] == pytest.approx([t.novelty for t in report.tracks])
    assert [t["unlike_training"] for t in data["tracks"]] == flags
    assert [t["top"][0]["label"] for t in data["tracks"]] == [t.label for t in report.tracks]


def test_fusion_is_the_mean_of_each_models_probabilities(cnn_dir, tabular_dir, clips):
    cnn = classify(cnn_dir, clips, workers=1)
    tab = classify(tabular_dir, clips, workers=1)
    fused = classify([cnn_dir, tabular_dir], clips, workers=1)
    assert fused.backend == "litert + numpy" and fused.labels == LABELS
    assert [t.path for t in fused.tracks] == [t.path for t in cnn.tracks] == [t.path for t in tab.tracks] == clips
    for f, a, b in zip(fused.tracks, cnn.tracks, tab.tracks):
        mean = {label: (a.probabilities[label] + b.probabilities[label]) / 2 for label in LABELS}
        assert f.probabilities == pytest.approx(mean, abs=1e-6)
        assert f.label == max(mean, key=mean.get)
        assert f.frames == a.frames > 0 and f.novelty == pytest.approx(b.novelty)
        assert sum(f.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    # the fused answer differs from either model alone somewhere, so the mean is really taken
    assert any(f.probabilities != pytest.approx(a.probabilities, abs=1e-3) for f, a in zip(fused.tracks, cnn.tracks))


def test_models_with_different_labels_give_one_line_error(cnn_dir, clips):
    with pytest.raises(SpotidanceError, match="must share their labels") as info:
        classify([cnn_dir, "beatport2016-3"], clips[:1], workers=1)
    assert "\n" not in str(info.value)
    proc = run_cli(clips[0], "--model", str(cnn_dir), "--model", "beatport2016-3")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "must share their labels" in proc.stderr


def test_unknown_model_name_exits_2_with_one_line(clips):
    proc = run_cli(clips[0], "--model", "beatport2099-7")
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("spotidance: error: no model 'beatport2099-7': not a folder, and not a shipped model")
    assert "beatport2016-3" in line


def test_default_model_cold_start_imports_nothing_heavy(clips):
    """Issue 10's cold start: the shipped model's path (decoding, tempo, the Beatport columns, the
    model) imports none of the slow packages; scipy.fft (0.2 s of CPU), scipy.signal (0.7 s) and
    scipy.special are avoided by loading scipy's compiled kernels alone."""
    code = (
        "from spotidance.cli import main\n"
        f"main(['classify', {clips[0]!r}, {clips[2]!r}, '--workers', '1', '--format', 'csv'])\n"
    )
    slow = ("tensorflow", "keras", "librosa", "pandas", "matplotlib", "numba", "sklearn", "lightgbm",
            "scipy.fft", "scipy.signal", "scipy.special", "scipy.stats", "scipy.ndimage")
    lines, loaded = run_fresh(code, watch=slow)
    assert lines[0].startswith("path,label") and len(lines) == 3  # header, two tracks
    assert loaded == []


@pytest.mark.parametrize("workers", [1, 2])
def test_models_run_on_one_blas_thread_in_the_main_process(clips, workers, monkeypatch):
    """The cores are busy decoding; a second BLAS thread for the model's products only spins."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from spotidance.tabular.model import TabularModel

    seen: list[int] = []
    real = TabularModel.predict

    def spying(self, *args, **kwargs):
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TabularModel, "predict", spying)
    with threadpool_limits(2):  # as in a process on a machine with two or more cores
        report = classify("beatport2016-3", clips, workers=workers)
        after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert len(report.tracks) + len(report.skipped) == len(clips)
    assert seen and set(seen) == {1}
    assert after and set(after) == {2}  # restored afterwards
