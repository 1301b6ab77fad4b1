"""The core audio features of one clip: tempo, key, loudness (LUFS), energy, duration.

One function per feature lives in its own module (:mod:`~spotidance.analyze.tempo`,
:mod:`~spotidance.analyze.key`, :mod:`~spotidance.analyze.loudness`); this module puts them
together for ``spotidance analyze`` (:func:`core_features`) and for ``collect --features local``
(:func:`compute_features`, the Spotify-named subset), so both use the same code. The method of
every column, with references and measured accuracy, is in ``docs/analyze.md``.

* ``tempo`` / ``tempo_confidence``: :func:`spotidance.analyze.tempo.estimate_tempo`;
* ``key`` / ``mode`` / ``key_name`` / ``camelot`` / ``key_strength``:
  :func:`spotidance.analyze.key.estimate_key`;
* ``loudness``: integrated loudness per ITU-R BS.1770-4 in LUFS
  (:func:`spotidance.analyze.loudness.integrated_loudness`);
* ``energy``: 0..1 from loudness and onset rate (:func:`energy_from`);
* ``duration_ms``: length of the decoded audio.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from spotidance.analyze.key import camelot, estimate_key, key_name
from spotidance.analyze.loudness import integrated_loudness
from spotidance.analyze.tempo import estimate_tempo
from spotidance.audio.decode import load
from spotidance.core.errors import SpotidanceError

#: Analysis sample rate (Hz): every feature is computed on mono audio at this rate.
SAMPLE_RATE = 22050

#: Default bounds of the tempo answer (BPM); ``--tempo-range`` changes them.
DEFAULT_TEMPO_RANGE: tuple[float, float] = (60.0, 200.0)

#: Columns of :func:`core_features`, in the order ``analyze`` writes them (after ``path``).
CORE_COLUMNS: tuple[str, ...] = (
    "duration_ms", "tempo", "tempo_confidence", "key", "mode", "key_name", "camelot", "key_strength",
    "loudness", "energy",
)

#: The features :func:`compute_features` returns for ``collect``: Spotify's names, a subset of
#: ``core.schema.AUDIO_FEATURES``.
LOCAL_FEATURES: tuple[str, ...] = ("tempo", "loudness", "energy", "key", "mode", "duration_ms")

#: Shortest audio analysed (samples at :data:`SAMPLE_RATE`): 0.5 s.
MIN_SAMPLES = SAMPLE_RATE // 2

#: An onset raises the broadband level by at least this much (dB) from one 23 ms hop to the next.
ONSET_RISE_DB = 3.0


def core_features(y: np.ndarray, *, sample_rate: int = SAMPLE_RATE,
                  tempo_range: tuple[float, float] = DEFAULT_TEMPO_RANGE,
                  columns: Iterable[str] | None = None) -> dict:
    """The :data:`CORE_COLUMNS` of mono samples.

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples in -1..1.
    sample_rate : int
        Their rate in Hz.
    tempo_range : tuple of float
        ``(low, high)`` BPM bounds of the tempo answer.
    columns : iterable of str, optional
        Only these columns (and what they need) are measured, e.g. for a model that uses a few of
        them; default: all of :data:`CORE_COLUMNS`.

    Returns
    -------
    dict
        Column -> value; ``tempo`` is None for audio without rhythm, ``key``/``mode``/``key_name``/
        ``camelot`` None without tonal content, ``loudness`` None for digital silence.

    Raises
    ------
    SpotidanceError
        If the audio is shorter than 0.5 s or ``tempo_range`` is unusable.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size < sample_rate // 2:
        raise SpotidanceError(f"too short to analyse: {y.size / sample_rate:.2f} s (at least 0.5 s)")
    want = set(CORE_COLUMNS if columns is None else columns)
    row: dict = {"duration_ms": int(round(1000.0 * y.size / sample_rate))}
    if want & {"tempo", "tempo_confidence"}:
        tempo = estimate_tempo(y, sample_rate=sample_rate, tempo_range=tempo_range)
        row["tempo"] = None if tempo.bpm is None else round(float(tempo.bpm), 3)
        row["tempo_confidence"] = round(float(tempo.confidence), 3)
    if want & {"key", "mode", "key_name", "camelot", "key_strength"}:
        key = estimate_key(y, sample_rate=sample_rate)
        row.update(key=key.key, mode=key.mode, key_name=key_name(key.key, key.mode), camelot=camelot(key.key, key.mode),
                   key_strength=round(float(key.strength), 3))
    if want & {"loudness", "energy"}:
        lufs = integrated_loudness(y, sample_rate=sample_rate)
        row["loudness"] = None if lufs is None else round(float(lufs), 2)
        row["energy"] = round(energy_from(lufs, onset_rate(y, sample_rate=sample_rate)), 3)
    return {c: row[c] for c in CORE_COLUMNS if c in row}


def check_tempo_range(tempo_range: tuple[float, float]) -> tuple[float, float]:
    """``tempo_range`` as ``(low, high)`` floats, or a one-line :class:`SpotidanceError` if unusable."""
    estimate_tempo(np.zeros(8, dtype=np.float32), tempo_range=tempo_range)  # validates before anything else
    return float(tempo_range[0]), float(tempo_range[1])


def compute_features(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> dict:
    """The :data:`LOCAL_FEATURES` of one audio file, for ``collect --features local``.

    Parameters
    ----------
    path : str or path-like
        Any audio file :func:`spotidance.audio.decode.load` decodes (a 30 s preview, typically).
    sample_rate : int
        Analysis sample rate in Hz.

    Returns
    -------
    dict
        ``tempo`` (BPM), ``loudness`` (LUFS), ``energy`` (0..1), ``key`` (0-11), ``mode``
        (1 major, 0 minor), ``duration_ms``; a value that cannot be measured is None.

    Raises
    ------
    AudioDecodeError
        If the file cannot be decoded (the message is the reason).
    """
    values = core_features(load(path, sample_rate=sample_rate), sample_rate=sample_rate)
    return {k: values[k] for k in LOCAL_FEATURES}


def onset_rate(y: np.ndarray, *, sample_rate: int) -> float:
    """Onsets per second: sudden rises of the broadband level, for :func:`energy_from`.

    The level is taken on 512-sample hops (23 ms at 22,050 Hz); an onset is a local maximum of its
    rise that exceeds :data:`ONSET_RISE_DB` within one hop, at most 40 dB below the loudest hop, and at
    least 50 ms after the previous one. A steady tone or noise has none; a drum hit one each. Written
    here rather than with librosa's onset detector because it costs a millisecond instead of a mel
    spectrogram (~60 ms a 30 s clip), and energy only needs a rate.
    """
    hop = 512
    n = y.size // hop
    if n < 3:
        return 0.0
    level = 10.0 * np.log10(np.mean(np.square(y[: n * hop].reshape(n, hop), dtype=np.float64), axis=1) + 1e-10)
    rise = np.diff(level, prepend=level[0])
    peak = (rise > ONSET_RISE_DB) & (rise >= np.roll(rise, 1)) & (rise > np.roll(rise, -1)) & (level > level.max() - 40.0)
    gap = max(1, int(round(0.05 * sample_rate / hop)))
    count, last = 0, -gap
    for i in np.flatnonzero(peak):
        if i - last >= gap:
            count, last = count + 1, i
    return count / (y.size / sample_rate)


def energy_from(loudness: float | None, onset_rate: float) -> float:
    """Energy 0..1 from integrated loudness (LUFS) and onset rate (onsets per second).

    ``0.75 * clip((loudness + 30) / 24, 0, 1) + 0.25 * clip(onset_rate / 8, 0, 1)``: -30 LUFS or
    quieter gives no loudness credit, -6 LUFS (a loud club master) full credit; 8 or more onsets
    per second (sixteenth notes at 120 BPM) full rhythmic credit. Spotify's own model is unpublished;
    this mapping keeps its two strongest correlates (loudness, activity) and its 0..1 range.
    Silence (``loudness`` None) has no loudness credit.
    """
    loud_term = 0.0 if loudness is None else float(np.clip((loudness + 30.0) / 24.0, 0.0, 1.0))
    onset_term = float(np.clip(onset_rate / 8.0, 0.0, 1.0))
    return 0.75 * loud_term + 0.25 * onset_term
