"""Deterministic test signals shared by the pyAudioAnalysis reference and the parity tests.

Both ``tools/pyaa_reference/make_fixtures.py`` (numpy 1.26, pyAudioAnalysis 0.3.14) and
``tests/analyze/test_beatport.py`` (spotidance's numpy) import this file, so it uses numpy only
and no random generator whose stream could change between numpy versions: its noise is a
splitmix64 hash of the sample index (integer arithmetic, identical on every machine). Every signal
is quantised to 16-bit steps, as the WAV files of the Beatport table were, so that the reference
can be fed the int16 samples and spotidance the same values as floats.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 22050
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _noise(n: int, seed: int) -> np.ndarray:
    """Uniform noise in [-1, 1) from a splitmix64 hash of (seed, index)."""
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = z * np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(30)
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z = z * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53) * 2.0 - 1.0


def _quantise(x: np.ndarray, *, peak: float = 0.8) -> np.ndarray:
    """Scale to ``peak`` and round to int16 steps; float64 values k / 32768."""
    x = x / np.abs(x).max() * peak
    return np.round(x * 32768.0).clip(-32768, 32767) / 32768.0


def _decay(n: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * SAMPLE_RATE))


def drum_loop(duration: float = 30.0) -> np.ndarray:
    """A 128 BPM four-on-the-floor loop: kick, off-beat hats, a bass line and a lead tone."""
    sr = SAMPLE_RATE
    n = round(duration * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    beat = 60.0 / 128.0
    kick_len = int(0.25 * sr)
    kt = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * (50 * kt + 60 * 0.03 * (1 - np.exp(-kt / 0.03)))) * _decay(kick_len, 0.08)
    hat_len = int(0.05 * sr)
    hats = _noise(hat_len * 512, 7).reshape(512, hat_len) * _decay(hat_len, 0.012)
    hats = np.diff(hats, axis=1, prepend=0.0)  # a crude high-pass
    for k, start in enumerate(np.arange(0.0, duration, beat)):
        i = int(start * sr)
        seg = out[i : i + kick_len]
        seg += kick[: len(seg)]
        j = int((start + beat / 2) * sr)
        seg = out[j : j + hat_len]
        seg += 0.4 * hats[k % 512, : len(seg)]
    bass_notes = np.array([36, 36, 39, 41])  # MIDI, one per bar
    bar = 4 * beat
    note = bass_notes[(t // bar).astype(int) % 4]
    bass_f = 440.0 * 2 ** ((note - 69) / 12)
    phase = 2 * np.pi * np.cumsum(bass_f) / sr
    gate = ((t % (beat / 2)) < beat / 4).astype(float)
    out += 0.35 * np.sin(phase) * gate
    out += 0.12 * np.sin(2 * np.pi * 659.25 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t))
    return _quantise(out)


def noise_bursts(duration: float = 24.5) -> np.ndarray:
    """Noise bursts of changing length and colour between quiet gaps, with a DC offset.

    The gaps hold a faint hum; one stretch is digital zero (before the offset), so frames of a
    constant value are exercised. The offset tests the DC removal and peak normalisation.
    """
    sr = SAMPLE_RATE
    n = round(duration * sr)
    noise = _noise(n, 11)
    brown = np.cumsum(_noise(n, 12))
    brown -= np.convolve(brown, np.ones(401) / 401, mode="same")
    out = np.zeros(n)
    pos, k = 0, 0
    lengths = (0.11, 0.3, 0.07, 0.5, 0.23, 0.9, 0.16)
    while pos < n:
        length = int(lengths[k % len(lengths)] * sr)
        gap = int(lengths[(k + 3) % len(lengths)] * 0.6 * sr)
        src = noise if k % 2 == 0 else brown / (np.abs(brown).max() + 1e-12)
        seg = slice(pos, min(pos + length, n))
        m = seg.stop - seg.start
        out[seg] = src[seg] * _decay(m, 0.05 + 0.05 * (k % 3))
        g = slice(seg.stop, min(seg.stop + gap, n))
        out[g] = 0.01 * np.sin(2 * np.pi * 50.0 * np.arange(g.stop - g.start) / sr)
        pos = g.stop
        k += 1
    out[int(10.0 * sr) : int(11.5 * sr)] = 0.0
    return _quantise(out, peak=0.7) + 1638 / 32768.0  # an offset of 0.05, on the int16 grid


def chord_progression(duration: float = 25.3) -> np.ndarray:
    """A minor chord progression of harmonic tones, stabbed at 174 BPM, over a reese-like drone.

    The length is not a whole number of seconds, so the last mid-term window is partial.
    """
    sr = SAMPLE_RATE
    n = round(duration * sr)
    t = np.arange(n) / sr
    chords = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))  # Am F C G
    bar = 4 * 60.0 / 174.0
    idx = (t // (2 * bar)).astype(int) % len(chords)
    out = np.zeros(n)
    for voice in range(3):
        midi = np.array([c[voice] for c in chords])[idx]
        f = 440.0 * 2 ** ((midi - 69) / 12)
        phase = 2 * np.pi * np.cumsum(f) / sr
        for h in range(1, 6):
            out += np.sin(h * phase) / h**1.5
    step = 60.0 / 174.0 / 2
    env = np.exp(-(t % step) / 0.06)
    out *= env
    drone = np.sin(2 * np.pi * 55.0 * t) + np.sin(2 * np.pi * 55.4 * t)
    out += 0.8 * drone
    out += 0.05 * _noise(n, 21)
    return _quantise(out)


def long_pulse(duration: float = 125.0) -> np.ndarray:
    """125 s of a 140 BPM pulse over a slow sine sweep: longer than the 120 s that are analysed."""
    sr = SAMPLE_RATE
    n = round(duration * sr)
    t = np.arange(n) / sr
    sweep = np.sin(2 * np.pi * (200 * t + 0.5 * 12 * t**2 / duration))
    pulse = np.exp(-(t % (60.0 / 140.0)) / 0.03) * _noise(n, 31)
    return _quantise(0.5 * sweep + pulse)


#: The signals of the parity fixtures, by name.
SIGNALS = {
    "drum_loop": drum_loop,
    "noise_bursts": noise_bursts,
    "chord_progression": chord_progression,
    "long_pulse": long_pulse,
}
