"""Tempo (BPM) of a music clip, with the metrical level chosen from the drum pattern.

Most tempo errors of onset-periodicity methods are not imprecision but the wrong *metrical level*:
drum and bass at 174 read as 116 (2/3) or 87 (1/2), metal at 180 as 90, hip-hop at 90 as 180. The
periodicity of an onset envelope alone cannot settle this (hip-hop at 90 and drum and bass at 180
are an octave apart and have the same pulse train), so this module separates two questions:

1. **Which periodicities are there, precisely.** A spectral-flux onset envelope (half-wave
   rectified frame difference of STFT magnitudes; Grosche & Müller 2011, Böck et al. 2015) is
   Fourier transformed with heavy zero padding, and the salience of a tempo ``b`` is the summed
   magnitude at ``b/60`` Hz and its first harmonics (harmonic summation as in Percival &
   Tzanetakis 2014; the Fourier tempogram of Grosche & Müller). Evaluated on a fine grid, its peak
   is precise to a few hundredths of a BPM for steady music.
2. **Which of them is the beat.** Candidates are the strongest periodicity times 1/4 ... 4 (the
   metrical levels and their 2:3 and 3:4 relatives). For each, band envelopes are folded onto one
   4-beat bar of 48 positions at that tempo (beat-synchronous accent patterns, as in Gkiokas et al.
   2012; Elowsson & Friberg 2015 use the spectral bands carrying each level) and scored:

   * *backbeat*: snare-band (1-6 kHz, the kick's share removed) accent on beats 2 and 4 minus the
     largest of beats 1 and 3, the eighth-note off-beats and the overall mean, on the beat grid
     where the kick + snare accents are largest (rock, pop, hip-hop, drum and bass, metal). One
     level too slow puts the snares on off-beats (negative); one level too fast puts them on
     beat 3 only (halved);
   * *four on the floor*: the weakest low-band (kick) accent of the four beats minus the larger of
     the off-beat mean and the overall mean (house, techno, trance); one level too slow has kicks
     on the off-beats too. Added to the backbeat score, so a half-tempo rock beat (a kick on every
     "beat", snares on the off-beats) does not pass for four on the floor;
   * two factors: the *grid fit* (accent on the candidate's sixteenth grid over accent anywhere:
     at 2:3, 3:4 or 4:3 of the true tempo the true beats fall between grid positions) and the
     *bar consistency* (even and odd bars look alike at the true level).

   The score is that convention evidence plus the relative periodicity salience and a wide
   log-normal tempo prior around 120 BPM (Parncutt 1994, Moelants 2002), which only break near
   ties. Without drums the choice falls back to salience and the prior.
3. **Bounding.** Candidates outside ``tempo_range`` are not considered.

Why hand-written: librosa's tempo and beat tracker (and Essentia's RhythmExtractor2013, not a
dependency here) pick the level from periodicity strength and a fixed prior, which is exactly what
fails on drum and bass, metal and hip-hop; the trained estimators that do better (TempoCNN, Böck's
RNNs) need network weights that cannot be shipped here. numpy and scipy's pocketfft only: the STFT is done in
chunks with scipy's float32 FFT because librosa's mel front end alone takes about the whole 40 ms budget (its
compiled module is loaded by itself, :func:`spotidance.audio.fft.rfft`: importing the scipy.fft package
costs ~0.2 s of CPU in every worker process), and the
moving filters and peak picking are small numpy functions at the end of this module (equal to
scipy.ndimage's and scipy.signal.find_peaks' results, checked in tests) because importing scipy.signal
and scipy.ndimage takes about a second, most of ``classify``'s cold-start budget.
See docs/analyze-tempo.md for the dev set, the accuracy, the change log and the known limits.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from spotidance.audio.fft import rfft
from spotidance.core.errors import SpotidanceError

__all__ = ["TempoEstimate", "candidate_table", "estimate_tempo"]

N_FFT = 1024
HOP = 256  # at 22,050 Hz: 11.6 ms frames (86 a second)
LOW_HZ = 150.0  # kick / bass band upper edge
MID_HZ = (1000.0, 6000.0)  # snare / clap / rim band (noise of the snare wires, the clap)
CHUNK = 256  # STFT frames processed at a time
NFFT_TEMPO = 2 ** 17  # zero-padded envelope transform: 0.04 BPM bins at 86 frames a second
HARMONICS = 6
RATIOS = (1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1.0, 4 / 3, 3 / 2, 2.0, 3.0, 4.0)
FOLD_BINS = 48  # one 4-beat bar: 12 bins a beat (sixteenths and triplets both fall on bins)
MIN_ONSETS = 8
PRIOR_CENTER, PRIOR_SIGMA = 120.0, 0.8  # log-normal prior (natural-log width)
W_SALIENCE, W_PRIOR = 0.35, 0.15  # weights of the relative salience and the log prior
GRID_FLOOR, GRID_SPAN = 1.1, 0.4  # grid fit at or below 1.1 (2:3 relatives: 0.95-1.1) zeroes the convention score


class TempoEstimate(NamedTuple):
    """A tempo estimate.

    Attributes
    ----------
    bpm : float or None
        Beats per minute at the chosen metrical level; None when the clip has no rhythm (fewer
        than 8 clear onsets).
    confidence : float
        0..1: how much the chosen level's score beats the best other candidate level,
        ``(best - second) / (|best| + |second|)`` clipped to 0..1, times the share of the
        envelope's periodic energy at the chosen tempo's harmonics. 0 means a coin flip between
        levels (or no rhythm). Not calibrated as a probability.
    """

    bpm: float | None
    confidence: float


def _check_range(tempo_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in tempo_range)
    except (TypeError, ValueError):
        raise SpotidanceError(f"tempo range must be two numbers (low, high), got {tempo_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 20.0 or hi > 400.0 or hi < lo * 1.1:
        raise SpotidanceError(
            f"tempo range {lo:g}:{hi:g} BPM is not usable: it must lie within 20:400 and its high end must be "
            "at least 10% above its low end"
        )
    return lo, hi


def _band_envelopes(y: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Spectral flux (linear STFT magnitude, half-wave rectified frame difference) in three bands
    (low, mid, full), shape (3, frames), and the frame rate."""
    pad = N_FFT // 2
    yp = np.pad(y, (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(yp, N_FFT)[::HOP]
    win = np.hanning(N_FFT).astype(np.float32)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    bands = np.stack([(freqs > 20) & (freqs <= LOW_HZ), (freqs > MID_HZ[0]) & (freqs <= MID_HZ[1]), freqs > 20],
                     axis=1).astype(np.float32)
    env = np.zeros((len(frames), 3), np.float32)
    windowed = np.empty((CHUNK, N_FFT), np.float32)
    prev = None
    for start in range(0, len(frames), CHUNK):  # in chunks: the temporaries stay in cache
        chunk = frames[start:start + CHUNK]
        mag = np.abs(rfft(np.multiply(chunk, win, out=windowed[: len(chunk)])))
        flux = np.empty_like(mag)  # the frame-to-frame difference (the first frame: with itself)
        np.subtract(mag[:1], mag[:1] if prev is None else prev, out=flux[:1])
        np.subtract(mag[1:], mag[:-1], out=flux[1:])
        np.maximum(flux, 0.0, out=flux)
        env[start:start + len(mag)] = flux @ bands
        prev = mag[-1:]
    env = env.T.astype(np.float64)
    return env, sample_rate / HOP


def _detrend(env: np.ndarray, fps: float) -> np.ndarray:
    """Subtract a 0.4 s moving average and half-wave rectify (keeps accents, drops swells)."""
    w = max(3, int(round(0.4 * fps)) | 1)
    return np.maximum(env - _uniform_filter(env, w), 0.0)


class _Salience:
    """Harmonic-summed magnitude of the zero-padded envelope spectrum, evaluated at any BPM."""

    def __init__(self, env: np.ndarray, fps: float):
        e = env - env.mean()
        e = e * np.hanning(len(e))
        self.spec = np.abs(np.fft.rfft(e, n=NFFT_TEMPO))
        self.df = fps / NFFT_TEMPO
        self.nyq = fps / 2.0
        self.total = float(np.sqrt(np.sum(self.spec**2))) + 1e-12

    def __call__(self, bpm: np.ndarray, harmonics: int = HARMONICS) -> np.ndarray:
        bpm = np.atleast_1d(np.asarray(bpm, dtype=np.float64))
        out = np.zeros_like(bpm)
        for k in range(1, harmonics + 1):
            pos = k * bpm / 60.0 / self.df
            ok = pos < 0.9 * self.nyq / self.df
            i = pos[ok].astype(np.int64)
            frac = pos[ok] - i
            out[ok] += (1.0 - frac) * self.spec[i] + frac * self.spec[i + 1]  # linear interpolation
        return out

    def refine(self, bpm: float, *, width: float = 0.02) -> float:
        """The salience peak within ``bpm * (1 +- width)``, to about 0.005 BPM."""
        grid = np.linspace(bpm * (1 - width), bpm * (1 + width), 161)
        best = grid[int(np.argmax(self(grid)))]
        step = grid[1] - grid[0]
        fine = np.linspace(best - step, best + step, 41)
        return float(fine[int(np.argmax(self(fine)))])


def _fold(env: np.ndarray, fps: float, bpm: float, scale: float, *, per_bar: bool = False) -> np.ndarray:
    """Accent at FOLD_BINS positions of a 4-beat bar at ``bpm``, averaged over the clip's bars.

    ``env`` (already max-filtered over a fixed 50 ms, so an onset counts the same at any tempo and
    a slightly early or late hit still lands on its position) is max-filtered over one position's
    span and sampled at each position of each bar. Divided by ``scale`` (the band's mean), so the
    values are comparable between candidate tempi. ``per_bar`` returns the (bars, positions) rows.
    """
    bar_frames = 4 * 60.0 / bpm * fps
    n_bars = int((len(env) - 1) // bar_frames)
    if n_bars < 1:
        return np.zeros(FOLD_BINS)
    width = int(round(bar_frames / FOLD_BINS))
    if width > 1:  # each position takes the peak within its own span, so no hit falls between positions
        env = _maximum_filter(env, width)
    t = (np.arange(n_bars)[:, None] + np.arange(FOLD_BINS)[None, :] / FOLD_BINS) * bar_frames
    rows = np.interp(t.ravel(), np.arange(len(env)), env).reshape(t.shape) / (scale if scale > 0 else 1.0)
    return rows if per_bar else rows.mean(axis=0)


def _grid_fit(env: np.ndarray, fps: float, bpm: float) -> float:
    """How much of the accent falls on the sixteenth-note grid of ``bpm``.

    Mean at the 16 grid positions of the bar (at the best of the 3 grid phases) over the mean at
    all 48 positions: 1 = no preference; 1.4-3 for straight music at its true tempo or at half or
    double it; 0.95-1.1 at 2:3, 3:4 or 4:3 relatives, whose grid puts the true beats between its
    positions.
    """
    pat = _fold(env, fps, bpm, 1.0)
    m = pat.mean()
    step = FOLD_BINS // 16
    return float(max(pat[k::step].mean() for k in range(step)) / m) if m > 0 else 0.0


def _bar_consistency(env: np.ndarray, fps: float, bpm: float) -> float:
    """Correlation between the mean accent pattern of even and of odd bars at ``bpm`` (-1..1).

    A 4-beat bar at the true tempo (or at half or double it) repeats, so even and odd bars look
    alike; at 2:3, 3:4 or 4:3 of the true tempo successive "bars" start at different places of the
    real bar and their patterns differ (when the music's pattern spans a whole bar).
    """
    rows = _fold(env, fps, bpm, 1.0, per_bar=True)
    if rows.ndim != 2 or len(rows) < 2:
        return 0.0
    a, b = rows[0::2].mean(axis=0), rows[1::2].mean(axis=0)
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def _at(pat: np.ndarray, positions, shift: np.ndarray) -> np.ndarray:
    """Pattern value at sixteenth ``positions`` for every phase ``shift``, shape (positions, shifts)."""
    step = FOLD_BINS // 16
    return np.array([pat[(shift + p * step) % FOLD_BINS] for p in positions])


def _convention_scores(snare: np.ndarray, kick: np.ndarray, phase_env: np.ndarray, fps: float,
                       bpm: float) -> tuple[float, float]:
    """(backbeat, four-on-the-floor) scores of the bar fold at ``bpm``; about 0 when absent.

    ``snare``, ``kick`` and ``phase_env`` (kick + snare accents, which fix the beat grid) are
    max-filtered envelopes. Backbeat: mean snare accent on beats 2 and 4 minus the largest of
    (beat 1, beat 3, the mean of the eighth-note off-beats, the mean of all positions), on the beat
    grid where ``phase_env`` is largest (any of its beats may be "1"). Four on the floor: the
    weakest kick accent of the four beats minus the larger of (the off-beat mean, the mean of all
    positions), at the best bar phase. Both in units of the band's mean.
    """
    shifts = np.arange(FOLD_BINS)
    per_beat = FOLD_BINS // 4
    ph = _fold(phase_env, fps, bpm, 1.0)
    phase = int(np.argmax(_at(ph, (0, 4, 8, 12), shifts[:per_beat]).sum(axis=0)))
    allowed = np.array([(phase + k * per_beat) % FOLD_BINS for k in range(4)])
    m = _fold(snare, fps, bpm, snare.mean())
    back = _at(m, (4, 12), allowed).mean(axis=0)
    rest = np.maximum.reduce([_at(m, (0, 8), allowed).max(axis=0), _at(m, (2, 6, 10, 14), allowed).mean(axis=0),
                              np.full(len(allowed), m.mean())])
    backbeat = float(np.max(back - rest))
    k = _fold(kick, fps, bpm, kick.mean())
    beats = _at(k, (0, 4, 8, 12), shifts).min(axis=0)
    rest = np.maximum(_at(k, (2, 6, 10, 14), shifts).mean(axis=0), k.mean())
    floor = float(np.max(beats - rest))
    return backbeat, floor


def _widen(env: np.ndarray, fps: float) -> np.ndarray:
    """Maximum filter over 50 ms (see :func:`_fold`)."""
    return _maximum_filter(env, max(1, int(round(0.05 * fps))))


def _snare(low: np.ndarray, mid: np.ndarray) -> np.ndarray:
    """Snare-band accents with the kick's share removed: ``max(mid - beta * low, 0)``.

    A kick drum has a click that reaches into the snare band; ``beta`` is the median mid/low ratio
    on the strongest low-band frames (the kicks), so what is left are snare-band onsets with little
    low-frequency energy: snares, claps, rim shots. Both envelopes are max-filtered beforehand, so
    a kick whose bands peak a frame apart still cancels.
    """
    strong = low > np.percentile(low, 95)
    if not strong.any() or low[strong].max() <= 0:
        return mid
    beta = float(np.median(mid[strong] / np.maximum(low[strong], 1e-12)))
    return np.maximum(mid - beta * low, 0.0)


def _count_onsets(env: np.ndarray, fps: float) -> int:
    if env.max() <= 0:
        return 0
    peaks = _find_peaks(env, height=0.1 * np.percentile(env, 99.5), distance=max(1, int(0.07 * fps)),
                        prominence=0.05 * env.max())
    return len(peaks)


def estimate_tempo(y: np.ndarray, *, sample_rate: int = 22050,
                   tempo_range: tuple[float, float] = (60.0, 200.0)) -> TempoEstimate:
    """Estimate the tempo of a clip.

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples (any float dtype). A few seconds at least; 30 s clips are what it was built on.
    sample_rate : int
        Sample rate of ``y`` in Hz.
    tempo_range : tuple of float
        ``(low, high)`` BPM: the answer lies inside it (e.g. ``(60, 200)``; ``--tempo-range 60:200``).

    Returns
    -------
    TempoEstimate
        ``(bpm, confidence)``; ``bpm`` is None when the clip has fewer than 8 clear onsets.

    Raises
    ------
    SpotidanceError
        On an unusable ``tempo_range``, a non-positive sample rate or multichannel input.
    """
    lo, hi = _check_range(tempo_range)
    if int(sample_rate) <= 0:
        raise SpotidanceError(f"sample rate must be positive, got {sample_rate!r}")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise SpotidanceError(f"expected mono audio (1-D samples), got shape {y.shape}")
    if len(y) < N_FFT * 4 or not np.isfinite(y).all():
        return TempoEstimate(None, 0.0)
    feats = _features(y, int(sample_rate))
    if feats is None:
        return TempoEstimate(None, 0.0)
    table = _candidate_table(feats, lo, hi)
    scores = [row["score"] for row in table]
    order = np.argsort(scores)[::-1]
    best = table[int(order[0])]["bpm"]
    if len(order) > 1:
        s1, s2 = scores[int(order[0])], scores[int(order[1])]
        margin = float(np.clip((s1 - s2) / (abs(s1) + abs(s2) + 1e-9), 0.0, 1.0))
    else:
        margin = 1.0
    sal = feats["salience"]
    periodic = float(np.clip(sal(np.array([best]))[0] / (sal.total * 0.5), 0.0, 1.0))
    return TempoEstimate(float(best), float(np.clip(margin * (0.5 + 0.5 * periodic), 0.0, 1.0)))


def _features(y: np.ndarray, sample_rate: int) -> dict | None:
    """The envelopes and the salience function of a clip; None when it has too few onsets."""
    env, fps = _band_envelopes(y, sample_rate)
    low, mid, full = _detrend(env, fps)
    if _count_onsets(full, fps) < MIN_ONSETS:
        return None
    raw = low / max(low.mean(), 1e-12) + mid / max(mid.mean(), 1e-12)  # body: kick + snare accents
    low_w, mid_w = _widen(low, fps), _widen(mid, fps)
    return {"fps": fps, "raw": raw, "body": _widen(raw, fps), "kick": low_w,
            "snare": _snare(low_w, mid_w), "salience": _Salience(full, fps)}


def _candidate_table(feats: dict, lo: float, hi: float) -> list[dict]:
    """One row per candidate tempo: bpm, salience, backbeat, floor, grid, consistency, score."""
    sal, fps = feats["salience"], feats["fps"]
    grid = np.geomspace(40.0, 320.0, 1200)
    anchor = sal.refine(float(grid[int(np.argmax(sal(grid)))]))
    cands: list[float] = []
    for r in RATIOS:
        b = anchor * r
        if lo * 0.98 <= b <= hi * 1.02:
            b = float(np.clip(sal.refine(b, width=0.01), lo, hi))
            if all(abs(b / c - 1) > 0.01 for c in cands):
                cands.append(b)
    if not cands:  # the range excludes every metrical relative: take the best periodicity inside it
        inside = np.geomspace(lo, hi, 400)
        cands = [float(np.clip(sal.refine(float(inside[int(np.argmax(sal(inside)))]), width=0.01), lo, hi))]
    sal_c = sal(np.array(cands))
    sal_c = sal_c / sal_c.max()
    rows = []
    for b, sv in zip(cands, sal_c):
        backbeat, floor = _convention_scores(feats["snare"], feats["kick"], feats["body"], fps, b)
        fit = _grid_fit(feats["raw"], fps, b)
        consistency = _bar_consistency(feats["raw"], fps, b)
        conv = max(backbeat + max(floor, 0.0), 0.0)
        conv *= float(np.clip((fit - GRID_FLOOR) / GRID_SPAN, 0.0, 1.0)) * (0.5 + 0.5 * max(consistency, 0.0))
        prior = -0.5 * (np.log(b / PRIOR_CENTER) / PRIOR_SIGMA) ** 2
        rows.append({"bpm": b, "salience": float(sv), "backbeat": backbeat, "floor": floor, "grid": fit,
                     "consistency": consistency, "score": conv + W_SALIENCE * float(sv) + W_PRIOR * prior})
    return rows


def candidate_table(y: np.ndarray, *, sample_rate: int = 22050,
                    tempo_range: tuple[float, float] = (60.0, 200.0)) -> list[dict]:
    """The candidates :func:`estimate_tempo` weighed, with their features (for diagnosis).

    Returns
    -------
    list of dict
        One dict a candidate: ``bpm``, ``salience`` (relative to the best candidate), ``backbeat``,
        ``floor``, ``grid``, ``consistency`` and ``score``; empty when the clip has no rhythm.
    """
    lo, hi = _check_range(tempo_range)
    feats = _features(np.asarray(y, dtype=np.float32), int(sample_rate))
    return [] if feats is None else _candidate_table(feats, lo, hi)


def _uniform_filter(x: np.ndarray, size: int) -> np.ndarray:
    """Moving average over ``size`` samples along the last axis, edges repeated
    (``scipy.ndimage.uniform_filter1d(x, size, axis=-1, mode="nearest")``; numpy only, see module notes)."""
    left, right = size // 2, (size - 1) // 2
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="edge")
    c = np.cumsum(xp, axis=-1, dtype=np.float64)
    c = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)
    return (c[..., size:] - c[..., :-size]) / size


def _maximum_filter(x: np.ndarray, size: int) -> np.ndarray:
    """Moving maximum over ``size`` samples along the last axis, edges repeated
    (``scipy.ndimage.maximum_filter1d(x, size, mode="nearest")``; numpy only).

    By doubling: after step ``j`` each value is the maximum of ``2**j`` neighbours, and the answer is
    the larger of two overlapping spans of the largest power of two up to ``size`` (maxima are
    exact, so this equals the direct window maximum bit for bit, in O(n log size) contiguous passes).
    """
    if size <= 1:
        return x
    left, right = size // 2, (size - 1) // 2
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="edge")
    n_out = xp.shape[-1] - size + 1
    m, span = xp, 1
    while 2 * span <= size:
        m = np.maximum(m[..., :-span], m[..., span:])  # m[i] = max(xp[i : i + 2 * span])
        span *= 2
    return np.maximum(m[..., :n_out], m[..., size - span : size - span + n_out])


def _find_peaks(x: np.ndarray, *, height: float, distance: int, prominence: float) -> np.ndarray:
    """Indices of peaks as ``scipy.signal.find_peaks(x, height=, distance=, prominence=)`` finds them
    (local maxima, plateaus at their middle; then height, distance by priority of height, then
    prominence), in numpy: scipy.signal alone takes about a second to import, which is most of
    ``classify``'s cold-start budget.

    Vectorised except the distance rule (a greedy pass over the peaks): local maxima from the runs of
    equal values; each peak's prominence bases by binary lifting on sparse tables of window maxima
    (the farthest stretch on each side not higher than the peak) and the minima of those stretches
    from sparse tables of window minima. Only comparisons, minima and one subtraction: the result
    equals the sample-by-sample walk exactly (checked against scipy in tests).
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3:
        return np.zeros(0, dtype=np.intp)
    # local maxima: a run of equal values [s, e] inside the signal, lower on both sides
    starts = np.concatenate(([0], np.flatnonzero(x[1:] != x[:-1]) + 1))
    ends = np.concatenate((starts[1:] - 1, [n - 1]))
    inner = (starts >= 1) & (ends <= n - 2)
    s, e = starts[inner], ends[inner]
    p = ((s + e) // 2)[(x[s - 1] < x[s]) & (x[e + 1] < x[s])].astype(np.intp)
    p = p[x[p] >= height]
    if distance > 1 and len(p) > 1:
        pos = p.tolist()
        keep = [True] * len(pos)
        for j in np.argsort(x[p], kind="stable")[::-1].tolist():
            if not keep[j]:
                continue
            k = j - 1
            while k >= 0 and pos[j] - pos[k] < distance:
                keep[k] = False
                k -= 1
            k = j + 1
            while k < len(pos) and pos[k] - pos[j] < distance:
                keep[k] = False
                k += 1
        p = p[np.array(keep, dtype=bool)]
    if len(p):
        p = p[_prominences(x, p) >= prominence]
    return p


def _prominences(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """scipy.signal.peak_prominences without a window: the peak's height above the higher of the
    lowest points of the farthest stretches to its left and right that nowhere exceed it."""
    n = len(x)
    levels = max(1, int(n).bit_length())
    hi = np.full((levels, n), np.inf)  # hi[k, i] = max(x[i : i + 2**k]) (inf where the window leaves x)
    lo = np.full((levels, n), np.inf)  # lo[k, i] = min(x[i : i + 2**k])
    hi[0], lo[0] = x, x
    for k in range(1, levels):
        half = 1 << (k - 1)
        m = n - (1 << k) + 1
        if m <= 0:
            break
        hi[k, :m] = np.maximum(hi[k - 1, :m], hi[k - 1, half : half + m])
        lo[k, :m] = np.minimum(lo[k - 1, :m], lo[k - 1, half : half + m])
    h = x[peaks]
    left = peaks.copy()
    right = peaks.copy()
    for k in range(levels - 1, -1, -1):
        step = 1 << k
        cand = left - step
        ok = cand >= 0
        ok[ok] = hi[k, cand[ok]] <= h[ok]
        left = np.where(ok, cand, left)
        ok = right + step <= n - 1
        ok[ok] = hi[k, right[ok] + 1] <= h[ok]
        right = np.where(ok, right + step, right)

    def range_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # min(x[a..b]), inclusive
        k = np.frexp((b - a + 1).astype(np.float64))[1] - 1  # floor(log2(length))
        return np.minimum(lo[k, a], lo[k, b - (1 << k) + 1])

    return h - np.maximum(range_min(left, peaks), range_min(peaks, right))
