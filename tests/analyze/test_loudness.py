"""Integrated loudness in LUFS per ITU-R BS.1770-4 (spotidance.analyze.loudness)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from spotidance.analyze.loudness import (
    block_loudness,
    integrated_loudness,
    k_weighting_sos,
)
from spotidance.core.errors import SpotidanceError
from tests.helpers.fresh import run_fresh

SR = 22050

#: ITU-R BS.1770-4, tables 1 and 2: the K-weighting stages at 48 kHz (b0, b1, b2, a1, a2).
BS1770_SHELF_48K = (1.53512485958697, -2.69169618940638, 1.19839281085285, -1.69065929318241, 0.73248077421585)
BS1770_HIGHPASS_48K = (1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621)


def sine(freq: float, seconds: float, *, dbfs: float, sr: int = SR) -> np.ndarray:
    """A sine whose peak is ``dbfs`` dB relative to full scale."""
    t = np.arange(int(seconds * sr)) / sr
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def k_gain_db(freq: float, sr: int) -> float:
    from scipy.signal import sosfreqz

    _, h = sosfreqz(k_weighting_sos(sr), worN=[freq], fs=sr)
    return 20 * math.log10(abs(h[0]))


def test_k_weighting_at_48k_is_the_standards_table():
    sos = k_weighting_sos(48000)
    shelf, highpass = sos
    assert shelf[3] == 1.0 and highpass[3] == 1.0
    np.testing.assert_allclose(shelf[[0, 1, 2, 4, 5]], BS1770_SHELF_48K, atol=1e-8)
    np.testing.assert_allclose(highpass[[0, 1, 2, 4, 5]], BS1770_HIGHPASS_48K, atol=1e-8)


@pytest.mark.parametrize("sr, tolerance", [(22050, 0.09), (44100, 0.01), (16000, 0.2)])
def test_k_weighting_at_other_rates_keeps_the_48k_response(sr, tolerance):
    # Measured: within 0.082 dB of the 48 kHz filter from 20 Hz to 10 kHz at 22,050 Hz, 0.006 at
    # 44,100 Hz, 0.15 at 16 kHz (bilinear-transform warping of the shelf).
    for freq in (20, 40, 100, 500, 1000, 1500, 2000, 4000, 6000, min(10000, 0.45 * sr)):
        assert k_gain_db(freq, sr) == pytest.approx(k_gain_db(freq, 48000), abs=tolerance), freq
    assert k_gain_db(1000, 48000) == pytest.approx(0.69, abs=0.01)  # why block loudness has -0.691
    assert k_gain_db(5000, 48000) == pytest.approx(4.0, abs=0.05)  # the +4 dB shelf
    assert k_gain_db(20, 48000) < -10  # the RLB high-pass


@pytest.mark.parametrize("sr", [22050, 44100, 48000])
def test_sine_reads_its_analytic_loudness(sr):
    # A sine of peak A has mean square A^2 / 2; BS.1770: L = -0.691 + 10 log10(gain^2 * A^2 / 2).
    for freq, dbfs in ((1000, -23.0), (100, -12.0), (3000, -30.0)):
        expected = -0.691 + 10 * math.log10(10 ** (dbfs / 10) / 2) + k_gain_db(freq, sr)
        assert integrated_loudness(sine(freq, 5, dbfs=dbfs, sr=sr), sample_rate=sr) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("sr", [22050, 48000])
def test_ebu_tech_3341_sine(sr):
    """Tech 3341 case 1: 1 kHz at -23 dBFS in both channels reads -23.0 +- 0.1 LUFS."""
    y = sine(1000, 20, dbfs=-23.0, sr=sr)
    assert integrated_loudness(y, sample_rate=sr, dual_mono=True) == pytest.approx(-23.0, abs=0.1)
    mono = integrated_loudness(y, sample_rate=sr)  # one channel: 10 log10(2) = 3.01 LU lower
    assert mono == pytest.approx(-26.0, abs=0.1)
    assert integrated_loudness(y, sample_rate=sr, dual_mono=True) - mono == pytest.approx(10 * math.log10(2), abs=1e-9)


def test_gain_moves_loudness_by_the_same_db():
    y = sine(440, 5, dbfs=-20.0) + 0.05 * np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32)
    a = integrated_loudness(y, sample_rate=SR)
    assert integrated_loudness(2 * y, sample_rate=SR) - a == pytest.approx(20 * math.log10(2), abs=1e-3)


def test_relative_gate_ignores_a_quiet_section():
    loud = sine(1000, 10, dbfs=-10.0)
    alone = integrated_loudness(loud, sample_rate=SR)
    # Kept: the loud part's 97 blocks and the 3 blocks straddling the change (3/4, 2/4, 1/4 loud);
    # the quiet part (30 LU down, below the -10 LU relative gate) and silence are not.
    expected = alone + 10 * math.log10((97 + 0.75 + 0.5 + 0.25) / 100)
    with_quiet = integrated_loudness(np.concatenate([loud, sine(1000, 10, dbfs=-40.0)]), sample_rate=SR)
    assert with_quiet == pytest.approx(expected, abs=0.01)
    with_silence = integrated_loudness(np.concatenate([loud, np.zeros(10 * SR, np.float32)]), sample_rate=SR)
    assert with_silence == pytest.approx(expected, abs=0.01)
    ungated = 10 * math.log10(np.mean(10 ** (block_loudness(np.concatenate([loud, sine(1000, 10, dbfs=-40.0)]), sample_rate=SR) / 10)))
    assert ungated < alone - 2.5  # what the quiet half would do without the gate


def test_a_section_above_the_relative_gate_counts():
    loud, softer = sine(1000, 10, dbfs=-10.0), sine(1000, 10, dbfs=-15.0)  # 5 LU down: kept
    both = integrated_loudness(np.concatenate([loud, softer]), sample_rate=SR)
    a, b = integrated_loudness(loud, sample_rate=SR), integrated_loudness(softer, sample_rate=SR)
    expected = 10 * math.log10((10 ** (a / 10) + 10 ** (b / 10)) / 2)  # power mean of equal halves
    assert both == pytest.approx(expected, abs=0.05)
    assert b < both < a


def test_silence_too_quiet_and_too_short_give_none():
    assert integrated_loudness(np.zeros(5 * SR, np.float32), sample_rate=SR) is None
    assert integrated_loudness(sine(1000, 5, dbfs=-75.0), sample_rate=SR) is None  # below -70 LUFS
    assert integrated_loudness(sine(1000, 0.3, dbfs=-10.0), sample_rate=SR) is None  # < one 400 ms block
    assert integrated_loudness(sine(1000, 0.4, dbfs=-10.0), sample_rate=SR) is not None


def test_blocks_are_400_ms_every_100_ms():
    assert block_loudness(np.zeros(int(0.39 * SR)), sample_rate=SR).size == 0
    assert block_loudness(np.zeros(int(0.4 * SR)), sample_rate=SR).size == 1
    assert block_loudness(np.zeros(10 * SR), sample_rate=SR).size == 97  # (10 - 0.4) / 0.1 + 1
    blocks = block_loudness(np.concatenate([np.zeros(2 * SR), sine(1000, 2, dbfs=-10.0)]), sample_rate=SR)
    assert np.isneginf(blocks[:16]).all() and np.isfinite(blocks[17:]).all()  # 16 blocks lie in the silence


def _music(seconds: float = 10.0) -> np.ndarray:
    from spotidance.synth import render_clip

    y, _ = render_clip("edm", seed=[7300, 1, 0], duration=seconds, sample_rate=SR)
    return y


@pytest.mark.parametrize("sr", [22050, 44100])
def test_matches_pyloudnorm(sr):
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(1)
    music = _music() if sr == SR else 0.1 * rng.standard_normal(10 * sr).astype(np.float32)
    ramp = (np.linspace(0.01, 1.0, 8 * sr) * np.sin(2 * np.pi * 220 * np.arange(8 * sr) / sr)).astype(np.float32)
    for y in (music, ramp):
        ours = integrated_loudness(y, sample_rate=sr)
        exact = pyln.Meter(sr, filter_class="DeMan").integrated_loudness(y.astype(np.float64))
        cookbook = pyln.Meter(sr).integrated_loudness(y.astype(np.float64))  # RBJ shelves, not the table
        assert ours == pytest.approx(exact, abs=0.01)
        assert ours == pytest.approx(cookbook, abs=0.15)


@pytest.mark.parametrize("y, sr", [(np.zeros((2, SR)), SR), (np.array([0.0, np.inf] * SR), SR), (np.zeros(SR), 0)])
def test_bad_input_raises(y, sr):
    with pytest.raises(SpotidanceError):
        integrated_loudness(y, sample_rate=sr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sosfilt_gives_scipys_numbers_with_or_without_its_kernel_loaded_alone(dtype, monkeypatch):
    """loudness filters with scipy's compiled sosfilt kernel loaded by itself (importing scipy.signal
    costs 0.7 s of CPU); the numbers must be scipy.signal.sosfilt's, and so must the fallback's."""
    from scipy.signal import sosfilt as scipy_sosfilt

    from spotidance.analyze import loudness

    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(30_000)).astype(dtype)
    for rate in (22050, 44100, 48000):
        sos = loudness.k_weighting_sos(rate).astype(dtype)
        want = scipy_sosfilt(sos, x)
        loudness._sosfilt_kernel.cache_clear()
        monkeypatch.delitem(sys.modules, "scipy.signal")  # as in a fresh worker process
        assert loudness._sosfilt_kernel() is not None
        monkeypatch.undo()
        got = loudness.sosfilt(sos, x)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        loudness._sosfilt_kernel.cache_clear()
        monkeypatch.setattr(loudness, "_sosfilt_kernel", lambda: None)
        assert np.array_equal(loudness.sosfilt(sos, x), want)
        monkeypatch.undo()
    loudness._sosfilt_kernel.cache_clear()


def test_loudness_in_a_fresh_process_does_not_import_scipy_signal():
    code = ("import numpy as np\n"
            "from spotidance.analyze.loudness import integrated_loudness\n"
            "y = 0.1 * np.sin(np.arange(22050 * 3) * 0.3)\n"
            "print(round(integrated_loudness(y, sample_rate=22050), 3))\n")
    (value,), loaded = run_fresh(code, watch=["scipy.signal"])
    assert loaded == []
    assert float(value) == pytest.approx(integrated_loudness(0.1 * np.sin(np.arange(22050 * 3) * 0.3), sample_rate=22050), abs=1e-3)
