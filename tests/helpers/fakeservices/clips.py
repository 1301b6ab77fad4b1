"""Real, short mp3 previews for the fake CDN: rendered once, then served from memory."""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np


def _encode_mp3(signal: np.ndarray, *, sample_rate: int) -> bytes:
    """mp3 bytes with a Xing header (written to a file, so the frame count is filled in)."""
    from spotidance.audio.decode import ffmpeg_exe

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "clip.mp3")
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "-",
               "-c:a", "libmp3lame", "-b:a", "64k", path]  # fmt: skip
        subprocess.run(cmd, input=np.asarray(signal, dtype=np.float32).tobytes(), capture_output=True, check=True)
        with open(path, "rb") as fh:
            return fh.read()


def _tone(seconds: float, *, sample_rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    beat = (np.sin(2 * np.pi * 2.1 * t) > 0.6).astype(np.float32)
    y = 0.3 * np.sin(2 * np.pi * (220 + 55 * seed) * t) + 0.2 * beat * rng.standard_normal(len(t))
    return y.astype(np.float32)


def render_clips(n: int = 4, *, seconds: float = 4.0, sample_rate: int = 22050) -> list[bytes]:
    """``n`` distinct mp3 clips: synthetic genre clips when :mod:`spotidance.synth.render` is there, else tones."""
    clips = []
    for i in range(n):
        try:
            from spotidance.synth.render import render_clip

            audio, _ = render_clip(("techno", "edm")[i % 2], seed=100 + i, duration=seconds, sample_rate=sample_rate)
        except Exception:  # noqa: BLE001 - the renderer is optional here
            audio = _tone(seconds, sample_rate=sample_rate, seed=i)
        clips.append(_encode_mp3(audio, sample_rate=sample_rate))
    return clips
