"""Log-mel frames equal librosa's reference, and clips give the right number of frames."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.audio import decode as audio
from spotidance.audio import spectrogram
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import AudioDecodeError, SpotidanceError

import librosa  # noqa: E402  (a dependency: its absence is a failure, not a skip)
CONFIG = SpectrogramConfig()


def librosa_frames(y: np.ndarray, n: int) -> np.ndarray:
    """The binary seed's pipeline, written with librosa in the test itself."""
    mel = librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048, hop_length=512, n_mels=128, power=2.0)
    db = librosa.power_to_db(mel, ref=1.0)
    return np.stack([db[:, i * 128 : (i + 1) * 128] for i in range(n)])


def test_filterbank_equals_librosa():
    ours = spectrogram.mel_filterbank(sample_rate=22050, n_fft=2048, n_mels=128)
    np.testing.assert_allclose(ours, librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128), atol=1e-9)
    other = spectrogram.mel_filterbank(sample_rate=16000, n_fft=1024, n_mels=64)
    np.testing.assert_allclose(other, librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64), atol=1e-9)


def test_30s_mp3_gives_10_frames_equal_to_librosa(audio_dir):
    y = audio.load(audio_dir / "clip30.mp3")
    assert spectrogram.n_stft_frames(len(y), config=CONFIG) == 1292
    frames = spectrogram.file_frames(audio_dir / "clip30.mp3", config=CONFIG)
    assert frames.shape == (10, 128, 128) and frames.dtype == np.float32
    np.testing.assert_allclose(frames, librosa_frames(y, 10), atol=1e-4, rtol=0)


def test_noise_and_quiet_passages_match_too():
    rng = np.random.default_rng(7)
    y = (rng.standard_normal(22050 * 8) * np.linspace(0, 0.5, 22050 * 8)).astype(np.float32)
    frames = spectrogram.frames_from_audio(y, config=CONFIG)
    np.testing.assert_allclose(frames, librosa_frames(y, len(frames)), atol=1e-4, rtol=0)


def test_frame_counts_by_length(audio_dir):
    assert len(spectrogram.file_frames(audio_dir / "clip10.mp3", config=CONFIG)) == 3
    with pytest.raises(AudioDecodeError, match="too short"):
        spectrogram.file_frames(audio_dir / "clip2.mp3", config=CONFIG)
    assert spectrogram.frames_from_audio(np.zeros(1000, np.float32), config=CONFIG).shape == (0, 128, 128)


def test_frame_normalisation_option():
    rng = np.random.default_rng(1)
    y = rng.standard_normal(22050 * 4).astype(np.float32) * 0.1
    frames = spectrogram.frames_from_audio(y, config=SpectrogramConfig(normalize="frame"))
    np.testing.assert_allclose(frames.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=(1, 2)), 1, atol=1e-3)


def test_config_round_trip_and_validation():
    cfg = SpectrogramConfig(normalize="frame")
    assert SpectrogramConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.differences(SpectrogramConfig()) == ["normalize: 'frame' vs 'none'"]
    assert abs(CONFIG.frame_seconds - 2.972) < 1e-3
    with pytest.raises(SpotidanceError):
        SpectrogramConfig(normalize="bogus")
    with pytest.raises(SpotidanceError, match="newer"):
        SpectrogramConfig.from_dict({**cfg.to_dict(), "future_setting": 1})
