"""A small deterministic drum synthesizer for metrically ambiguous test patterns.

Patterns are given per 4-beat bar in sixteenth-note positions (floats allowed: triplets, swing).
Sounds: a pitch-swept sine kick with a click, a noise-and-tone snare, a high-passed noise hat, an
open hat, and a sawtooth bass note. Everything is seeded, so the same call gives the same samples.
"""

from __future__ import annotations

import numpy as np

SR = 22050


def _decay(n: int, tau: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * SR))


def kick(rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * SR)
    t = np.arange(n) / SR
    freq = 50.0 + 90.0 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SR) * _decay(n, 0.12)
    click = rng.standard_normal(n) * _decay(n, 0.004) * 0.3
    return body + click


def snare(rng: np.random.Generator) -> np.ndarray:
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n) * _decay(n, 0.06)
    tone = np.sin(2 * np.pi * 190.0 * t) * _decay(n, 0.05)
    return 0.6 * noise + 0.5 * tone


def hat(rng: np.random.Generator, *, open_: bool = False) -> np.ndarray:
    n = int((0.25 if open_ else 0.06) * SR)
    noise = np.diff(rng.standard_normal(n + 1))  # first difference: a crude high-pass
    return 0.25 * noise * _decay(n, 0.08 if open_ else 0.012)


def bass(rng: np.random.Generator, *, freq: float = 55.0, length: float = 0.15) -> np.ndarray:
    n = int(length * SR)
    t = np.arange(n) / SR
    saw = 2.0 * ((freq * t) % 1.0) - 1.0
    return 0.5 * saw * np.minimum(1.0, t / 0.005) * _decay(n, length / 2)


def render(bpm: float, bars: list[dict[str, list[float]]], *, seconds: float = 20.0, swing: float = 0.0,
           seed: int = 0, intro: float = 0.0) -> np.ndarray:
    """Render ``bars`` (cycled) at ``bpm`` for ``seconds``.

    Parameters
    ----------
    bpm : float
        Quarter notes a minute.
    bars : list of dict
        Each dict maps an instrument (``kick``, ``snare``, ``hat``, ``ohat``, ``bass``) to its
        sixteenth positions in the bar (0-15.99); the list is played in a loop.
    seconds : float
        Length of the output.
    swing : float
        Fraction of a sixteenth by which odd sixteenths (and odd eighths of ``hat``) are late.
    seed : int
        Noise seed.
    intro : float
        Seconds of a sustained bass drone without drums before the first bar.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n + SR)
    sounds = {"kick": kick(rng), "snare": snare(rng), "hat": hat(rng), "ohat": hat(rng, open_=True),
              "bass": bass(rng)}
    gains = {"kick": 1.0, "snare": 0.8, "hat": 0.5, "ohat": 0.5, "bass": 0.6}
    step = 60.0 / bpm / 4
    if intro > 0:
        m = int(intro * SR)
        t = np.arange(m) / SR
        out[:m] += 0.2 * np.sin(2 * np.pi * 82.4 * t) * np.minimum(1.0, t / 0.5)
    bar_index = 0
    start = intro
    while start < seconds:
        pattern = bars[bar_index % len(bars)]
        for name, positions in pattern.items():
            for p in positions:
                late = swing * step if int(np.floor(p)) % 2 == 1 and float(p).is_integer() else 0.0
                t0 = start + p * step + late + rng.normal(0, 0.002)
                i = int(round(t0 * SR))
                if 0 <= i < n:
                    s = sounds[name]
                    vel = gains[name] * (0.85 + 0.15 * rng.random())
                    out[i:i + len(s)] += vel * s[: len(out) - i]
        bar_index += 1
        start += 16 * step
    out = out[:n]
    return (out / (np.abs(out).max() + 1e-9) * 0.8).astype(np.float32)


# --------------------------------------------------------------------------- named patterns

DNB_TWOSTEP = {"kick": [0, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]}
DNB_AMEN = {"kick": [0, 2, 10, 11], "snare": [4, 7, 9, 12, 15], "hat": [0, 2, 4, 6, 8, 10, 12, 14]}
DNB_HALFTIME = {"kick": [0, 11], "snare": [8], "hat": [0, 2, 4, 6, 8, 10, 12, 14]}
HIPHOP_16THS = {"kick": [0, 7, 10], "snare": [4, 12], "hat": list(range(16))}
HIPHOP_TRIPLET = {"kick": [0, 10], "snare": [4, 12], "hat": [k * 16 / 12 for k in range(12)]}
FOUR_FLOOR = {"kick": [0, 4, 8, 12], "snare": [4, 12], "ohat": [2, 6, 10, 14], "hat": list(range(16))}
TRANCE = {"kick": [0, 4, 8, 12], "snare": [4, 12], "ohat": [2, 6, 10, 14], "bass": [2, 6, 10, 14]}
ROCK = {"kick": [0, 8, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]}
METAL = {"kick": list(range(16)), "snare": [4, 12], "hat": [0, 4, 8, 12]}


def click_track(bpm: float, *, seconds: float = 20.0) -> np.ndarray:
    """1 ms clicks on every beat, exactly at ``bpm``."""
    n = int(seconds * SR)
    y = np.zeros(n, np.float32)
    period = 60.0 / bpm * SR
    k = np.arange(int(n / period) + 1)
    idx = np.round(k * period).astype(int)
    for i in idx[idx < n - 22]:
        y[i:i + 22] = 0.8
    return y
