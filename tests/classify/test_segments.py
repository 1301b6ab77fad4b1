"""``classify`` over time: windows, smoothing, segments, their outputs and the timeline figure."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spotidance.audio.config import SpectrogramConfig
from spotidance.classify.run import (
    SEGMENT_SECONDS,
    Segment,
    classify,
    clock_time,
    format_report,
    merge_segments,
    smooth,
    window_bounds,
)
from spotidance.classify.timeline import plot_timeline
from spotidance.core.errors import SpotidanceError
from spotidance.synth import render_clip
from tests.helpers.tabular import tiny_tabular
from tests.helpers.audio import tone, write_audio
from tests.helpers.tiny_bundle import LABELS, tiny_bundle
from tests.helpers.cli import run_process

RATE = 22050
#: The test mix: genre sections of SECTION seconds, classified in windows of WINDOW seconds.
SECTIONS = ("techno", "dnb", "techno")
SECTION = 24.0
WINDOW = 8.0


@pytest.fixture(scope="module")
def mix(tmp_path_factory) -> str:
    """Synthetic techno, then drum and bass, then techno again, in one wav."""
    parts = [render_clip(g, seed=[21, i], duration=SECTION, sample_rate=RATE)[0] for i, g in enumerate(SECTIONS)]
    return str(write_audio(tmp_path_factory.mktemp("mix") / "mix.wav", np.concatenate(parts), sample_rate=RATE))


@pytest.fixture(scope="module")
def tempo_model(tmp_path_factory) -> Path:
    """A tabular model that tells drum and bass (~174 BPM) from techno (~128 BPM)."""
    return tiny_tabular(tmp_path_factory, labels=("dnb", "techno"), tempos=(174.0, 128.0))


@pytest.fixture(scope="module")
def report(tempo_model, mix):
    return classify(tempo_model, [mix], workers=1, segment_seconds=WINDOW)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return run_process(["classify", *args])


@pytest.mark.parametrize("duration, seconds, expected", [
    (90.0, 30.0, [(0, 30), (30, 60), (60, 90)]),
    (100.0, 30.0, [(0, 30), (30, 60), (60, 100)]),  # a 10 s rest lengthens the last window
    (80.0, 30.0, [(0, 30), (30, 60), (60, 80)]),  # a 20 s rest is a window of its own
    (12.0, 30.0, [(0, 12)]),
    (45.0, 30.0, [(0, 30), (30, 45)]),
])
def test_window_bounds(duration, seconds, expected):
    assert window_bounds(duration, seconds) == [(float(a), float(b)) for a, b in expected]


def test_smooth_is_a_centred_moving_average_over_three_windows():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(smooth(p), [[0.5, 0.5], [2 / 3, 1 / 3], [2 / 3, 1 / 3], [1.0, 0.0]])
    np.testing.assert_allclose(smooth(p, width=1), p)
    np.testing.assert_allclose(smooth(p[:1]), p[:1])


def test_merge_segments_joins_runs_of_one_label():
    windows = [(0, 10), (10, 20), (20, 30), (30, 40)]
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6]])
    segs = merge_segments(windows, p, labels=["a", "b"])
    assert segs == [
        Segment(0.0, 20.0, "a", pytest.approx(0.8), {"a": pytest.approx(0.8), "b": pytest.approx(0.2)}),
        Segment(20.0, 40.0, "b", pytest.approx(0.7), {"a": pytest.approx(0.3), "b": pytest.approx(0.7)}),
    ]
    assert merge_segments([], np.zeros((0, 2)), labels=["a", "b"]) == []


def test_clock_time():
    assert [clock_time(s) for s in (0, 29.6, 90, 3599.4, 3723)] == ["0:00", "0:30", "1:30", "59:59", "1:02:03"]


def test_segments_follow_the_genre_changes(report, mix):
    (track,) = report.tracks
    assert report.segment_seconds == WINDOW and not report.skipped
    assert [s.label for s in track.segments] == list(SECTIONS)
    changes = np.cumsum([SECTION] * (len(SECTIONS) - 1))
    for seg, true in zip(track.segments[1:], changes):
        assert abs(seg.start - true) <= WINDOW, (seg, true)
    # segments tile the file, in order, from the windows
    assert track.segments[0].start == 0.0 and track.segments[-1].end == pytest.approx(SECTION * len(SECTIONS), abs=0.1)
    assert all(a.end == b.start for a, b in zip(track.segments, track.segments[1:]))
    assert len(track.windows) == round(SECTION * len(SECTIONS) / WINDOW)
    for seg in track.segments:
        inside = [w for w in track.windows if seg.start <= w.start < seg.end]
        assert {w.label for w in inside} == {seg.label}
        assert seg.probability == pytest.approx(np.mean([w.probabilities[seg.label] for w in inside]))
        assert sum(seg.probabilities.values()) == pytest.approx(1.0)
    assert sum(track.probabilities.values()) == pytest.approx(1.0)
    assert track.label == "techno" and track.novelty is not None and isinstance(track.unlike_training, bool)


def test_segment_outputs(report, mix):
    (track,) = report.tracks
    header, _, *rows = format_report(report, fmt="table").splitlines()[: 2 + len(track.segments)]
    assert header.split() == ["file", "start", "end", "label", "probability"]
    assert [r.split()[1:4] for r in rows] == [[clock_time(s.start), clock_time(s.end), s.label] for s in track.segments]

    rows = list(csv.DictReader(io.StringIO(format_report(report, fmt="csv"))))
    assert list(rows[0]) == ["path", "start_s", "end_s", "label", "p_dnb", "p_techno"]
    assert [(r["path"], float(r["start_s"]), r["label"]) for r in rows] == [(mix, s.start, s.label) for s in track.segments]
    assert [float(r["p_dnb"]) + float(r["p_techno"]) for r in rows] == pytest.approx([1.0] * len(rows), abs=1e-5)

    data = json.loads(format_report(report, fmt="json"))
    assert data["segment_seconds"] == WINDOW
    (item,) = data["tracks"]
    assert [s["label"] for s in item["segments"]] == list(SECTIONS)
    assert [s["start"] for s in item["segments"]] == [s.start for s in track.segments]
    assert len(item["windows"]) == len(track.windows)


def test_without_segments_outputs_have_no_segment_fields(tempo_model, mix):
    plain = classify(tempo_model, [mix], workers=1)
    assert plain.segment_seconds is None and plain.tracks[0].segments is None
    data = json.loads(format_report(plain, fmt="json"))
    assert "segments" not in data["tracks"][0] and "segment_seconds" not in data
    assert format_report(plain, fmt="table").split()[:2] == ["file", "label"]


def test_timeline_png(report, tmp_path):
    out = plot_timeline(report, file=tmp_path / "timeline.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.png"]  # no temporary file left
    with pytest.raises(SpotidanceError, match="does not exist"):
        plot_timeline(report, file=tmp_path / "missing" / "t.png")


def test_cnn_windows_average_their_frames(tmp_path_factory, tmp_path):
    """Windows of exactly three frames: the track's probabilities equal the whole file's frame mean."""
    bundle = tiny_bundle(tmp_path_factory)
    fs = SpectrogramConfig().frame_seconds
    path = str(write_audio(tmp_path / "nine.wav", tone(9 * fs + 0.3, sample_rate=RATE), sample_rate=RATE))
    whole = classify(bundle, [path], workers=1).tracks[0]
    over_time = classify(bundle, [path], workers=1, segment_seconds=3 * fs)
    (t,) = over_time.tracks
    assert len(t.windows) == 3 and t.frames == whole.frames == 9
    assert t.probabilities == pytest.approx(whole.probabilities, abs=1e-5)
    assert list(t.probabilities) == LABELS and t.novelty is None
    with pytest.raises(SpotidanceError, match="too short"):
        classify(bundle, [path], workers=1, segment_seconds=2.0)


def test_cli_segments_csv_and_plot(tempo_model, mix, tmp_path):
    png = tmp_path / "mix.png"
    proc = run_cli(mix, "--model", str(tempo_model), "--segments", str(WINDOW), "--format", "csv", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["label"] for r in rows] == list(SECTIONS)
    assert png.read_bytes()[:4] == b"\x89PNG" and proc.stderr == f"timeline in {png}\n"


def test_cli_segments_default_window_and_file_name_hint(tempo_model, mix):
    proc = run_cli(mix, "--model", str(tempo_model), "--segments", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["segment_seconds"] == SEGMENT_SECONDS
    proc = run_cli("--segments", mix, "--model", str(tempo_model))
    assert proc.returncode == 2 and "put --segments after the files" in proc.stderr


def test_fusion_over_time_is_the_mean_of_each_models_windows(tmp_path_factory, mix):
    cnn, tab = tiny_bundle(tmp_path_factory), tiny_tabular(tmp_path_factory)
    a = classify(cnn, [mix], workers=1, segment_seconds=WINDOW).tracks[0]
    b = classify(tab, [mix], workers=1, segment_seconds=WINDOW).tracks[0]
    fused = classify([cnn, tab], [mix], workers=2, segment_seconds=WINDOW)
    (f,) = fused.tracks
    assert fused.backend == "litert + numpy" and f.frames == a.frames > 0
    assert [(w.start, w.end) for w in f.windows] == [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
    for wf, wa, wb in zip(f.windows, a.windows, b.windows):  # smoothing is linear, so the mean survives it
        assert wf.probabilities == pytest.approx({k: (wa.probabilities[k] + wb.probabilities[k]) / 2 for k in LABELS}, abs=1e-5)
    assert f.probabilities == pytest.approx({k: (a.probabilities[k] + b.probabilities[k]) / 2 for k in LABELS}, abs=1e-5)
