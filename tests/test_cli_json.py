"""``--json``: every command's closing summary as one JSON document on stdout, the tables on stderr."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from spotidance.cli import COMMANDS
from spotidance.core.summary import jsonable, to_json
from tests.helpers.audio import write_audio
from tests.helpers.eda_data import three_genres
from tests.helpers.fakeservices.fixtures import PLAYLIST_ID
from tests.helpers.cli import run_main as run

ROOT = Path(__file__).resolve().parents[1]

#: Commands whose closing summary ``--json`` prints (the lead's train and classify are checked where they are).
SUMMARY_COMMANDS = ["analyze", "prepare", "synth", "collect", "evaluate", "eda"]




def document(out: str) -> dict:
    """The whole of stdout as one JSON object (fails on anything else printed there)."""
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A label folder: techno/ and edm/, one 3.5 s synthetic clip each (one frame per clip)."""
    from spotidance.synth.render import render_clip

    root = tmp_path_factory.mktemp("clips")
    for i, label in enumerate(["techno", "edm"]):
        (root / label).mkdir()
        audio, _ = render_clip(label, seed=[0, i, 0], duration=3.5, sample_rate=22050)
        write_audio(root / label / f"{label}-000.wav", audio, sample_rate=22050)
    return root


# ------------------------------------------------------------------------------------------ the helper


@dataclasses.dataclass
class _Example:
    path: Path
    score: float
    count: object
    tally: Counter
    arr: object


def test_to_json_turns_dataclasses_paths_numpy_and_nan_into_strict_json():
    obj = _Example(path=Path("a") / "b.csv", score=float("nan"), count=np.int64(3), tally=Counter({"x": 2}),
                   arr=np.array([1.5, np.inf]))
    text = to_json({"result": obj, "flags": (np.bool_(True), np.float32(0.25)), 7: {"s"}})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"result": {"path": os.path.join("a", "b.csv"), "score": None, "count": 3,
                                           "tally": {"x": 2}, "arr": [1.5, None]},
                                "flags": [True, 0.25], "7": ["s"]}  # fmt: skip
    assert jsonable(math.inf) is None and jsonable(np.float64("nan")) is None


@pytest.mark.parametrize("name", SUMMARY_COMMANDS)
def test_every_summary_command_has_a_json_flag(name):
    assert name in COMMANDS
    command = importlib.import_module(f"spotidance.commands.{COMMANDS[name][0]}").command
    assert "--json" in [opt for p in command.params for opt in p.opts]


# ------------------------------------------------------------------------------------------ commands


def test_synth_json(tmp_path, capsys):
    code, out, err = run(["synth", tmp_path / "clips", "--genres", "techno", "--per-genre", "1", "--duration", "2",
                          "--workers", "1", "--json", "-q"], capsys)  # fmt: skip
    assert code == 0, err
    data = document(out)
    assert {"out", "csvs", "rendered", "reused", "rows"} <= set(data)
    assert data["rendered"] == 1 and data["csvs"] == [str(tmp_path / "clips" / "techno.csv")]
    assert "rendered 1 clips" in err  # the table went to stderr


def test_analyze_json_lists_counts_and_skips_with_reasons(clips, tmp_path, capsys):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all")
    code, out, err = run(["analyze", clips / "techno", bad, "--out", tmp_path / "t.csv", "--workers", "1", "--json", "-q"],
                         capsys)  # fmt: skip
    assert code == 1, err  # one input skipped: the JSON still comes, then the error line
    data = document(out)
    assert {"out", "analysed", "reused", "rows", "skipped", "previously_skipped", "seconds"} <= set(data)
    assert data["analysed"] == 1 and data["rows"] == 1 and data["out"] == str(tmp_path / "t.csv")
    assert [s["path"] for s in data["skipped"]] == [str(bad)] and data["skipped"][0]["reason"]
    assert "spotidance: error" in err


def test_prepare_json(clips, tmp_path, capsys):
    code, out, err = run(["prepare", clips, "--out", tmp_path / "frames", "--workers", "1", "--json", "-q"], capsys)
    assert code == 0, err
    data = document(out)
    assert {"dataset", "added", "unchanged", "skipped", "frames_per_label", "tracks_per_label"} <= set(data)
    assert data["added"] == 2 and data["tracks_per_label"] == {"edm": 1, "techno": 1}
    assert "dataset:" in err


def test_collect_json(fake_services, tmp_path, capsys):
    fake_services("dev2026", n_tracks=5)
    code, out, err = run(["collect", PLAYLIST_ID, "--out", tmp_path, "--label", "x", "--features", "none",
                          "--no-previews", "--json", "-q"], capsys)  # fmt: skip
    assert code == 0, err
    data = document(out)
    assert {"label", "csv_path", "tracks", "with_preview", "preview_sources", "features_sources", "skipped",
            "notes"} <= set(data)  # fmt: skip
    assert data["label"] == "x" and data["tracks"] == 5 and data["csv_path"] == str(tmp_path / "x.csv")


def test_eda_json(tmp_path, capsys):
    three_genres(tmp_path, n=20)
    code, out, err = run(["eda", tmp_path, "--out", tmp_path / "report", "--no-figures", "--top", "2", "--json", "-q"],
                         capsys)  # fmt: skip
    assert code == 0, err
    data = document(out)
    assert {"report", "labels", "counts", "separability", "warnings", "top_features", "answer"} <= set(data)
    assert data["labels"] == ["dnb", "edm", "techno"] and data["report"] == str(tmp_path / "report" / "report.html")
    sep = data["separability"]
    assert 0.5 < sep["accuracy"] <= 1 and sep["spread"] >= 0 and len(sep["folds"]) >= 2
    assert [f["feature"] for f in data["top_features"]][0] == "tempo" and len(data["top_features"]) == 2
    assert "What separates these playlists" in err


def test_evaluate_plain_json_is_stdout_and_json_file_still_writes_a_file(tmp_path_factory, tmp_path):
    pytest.importorskip("keras")
    from spotidance.audio.config import SpectrogramConfig
    from spotidance.dataset.frames import DatasetWriter
    from tests.helpers.tiny_bundle import LABELS, tiny_bundle

    bundle = tiny_bundle(tmp_path_factory)
    rng = np.random.default_rng(0)
    added = [({"track_id": f"{label}-{i}", "label": label, "artist": f"a{i}", "path": f"{label}/{i}.mp3",
               "source_key": f"{label}|{i}"}, rng.uniform(-80, 0, (2, 128, 128)).astype(np.float32))
             for label in LABELS for i in range(2)]  # fmt: skip
    DatasetWriter(tmp_path / "frames", SpectrogramConfig()).commit(added)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-m", "spotidance", "evaluate", str(bundle), str(tmp_path / "frames")]
    done = subprocess.run([*args, "--quiet", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    data = document(done.stdout)
    assert data["labels"] == LABELS and "accuracy" in data["track"] and "accuracy" in done.stderr
    done = subprocess.run([*args, "--json", "scores.json", "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "scores.json").read_text())["labels"] == LABELS
    assert "accuracy" in done.stdout  # with a file, the tables stay on stdout


def test_train_trees_json(tmp_path, capsys):
    from tests.helpers.tabular import synthetic_table

    synthetic_table(rows=15).to_csv(tmp_path / "features.csv", index=False)
    code, out, err = run(["train", tmp_path / "features.csv", "--model", "trees", "--out", tmp_path / "model", "--json", "-q"],
                         capsys)  # fmt: skip
    assert code == 0, err
    data = document(out)
    assert {"model", "bundle", "metrics", "accuracy", "macro_f1", "majority_rate"} <= set(data)
    assert data["bundle"] == str(tmp_path / "model") and Path(data["metrics"]).is_file()
    assert 0 <= data["accuracy"] <= 1
