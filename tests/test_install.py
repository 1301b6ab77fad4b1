"""``pip install spotidance`` (no extras) into a fresh virtual environment, from this checkout.

A new user's install: the wheel built from the local sources (not editable, so its package data,
the shipped models, are what is tested), without TensorFlow. ``eda``, ``analyze`` and ``classify``
with a shipped model work in it, and ``train`` of a CNN says in one line which extra to install.
Packages come from pip's cache (filled when the development environment was set up), else PyPI.
Set SPOTIDANCE_SKIP_INSTALL_TEST=1 to skip it where neither is reachable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.audio import write_audio
from tests.helpers.eda_data import playlist, write_csv

ROOT = Path(__file__).resolve().parents[1]

#: What the build needs from the checkout (copied, so that building leaves no build/ or egg-info in it).
SOURCES = ["setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.py", "spotidance"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("SPOTIDANCE_SKIP_INSTALL_TEST")),
                       reason="SPOTIDANCE_SKIP_INSTALL_TEST is set (this test installs from pip's cache or PyPI)"),
]  # fmt: skip


def sh(args: list, *, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``args`` with a clean environment for the fresh install (no PYTHONPATH into the checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment with ``pip install <checkout>`` (no extras); its bin/ folder."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            shutil.copy2(path, src / name)
    base = getattr(sys, "_base_executable", sys.executable)
    done = sh([base, "-m", "venv", root / "venv"], cwd=root)
    assert done.returncode == 0, done.stderr
    bin_dir = root / "venv" / "bin"
    done = sh([bin_dir / "python", "-m", "pip", "install", "--quiet", src], cwd=root, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return bin_dir


def test_tensorflow_and_keras_are_not_installed(venv, tmp_path):
    for module in ("tensorflow", "keras"):
        done = sh([venv / "python", "-c", f"import {module}"], cwd=tmp_path)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, f"{module} is installed without extras"
    done = sh([venv / "python", "-c", "import spotidance, os; print(os.path.dirname(spotidance.__file__))"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to((venv.parent).resolve())  # the wheel, not the checkout


def test_eda_runs_on_two_csvs(venv, tmp_path):
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "techno.csv", playlist(rng, 20))
    write_csv(tmp_path / "edm.csv", playlist(rng, 20, shift={"tempo": 4.0, "energy": 0.2}))
    done = sh([venv / "spotidance", "eda", "techno.csv", "edm.csv", "--out", "report", "--json", "-q"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["labels"]) == ["edm", "techno"]
    assert (tmp_path / "report" / "report.html").stat().st_size > 1000
    assert list((tmp_path / "report").glob("*.svg"))  # matplotlib and seaborn are installed


def test_analyze_and_classify_with_a_shipped_model(venv, tmp_path):
    from spotidance.synth.render import render_clip

    audio, _ = render_clip("techno", seed=[0, 0, 0], duration=12.0, sample_rate=22050)
    write_audio(tmp_path / "clip.wav", audio, sample_rate=22050)
    done = sh([venv / "spotidance", "analyze", "clip.wav", "--out", "clip.csv", "--workers", "1", "--json", "-q"],
              cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["analysed"] == 1
    assert "tempo" in (tmp_path / "clip.csv").read_text().splitlines()[0]
    done = sh([venv / "spotidance", "classify", "clip.wav", "--format", "json", "--workers", "1", "-q"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "beatport2016-3"  # the default shipped model: package data of the wheel
    assert "clip.wav" in done.stdout


def test_training_a_cnn_names_the_train_extra_in_one_line(venv, tmp_path):
    from spotidance.audio.config import SpectrogramConfig
    from spotidance.dataset.frames import DatasetWriter

    rng = np.random.default_rng(0)
    added = [({"track_id": f"{label}-{i}", "label": label, "artist": f"a{i}", "path": f"{label}/{i}.mp3",
               "source_key": f"{label}|{i}"}, rng.uniform(-80, 0, (2, 128, 128)).astype(np.float32))
             for label in ("techno", "edm") for i in range(3)]  # fmt: skip
    DatasetWriter(tmp_path / "frames", SpectrogramConfig()).commit(added)
    done = sh([venv / "spotidance", "train", "frames", "--model", "binary-1d", "--out", "model", "-q"], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spotidance: error") and "spotidance[train]" in lines[0], done.stderr
    assert not (tmp_path / "model").exists()
