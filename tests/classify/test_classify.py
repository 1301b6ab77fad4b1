"""``spotidance classify``: good and bad files together, formats, exit codes, no TensorFlow import."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spotidance.model.bundle import read_bundle
from spotidance.classify.run import classify, find_audio_files, format_report, track_result
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError
from spotidance.model.runners import KerasRunner
from spotidance.audio.spectrogram import file_frames
from tests.helpers.audio import tone, write_audio
from tests.helpers.cli import run_process
from tests.helpers.tiny_bundle import LABELS, tiny_bundle

GOOD = ("clip30.mp3", "clip10.mp3")
#: file in conftest's audio_dir -> words its skip reason must contain
BAD = {
    "clip2.mp3": "too short",
    "truncated.mp3": "truncated",
    "corrupt.mp3": "not a readable audio file",
    "zero.mp3": "empty file",
    "notes.mp3": "not a readable audio file",
    "silent.wav": "silent",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def expected(model_dir, audio_dir) -> dict[str, np.ndarray]:
    """Each good file's mean frame probabilities, computed the slow, obvious way with Keras."""
    b = read_bundle(model_dir)
    runner = KerasRunner(b.keras_model())
    return {name: runner.predict(file_frames(audio_dir / name, config=b.config)).mean(axis=0) for name in GOOD}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_process(["classify", *args], cwd=cwd)


def test_find_audio_files_expands_folders_globs_and_reports_missing(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for rel in ("a/2.mp3", "a/1.WAV", "a/deep/3.flac", "a/notes.txt", "a/.4.mp3", "a/.hidden/5.mp3", "b.ogg", "c.txt"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    t = str(tmp_path)
    files, problems = find_audio_files([f"{t}/a", f"{t}/c.txt", f"{t}/*.ogg", f"{t}/a/2.mp3", f"{t}/missing.mp3",
                                        f"{t}/*.opus", f"{t}/empty"])
    rel = [os.path.relpath(f, t) for f in files]
    # folder sorted and recursive, hidden skipped; explicit files taken whatever the suffix; repeats once
    assert rel == ["a/1.WAV", "a/2.mp3", "a/deep/3.flac", "c.txt", "b.ogg"]
    assert [(os.path.relpath(p.path, t), p.reason) for p in problems] == [
        ("missing.mp3", "no such file or folder"),
        ("*.opus", "no audio files match this pattern"),
        ("empty", "folder holds no audio files"),
    ]
    files, problems = find_audio_files([f"{t}/**/*.mp3"])
    assert [os.path.relpath(f, t) for f in files] == ["a/2.mp3"] and not problems


def test_track_result_is_the_mean_of_frame_probabilities():
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.5, 0.4], [0.2, 0.6, 0.2]])
    r = track_result("x.mp3", probs, labels=LABELS)
    assert r.label == "techno" and r.frames == 3
    assert r.probabilities == pytest.approx({"house": 0.3, "techno": 14 / 30, "trance": 7 / 30})
    assert list(r.probabilities) == LABELS


def test_good_and_bad_files_together(model_dir, audio_dir, expected):
    inputs = [str(audio_dir / n) for n in (*GOOD, *BAD)] + [str(audio_dir / "missing.mp3")]
    report = classify(model_dir, inputs, workers=2)
    assert report.backend == "litert"
    assert [Path(t.path).name for t in report.tracks] == list(GOOD)
    assert [t.frames for t in report.tracks] == [10, 3]
    for t in report.tracks:
        probs = np.array([t.probabilities[label] for label in LABELS])
        np.testing.assert_allclose(probs, expected[Path(t.path).name], atol=1e-4)
        assert t.label == LABELS[int(np.argmax(probs))]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == set(BAD) | {"missing.mp3"}
    for name, words in BAD.items():
        assert words in reasons[name], (name, reasons[name])
    assert reasons["missing.mp3"] == "no such file or folder"


def test_workers_and_backends_give_the_same_answers(model_dir, audio_dir):
    inputs = [str(audio_dir / n) for n in GOOD]
    reference = classify(model_dir, inputs, workers=2)
    for kwargs in ({"workers": 1}, {"workers": 2, "batch_frames": 1}, {"workers": 1, "backend": "keras"}):
        other = classify(model_dir, inputs, **kwargs)
        assert [t.path for t in other.tracks] == [t.path for t in reference.tracks]
        for a, b in zip(other.tracks, reference.tracks):
            assert a.label == b.label and a.frames == b.frames
            assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
    assert classify(model_dir, inputs, workers=1, backend="keras").backend == "keras"


def test_cli_csv_reports_bad_files_on_stderr_and_exits_1(model_dir, audio_dir, expected):
    names = [*GOOD, *BAD]
    proc = run_cli(str(model_dir), *names, "missing.mp3", "--format", "csv", "--workers", "2", cwd=audio_dir)
    assert proc.returncode == 1, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["path"] for r in rows] == list(GOOD)
    assert list(rows[0]) == ["path", "label", "frames", *[f"p_{label}" for label in LABELS], "top"]
    assert rows[0]["top"].split()[0].split(":")[0] == rows[0]["label"]
    for r in rows:
        np.testing.assert_allclose([float(r[f"p_{label}"]) for label in LABELS], expected[r["path"]], atol=1e-4)
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    skipped = [line for line in lines if line.startswith("spotidance: skipped ")]
    assert len(skipped) == len(BAD) + 1  # one line per bad input, nothing else from native decoders
    for name, words in BAD.items():
        assert any(line.startswith(f"spotidance: skipped {name}: ") and words in line for line in skipped), name
    assert lines[-1] == f"spotidance: error: {len(BAD) + 1} of {len(names) + 1} inputs could not be classified (reasons above)"
    assert len(lines) == len(BAD) + 2


def test_cli_table_to_stdout_and_exit_0_when_all_good(model_dir, audio_dir):
    proc = run_cli(str(model_dir), str(audio_dir / "clip30.mp3"), str(audio_dir / "clip10.mp3"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header, rule, *rows = proc.stdout.rstrip("\n").splitlines()
    assert header.split() == ["file", "label", *[f"p_{label}" for label in LABELS], "frames"]
    assert len(rows) == 2 and rows[0].split()[-1] == "10" and rows[1].split()[-1] == "3"
    assert len({len(rule)} | {len(r) for r in rows}) == 1  # aligned columns
    for row in rows:
        probs = [float(v) for v in row.split()[2:-1]]
        assert sum(probs) == pytest.approx(1, abs=2e-3) and row.split()[1] == LABELS[int(np.argmax(probs))]


def test_cli_json_to_a_file(model_dir, audio_dir, tmp_path):
    out = tmp_path / "labels.json"
    proc = run_cli(str(model_dir), str(audio_dir / "clip10.mp3"), str(audio_dir / "zero.mp3"), "--output", str(out))
    assert proc.returncode == 1
    assert proc.stdout == ""
    data = json.loads(out.read_text())  # format from the suffix
    assert data["backend"] == "litert" and data["labels"] == LABELS and data["model_name"] == "tiny-test"
    assert [(Path(t["path"]).name, t["frames"]) for t in data["tracks"]] == [("clip10.mp3", 3)]
    assert [(Path(s["path"]).name, s["reason"]) for s in data["skipped"]] == [("zero.mp3", "empty file (0 bytes)")]
    assert f"results in {out}" in proc.stderr


def test_cli_bad_bundle_and_usage_errors_exit_2(audio_dir, tmp_path):
    proc = run_cli(str(audio_dir / "clip10.mp3"), "--model", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"spotidance: error: {tmp_path}: not a model bundle (no bundle.json); "
                                                "give the --out folder of `spotidance train`"]
    proc = run_cli(str(audio_dir / "clip10.mp3"), "--model", "no-such-model")
    assert proc.returncode == 2 and proc.stderr.startswith("spotidance: error: no model 'no-such-model'")
    proc = run_cli(str(audio_dir / "clip10.mp3"), "--format", "xml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_cli_does_not_import_tensorflow_when_the_bundle_has_a_litert_model(model_dir, audio_dir):
    code = (
        "import sys\n"
        "from spotidance.cli import main\n"
        "try:\n"
        f"    main(['classify', {str(model_dir)!r}, {str(audio_dir / 'clip10.mp3')!r}, '--format', 'json'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'librosa', 'pandas', 'matplotlib', 'numba', 'sklearn'})\n"
        "print('HEAVY', heavy, 'LITERT', 'ai_edge_litert' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY [] LITERT True"


def test_classify_falls_back_to_keras_without_a_litert_model(model_dir, audio_dir, tmp_path):
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    manifest = json.loads((copy / "bundle.json").read_text())
    del manifest["files"]["model.tflite"]
    (copy / "model.tflite").unlink()
    (copy / "bundle.json").write_text(json.dumps(manifest))
    report = classify(copy, [str(audio_dir / "clip10.mp3")])
    assert report.backend == "keras" and [t.frames for t in report.tracks] == [3]
    with pytest.raises(SpotidanceError, match="no LiteRT model"):
        classify(copy, [str(audio_dir / "clip10.mp3")], backend="litert")


def test_m4a_and_resampled_wav_are_classified(model_dir, tmp_path):
    write_audio(tmp_path / "a.m4a", tone(7, sample_rate=44100), sample_rate=44100)
    write_audio(tmp_path / "b.wav", tone(4, sample_rate=16000, channels=2), sample_rate=16000)
    report = classify(model_dir, [str(tmp_path)], workers=2)
    assert [(Path(t.path).name, t.frames) for t in report.tracks] == [("a.m4a", 2), ("b.wav", 1)]
    assert not report.skipped


def test_json_and_table_formats_agree(model_dir, audio_dir):
    report = classify(model_dir, [str(audio_dir / "clip10.mp3")], workers=1)
    data = json.loads(format_report(report, fmt="json"))
    table = format_report(report, fmt="table").splitlines()
    assert data["tracks"][0]["label"] == table[2].split()[1]
    assert float(table[2].split()[2]) == pytest.approx(data["tracks"][0]["probabilities"][LABELS[0]], abs=5e-4)
    with pytest.raises(SpotidanceError, match="unknown format"):
        format_report(report, fmt="xml")
    assert SpectrogramConfig() == read_bundle(model_dir).config


def test_cli_output_rule_never_overwrites_an_input_and_dash_is_stdout(model_dir, audio_dir, tmp_path):
    song = Path(shutil.copy(audio_dir / "clip10.mp3", tmp_path / "song.mp3"))
    before = song.read_bytes()
    proc = run_cli(str(song), "--model", str(model_dir), "-o", str(song))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"spotidance: error: --output {song}: is one of this run's inputs (or inside an input folder); choose another file name"]
    assert song.read_bytes() == before
    proc = run_cli(str(song), "--model", str(model_dir), "-o", "-", "--format", "csv")
    assert proc.returncode == 0 and proc.stdout.startswith("path,label,frames")
    assert not (tmp_path / "-").exists() and "results in" not in proc.stderr


def test_cli_expands_its_inputs_once_and_checks_stdin_paths_before_any_work(model_dir, audio_dir, tmp_path, monkeypatch, capsys):
    """The command expands PATHS once (stdin read once) and hands that list to classify(); an
    --output that names a file listed on stdin is refused before anything is decoded."""
    import spotidance.audio.files as files_module
    import spotidance.classify.run as run_module
    import spotidance.commands.classify as command_module
    from tests.helpers.cli import run_main

    song = Path(shutil.copy(audio_dir / "clip10.mp3", tmp_path / "song.mp3"))
    calls = []
    real = files_module.find_audio_files

    def counting(paths):
        paths = list(paths)
        calls.append(paths)
        return real(paths)

    monkeypatch.setattr(command_module, "find_audio_files", counting)
    monkeypatch.setattr(run_module, "find_audio_files", counting)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{song}\n"))
    out = tmp_path / "labels.csv"
    code, _, err = run_main(["classify", "-", "--model", model_dir, "-o", out], capsys)
    assert code == 0, err
    assert len(calls) == 1
    with out.open(newline="") as fh:
        assert [Path(r["path"]).name for r in csv.DictReader(fh)] == ["song.mp3"]

    decoded = []

    def no_decoding(path, **kwargs):
        decoded.append(path)
        raise AssertionError("decoded before the output check")

    monkeypatch.setattr(run_module, "load", no_decoding)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{song}\n"))
    before = song.read_bytes()
    code, _, err = run_main(["classify", "-", "--model", model_dir, "-o", song, "--workers", "1"], capsys)
    assert code == 2 and "is one of this run's inputs" in err and "Traceback" not in err
    assert song.read_bytes() == before and decoded == []
