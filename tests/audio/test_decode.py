"""Decoding: every supported format and sample rate, and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.audio import decode as audio
from spotidance.core.errors import AudioDecodeError
from tests.helpers.audio import CODECS, tone, write_audio


@pytest.mark.parametrize("suffix", sorted(CODECS))
@pytest.mark.parametrize("rate,channels", [(8000, 1), (16000, 2), (22050, 1), (44100, 2), (48000, 2)])
def test_every_format_and_rate_decodes_to_mono_22050(tmp_path, suffix, rate, channels):
    if suffix == ".m4a" and rate == 8000:
        rate = 11025  # AAC has no 8 kHz profile in ffmpeg's native encoder; the lowest common rate instead
    path = write_audio(tmp_path / f"x{suffix}", tone(4, sample_rate=rate, channels=channels), sample_rate=rate)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    # codec priming/padding adds at most a few thousand samples
    assert abs(len(y) - 4 * 22050) < 0.05 * 4 * 22050
    assert 0.05 < float(np.max(np.abs(y))) <= 1.5


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".flac", ".ogg"])
def test_libsndfile_formats_match_librosa_load(tmp_path, suffix):
    import librosa  # a dependency: its absence is a failure, not a skip
    path = write_audio(tmp_path / f"y{suffix}", tone(3, sample_rate=44100, channels=2), sample_rate=44100)
    ours = audio.load(path)
    theirs, _ = librosa.load(path, sr=22050)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize(
    "name,reason",
    [
        ("truncated.mp3", "truncated"),
        ("corrupt.mp3", "not a readable audio file"),
        ("zero.mp3", "empty file"),
        ("notes.mp3", "not a readable audio file"),
        ("silent.wav", "silent"),
        ("missing.mp3", "no such file"),
    ],
)
def test_bad_files_raise_with_their_reason(audio_dir, name, reason):
    with pytest.raises(AudioDecodeError, match=reason):
        audio.load(audio_dir / name)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="not a file"):
        audio.load(tmp_path)


def test_ffmpeg_is_found_without_a_system_ffmpeg(monkeypatch):
    audio.ffmpeg_exe.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        exe = audio.ffmpeg_exe()
        assert "imageio_ffmpeg" in exe
    finally:
        audio.ffmpeg_exe.cache_clear()
