"""The 71 audio features of the Beatport 2016 table (Caparrini et al. 2020), computed from audio.

The table in ``shared/data/beatport-features-2016`` describes 2,300 Beatport tracks with the
features that Caparrini et al. computed with pyAudioAnalysis (Giannakopoulos 2015) in spring 2017
(``Caparrini/pyGenreClf``, ``featuresExtraction.py`` and ``tools.py``): each preview converted
with ffmpeg to 16-bit mono WAV at 22,050 Hz, at most the first 120 s, 34 short-term features on
non-overlapping 50 ms frames, their mean and standard deviation in 1 s mid-term windows (1 s step),
those statistics averaged over the file (columns 1-68), pyAudioAnalysis's beat histogram on the
short-term features (``69-BPM``, ``70-BPMconf``) and Essentia's tempo (``71-BPMessentia``).

Why hand-written: pyAudioAnalysis is the only implementation of these exact definitions (energy
entropy over 10 sub-blocks, a flux of sum-normalised magnitudes, the talkbox filter bank applied
to a half spectrum, its particular chroma folding, the peak-interval beat histogram), librosa's
features differ in definition, and pyAudioAnalysis itself needs numpy < 2, loops over frames in
Python (about 1 s per 30 s clip) and pulls in matplotlib, hmmlearn, scikit-learn and plotly. This
module re-implements the 2017 behaviour with numpy/scipy, all frames at once; its parity with
pyAudioAnalysis 0.3.14 (set up to behave as the 2017 code did) is tested against committed
fixtures (``tests/analyze/test_beatport.py``, ``tools/pyaa_reference``). The one Python loop is
the hysteresis peak picker of the beat histogram (:func:`_peak_positions`), a sequential state
machine over 18 feature curves of 20 values per second (about 1 ms for a 30 s clip).

Where the 2017 code and pyAudioAnalysis 0.3.14 differ we follow 2017 (docs/analyze-beatport2016.md):

- frame length: ``round(22050 * 0.05)`` was 1103 samples under Python 2 (round half away from
  zero); Python 3's round gives 1102 (and then a 121st one-frame mid-term window on 120 s);
- amplitude normalisation: 2017 divided the de-meaned signal by the peak of the *raw* signal,
  0.3.14 by the peak of the de-meaned one (the energy and MFCC columns notice);
- ``eps``: 1e-8 in 2017, ``sys.float_info.epsilon`` in 0.3.14's short-term features (it is added
  to the filter-bank energies before log10, so quiet frames' MFCCs change a lot);
- the beat confidence: 2017 divided by the histogram's sum, 0.3.14 by the sum + 1e-8.

The fixtures are bit-identical to the 2017 source run under Python 3 with minimal shims
(``tools/pyaa_reference/check_2017.py``).

For degenerate input (digital silence) we follow 0.3.14's guards (the 2017 code returned NaN),
so every column is finite.

References
----------
T. Giannakopoulos, "pyAudioAnalysis: An Open-Source Python Library for Audio Signal Analysis",
PLoS ONE 10(12), 2015. A. Caparrini, J. Arroyo, L. Pérez-Molina, J. Sánchez-Hernández,
"Automatic subgenre classification in an electronic dance music taxonomy", Journal of New Music
Research 49(3), 2020.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from spotidance.core.errors import SpotidanceError

#: Sample rate the table was computed at (Caparrini's ffmpeg conversion), Hz.
SAMPLE_RATE = 22050
#: Short-term frame length and step in samples: Python 2's ``round(22050 * 0.05)``.
FRAME = 1103
#: Short-term frames per mid-term window and per mid-term step (``round(22050 / 1103)``).
MID_FRAMES = 20
#: Longest audio analysed, seconds (the previews were 120 s; Caparrini's main.py cuts there).
MAX_SECONDS = 120.0
#: Frame step in seconds as given to the beat histogram (pyAudioAnalysis uses the nominal 0.05).
_BEAT_STEP = 0.05
_EPS = 1e-8  # pyAudioAnalysis's eps
#: Essentia's RhythmExtractor, run as Caparrini did, reports tempi above this (BPM) at half tempo
#: (probe clips: breakbeat kept up to 152 and halved from 156, four-on-the-floor halved from 160).
ESSENTIA_HALVE_ABOVE = 155.0
#: Its tempo / true tempo, octave aligned: median 1.0047 on the probe clips (it reads ~0.5 % high).
ESSENTIA_TEMPO_FACTOR = 1.0047
#: Frames transformed at a time by :func:`_dft_magnitude` (its temporaries stay in the core's cache).
_DFT_ROWS = 32
_BEAT_FEATURES = (0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

_SHORT_NAMES = (
    ["ZCR", "Energy", "EnergyEntropy", "SpectralCentroid", "SpectralSpread", "SpectralEntropy",
     "SpectralFlux", "SpectralRolloff"]
    + [f"MFCCs{i}" for i in range(1, 14)]
    + [f"ChromaVector{i}" for i in range(1, 13)]
    + ["ChromaDeviation"]
)


def _column_names() -> tuple[str, ...]:
    names = [f"{i + 1}-{n}m" for i, n in enumerate(_SHORT_NAMES)]
    names += [f"{i + 35}-{n}std" for i, n in enumerate(_SHORT_NAMES)]
    return tuple(names + ["69-BPM", "70-BPMconf", "71-BPMessentia"])


#: The 71 feature columns of the Beatport 2016 table, in table order.
BEATPORT2016_COLUMNS: tuple[str, ...] = _column_names()


@functools.lru_cache(maxsize=4)
def _mfcc_filter_bank(sample_rate: int, nfft: int) -> np.ndarray:
    """pyAudioAnalysis's 40-band triangular filter bank (from scikits.talkbox), ``(nfft, 40)``.

    As in pyAudioAnalysis, ``nfft`` is the length of the half spectrum but bin ``k`` is placed at
    ``k * sample_rate / nfft`` Hz (twice its true frequency); kept for parity.
    """
    n_lin, n_log = 13, 27
    freqs = np.zeros(n_lin + n_log + 2)
    freqs[:n_lin] = 133.33 + np.arange(n_lin) * (200 / 3)
    freqs[n_lin:] = freqs[n_lin - 1] * 1.0711703 ** np.arange(1, n_log + 3)
    heights = 2.0 / (freqs[2:] - freqs[:-2])
    bank = np.zeros((n_lin + n_log, nfft))
    bin_freqs = np.arange(nfft) / (1.0 * nfft) * sample_rate
    for i in range(n_lin + n_log):  # 40 filters, once per process
        lo, mid, hi = freqs[i], freqs[i + 1], freqs[i + 2]
        lid = np.arange(np.floor(lo * nfft / sample_rate) + 1, np.floor(mid * nfft / sample_rate) + 1, dtype=int)
        rid = np.arange(np.floor(mid * nfft / sample_rate) + 1, np.floor(hi * nfft / sample_rate) + 1, dtype=int)
        bank[i][lid] = heights[i] / (mid - lo) * (bin_freqs[lid] - lo)
        bank[i][rid] = heights[i] / (hi - mid) * (hi - bin_freqs[rid])
    return np.ascontiguousarray(bank.T)


@functools.lru_cache(maxsize=4)
def _chroma_matrix(sample_rate: int, nfft: int) -> np.ndarray:
    """The linear map of pyAudioAnalysis's chroma from a power spectrum to 12 bins, ``(nfft, 12)``.

    pyAudioAnalysis assigns ``C[n_chroma] = spec`` (bins sharing a semitone overwrite each other,
    negative semitone numbers wrap to the end of ``C``), divides position ``t`` by
    ``per_bin[n_chroma[t]]`` (a per-bin count indexed by a semitone number) and folds ``C`` modulo
    12 by position; this matrix does the same in one product.
    """
    freqs = (np.arange(nfft) + 1) * sample_rate / (2 * nfft)
    n_chroma = np.round(12.0 * np.log2(freqs / 27.5)).astype(int)
    if n_chroma.max() >= nfft:  # pyAudioAnalysis's other branch; unreachable at 22,050 Hz
        raise SpotidanceError("unsupported frame length for the chroma features")
    values, counts = np.unique(n_chroma, return_counts=True)
    per_bin = counts[np.searchsorted(values, n_chroma)].astype(float)  # bins sharing k's semitone
    divisor = per_bin[n_chroma]  # pyAudioAnalysis indexes that per-bin count by semitone number
    source = np.full(nfft, -1)
    source[n_chroma] = np.arange(nfft)  # the same fancy assignment as pyAudioAnalysis: who wins
    matrix = np.zeros((nfft, 12))
    targets = np.nonzero(source >= 0)[0]
    np.add.at(matrix, (source[targets], targets % 12), 1.0 / divisor[targets])
    return matrix


@functools.lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix (``x @ D == scipy.fft.dct(x, type=2, norm="ortho")`` to 1e-14).

    numpy's FFT and this matrix stand in for scipy.fft, whose import alone (0.2-0.6 s) would be a
    large part of ``classify``'s cold-start budget; the results equal scipy's (tested).
    """
    k = np.arange(n)
    d = np.cos(np.pi * (k[:, None] + 0.5) * k[None, :] / n) * np.sqrt(2.0 / n)
    d[:, 0] /= np.sqrt(2.0)
    return d


@functools.lru_cache(maxsize=4)
def _rader_plan(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constants of Rader's algorithm for the DFT of real frames of prime length ``n`` (odd).

    With ``g`` a primitive root modulo ``n``, bin ``g**-q`` of the DFT is
    ``x[0] + sum_p x[g**p] * W**(g**(p - q))`` (``W = exp(-2 pi i / n)``): a cyclic convolution of
    length ``n - 1`` of the permuted frame with ``b[m] = W**(g**-m)``. Returns the permutation
    ``g**p``, the real FFT of ``Re b + Im b`` (one real convolution gives both parts, see
    :func:`_dft_magnitude`), and for each bin ``1 .. (n - 1) / 2`` the output position ``q`` that
    holds it or its conjugate.
    """
    m = n - 1
    factors = [p for p in range(2, m + 1) if m % p == 0 and all(p % d for d in range(2, int(p**0.5) + 1))]
    g = next(c for c in range(2, n) if all(pow(c, m // p, n) != 1 for p in factors))
    perm = np.array([pow(g, p, n) for p in range(m)], dtype=np.intp)
    g_inv = pow(g, n - 2, n)
    bins = np.array([pow(g_inv, q, n) for q in range(m)], dtype=np.intp)  # output q is bin g**-q
    kernel = np.exp(-2j * np.pi * bins / n)
    half = m // 2
    source = np.empty(n, dtype=np.intp)
    source[bins[:half]] = np.arange(half)
    source[n - bins[:half]] = np.arange(half)  # g**(q + half) = -g**q: the conjugate bin
    return perm, np.fft.rfft(kernel.real + kernel.imag), source[1 : half + 1]


def _dft_magnitude(frames: np.ndarray, n_bins: int) -> np.ndarray:
    """``abs(numpy.fft.rfft(frames, axis=1))[:, :n_bins]`` for rows of odd prime length, faster.

    pocketfft transforms the prime length 1103 by a direct O(n**2) pass (14 ms for the 600 frames
    of a 30 s clip on the 2-core test machine, 10.5 ms this way); Rader's algorithm (an exact
    identity of the DFT, Rader 1968) turns it into a cyclic convolution of length 1102 = 2 * 19 * 29,
    done here with one real FFT and one inverse real FFT per frame. ``b``'s real part repeats with
    period ``(n - 1) / 2`` and its imaginary part changes sign (``b[m + half] = conj(b[m])``), so the
    two halves of the single real convolution with ``Re b + Im b`` separate into the real and the
    imaginary part of each bin. The magnitudes equal numpy's to rounding (about 1e-15 of each frame's
    largest bin; tested).
    """
    n = frames.shape[1]
    perm, kernel, source = _rader_plan(n)
    half = (n - 1) // 2
    out = np.empty((len(frames), n_bins))
    for start in range(0, len(frames), _DFT_ROWS):  # in blocks of rows: the temporaries stay in cache
        block = frames[start : start + _DFT_ROWS]
        conv = np.fft.irfft(np.fft.rfft(block[:, perm], axis=1) * kernel, n=n - 1, axis=1)
        # twice the real and imaginary parts (halved at the end: scaling by 2 is exact)
        re = conv[:, :half] + conv[:, half:]
        re += 2.0 * block[:, :1]
        im = np.subtract(conv[:, :half], conv[:, half:], out=conv[:, half:])
        np.multiply(re, re, out=re)
        np.multiply(im, im, out=im)
        re += im
        rows = out[start : start + _DFT_ROWS]
        rows[:, 0] = np.abs(block.sum(axis=1))
        np.sqrt(re[:, source[: n_bins - 1]], out=rows[:, 1:])
        rows[:, 1:] *= 0.5
    return out


def _short_term(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """The 34 short-term features of every frame, ``(34, n_frames)``."""
    n_frames = (len(signal) - FRAME) // FRAME + 1
    frames = signal[: n_frames * FRAME].reshape(n_frames, FRAME)
    nfft = FRAME // 2
    out = np.empty((34, n_frames))

    # time domain
    sign = (frames > 0).view(np.int8) - (frames < 0).view(np.int8)  # np.sign, in one byte
    out[0] = np.abs(np.diff(sign, axis=1)).sum(axis=1, dtype=np.int64) / 2 / (FRAME - 1.0)
    sub = FRAME // 10
    split = frames[:, : sub * 10].reshape(n_frames, 10, sub)
    blocks = np.einsum("ijk,ijk->ij", split, split)  # energies of the 10 sub-blocks
    tail = frames[:, sub * 10 :]
    total = blocks.sum(axis=1) + np.einsum("ij,ij->i", tail, tail)
    out[1] = total / FRAME
    blocks /= total[:, None] + _EPS
    out[2] = -(blocks * np.log2(blocks + _EPS)).sum(axis=1)

    # spectrum: |FFT| of the first nfft bins divided by nfft
    mag = _dft_magnitude(frames, nfft) / nfft

    # centroid and spread of mag / max(mag), from three matrix-vector products (no temporaries)
    peak = mag.max(axis=1)
    scale = 1.0 / np.where(peak == 0, _EPS, peak)
    ind = np.arange(1, nfft + 1) * (sample_rate / (2.0 * nfft))
    mag_sum = mag.sum(axis=1)
    mass = mag_sum * scale
    den = mass + _EPS
    first_moment = (mag @ ind) * scale
    centroid = first_moment / den
    second = (mag @ (ind * ind)) * scale - 2.0 * centroid * first_moment + centroid**2 * mass
    spread = np.sqrt(np.maximum(second, 0.0) / den)
    out[3] = centroid / (sample_rate / 2.0)
    out[4] = spread / (sample_rate / 2.0)

    spec = mag**2
    spec_total = spec.sum(axis=1)
    sub = nfft // 10
    blocks = spec[:, : sub * 10].reshape(n_frames, 10, sub).sum(axis=2) / (spec_total[:, None] + _EPS)
    out[5] = -(blocks * np.log2(blocks + _EPS)).sum(axis=1)

    normed = mag * (1.0 / (mag_sum + nfft * _EPS))[:, None]  # sum(mag + eps) as in pyAudioAnalysis
    flux = np.empty(n_frames)
    flux[0] = 0.0  # the first frame is compared with itself
    step = np.diff(normed, axis=0)
    flux[1:] = np.einsum("ij,ij->i", step, step)
    out[6] = flux

    above = np.cumsum(spec, axis=1) + _EPS > 0.90 * spec_total[:, None]
    first = above.argmax(axis=1)
    out[7] = np.where(above.any(axis=1), first / float(nfft), 0.0)

    mel = np.log10(mag @ _mfcc_filter_bank(sample_rate, nfft) + _EPS)
    out[8:21] = (mel @ _dct_matrix(mel.shape[1]))[:, :13].T

    chroma = spec @ _chroma_matrix(sample_rate, nfft)
    chroma /= np.where(spec_total == 0, _EPS, spec_total)[:, None]
    out[21:33] = chroma.T
    out[33] = chroma.std(axis=1)
    return out


def _mid_term_average(short: np.ndarray) -> np.ndarray:
    """Mean and std in 1 s windows (last one partial), averaged over windows: 68 values."""
    n_feats, n = short.shape
    full = n // MID_FRAMES
    means, stds = [], []
    if full:
        windows = short[:, : full * MID_FRAMES].reshape(n_feats, full, MID_FRAMES)
        means.append(windows.mean(axis=2))
        stds.append(windows.std(axis=2))
    if n % MID_FRAMES:
        rest = short[:, full * MID_FRAMES :]
        means.append(rest.mean(axis=1, keepdims=True))
        stds.append(rest.std(axis=1, keepdims=True))
    mean = np.nan_to_num(np.concatenate(means, axis=1)).mean(axis=1)
    std = np.nan_to_num(np.concatenate(stds, axis=1)).mean(axis=1)
    return np.concatenate([mean, std])


def _peak_positions(values: list[float], delta: float) -> list[int]:
    """Positions of the maxima found by Billauer's peakdet (as in pyAudioAnalysis's utilities).

    A hysteresis state machine: a maximum is confirmed once the curve falls ``delta`` below it, a
    minimum once it rises ``delta`` above it. It is sequential by nature, so it loops over plain
    Python floats (faster than numpy scalars for a few hundred values).
    """
    maxima = []
    mn, mx = math.inf, -math.inf
    mxpos = 0
    look_for_max = True
    for i, this in enumerate(values):
        if this > mx:
            mx, mxpos = this, i
        if this < mn:  # noqa: PLR1730 (an if is cheaper than a min() call in this hot loop)
            mn = this
        if look_for_max:
            if this < mx - delta:
                maxima.append(mxpos)
                mn = this
                look_for_max = False
        elif this > mn + delta:
            mx, mxpos = this, i
            look_for_max = True
    return maxima


def _beat(short: np.ndarray) -> tuple[float, float]:
    """pyAudioAnalysis's beat histogram: the most common interval between feature peaks."""
    max_beat = round(2.0 / _BEAT_STEP)
    n = short.shape[1]
    curves = short[list(_BEAT_FEATURES)]
    deltas = 2.0 * np.abs(np.diff(curves, axis=1)).mean(axis=1)
    deltas = np.where(deltas <= 0, 1e-16, deltas)
    intervals = []
    for curve, delta in zip(curves.tolist(), deltas.tolist()):
        peaks = _peak_positions(curve, delta)
        intervals.append(np.diff(np.asarray(peaks, dtype=int)))
    gaps = np.concatenate(intervals) if intervals else np.zeros(0, dtype=int)
    gaps = gaps[(gaps >= 1) & (gaps <= max_beat)]
    hist = np.bincount(gaps, minlength=max_beat + 1)[1:].astype(float) / n
    best = int(np.argmax(hist))
    bpm = 60.0 / ((best + 1) * _BEAT_STEP)
    total = hist.sum()
    ratio = hist[best] / total if total > 0 else 0.0  # 2017: no eps (0.3.14 adds 1e-8)
    return float(bpm), float(ratio)


def beatport2016_features(y: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """Columns 1-70 of the Beatport 2016 table for one mono signal.

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples (any scale: the signal is normalised to its peak, as pyAudioAnalysis does).
        Only the first 120 s are used.
    sample_rate : int
        Must be 22,050 Hz (resampling is the caller's job, e.g. ``spotidance.audio.decode.load``).

    Returns
    -------
    dict of str to float
        ``1-ZCRm`` ... ``68-ChromaDeviationstd``, ``69-BPM``, ``70-BPMconf`` (the names of
        :data:`BEATPORT2016_COLUMNS` but the last), all finite.

    Raises
    ------
    SpotidanceError
        If the rate is not 22,050 Hz, the signal is not 1-D, has non-finite samples or is shorter
        than one mid-term window (1 s).
    """
    if sample_rate != SAMPLE_RATE:
        raise SpotidanceError(f"the Beatport 2016 features need audio at {SAMPLE_RATE} Hz, got {sample_rate}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise SpotidanceError("the Beatport 2016 features need mono audio (a 1-D array)")
    if len(y) < SAMPLE_RATE:
        raise SpotidanceError("audio too short for the Beatport 2016 features (needs at least 1 s)")
    head = y[: int(MAX_SECONDS * SAMPLE_RATE)]
    signal = np.array(head, dtype=np.float64)  # a copy, normalised in place below
    if not np.isfinite(head if head.dtype.kind == "f" else signal).all():  # float32: half the memory to scan
        raise SpotidanceError("audio has non-finite samples")
    # 2017 normalisation: remove the DC, divide by the raw peak (the /2**15 of the int16 WAV cancels).
    peak = max(float(signal.max()), -float(signal.min()))  # = abs(signal).max(), without a temporary
    signal -= signal.mean()
    signal /= peak if peak > 0 else 1.0
    short = _short_term(signal, sample_rate)
    values = _mid_term_average(short)
    bpm, confidence = _beat(short)
    out = dict(zip(BEATPORT2016_COLUMNS[:68], values.tolist()))
    out["69-BPM"] = bpm
    out["70-BPMconf"] = confidence
    return out


def essentia_bpm(tempo: float | None) -> int | None:
    """Column ``71-BPMessentia`` from a tempo in the true-beat convention (174 for drum and bass).

    Caparrini et al. filled that column with Essentia's ``RhythmExtractor()`` (default parameters,
    so a 44,100 Hz ``sampleRate``, given the 22,050 Hz signal). We do not run Essentia (AGPL-3.0,
    spotidance is MIT); instead this maps a tempo to that convention with two rules measured on
    synthetic clips (``tools/pyaa_reference/essentia_agreement.py``, docs/analyze-beatport2016.md):

    - octave: tempi above :data:`ESSENTIA_HALVE_ABOVE` (155 BPM) come out at half tempo (drum and
      bass at ~87, as in the table), so the tempo is halved until it is at most that;
    - scale: the tempi read about 0.5 % high (128 BPM comes out as 128.6, rounded 129: the
      table's big room median is 129), so the tempo is multiplied by :data:`ESSENTIA_TEMPO_FACTOR`.

    Essentia's occasional 2/3-tempo readings of four-on-the-floor clips are errors that no
    tempo-only rule can predict and are not imitated.

    Parameters
    ----------
    tempo : float or None
        Beats per minute, true-beat convention.

    Returns
    -------
    int or None
        The rounded tempo in Essentia's convention; None for a missing, non-finite or
        non-positive tempo.
    """
    if tempo is None:
        return None
    tempo = float(tempo)
    if not math.isfinite(tempo) or tempo <= 0:
        return None
    while tempo > ESSENTIA_HALVE_ABOVE:
        tempo /= 2.0
    return round(tempo * ESSENTIA_TEMPO_FACTOR)
