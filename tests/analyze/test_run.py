"""``spotidance analyze``: a folder of files into an incremental CSV; bad files skipped with reasons."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spotidance.analyze import run as arun
from spotidance.analyze.beatport import BEATPORT2016_COLUMNS
from spotidance.analyze.features import CORE_COLUMNS
from spotidance.core.errors import SpotidanceError
from tests.helpers.audio import write_audio

SR = 22050


def beat(bpm: float, seconds: float = 8.0, *, seed: int = 0) -> np.ndarray:
    """Kick-like thumps on every beat over a quiet A-minor drone: a tempo and a key to find."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = 0.05 * (np.sin(2 * np.pi * 220 * t) + 0.6 * np.sin(2 * np.pi * 261.63 * t) + 0.5 * np.sin(2 * np.pi * 329.63 * t))
    kt = np.arange(int(0.12 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-kt * 30)) * kt) * np.exp(-kt * 20)
    for start in (np.arange(0, seconds, 60.0 / bpm) * SR).astype(int):
        end = min(start + len(kick), n)
        y[start:end] += 0.7 * kick[: end - start]
    y += 0.003 * rng.standard_normal(n)
    return y.astype(np.float32)


@pytest.fixture()
def music(tmp_path) -> Path:
    root = tmp_path / "music"
    (root / "sub").mkdir(parents=True)
    write_audio(root / "a.wav", beat(120), sample_rate=SR)
    write_audio(root / "sub" / "b.mp3", beat(128, seed=1), sample_rate=44100 // 2)
    (root / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 20)
    (root / "empty.wav").write_bytes(b"")
    write_audio(root / "tiny.wav", beat(120)[: SR // 10] + 0.1, sample_rate=SR)
    (root / "notes.txt").write_text("not audio, and not an audio extension: not picked up from a folder\n")
    return root


def count_jobs(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = arun.analyze_file

    def counting(path, **kwargs):
        calls.append(os.fspath(path))
        return real(path, **kwargs)

    monkeypatch.setattr(arun, "analyze_file", counting)
    return calls


def test_folder_to_csv_with_every_bad_kind_skipped_with_its_reason(music, tmp_path, monkeypatch):
    out = tmp_path / "features.csv"
    calls = count_jobs(monkeypatch)
    result = arun.analyze([music, tmp_path / "missing.mp3"], out=out, workers=1)
    assert result.analysed == 2 and len(calls) == 5
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"broken.mp3", "empty.wav", "tiny.wav", "missing.mp3"}
    assert "empty" in reasons["empty.wav"] and "no such file" in reasons["missing.mp3"]
    assert "short" in reasons["tiny.wav"]
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["path"]).name for r in rows] == ["a.wav", "b.mp3"]
    assert list(rows[0]) == ["path", *CORE_COLUMNS]
    assert float(rows[0]["tempo"]) == pytest.approx(120, rel=0.04)
    assert float(rows[1]["tempo"]) == pytest.approx(128, rel=0.04)
    assert float(rows[0]["loudness"]) < 0 and rows[0]["camelot"]
    # the Python API gives the same table as a DataFrame
    assert list(result.table["path"].map(lambda p: Path(p).name)) == ["a.wav", "b.mp3"]
    assert result.table["tempo"].dtype.kind == "f"


def test_rerun_analyses_only_new_or_changed_files(music, tmp_path, monkeypatch):
    out = tmp_path / "features.csv"
    arun.analyze([music], out=out, workers=1)
    before = out.read_bytes()
    calls = count_jobs(monkeypatch)
    again = arun.analyze([music], out=out, workers=1)
    assert calls == [] and again.reused == 2 and again.analysed == 0 and len(again.previously_skipped) == 3
    assert out.read_bytes() == before
    # one new file and one changed file: only they are analysed
    write_audio(music / "c.wav", beat(140, seed=2), sample_rate=SR)
    write_audio(music / "a.wav", beat(100, seed=3), sample_rate=SR)
    more = arun.analyze([music], out=out, workers=1)
    assert sorted(Path(c).name for c in calls) == ["a.wav", "c.wav"] and more.analysed == 2 and more.reused == 1
    tempos = {Path(p).name: t for p, t in zip(more.table["path"], more.table["tempo"])}
    assert tempos["a.wav"] == pytest.approx(100, rel=0.04) and tempos["c.wav"] == pytest.approx(140, rel=0.04)


def test_other_settings_redo_everything_and_beatport_set_adds_its_71_columns(music, tmp_path, monkeypatch):
    out = tmp_path / "features.csv"
    arun.analyze([music / "a.wav"], out=out, workers=1)
    calls = count_jobs(monkeypatch)
    result = arun.analyze([music / "a.wav"], out=out, workers=1, feature_set="all")
    assert len(calls) == 1
    cols = list(result.table.columns)
    assert cols[: 1 + len(CORE_COLUMNS)] == ["path", *CORE_COLUMNS]
    assert cols[1 + len(CORE_COLUMNS):] == list(BEATPORT2016_COLUMNS) and len(BEATPORT2016_COLUMNS) == 71
    row = result.table.iloc[0]
    assert np.isfinite(row[list(BEATPORT2016_COLUMNS[:68])].astype(float)).all()
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert meta["settings"]["feature_set"] == "all"


def test_ctrl_c_keeps_what_was_finished_and_a_rerun_resumes(music, tmp_path, monkeypatch):
    out = tmp_path / "features.csv"
    real = arun.analyze_file
    done: list[str] = []

    def interrupting(path, **kwargs):
        if len(done) == 1:
            raise KeyboardInterrupt
        done.append(os.fspath(path))
        return real(path, **kwargs)

    monkeypatch.setattr(arun, "analyze_file", interrupting)
    with pytest.raises(KeyboardInterrupt):
        arun.analyze([music / "a.wav", music / "sub" / "b.mp3"], out=out, workers=1)
    with out.open(newline="") as fh:
        assert [Path(r["path"]).name for r in csv.DictReader(fh)] == ["a.wav"]
    monkeypatch.undo()
    calls = count_jobs(monkeypatch)
    resumed = arun.analyze([music / "a.wav", music / "sub" / "b.mp3"], out=out, workers=1)
    assert [Path(c).name for c in calls] == ["b.mp3"] and resumed.reused == 1


def test_saves_during_the_run_on_an_injected_clock(music, tmp_path, monkeypatch):
    out = tmp_path / "features.csv"
    ticks = iter(range(0, 10_000, 10))
    saves: list[int] = []
    real_save = arun._Store.save

    def spy(self):
        saves.append(len(self.rows))
        real_save(self)

    monkeypatch.setattr(arun._Store, "save", spy)
    arun.analyze([music / "a.wav", music / "sub" / "b.mp3"], out=out, workers=1, clock=lambda: float(next(ticks)), save_every=5)
    assert saves == [1, 2, 2]  # after each file (10 s of clock each) and once at the end


def test_unusable_outputs_and_settings_are_one_line_errors(music, tmp_path):
    with pytest.raises(SpotidanceError, match="one of the inputs"):
        arun.analyze([music / "a.wav"], out=music / "a.wav")
    foreign = tmp_path / "mine.csv"
    foreign.write_text("x,y\n1,2\n")
    with pytest.raises(SpotidanceError, match="not written by spotidance analyze"):
        arun.analyze([music / "a.wav"], out=foreign)
    assert foreign.read_text() == "x,y\n1,2\n"
    with pytest.raises(SpotidanceError, match="feature set"):
        arun.analyze([music / "a.wav"], feature_set="everything")
    with pytest.raises(SpotidanceError):
        arun.analyze([music / "a.wav"], tempo_range=(150.0, 100.0))
    with pytest.raises(SpotidanceError, match="no audio files"):
        arun.analyze([tmp_path / "nothing-here"])


def test_cli_writes_the_csv_and_exits_1_when_files_were_skipped(music, tmp_path):
    out = tmp_path / "cli.csv"
    cmd = [sys.executable, "-m", "spotidance", "analyze", str(music), "--out", str(out), "--workers", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "broken.mp3" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("spotidance: error: 3 input(s) could not be analysed")
    with out.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    bad = subprocess.run([*cmd[:-2], "--tempo-range", "200:60"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--tempo-range" in bad.stderr


def test_pandas_is_imported_in_the_background_only_once_the_workers_exist(tmp_path, monkeypatch):
    """With worker processes, analyze imports pandas (for the returned table) in a thread while they
    work; the thread starts after the first result (the workers are forked by then), never inline."""
    for i in range(3):
        write_audio(tmp_path / f"c{i}.wav", beat(120, seed=i), sample_rate=SR)
    calls: list[int] = []
    real_map = arun.map_ordered

    def spying_map(fn, items, *, workers, what="a file"):
        for result in real_map(fn, items, workers=workers, what=what):
            calls.append(len(calls))  # results handed over so far, before this one is used
            yield result

    monkeypatch.setattr(arun, "map_ordered", spying_map)
    monkeypatch.setattr(arun, "PREIMPORT_MIN_FILES", 2)
    started: list[int] = []
    monkeypatch.setattr(arun, "_preimport_pandas", lambda: started.append(len(calls)))
    result = arun.analyze([tmp_path], workers=2)
    assert result.analysed == 3 and started == [1]  # once, right after the first result
    started.clear()
    calls.clear()
    arun.analyze([tmp_path], workers=1)
    assert started == []  # inline: the analysis itself runs in this process's thread
    monkeypatch.setattr(arun, "PREIMPORT_MIN_FILES", 4)
    arun.analyze([tmp_path], workers=2)
    assert started == []  # too few files to be worth a thread


def test_background_import_of_pandas_finishes():
    code = ("import sys, threading\n"
            "from spotidance.analyze.run import _preimport_pandas\n"
            "assert 'pandas' not in sys.modules\n"
            "_preimport_pandas()\n"
            "[t.join() for t in threading.enumerate() if t.name == 'spotidance-import-pandas']\n"
            "print('pandas' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True"]
