"""Synthetic genre audio with known properties, for tests, the demo and benchmarks.

No real labelled dance music is reachable offline, so spotidance renders its own: labelled clips
of ``techno``, ``edm`` (big-room house) and ``dnb`` (drum and bass) built from the traits the
literature gives each genre:

========  ===========  ==========================================  ==========================
genre     tempo (BPM)  drums                                       bass / lead / vocal
========  ===========  ==========================================  ==========================
techno    120-135      four-on-the-floor kick, off-beat open hat,  rolling 16th-note bass,
                       16th closed hats, sparse clap               acid or stab lead,
                                                                   vocal in ~15 % of clips
edm       126-130      punchy kick on every beat, clap on 2 and 4, off-beat pluck bass,
                       off-beat open hat, snare roll               supersaw chords, vocal-like
                                                                   line in ~80 % of clips
dnb       170-178      two-step breakbeat (kick 1 and 3+, snare 2  detuned "reese" bass, pad,
                       and 4, ghost notes), 8th hats               vocal in ~30 % of clips
========  ===========  ==========================================  ==========================

Every clip draws its own tempo, key, mode, kick and hat timbre, swing, levels and the presence of
each part from a seeded generator, so the genres overlap (techno and EDM share tempi; some techno
has vocals, some EDM has none) instead of being trivially separable. The vocal-like line is a
vibrato sawtooth through vowel formant filters, one syllable per note.

:func:`render_clip` gives the samples and the clip's ground truth (tempo, key, mode,
instrumentalness, loudness, ...); :func:`render_collection` writes clips as real mp3 files
(44.1 kHz stereo, 128 kbps, 30 s: like a store preview) through ffmpeg, plus one CSV per genre in
the ``collect`` format (:data:`spotidance.core.schema.CSV_COLUMNS`) whose ``features_source`` and
``preview_source`` are ``"synthetic"``.

Rendering is deterministic: the same seed gives the same samples and the same mp3 bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from spotidance.audio.decode import ffmpeg_exe
from spotidance.core.atomic import OutputError, output_errors, write_atomic
from spotidance.core.errors import SpotidanceError
from spotidance.core.schema import CSV_COLUMNS, CSV_SCHEMA_VERSION
from spotidance.core.tables import format_table
from spotidance.core.progress import bar as progress_bar
from spotidance.core.workers import default_workers, init_worker_process, map_ordered


#: Sample rate of rendered clips (that of store previews).
SAMPLE_RATE = 44100

#: Genres rendered when none are named.
DEFAULT_GENRES: tuple[str, ...] = ("techno", "edm")
#: Clips per genre, by default.
DEFAULT_PER_GENRE = 20
#: Seconds per clip, by default (a store preview's length).
DEFAULT_DURATION = 30.0


@dataclasses.dataclass(frozen=True)
class GenreTraits:
    """What a genre's clips are drawn from.

    Attributes
    ----------
    name : str
        Label of the genre.
    title : str
        Human-readable name.
    tempo : tuple of float
        BPM range, drawn uniformly.
    pattern : str
        Drum pattern: ``"four"`` (four-on-the-floor) or ``"break"`` (two-step breakbeat).
    vocal_probability : float
        Share of clips with a vocal-like line.
    minor_probability : float
        Share of clips in a minor key.
    danceability : tuple of float
        Range of the ground-truth danceability.
    """

    name: str
    title: str
    tempo: tuple[float, float]
    pattern: str
    vocal_probability: float
    minor_probability: float
    danceability: tuple[float, float]


#: The genres spotidance can render, by label.
GENRES: dict[str, GenreTraits] = {
    "techno": GenreTraits("techno", "Techno", (120.0, 135.0), "four", 0.15, 0.8, (0.70, 0.90)),
    "edm": GenreTraits("edm", "Big room house", (126.0, 130.0), "four", 0.80, 0.35, (0.50, 0.75)),
    "dnb": GenreTraits("dnb", "Drum and bass", (170.0, 178.0), "break", 0.30, 0.75, (0.40, 0.62)),
}

_NOTE_A4 = 440.0
_VOWELS = {  # formant frequencies (Hz) and relative gains of a few sung vowels
    "a": ((800, 1150, 2900), (1.0, 0.6, 0.25)),
    "e": ((400, 1600, 2700), (1.0, 0.5, 0.3)),
    "i": ((300, 2200, 3000), (1.0, 0.35, 0.3)),
    "o": ((450, 800, 2830), (1.0, 0.7, 0.15)),
    "u": ((325, 700, 2530), (1.0, 0.5, 0.1)),
}
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


def _hz(midi: float) -> float:
    return _NOTE_A4 * 2.0 ** ((midi - 69) / 12)


def _saw(freq: np.ndarray | float, n: int, *, sr: int, phase: float = 0.0) -> np.ndarray:
    """A naive sawtooth (aliasing is harmless here) of constant or per-sample frequency."""
    if np.ndim(freq) == 0:
        ph = phase + freq * np.arange(n) / sr
    else:
        ph = phase + np.cumsum(freq) / sr
    return (2.0 * (ph % 1.0) - 1.0).astype(np.float32)


def _env(n: int, *, sr: int, attack: float, decay: float) -> np.ndarray:
    """Linear attack then exponential decay (time constant ``decay`` seconds)."""
    t = np.arange(n) / sr
    a = np.minimum(1.0, t / max(attack, 1e-4))
    return (a * np.exp(-np.maximum(t - attack, 0.0) / max(decay, 1e-4))).astype(np.float32)


def _place(track: np.ndarray, sound: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``sound`` into ``track`` at sample ``start`` (clipped at the end)."""
    if start >= len(track):
        return
    end = min(len(track), start + len(sound))
    track[start:end] += gain * sound[: end - start]


def _filter(kind: str, signal: np.ndarray, cutoff, *, sr: int, order: int = 2) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(order, cutoff, btype=kind, fs=sr, output="sos")
    return sosfilt(sos, signal).astype(np.float32)


# --- drums -----------------------------------------------------------------------------------


def _kick(rng: np.random.Generator, *, sr: int, punch: float) -> np.ndarray:
    n = int(0.4 * sr)
    t = np.arange(n) / sr
    f_hi, f_lo = rng.uniform(140, 210), rng.uniform(42, 60)
    sweep = f_lo + (f_hi - f_lo) * np.exp(-t / rng.uniform(0.025, 0.05))
    body = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / rng.uniform(0.12, 0.25) / (1 + 0.3 * punch))
    click = rng.standard_normal(n) * np.exp(-t / 0.004) * (0.2 + 0.4 * punch)
    return np.tanh((1.0 + punch) * (body + click)).astype(np.float32)


def _noise_hit(rng: np.random.Generator, *, sr: int, decay: float, band, length: float) -> np.ndarray:
    n = int(length * sr)
    noise = rng.standard_normal(n).astype(np.float32)
    noise = _filter("bandpass" if isinstance(band, tuple) else "highpass", noise, band, sr=sr)
    return noise * _env(n, sr=sr, attack=0.001, decay=decay)


def _clap(rng: np.random.Generator, *, sr: int) -> np.ndarray:
    hit = _noise_hit(rng, sr=sr, decay=rng.uniform(0.05, 0.12), band=(900.0, 3500.0), length=0.3)
    out = hit.copy()
    for k in (1, 2):  # the smeared start of a hand clap
        d = int(k * rng.uniform(0.008, 0.014) * sr)
        out[d:] += 0.7 * hit[: len(hit) - d]
    return out / (np.abs(out).max() + 1e-9)


def _snare(rng: np.random.Generator, *, sr: int) -> np.ndarray:
    n = int(0.3 * sr)
    t = np.arange(n) / sr
    tone = np.sin(2 * np.pi * rng.uniform(170, 230) * t) * np.exp(-t / 0.05)
    noise = _noise_hit(rng, sr=sr, decay=rng.uniform(0.06, 0.12), band=(1500.0, 8000.0), length=0.3)
    out = 0.6 * tone + noise / (np.abs(noise).max() + 1e-9)
    return (out / np.abs(out).max()).astype(np.float32)


def _hat(rng: np.random.Generator, *, sr: int, open_: bool) -> np.ndarray:
    decay = rng.uniform(0.09, 0.2) if open_ else rng.uniform(0.015, 0.045)
    hit = _noise_hit(rng, sr=sr, decay=decay, band=rng.uniform(6000, 9000), length=0.35 if open_ else 0.1)
    return hit / (np.abs(hit).max() + 1e-9)


# --- tonal parts -----------------------------------------------------------------------------


def _note(freq: float, n: int, *, sr: int, detune: float = 0.0, voices: int = 1, rng=None) -> np.ndarray:
    """A (super)saw of ``voices`` detuned voices, normalised to peak about 1."""
    if voices == 1:
        return _saw(freq, n, sr=sr)
    spread = np.linspace(-detune, detune, voices)
    phases = rng.random(voices) if rng is not None else np.zeros(voices)
    out = sum(_saw(freq * 2 ** (c / 1200), n, sr=sr, phase=p) for c, p in zip(spread, phases))
    return (out / math.sqrt(voices)).astype(np.float32)


def _vocal_syllable(rng: np.random.Generator, freq: float, n: int, *, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    vibrato = 1 + 0.015 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t) * np.minimum(1, t / 0.15)
    source = _saw(freq * vibrato, n, sr=sr) + 0.05 * rng.standard_normal(n).astype(np.float32)
    formants, gains = _VOWELS[rng.choice(list(_VOWELS))]
    voice = sum(g * _filter("bandpass", source, (f * 0.9, f * 1.1), sr=sr) for f, g in zip(formants, gains))
    edge = min(int(0.03 * sr), n // 4)
    ramp = np.ones(n, dtype=np.float32)
    ramp[:edge] = np.linspace(0, 1, edge)
    ramp[n - edge :] = np.linspace(1, 0, edge)
    return (voice * ramp).astype(np.float32)


# --- a clip ----------------------------------------------------------------------------------


def draw_traits(genre: str, rng: np.random.Generator) -> dict[str, Any]:
    """Draw one clip's parameters for ``genre`` (tempo, key, mode, which parts play, levels)."""
    g = _genre(genre)
    traits = {
        "genre": g.name,
        "tempo": round(float(rng.uniform(*g.tempo)), 2),
        "key": int(rng.integers(12)),
        "mode": int(rng.random() >= g.minor_probability),  # 1 = major, 0 = minor
        "vocal": bool(rng.random() < g.vocal_probability),
        "swing": float(rng.uniform(0.0, 0.08)),
        "punch": float(rng.uniform(0.3, 1.0) if g.name == "edm" else rng.uniform(0.0, 0.6)),
        "hat_density": float(rng.uniform(0.4, 1.0)),
        "lead": bool(rng.random() < (0.9 if g.name == "edm" else 0.55)),
        "gain_db": float(rng.uniform(-13.0, -7.0)),
        "danceability": round(float(rng.uniform(*g.danceability)), 3),
    }
    # Parts borrowed across techno and big room in a minority of clips, so the genres overlap.
    if g.name == "techno":
        traits["bass"] = "rolling" if rng.random() < 0.85 else "offbeat"
        traits["lead_style"] = "acid" if rng.random() < 0.8 else "supersaw"
    elif g.name == "edm":
        traits["bass"] = "offbeat" if rng.random() < 0.85 else "rolling"
        traits["lead_style"] = "supersaw" if rng.random() < 0.85 else "acid"
    else:
        traits["bass"], traits["lead_style"] = "reese", "pad"
    return traits


def _genre(genre: str) -> GenreTraits:
    try:
        return GENRES[genre]
    except KeyError:
        raise SpotidanceError(f"unknown genre {genre!r}; choose from {', '.join(GENRES)}") from None


def render_clip(
    genre: str, *, seed: int | Sequence[int], duration: float = 30.0, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one synthetic clip of ``genre``.

    Parameters
    ----------
    genre : str
        A key of :data:`GENRES`.
    seed : int or sequence of int
        Seed of the clip; the same seed gives the same samples.
    duration : float
        Length in seconds.
    sample_rate : int
        Output rate in Hz.

    Returns
    -------
    audio : numpy.ndarray
        Mono float32 samples in [-1, 1].
    meta : dict
        The clip's ground truth: ``tempo``, ``key``, ``mode``, ``vocal``, ``instrumentalness``,
        ``loudness`` (dBFS of the mix), ``energy``, ``danceability``, ... (see :func:`draw_traits`).
    """
    if duration <= 0:
        raise SpotidanceError("duration must be positive")
    rng = np.random.default_rng(seed)
    tr = draw_traits(genre, rng)
    sr = int(sample_rate)
    n = int(round(duration * sr))
    step = 60.0 / tr["tempo"] / 4  # a 16th note, seconds
    n_steps = int(math.ceil(duration / step)) + 1

    def at(s: int) -> int:  # sample index of 16th step s, off-beat 16ths swung
        return int(round((s * step + (tr["swing"] * step if s % 2 else 0.0)) * sr))

    drums = np.zeros(n, dtype=np.float32)
    kick = _kick(rng, sr=sr, punch=tr["punch"])
    hat_c, hat_o = _hat(rng, sr=sr, open_=False), _hat(rng, sr=sr, open_=True)
    clap, snare = _clap(rng, sr=sr), _snare(rng, sr=sr)
    hat_level = 0.12 + 0.15 * tr["hat_density"]
    for s in range(n_steps):
        pos = s % 16
        if GENRES[tr["genre"]].pattern == "four":
            if pos % 4 == 0:
                _place(drums, kick, at(s), 0.9)
            if pos % 4 == 2:
                _place(drums, hat_o, at(s), hat_level * 1.3)
            elif rng.random() < tr["hat_density"] * 0.8:
                _place(drums, hat_c, at(s), hat_level * rng.uniform(0.4, 1.0))
            clap_p = 1.0 if tr["genre"] == "edm" else 0.35
            if pos in (4, 12) and rng.random() < clap_p:
                _place(drums, clap, at(s), 0.45)
            if tr["genre"] == "edm" and (s // 16) % 8 == 7 and pos >= 8 and rng.random() < 0.8:
                _place(drums, snare, at(s), 0.25 + 0.02 * (pos - 8))  # snare roll into the drop
        else:
            if pos in (0, 10) or (pos == 7 and rng.random() < 0.3):
                _place(drums, kick, at(s), 0.85)
            if pos in (4, 12):
                _place(drums, snare, at(s), 0.7)
            elif rng.random() < 0.12:
                _place(drums, snare, at(s), 0.15)  # ghost note
            if pos % 2 == 0 and rng.random() < 0.4 + 0.6 * tr["hat_density"]:
                _place(drums, hat_c, at(s), hat_level * rng.uniform(0.5, 1.0))
            if pos == 14 and rng.random() < 0.5:
                _place(drums, hat_o, at(s), hat_level)

    scale = _MAJOR if tr["mode"] == 1 else _MINOR
    root = 36 + tr["key"]  # bass octave (C2 = 36)
    bass = np.zeros(n, dtype=np.float32)
    s16 = int(step * sr)
    if tr["bass"] == "rolling":
        for s in range(n_steps):
            if s % 4 != 0 and rng.random() < 0.85:
                deg = 0 if rng.random() < 0.7 else scale[rng.choice((2, 4, 6))] - 12
                note = _note(_hz(root + deg), s16, sr=sr) * _env(s16, sr=sr, attack=0.003, decay=step * 0.6)
                _place(bass, note, at(s))
        bass = _filter("lowpass", bass, rng.uniform(250, 700), sr=sr)
    elif tr["bass"] == "offbeat":
        for s in range(n_steps):
            if s % 4 == 2:
                deg = scale[(s // 64) % 4 * 2 % 7]
                length = 2 * s16
                note = _note(_hz(root + deg), length, sr=sr, voices=3, detune=12, rng=rng)
                _place(bass, note * _env(length, sr=sr, attack=0.004, decay=step), at(s))
        bass = _filter("lowpass", bass, rng.uniform(400, 1000), sr=sr)
    else:  # reese: long detuned notes, two per bar
        for s in range(0, n_steps, 8):
            deg = scale[rng.choice((0, 0, 2, 4, 5))]
            length = 8 * s16
            note = _note(_hz(root + deg - 12 * (rng.random() < 0.5)), length, sr=sr, voices=2, detune=18, rng=rng)
            _place(bass, note * _env(length, sr=sr, attack=0.01, decay=step * 10), at(s))
        bass = _filter("lowpass", bass, rng.uniform(180, 450), sr=sr)

    lead = np.zeros(n, dtype=np.float32)
    if tr["lead"]:
        if tr["lead_style"] == "supersaw":  # supersaw chord stabs, I-V-vi-IV style progressions
            offbeat = rng.random() < 0.6  # off-beat stabs, else long chords on 1 and 3
            hits, hold = ((2, 6, 10, 14), 1.6) if offbeat else ((0, 8), 6.0)
            for s in range(0, n_steps, 2):
                if (s % 16) in hits:
                    degree = (0, 4, 5, 3)[(s // 16) % 4]
                    length = int(hold * s16)
                    chord = sum(
                        _note(_hz(root + 24 + scale[(degree + k) % 7] + 12 * ((degree + k) // 7)), length, sr=sr, voices=5, detune=25, rng=rng)
                        for k in (0, 2, 4)
                    )
                    _place(lead, chord * _env(length, sr=sr, attack=0.005, decay=step * 1.2), at(s))
            lead = _filter("lowpass", lead, rng.uniform(3000, 7000), sr=sr) * 0.18
        elif tr["lead_style"] == "acid":  # acid/stab line
            cutoff = rng.uniform(600, 2000)
            pattern = rng.random(16) < 0.4
            for s in range(n_steps):
                if pattern[s % 16]:
                    length = s16
                    note = _note(_hz(root + 12 + scale[rng.choice((0, 0, 2, 4))]), length, sr=sr)
                    _place(lead, note * _env(length, sr=sr, attack=0.002, decay=step * 0.5), at(s))
            lead = _filter("lowpass", lead, cutoff, sr=sr, order=4) * 0.3
        else:  # pad
            for s in range(0, n_steps, 32):
                length = 32 * s16
                chord = sum(_note(_hz(root + 24 + scale[k]), length, sr=sr, voices=3, detune=10, rng=rng) for k in (0, 2, 4))
                _place(lead, chord * _env(length, sr=sr, attack=0.5, decay=step * 40), at(s))
            lead = _filter("lowpass", lead, rng.uniform(1200, 2500), sr=sr) * 0.12

    vocal = np.zeros(n, dtype=np.float32)
    sung = 0
    if tr["vocal"]:
        s = 2 * int(rng.integers(0, 4))  # syllables start on 8th notes
        while s < n_steps:
            phrase = int(rng.integers(4, 9))  # syllables in this phrase
            for _ in range(phrase):
                dur = int(rng.choice((2, 2, 4)))
                pitch = root + 24 + scale[int(rng.integers(0, 7))]
                length = dur * s16
                _place(vocal, _vocal_syllable(rng, _hz(pitch), length, sr=sr), at(s))
                sung += length
                s += dur
            s += 2 * int(rng.integers(2, 8))  # breath between phrases
        vocal *= 0.3 / (np.abs(vocal).max() + 1e-9)

    mix = drums + 0.7 * bass + lead + vocal
    mix = np.tanh(1.2 * mix).astype(np.float32)
    rms = float(np.sqrt(np.mean(mix**2))) + 1e-12
    mix *= 10 ** (tr["gain_db"] / 20) / rms
    peak = float(np.abs(mix).max())
    if peak > 0.98:
        mix *= 0.98 / peak
    mix = mix.astype(np.float32)

    loudness = 20 * math.log10(float(np.sqrt(np.mean(mix**2))) + 1e-12)
    vocal_share = sung / n
    if tr["vocal"]:
        instrumental = 0.02 + 0.3 * (1 - min(1.0, vocal_share)) * rng.random()
    else:
        instrumental = rng.uniform(0.62, 0.95)
    meta = dict(tr)
    meta.update(
        duration_ms=int(round(duration * 1000)),
        loudness=round(loudness, 3),
        instrumentalness=round(float(instrumental), 3),
        speechiness=round(float(rng.uniform(0.03, 0.06) + (0.05 * vocal_share if tr["vocal"] else 0.0)), 4),
        energy=round(float(np.clip(0.55 + 0.03 * (loudness + 10) + 0.25 * tr["hat_density"] + rng.normal(0, 0.04), 0, 1)), 3),
        acousticness=round(float(10 ** rng.uniform(-4, -1.5)), 6),
        valence=round(float(np.clip(rng.uniform(0.1, 0.5) + 0.2 * tr["mode"], 0, 1)), 3),
        time_signature=4,
    )
    return mix, meta


# --- files -----------------------------------------------------------------------------------


def write_mp3(path: str | os.PathLike, audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, bitrate: str = "128k") -> Path:
    """Encode mono float samples to a stereo mp3 at ``path`` atomically (temporary file, rename).

    The encoder runs in bit-exact mode, so the same samples always give the same bytes.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "-",
           "-af", "pan=stereo|c0=c0|c1=c0", "-c:a", "libmp3lame", "-b:a", bitrate, "-map_metadata", "-1",
           "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp3", str(tmp)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=np.ascontiguousarray(audio, dtype=np.float32).tobytes(), capture_output=True)
        if proc.returncode != 0:
            text = proc.stderr.decode(errors="replace")
            if "No space left on device" in text:
                raise OutputError(f"cannot write {path}: no space left on device; free some space and rerun to carry on")
            if "Read-only file system" in text or "Permission denied" in text:
                raise OutputError(f"cannot write {path}: {'read-only file system' if 'Read-only' in text else 'permission denied'}")
            last = text.strip().splitlines()[-1] if text.strip() else f"exit code {proc.returncode}"
            raise SpotidanceError(f"ffmpeg could not write {path}: {last[:200]}")
        with output_errors(path):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclasses.dataclass
class SynthSummary:
    """What :func:`render_collection` did."""

    out: Path
    csvs: list[Path]
    rendered: int
    reused: int
    rows: list[dict[str, Any]]


#: Seeds a collection may have: the range every NumPy and Keras generator takes.
MAX_SEED = 2**32 - 1


def clip_seed(seed: int, genre: str, index: int) -> list[int]:
    """The seed of clip ``index`` of ``genre`` in a collection seeded ``seed``."""
    return [int(seed), list(GENRES).index(genre), int(index)]


def _render_job(job: tuple[str, int, int, float, str]) -> dict[str, Any]:
    genre, seed, index, duration, path = job
    audio, meta = render_clip(genre, seed=clip_seed(seed, genre, index), duration=duration)
    write_mp3(path, audio)

    # The ground truth beside the clip, written after it: a clip with its .json is complete.
    write_atomic(Path(path).with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
    return meta


def _render_jobs(jobs: list[tuple[str, int, int, float, str]], *, workers: int):
    """Yield :func:`_render_job`'s result for each job, in order, with at most ``2 * workers`` in flight.

    On Ctrl-C (or any error) the pending jobs are cancelled and the worker processes stopped
    (not waited for: a 30 s clip takes seconds to render), so the command ends within a second.
    A clip being written when its worker stops leaves only a hidden temporary file, removed by
    the next run.
    """
    if workers <= 1:
        yield from map_ordered(_render_job, jobs, workers=1, what="a clip")
        return
    import concurrent.futures as cf
    import multiprocessing
    from collections import deque
    from concurrent.futures.process import BrokenProcessPool

    before = set(multiprocessing.active_children())
    pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=init_worker_process)
    window: deque = deque()
    todo = iter(jobs)
    finished = False
    try:
        for job in todo:
            window.append(pool.submit(_render_job, job))
            if len(window) >= 2 * workers:
                break
        while window:
            future = window.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                window.append(pool.submit(_render_job, nxt))
            try:
                result = future.result()
            except BrokenProcessPool:
                raise SpotidanceError("a rendering process died (out of memory?); rerun with --workers 1") from None
            yield result
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)
        if not finished:
            for proc in set(multiprocessing.active_children()) - before:  # this pool's workers only
                proc.terminate()


def render_collection(
    out_dir: str | os.PathLike,
    *,
    genres: Sequence[str] = DEFAULT_GENRES,
    per_genre: int = DEFAULT_PER_GENRE,
    seed: int = 0,
    duration: float = DEFAULT_DURATION,
    workers: int | None = None,
    progress: bool = False,
) -> SynthSummary:
    """Render ``per_genre`` mp3 clips per genre with one ``collect``-format CSV per genre.

    Writes ``out_dir/<genre>/<genre>-NNN.mp3`` and ``out_dir/<genre>.csv`` (columns
    :data:`spotidance.core.schema.CSV_COLUMNS`; ``preview_path`` relative to the CSV). Clips already
    there from an earlier run with the same seed and duration are reused, so a rerun (or a run
    with a larger ``per_genre``) renders only what is missing; ``out_dir/synth.json`` records the
    settings, and a folder rendered with other settings is refused.

    Parameters
    ----------
    out_dir : path-like
        Output folder.
    genres : sequence of str
        Keys of :data:`GENRES`.
    per_genre : int
        Clips per genre.
    seed : int
        Seed of the collection (clip ``i`` of genre ``g`` uses :func:`clip_seed`).
    duration : float
        Seconds per clip.
    workers : int, optional
        Rendering processes (default: one per core).
    progress : bool
        Show a progress bar.

    Returns
    -------
    SynthSummary
    """
    for g in genres:
        _genre(g)
    if per_genre < 1:
        raise SpotidanceError("per_genre must be at least 1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise SpotidanceError(f"seed {seed!r} is out of range: give a whole number from 0 to {MAX_SEED}")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise SpotidanceError(f"duration {duration!r} must be a positive number of seconds")
    out = Path(out_dir)
    with output_errors(out):
        out.mkdir(parents=True, exist_ok=True)
    settings = {"seed": int(seed), "duration": float(duration)}
    stamp = out / "synth.json"
    if stamp.exists():
        try:
            old = json.loads(stamp.read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or {k: old.get(k) for k in settings} != settings:
            raise SpotidanceError(f"{out} holds clips rendered with other settings ({stamp}); choose another folder")
    write_atomic(stamp, json.dumps(settings, indent=2) + "\n")

    jobs, reused = [], 0
    metas: dict[tuple[str, int], dict[str, Any]] = {}
    for g in genres:
        with output_errors(out / g):
            (out / g).mkdir(exist_ok=True)
        for stale in (out / g).glob(f".{g}-*.tmp"):  # left by a run stopped mid-clip
            stale.unlink(missing_ok=True)
        for i in range(per_genre):
            path = out / g / f"{g}-{i:03d}.mp3"
            meta = _read_meta(path)
            if meta is not None:
                reused += 1
                metas[(g, i)] = meta
            else:
                jobs.append((g, int(seed), i, float(duration), str(path)))

    n_workers = max(1, min(workers or default_workers(), len(jobs) or 1))
    bar = progress_bar(enabled=progress and bool(jobs), total=len(jobs), desc="rendering", unit="clip", leave=False)
    try:
        # a bounded window of jobs in flight (never all submitted up front); Ctrl-C stops the
        # workers at once, and each finished clip is already on disk for the rerun
        for job, meta in zip(jobs, _render_jobs(jobs, workers=n_workers)):
            metas[(job[0], job[2])] = meta
            bar.update(1)
    finally:
        bar.close()

    csvs, all_rows = [], []
    for g in genres:
        rows = [_csv_row(g, i, metas[(g, i)], seed=seed) for i in range(per_genre)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        target = out / f"{g}.csv"
        write_atomic(target, buf.getvalue())
        write_atomic(target.with_name(target.name + ".meta.json"),
                     json.dumps({"schema_version": CSV_SCHEMA_VERSION, "source": "spotidance.synth", **settings}, indent=2) + "\n")
        csvs.append(target)
        all_rows.extend(rows)
    return SynthSummary(out, csvs, len(jobs), reused, all_rows)


def _read_meta(path: Path) -> dict[str, Any] | None:
    """The ground truth of an already rendered clip, or None if the clip is missing or incomplete."""
    try:
        if path.stat().st_size == 0:
            return None
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and "tempo" in meta else None


def _csv_row(genre: str, index: int, meta: dict[str, Any], *, seed: int) -> dict[str, Any]:
    artist = index // 3  # three clips per synthetic artist, for artist-grouped splits
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update(
        track_id=f"synth-{seed}-{genre}-{index:03d}",
        track_name=f"Synthetic {GENRES[genre].title} {index + 1}",
        artist_name=f"Synthetic {GENRES[genre].title} Artist {artist + 1}",
        track_length=meta["duration_ms"],
        label=genre,
        playlist_id=f"synthetic-{genre}",
        artist_id=f"synth-artist-{genre}-{artist:03d}",
        preview_source="synthetic",
        preview_path=f"{genre}/{genre}-{index:03d}.mp3",
        features_source="synthetic",
    )
    for key in ("acousticness", "danceability", "duration_ms", "energy", "instrumentalness", "key", "loudness",
                "mode", "speechiness", "tempo", "time_signature", "valence"):  # fmt: skip
        row[key] = meta[key]
    return row


def format_summary(summary: SynthSummary) -> str:
    """A table per genre: clips, mean tempo, share with vocals, mean instrumentalness."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in summary.rows:
        by.setdefault(r["label"], []).append(r)
    table = [
        [g, len(rs), f"{np.mean([float(r['tempo']) for r in rs]):.1f}",
         f"{np.mean([float(r['instrumentalness']) for r in rs]):.2f}", str(summary.out / f"{g}.csv")]
        for g, rs in by.items()
    ]  # fmt: skip
    head = f"rendered {summary.rendered} clips, reused {summary.reused} from an earlier run"
    return head + "\n" + format_table(table, headers=["label", "clips", "mean tempo", "mean instrumentalness", "csv"])
