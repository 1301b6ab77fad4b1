"""Test audio: real files written by ffmpeg from synthetic signals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

CODECS = {
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".m4a": ["-c:a", "aac", "-b:a", "128k"],
}


def write_audio(path: Path, signal: np.ndarray, *, sample_rate: int) -> Path:
    """Encode float samples (n,) or (n, channels) to ``path`` with ffmpeg; the suffix picks the codec."""
    from spotidance.audio.decode import ffmpeg_exe

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
