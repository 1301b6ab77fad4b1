"""Local audio features on synthetic audio whose tempo, key, mode, level and length are known.

Tolerances: tempo within 1% (the least-squares beat fit measures a click track to 0.01 BPM; the
raw tracker alone is off by up to 2.5%), loudness within 0.3 dB of the analytic RMS level,
duration within 5 ms (wav, no codec padding); key and mode exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.analyze import features as lf
from spotidance.core.errors import AudioDecodeError
from tests.helpers.audio import write_audio

SR = 22050


def click_track(bpm: float, seconds: float = 12.0, *, amplitude: float = 0.8) -> np.ndarray:
    """Decaying 1 kHz clicks, one per beat."""
    y = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(int(0.03 * SR)) / SR
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 150)).astype(np.float32)
    for start in (np.arange(0, seconds, 60.0 / bpm) * SR).astype(int):
        end = min(start + len(click), len(y))
        y[start:end] += click[: end - start]
    return amplitude * y


def chords(midi_chords: list[list[int]], seconds_each: float = 1.5) -> np.ndarray:
    """Harmonic-rich chords played one after another."""
    t = np.arange(int(seconds_each * SR)) / SR
    out = []
    for chord in midi_chords:
        y = np.zeros_like(t)
        for m in chord:
            f = 440.0 * 2 ** ((m - 69) / 12)
            y += sum(0.5**h * np.sin(2 * np.pi * f * (h + 1) * t) for h in range(4))
        out.append(y)
    y = np.concatenate(out)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def cadence(tonic: int, *, major: bool) -> list[list[int]]:
    """I-IV-V-I (major) or i-iv-V-i (minor, harmonic V) in the key whose pitch class is ``tonic``."""
    root = 60 + tonic
    third = 4 if major else 3
    return [
        [root, root + third, root + 7],
        [root + 5, root + 5 + third, root + 12],
        [root + 7, root + 11, root + 14],
        [root, root + third, root + 7],
    ]


@pytest.mark.parametrize("bpm", [100.0, 140.0])
def test_tempo_of_a_click_track_within_one_percent(bpm):
    features = lf.features_from_signal(click_track(bpm), sample_rate=SR)
    assert features["tempo"] == pytest.approx(bpm, rel=0.01)


@pytest.mark.parametrize("tonic,major", [(0, True), (6, True), (9, False), (2, False)])
def test_key_and_mode_of_a_cadence(tonic, major):
    features = lf.features_from_signal(chords(cadence(tonic, major=major)), sample_rate=SR)
    assert (features["key"], features["mode"]) == (tonic, int(major))


def test_loudness_of_a_sine_matches_its_rms_level_and_energy_follows():
    t = np.arange(6 * SR) / SR
    levels = {}
    for amplitude in (0.5, 0.05):
        y = (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        levels[amplitude] = lf.features_from_signal(y, sample_rate=SR)
        assert levels[amplitude]["loudness"] == pytest.approx(20 * np.log10(amplitude / np.sqrt(2)), abs=0.3)
        assert 0.0 <= levels[amplitude]["energy"] <= 1.0
        assert levels[amplitude]["tempo"] is None  # a steady tone has no beat: no tempo is invented
    assert levels[0.5]["energy"] > levels[0.05]["energy"]
    busy = lf.features_from_signal(click_track(128, amplitude=0.9), sample_rate=SR)
    assert 0.0 <= busy["energy"] <= 1.0
    assert busy["energy"] > levels[0.05]["energy"]


def test_compute_features_from_a_file_and_many_with_a_bad_one(tmp_path):
    good = write_audio(tmp_path / "beat.wav", click_track(120, seconds=10.0), sample_rate=SR)
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio\n" * 50)
    features = lf.compute_features(good)
    assert set(features) == set(lf.LOCAL_FEATURES)
    assert features["duration_ms"] == pytest.approx(10_000, abs=5)
    assert features["tempo"] == pytest.approx(120, rel=0.01)
    assert isinstance(features["key"], int) and 0 <= features["key"] <= 11 and features["mode"] in (0, 1)
    results = lf.compute_many([good, bad], workers=1)
    assert [r.path for r in results] == [str(good), str(bad)]
    assert results[0].features == features and results[0].error is None
    assert results[1].features is None and results[1].error
    with pytest.raises(AudioDecodeError):
        lf.compute_features(bad)


def test_key_estimate_edge_cases():
    assert lf.estimate_key(np.ones(12)) == (0, 1, 0.0)
    key, mode, r = lf.estimate_key(np.roll(lf.MINOR_PROFILE, 5))
    assert (key, mode) == (5, 0) and r == pytest.approx(1.0)
