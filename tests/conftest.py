"""Shared test fixtures: real audio files written by ffmpeg, and the shared-data folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

#: The workplace's shared data (specs, seed CSVs): the checkout's sibling, absent in a user's clone.
SHARED = Path(__file__).resolve().parents[2] / "shared"

CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".m4a": ["-c:a", "aac", "-b:a", "128k"],
}


def write_audio(path: Path, signal: np.ndarray, *, sample_rate: int) -> Path:
    """Encode float samples (n,) or (n, channels) to ``path`` with ffmpeg; the suffix picks the codec."""
    from spotidance.audio import ffmpeg_exe

    signal = np.asarray(signal, dtype=np.float32)
    channels = 1 if signal.ndim == 1 else signal.shape[1]
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels),
           "-i", "-", *CODECS[path.suffix], str(path)]  # fmt: skip
    subprocess.run(cmd, input=signal.tobytes(), check=True)
    return path


def tone(seconds: float, *, sample_rate: int = 44100, channels: int = 1, seed: int = 0, freq: float = 440.0) -> np.ndarray:
    """A test signal: a chirp-modulated tone plus quiet noise and a beat, so spectra are non-trivial."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    y = 0.3 * np.sin(2 * np.pi * (freq + 40 * np.sin(2 * np.pi * 0.2 * t)) * t)
    y += 0.05 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0)
    y = y.astype(np.float32)
    if channels == 1:
        return y
    return np.stack([y * (1 - 0.2 * c) for c in range(channels)], axis=1)


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
