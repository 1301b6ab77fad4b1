"""Fixtures registered once for the whole suite: the shared-data folder and a folder of real audio files.

Helpers (signal generators, the fake services, a tiny bundle) live in ``tests/helpers``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.audio import tone, write_audio

#: Fixtures registered once for every test module.
pytest_plugins = ["tests.helpers.fakeservices.fixtures"]

#: The workplace's shared data (specs, seed CSVs): the checkout's sibling, absent in a user's clone.
SHARED = Path(__file__).resolve().parents[2] / "shared"

@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present (it exists only in the project's workplace)")
    return SHARED


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    """A session folder of small real audio files: good ones and every kind of bad one."""
    root = tmp_path_factory.mktemp("audio")
    write_audio(root / "clip30.mp3", tone(30, channels=2), sample_rate=44100)
    write_audio(root / "clip10.mp3", tone(10, seed=1), sample_rate=44100)
    write_audio(root / "clip2.mp3", tone(2, seed=2), sample_rate=44100)
    data = (root / "clip30.mp3").read_bytes()
    (root / "truncated.mp3").write_bytes(data[: len(data) // 2])
    (root / "corrupt.mp3").write_bytes(bytes(np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8)))
    (root / "zero.mp3").write_bytes(b"")
    (root / "notes.mp3").write_text("this is a text file, not audio\n" * 100)
    write_audio(root / "silent.wav", np.zeros(44100 * 5, dtype=np.float32), sample_rate=44100)
    return root
