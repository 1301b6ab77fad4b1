"""The core features of one clip (analyze's columns and collect's local features) on synthetic audio
whose tempo, key, mode, level and length are known.

Tolerances: tempo within 1 %, loudness within 0.3 LU of the BS.1770 value of a sine (K-weighting is
flat within 0.1 dB at 220 Hz, so a mono sine of amplitude A reads -0.691 + 10 log10(A^2 / 2) LUFS),
duration within 5 ms (wav, no codec padding); key and mode exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.analyze import features as lf
from spotidance.core.errors import AudioDecodeError, SpotidanceError
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
    features = lf.core_features(click_track(bpm), sample_rate=SR)
    assert features["tempo"] == pytest.approx(bpm, rel=0.01)
    assert 0.0 <= features["tempo_confidence"] <= 1.0


@pytest.mark.parametrize("tonic,major", [(0, True), (6, True), (9, False), (2, False)])
def test_key_and_mode_of_a_cadence_with_name_and_camelot(tonic, major):
    features = lf.core_features(chords(cadence(tonic, major=major)), sample_rate=SR)
    assert (features["key"], features["mode"]) == (tonic, int(major))
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert features["key_name"] == f"{names[tonic]} {'major' if major else 'minor'}"
    assert features["camelot"] is not None and features["camelot"][-1] == ("B" if major else "A")


def test_loudness_in_lufs_of_a_sine_and_energy_follows():
    t = np.arange(6 * SR) / SR
    levels = {}
    for amplitude in (0.5, 0.05):
        y = (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        levels[amplitude] = lf.core_features(y, sample_rate=SR)
        assert levels[amplitude]["loudness"] == pytest.approx(-0.691 + 10 * np.log10(amplitude**2 / 2), abs=0.3)
        assert 0.0 <= levels[amplitude]["energy"] <= 1.0
        assert levels[amplitude]["tempo"] is None  # a steady tone has no beat: no tempo is invented
    assert levels[0.5]["energy"] > levels[0.05]["energy"]
    busy = lf.core_features(click_track(128, amplitude=0.9), sample_rate=SR)
    assert 0.0 <= busy["energy"] <= 1.0
    assert busy["energy"] > levels[0.05]["energy"]


def test_silence_has_no_loudness_tempo_or_key():
    features = lf.core_features(np.zeros(5 * SR, np.float32), sample_rate=SR)
    assert features["loudness"] is None and features["tempo"] is None and features["key"] is None
    assert features["energy"] == 0.0 and features["duration_ms"] == 5000


def test_compute_features_from_a_file_gives_collects_columns(tmp_path):
    good = write_audio(tmp_path / "beat.wav", click_track(120, seconds=10.0), sample_rate=SR)
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio\n" * 50)
    features = lf.compute_features(good)
    assert list(features) == list(lf.LOCAL_FEATURES)
    assert features["duration_ms"] == pytest.approx(10_000, abs=5)
    assert features["tempo"] == pytest.approx(120, rel=0.01)
    with pytest.raises(AudioDecodeError):
        lf.compute_features(bad)


def test_too_short_and_bad_tempo_range_are_one_line_errors():
    with pytest.raises(SpotidanceError, match="too short"):
        lf.core_features(np.zeros(100, np.float32), sample_rate=SR)
    with pytest.raises(SpotidanceError):
        lf.check_tempo_range((200.0, 60.0))
