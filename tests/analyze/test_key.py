"""Key, mode, key names and Camelot codes (spotidance.analyze.key)."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.analyze import key as key_module
from spotidance.analyze.key import (
    KeyEstimate,
    camelot,
    estimate_key,
    key_name,
    key_scores,
    match_profile,
    pitch_class_profile,
)
from spotidance.core.errors import SpotidanceError

SR = 22050
GENRES = ("techno", "edm", "dnb")

#: The Camelot wheel as DJ software prints it (Mixed In Key's chart), written out independently
#: of the implementation's formula: (pitch class, mode) -> code.
CAMELOT_WHEEL = {
    (11, 1): "1B", (8, 0): "1A",   # B major, G# (Ab) minor
    (6, 1): "2B", (3, 0): "2A",    # F# major, D# (Eb) minor
    (1, 1): "3B", (10, 0): "3A",   # C# (Db) major, A# (Bb) minor
    (8, 1): "4B", (5, 0): "4A",    # G# (Ab) major, F minor
    (3, 1): "5B", (0, 0): "5A",    # D# (Eb) major, C minor
    (10, 1): "6B", (7, 0): "6A",   # A# (Bb) major, G minor
    (5, 1): "7B", (2, 0): "7A",    # F major, D minor
    (0, 1): "8B", (9, 0): "8A",    # C major, A minor
    (7, 1): "9B", (4, 0): "9A",    # G major, E minor
    (2, 1): "10B", (11, 0): "10A",  # D major, B minor
    (9, 1): "11B", (6, 0): "11A",  # A major, F# minor
    (4, 1): "12B", (1, 0): "12A",  # E major, C# (Db) minor
}  # fmt: skip

NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def tone(freq: float, n: int, *, sr: int = SR, partials: int = 6) -> np.ndarray:
    """A harmonic tone (1/k amplitudes, like a sawtooth) with a gentle decay."""
    t = np.arange(n) / sr
    out = sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, partials + 1) if k * freq < sr / 2)
    return out * np.exp(-t / 1.5)


def cadence(key: int, mode: int, *, sr: int = SR, cents: float = 0.0, seconds_per_chord: float = 1.0) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor) triads over their roots in the bass, twice."""
    third = 4 if mode == 1 else 3
    chords = [(0, third, 7), (5, 5 + (4 if mode == 1 else 3), 12), (7, 11, 14), (0, third, 7)]
    n = int(seconds_per_chord * sr)
    parts = []
    for chord in chords * 2:
        ref = 60 + key + cents / 100  # MIDI numbers; middle C = 60
        seg = sum(tone(440 * 2 ** ((ref + p - 69) / 12), n, sr=sr) for p in chord)
        seg = seg + 1.5 * tone(440 * 2 ** ((ref - 24 + chord[0] - 69) / 12), n, sr=sr)
        parts.append(seg)
    y = np.concatenate(parts)
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


# --- names and codes ------------------------------------------------------------------------


def test_camelot_all_24_keys_match_the_wheel():
    assert len(CAMELOT_WHEEL) == 24
    for (key, mode), code in CAMELOT_WHEEL.items():
        assert camelot(key, mode) == code, (key, mode)
    assert camelot(6, 0) == "11A" and camelot(0, 1) == "8B"


def test_camelot_neighbours_are_a_fifth_apart_and_relatives_share_a_number():
    for key in range(12):
        for mode in (0, 1):
            number = int(camelot(key, mode)[:-1])
            up_a_fifth = int(camelot((key + 7) % 12, mode)[:-1])
            assert up_a_fifth == number % 12 + 1
        assert camelot(key, 1)[:-1] == camelot((key + 9) % 12, 0)[:-1]  # C major 8B, A minor 8A


def test_key_names_use_sharps():
    for key in range(12):
        assert key_name(key, 1) == f"{NAMES[key]} major"
        assert key_name(key, 0) == f"{NAMES[key]} minor"
    assert key_name(6, 0) == "F# minor"
    assert key_name(10, 1) == "A# major"


def test_no_key_gives_none():
    assert key_name(None, None) is None and camelot(None, None) is None
    assert key_name(3, None) is None and camelot(None, 1) is None


@pytest.mark.parametrize("key, mode", [(12, 1), (-1, 0), (3, 2), (2.5, 1), ("C", 1), (True, 1)])
def test_bad_key_or_mode_raises(key, mode):
    with pytest.raises(SpotidanceError):
        camelot(key, mode)
    with pytest.raises(SpotidanceError):
        key_name(key, mode)


# --- estimation on known signals ----------------------------------------------------------


@pytest.mark.parametrize("mode", [1, 0])
def test_cadences_in_all_twelve_keys(mode):
    for key in range(12):
        est = estimate_key(cadence(key, mode), sample_rate=SR)
        assert isinstance(est, KeyEstimate)
        assert (est.key, est.mode) == (key, mode), (key_name(key, mode), key_name(est.key, est.mode))
        assert 0.6 <= est.strength <= 1.0


@pytest.mark.parametrize("cents", [-40.0, -20.0, 25.0, 45.0])
def test_detuned_recordings_fold_to_the_right_key(cents):
    # 45 cents sharp is nearer the next semitone than its own: only the tuning estimate saves it.
    for key, mode in ((2, 1), (9, 0), (6, 0)):
        est = estimate_key(cadence(key, mode, cents=cents), sample_rate=SR)
        assert (est.key, est.mode) == (key, mode), (cents, key_name(key, mode), key_name(est.key, est.mode))


def test_other_sample_rates():
    for sr in (16000, 44100, 48000):
        est = estimate_key(cadence(7, 0, sr=sr), sample_rate=sr)
        assert (est.key, est.mode) == (7, 0), sr


def test_profile_is_normalised_and_peaks_on_the_triad():
    profile = pitch_class_profile(cadence(0, 1), sample_rate=SR)
    assert profile.shape == (12,) and profile.max() == pytest.approx(1.0) and profile.min() >= 0
    assert set(np.argsort(profile)[-3:]) <= {0, 4, 5, 7, 11, 2}  # notes of I, IV and V
    assert profile[0] == pytest.approx(1.0)  # the tonic: in two chords and the bass
    key, mode, r = match_profile(np.roll(profile, 5))  # the same profile moved up a fourth
    assert (key, mode) == (5, 1) and r > 0.6


def test_key_scores_follow_transposition():
    # Moving every frame's pitch classes up k semitones moves the best key up k, mode unchanged.
    rng = np.random.default_rng(5)
    for trial in range(20):
        frames = rng.random((40, 12)) ** 3
        scores = key_scores(frames, frame_seconds=0.19)
        assert scores.shape == (24,)
        best = int(np.argmax(scores))
        for k in (1, 5, 7, 11):
            moved = int(np.argmax(key_scores(np.roll(frames, k, axis=1), frame_seconds=0.19)))
            assert moved // 12 == best // 12 and moved % 12 == (best + k) % 12, (trial, k)


def test_one_segment_without_the_collection_term_is_the_whole_clip_profile(monkeypatch):
    # With one segment and no key-signature term the decision is the plain profile match.
    monkeypatch.setattr(key_module, "SEGMENT_SECONDS", 1e9)
    monkeypatch.setattr(key_module, "COLLECTION_WEIGHT", 0.0)
    rng = np.random.default_rng(6)
    for _ in range(20):
        frames = rng.random((30, 12)) ** 2
        best = int(np.argmax(key_scores(frames, frame_seconds=0.19)))
        key, mode, _ = match_profile(frames.sum(axis=0))
        assert (best % 12, 1 if best < 12 else 0) == (key, mode)


def test_key_signature_term_favours_the_keys_whose_scale_is_played(monkeypatch):
    # The white notes: the collection term lifts C major and A minor (one key signature) most,
    # the keys one accidental away (G major / E minor, F major / D minor) less, F# major least.
    white = np.tile(np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1.0]), (20, 1))
    with_term = key_scores(white, frame_seconds=0.19)
    monkeypatch.setattr(key_module, "COLLECTION_WEIGHT", 0.0)
    lift = with_term - key_scores(white, frame_seconds=0.19)
    c_major, a_minor, g_major, e_minor, f_major, fsharp_major = 0, 12 + 9, 7, 12 + 4, 5, 6
    assert lift[c_major] == pytest.approx(lift.max()) and lift[a_minor] == pytest.approx(lift.max())
    assert lift[g_major] < lift[c_major] - 0.1 and lift[e_minor] < lift[a_minor] - 0.1 and lift[f_major] < lift[c_major] - 0.1
    assert lift[fsharp_major] == pytest.approx(lift.min())


@pytest.mark.parametrize("frames", [np.zeros((0, 12)), np.zeros((5, 11)), np.full((3, 12), np.nan), np.zeros(12)])
def test_key_scores_refuses_bad_frames(frames):
    with pytest.raises(SpotidanceError):
        key_scores(frames, frame_seconds=0.19)
    with pytest.raises(SpotidanceError):
        key_scores(np.ones((4, 12)), frame_seconds=0.0)


def test_clip_shorter_than_a_segment():
    y = cadence(9, 0)[: int(2.5 * SR)]  # 2.5 s: under SEGMENT_SECONDS, one segment
    est = estimate_key(y, sample_rate=SR)
    assert est.key is not None and est.mode is not None


def test_synthetic_dance_clips():
    """Exact key and mode on synthetic clips of each genre (seed 7300, never used to tune).

    Measured when written: 17 of 18 (techno 5, edm 6, dnb 6 of 6), also after steps 5-6 were
    added. On 200 held-out 30 s clips per genre (benchmarks/bench_key.py, seeds 9100 and 9200)
    the exact rate is 94.5 / 82 / 93 %; on seed 9100 the old chroma_cqt + Krumhansl path's is
    17 / 6 / 85 %; a broken
    estimator (pitch classes off by one, modes swapped) gets about 1 in 24 per clip. The
    thresholds leave 3 clips of margin.
    """
    from spotidance.synth import render_clip

    right = {}
    for g, genre in enumerate(GENRES):
        for i in range(6):
            y, meta = render_clip(genre, seed=[7300, g, i], duration=15.0, sample_rate=SR)
            est = estimate_key(y, sample_rate=SR)
            right[genre] = right.get(genre, 0) + int((est.key, est.mode) == (meta["key"], meta["mode"]))
    assert sum(right.values()) >= 14, right
    assert min(right.values()) >= 4, right


# --- no key -----------------------------------------------------------------------------------


def _drum_loop(seed: int, seconds: float = 10.0) -> np.ndarray:
    """Hi-hats, snare and claps (band-limited noise bursts) at 128 BPM: no pitched sound."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n, beat = int(seconds * SR), int(60 / 128 * SR)
    y = np.zeros(n)
    hat = sosfilt(butter(2, 7000, "highpass", fs=SR, output="sos"), rng.standard_normal(1200)) * np.exp(-np.arange(1200) / 400)
    snare = sosfilt(butter(2, [1500, 8000], "bandpass", fs=SR, output="sos"), rng.standard_normal(4000)) * np.exp(-np.arange(4000) / 1700)
    clap = sosfilt(butter(2, [900, 3500], "bandpass", fs=SR, output="sos"), rng.standard_normal(3000)) * np.exp(-np.arange(3000) / 1500)
    for start in range(0, n - 4000, beat):
        y[start + beat // 2 : start + beat // 2 + 1200] += 0.3 * hat[: max(0, min(1200, n - start - beat // 2))]
        if (start // beat) % 2:
            y[start : start + 4000] += 0.5 * snare
            y[start : start + 3000] += 0.3 * clap
    return y.astype(np.float32)


def _pink(seed: int, n: int) -> np.ndarray:
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    y = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.arange(spectrum.size), 1)), n)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_and_unpitched_drums_have_no_key(seed):
    rng = np.random.default_rng(seed)
    for name, y in (("white", 0.1 * rng.standard_normal(10 * SR)), ("pink", _pink(seed, 10 * SR)), ("drums", _drum_loop(seed))):
        est = estimate_key(np.asarray(y, dtype=np.float32), sample_rate=SR)
        assert est.key is None and est.mode is None, (name, est)
        assert 0.0 <= est.strength <= 1.0


def test_silence_and_near_silence_have_no_key():
    assert estimate_key(np.zeros(5 * SR, dtype=np.float32), sample_rate=SR) == KeyEstimate(None, None, 0.0)
    tiny = 1e-8 * np.random.default_rng(0).standard_normal(5 * SR)
    assert estimate_key(tiny, sample_rate=SR).key is None
    assert pitch_class_profile(np.zeros(SR), sample_rate=SR) is None


def test_music_over_the_drums_still_has_a_key():
    y = _drum_loop(0, seconds=8.0) + cadence(4, 0)
    est = estimate_key(y, sample_rate=SR)
    assert (est.key, est.mode) == (4, 0)


def test_short_input_does_not_fail():
    est = estimate_key(cadence(0, 1)[: SR // 10], sample_rate=SR)  # 100 ms, shorter than a frame
    assert est.key in (None, *range(12))


@pytest.mark.parametrize(
    "y, sr",
    [(np.zeros((2, SR), dtype=np.float32), SR), (np.array([0.0, np.nan] * SR, dtype=np.float32), SR), (np.zeros(SR), 8000)],
)
def test_bad_input_raises(y, sr):
    with pytest.raises(SpotidanceError):
        estimate_key(y, sample_rate=sr)
