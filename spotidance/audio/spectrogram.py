"""Log-mel spectrograms and the 128x128 frames every model sees.

The numbers are librosa's: :func:`log_mel` equals
``librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512,
n_mels=128, power=2.0), ref=1.0)`` (the tests check it to 1e-4 dB). It is written out here with
NumPy and scipy's FFT (:mod:`spotidance.audio.fft`) rather than calling librosa, for two reasons: ``import librosa`` pulls in
numba and costs about a second, which ``classify`` cannot afford on a cold start; and computing
the same steps in one pass over pre-built, cached windows and filter banks is faster than the
general-purpose functions. The mel filter bank is librosa's Slaney-style bank (``htk=False``,
``norm="slaney"``), rebuilt by :func:`mel_filterbank` and checked against ``librosa.filters.mel``.

Frames are ``[mel, time]`` arrays of shape ``(n_mels, frame_length)``: frame ``i`` holds STFT
frames ``i*frame_length`` to ``(i+1)*frame_length - 1``, non-overlapping, and a tail shorter than
one frame is dropped.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from spotidance.audio import decode as audio
from spotidance.audio.config import SpectrogramConfig
from spotidance.audio.fft import rfft
from spotidance.core.errors import AudioDecodeError

#: librosa's ``power_to_db`` floor on power values.
AMIN = 1e-10

#: STFT frames transformed at a time (see :func:`power_spectrogram`).
_STFT_BLOCK = 64


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale, as ``librosa.hz_to_mel(htk=False)``."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / f_sp
    log_t = frequencies >= min_log_hz
    mels[log_t] = min_log_mel + np.log(frequencies[log_t] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_hz_to_mel`, as ``librosa.mel_to_hz(htk=False)``."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = np.asarray(mels, dtype=np.float64)
    freqs = f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=8)
def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The mel filter bank ``librosa.filters.mel(sr=..., n_fft=..., n_mels=...)`` returns.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n_mels, 1 + n_fft // 2)``; read-only (cached).
    """
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sample_rate / 2.0]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=8)
def _band_groups(*, sample_rate: int, n_fft: int, n_mels: int, size: int = 16) -> tuple[tuple[int, int, int, int], ...]:
    """Groups of ``size`` consecutive mel bands with the FFT-bin range their weights cover.

    Each mel filter is a triangle over a few bins, so the filter bank is mostly zeros; applying
    it group by group to just those bins does about a seventh of the dense product's work, with
    the same terms (the skipped weights are exact zeros).
    """
    basis = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
    groups = []
    for first in range(0, n_mels, size):
        last = min(first + size, n_mels)
        nonzero = np.flatnonzero(basis[first:last].any(axis=0))
        lo, hi = (int(nonzero[0]), int(nonzero[-1]) + 1) if len(nonzero) else (0, 0)
        groups.append((first, last, lo, hi))
    return tuple(groups)


def apply_mel(power: np.ndarray, *, config: SpectrogramConfig) -> np.ndarray:
    """``mel_filterbank(...) @ power`` for a ``(1 + n_fft // 2, n)`` power spectrogram, float32."""
    basis = mel_filterbank(sample_rate=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)
    mel = np.zeros((config.n_mels, power.shape[1]), dtype=np.float32)
    for first, last, lo, hi in _band_groups(sample_rate=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels):
        if hi > lo:
            np.matmul(basis[first:last, lo:hi], power[lo:hi], out=mel[first:last])
    return mel


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window("hann", n_fft, fftbins=True)``)."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    window.setflags(write=False)
    return window


def n_stft_frames(n_samples: int, *, config: SpectrogramConfig) -> int:
    """STFT frames a centred transform gives for ``n_samples`` samples."""
    return 1 + n_samples // config.hop_length


def n_frames(n_samples: int, *, config: SpectrogramConfig) -> int:
    """Whole ``frame_length``-wide frames that ``n_samples`` samples give (0 if too short)."""
    return n_stft_frames(n_samples, config=config) // config.frame_length


def power_spectrogram(y: np.ndarray, *, config: SpectrogramConfig) -> np.ndarray:
    """Centred, zero-padded STFT power, ``|STFT|**power``, shape ``(1 + n_fft // 2, n_stft)``, float32.

    Like librosa, the FFT runs in float64 and the complex result is rounded to complex64.
    """
    n_fft, hop = config.n_fft, config.hop_length
    y = np.asarray(y, dtype=np.float32)
    padded = np.pad(y, n_fft // 2, mode="constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = _hann(n_fft)
    power = np.empty((frames.shape[0], 1 + n_fft // 2), dtype=np.float32)
    # Blocks of STFT frames keep the float64 intermediates in cache: about 1.5x faster than one
    # pass over the whole clip, with the same numbers.
    for start in range(0, frames.shape[0], _STFT_BLOCK):
        block = frames[start : start + _STFT_BLOCK] * window
        spectrum = rfft(block).astype(np.complex64)  # scipy.fft.rfft's numbers, without importing scipy.fft
        if config.power == 2.0:
            np.add(np.square(spectrum.real), np.square(spectrum.imag), out=power[start : start + _STFT_BLOCK])
        else:
            power[start : start + _STFT_BLOCK] = np.abs(spectrum) ** config.power
    return power.T


def log_mel(y: np.ndarray, *, config: SpectrogramConfig) -> np.ndarray:
    """Log-mel spectrogram in dB, ``power_to_db(melspectrogram(y), ref=1.0)``.

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples at ``config.sample_rate``.
    config : SpectrogramConfig
        STFT, mel and dB settings.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n_mels, 1 + len(y) // hop_length)``.
    """
    mel = apply_mel(power_spectrogram(y, config=config), config=config)
    db = 10.0 * np.log10(np.maximum(AMIN, mel))  # ref = 1.0: the reference term is 0 dB
    if config.top_db is not None:
        np.maximum(db, db.max() - config.top_db, out=db)
    return db.astype(np.float32, copy=False)


def frames_from_audio(y: np.ndarray, *, config: SpectrogramConfig) -> np.ndarray:
    """Cut a clip into non-overlapping ``(n_mels, frame_length)`` log-mel frames.

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples at ``config.sample_rate``.
    config : SpectrogramConfig
        Includes the optional per-frame normalisation.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(n_frames, n_mels, frame_length)``; ``n_frames`` is 0 for a clip shorter
        than one frame (2.97 s by default).
    """
    count = n_frames(len(y), config=config)
    if count == 0:
        return np.zeros((0, config.n_mels, config.frame_length), dtype=np.float32)
    db = log_mel(y, config=config)
    width = count * config.frame_length
    out = db[:, :width].reshape(config.n_mels, count, config.frame_length).transpose(1, 0, 2)
    out = np.ascontiguousarray(out)
    if config.normalize == "frame":
        mean = out.mean(axis=(1, 2), keepdims=True)
        std = out.std(axis=(1, 2), keepdims=True)
        out = (out - mean) / np.maximum(std, 1e-6)
    return out.astype(np.float32, copy=False)


def file_frames(path: str | os.PathLike, *, config: SpectrogramConfig) -> np.ndarray:
    """Decode ``path`` and return its frames (see :func:`frames_from_audio`).

    Raises
    ------
    AudioDecodeError
        If the file cannot be decoded, or is shorter than one frame.
    """
    y = audio.load(path, sample_rate=config.sample_rate)
    out = frames_from_audio(y, config=config)
    if len(out) == 0:
        raise AudioDecodeError(
            f"too short: {len(y) / config.sample_rate:.2f} s, one frame needs {config.frame_seconds:.2f} s"
        )
    return out


def frames_or_reason(path: str, *, config: SpectrogramConfig) -> tuple[str, Any]:
    """For worker processes: ``("ok", frames)`` or ``("skip", reason)`` for one file, never an exception."""
    try:
        return "ok", file_frames(path, config=config)
    except AudioDecodeError as exc:
        return "skip", str(exc)
    except MemoryError:
        return "skip", "file too large to decode"
    except Exception as exc:  # a decoder bug must not end the run: report it against the file
        return "skip", f"unexpected error: {exc.__class__.__name__}: {str(exc)[:100]}"
