"""Tests of spotidance.analyze.tempo on synthetic drum patterns with a known metrical level."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.analyze.tempo import TempoEstimate, estimate_tempo
from spotidance.core.errors import SpotidanceError
from tests.analyze import rhythm_signals as R
from tests.helpers.fresh import run_fresh


def within(est: float | None, truth: float, tol: float = 0.04) -> bool:
    return est is not None and abs(est / truth - 1.0) <= tol


@pytest.mark.parametrize(
    ("name", "bpm", "bars", "wrong"),
    [
        ("dnb two-step", 174.0, [R.DNB_TWOSTEP], (116.0, 87.0)),
        ("dnb amen", 174.0, [R.DNB_AMEN], (116.0, 87.0)),
        ("dnb with a half-time section", 174.0, [R.DNB_AMEN] * 4 + [R.DNB_HALFTIME] * 2, (87.0,)),
        ("hip-hop, 16th hats", 90.0, [R.HIPHOP_16THS], (180.0, 60.0)),
        ("hip-hop, triplet hats", 92.0, [R.HIPHOP_TRIPLET], (184.0, 138.0)),
        ("four on the floor", 128.0, [R.FOUR_FLOOR], (64.0, 85.3)),
        ("trance, off-beat bass", 138.0, [R.TRANCE], (69.0, 92.0)),
        ("metal, double kick", 180.0, [R.METAL], (90.0, 120.0)),
    ],
)
def test_metrical_level(name, bpm, bars, wrong):
    est = estimate_tempo(R.render(bpm, bars, seconds=20.0), sample_rate=R.SR)
    assert within(est.bpm, bpm), f"{name}: {est}"
    assert not any(within(est.bpm, w) for w in wrong)
    assert 0.0 <= est.confidence <= 1.0


def test_rock_backbeat():
    est = estimate_tempo(R.render(120.0, [R.ROCK], seconds=20.0), sample_rate=R.SR)
    assert within(est.bpm, 120.0), est


def test_swung_hats_keep_the_beat():
    est = estimate_tempo(R.render(90.0, [R.HIPHOP_16THS], swing=0.3, seconds=20.0), sample_rate=R.SR)
    assert within(est.bpm, 90.0), est


def test_intro_without_drums():
    est = estimate_tempo(R.render(174.0, [R.DNB_AMEN], seconds=24.0, intro=6.0), sample_rate=R.SR)
    assert within(est.bpm, 174.0), est


def test_tempo_range_bounds_the_answer():
    y = R.render(174.0, [R.DNB_AMEN], seconds=20.0)
    est = estimate_tempo(y, sample_rate=R.SR, tempo_range=(60.0, 120.0))
    assert est.bpm is not None and 60.0 <= est.bpm <= 120.0
    assert within(est.bpm, 87.0), est  # the half level, the only metrical relative inside the range


@pytest.mark.parametrize("bad", [(200.0, 60.0), (100.0, 105.0), (0.0, 100.0), (60.0, 1000.0), ("a", 3), (60.0,), None])
def test_tempo_range_is_validated(bad):
    with pytest.raises(SpotidanceError):
        estimate_tempo(np.zeros(R.SR, np.float32), tempo_range=bad)


def test_no_rhythm_gives_none():
    t = np.arange(10 * R.SR) / R.SR
    tone = (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    assert estimate_tempo(tone) == TempoEstimate(None, 0.0)
    assert estimate_tempo(np.zeros(10 * R.SR, np.float32)).bpm is None
    assert estimate_tempo(np.zeros(100, np.float32)).bpm is None


def test_multichannel_is_refused():
    with pytest.raises(SpotidanceError):
        estimate_tempo(np.zeros((2, R.SR), np.float32))


def test_click_track_precision():
    est = estimate_tempo(R.click_track(127.3, seconds=20.0), sample_rate=R.SR)
    assert est.bpm is not None and abs(est.bpm - 127.3) <= 0.1, est


def test_deterministic():
    y = R.render(128.0, [R.FOUR_FLOOR], seconds=12.0)
    assert estimate_tempo(y) == estimate_tempo(y.copy())


@pytest.mark.parametrize(("genre", "seed"), [(g, s) for g in ("techno", "edm", "dnb") for s in (0, 1, 2)])
def test_synth_clips(genre, seed):
    from spotidance.synth import render_clip

    y, meta = render_clip(genre, seed=seed, duration=15.0, sample_rate=22050)
    est = estimate_tempo(y, sample_rate=22050)
    assert within(est.bpm, float(meta["tempo"])), (genre, seed, est, meta["tempo"])


def test_other_sample_rate():
    from scipy.signal import resample_poly

    y = resample_poly(R.render(174.0, [R.DNB_AMEN], seconds=15.0), 2, 1).astype(np.float32)
    est = estimate_tempo(y, sample_rate=2 * R.SR)
    assert within(est.bpm, 174.0), est


def test_candidate_table_lists_the_levels():
    from spotidance.analyze.tempo import candidate_table

    rows = candidate_table(R.render(90.0, [R.HIPHOP_16THS], seconds=12.0), sample_rate=R.SR)
    bpms = sorted(r["bpm"] for r in rows)
    assert any(within(b, 90.0) for b in bpms) and any(within(b, 180.0) for b in bpms)
    best = max(rows, key=lambda r: r["score"])
    assert within(best["bpm"], 90.0)
    assert candidate_table(np.zeros(5 * R.SR, np.float32)) == []


def test_numpy_filters_and_peak_picking_equal_scipys():
    """tempo.py avoids importing scipy.ndimage/scipy.signal (cold start); its stand-ins must agree."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d
    from scipy.signal import find_peaks

    from spotidance.analyze import tempo as T

    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.random((3, 400)) ** 3
        x[:, 100:104] = 0.7  # a plateau
        for w in (1, 2, 5, 34, 35):
            np.testing.assert_allclose(T._uniform_filter(x, w), uniform_filter1d(x, w, axis=-1, mode="nearest"), atol=1e-12)
            np.testing.assert_array_equal(T._maximum_filter(x, w), maximum_filter1d(x, w, axis=-1, mode="nearest"))
        e = x[0]
        kw = dict(height=0.1 * np.percentile(e, 99.5), distance=6, prominence=0.05 * e.max())
        np.testing.assert_array_equal(T._find_peaks(e, **kw), find_peaks(e, **kw)[0])


def test_vectorised_peak_picking_equals_scipy_on_plateaus_ties_and_long_spans():
    """_find_peaks finds plateaus from runs and prominence bases by binary lifting: check the cases
    those shortcuts could get wrong (plateaus at the edges, many equal values, bases far away)."""
    from scipy.signal import find_peaks

    from spotidance.analyze import tempo as T

    rng = np.random.default_rng(1)
    cases = []
    for _ in range(200):
        n = int(rng.integers(3, 700))
        cases.append((np.round(rng.random(n) * 5) / 5, 1))  # ties everywhere: no distance rule (its tie order is ours)
        x = rng.random(n) ** 3
        x[: min(3, n)] = x[0]  # a plateau at the start
        x[-min(4, n):] = x[-1]  # and at the end
        cases.append((x, int(rng.integers(1, 30))))
    spike = np.zeros(3000)
    spike[1500], spike[10], spike[2990] = 1.0, 0.2, 0.3  # bases ~1500 samples away
    cases += [(spike, 1), (spike, 50), (np.array([0.0, 1.0]), 1), (np.array([0.0, 1.0, 0.0]), 1)]
    for x, distance in cases:
        for prominence in (0.0, 0.05 * x.max(), 0.5 * x.max()):
            kw = dict(height=0.1 * np.percentile(x, 50), distance=distance, prominence=prominence)
            np.testing.assert_array_equal(T._find_peaks(x, **kw), find_peaks(x, **kw)[0])



def test_tempo_in_a_fresh_process_does_not_import_scipy_fft():
    code = ("import numpy as np\n"
            "from spotidance.analyze.tempo import estimate_tempo\n"
            "t = np.arange(22050 * 8) / 22050\n"
            "y = (np.sin(2 * np.pi * 60 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)\n"
            "print(estimate_tempo(y, sample_rate=22050).bpm)\n")
    (bpm,), loaded = run_fresh(code, watch=["scipy.fft"])
    assert loaded == []
    t = np.arange(22050 * 8) / 22050
    y = (np.sin(2 * np.pi * 60 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
    assert float(bpm) == estimate_tempo(y, sample_rate=22050).bpm
