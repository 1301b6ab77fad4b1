"""Parity of spotidance.analyze.beatport with pyAudioAnalysis (the 2017 way) and its edge cases.

The fixtures were written by ``tools/pyaa_reference/make_fixtures.py`` in a separate environment
with pyAudioAnalysis 0.3.14 set up to behave as the 2017 code that made the Beatport table did; the
signals come from ``pyaa_signals.py`` beside this file (numpy only, identical on every machine).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from spotidance.analyze.beatport import (
    BEATPORT2016_COLUMNS,
    beatport2016_features,
    essentia_bpm,
)
from spotidance.core.errors import SpotidanceError

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "pyaa_reference.json"
TABLE = HERE.parents[1] / ".." / "shared" / "data" / "beatport-features-2016" / "features.csv"
SR = 22050

# Tolerance of the parity test. Both sides run the same float64 arithmetic; they differ only in
# the DFT algorithm (scipy.fftpack in the reference, Rader's algorithm over numpy's FFT here,
# beatport._dft_magnitude), the order of sums (per-frame loops there, matrix products here) and the
# expanded variance of the spectral spread. Measured worst case on the four signals: 3e-13
# relative, except the spectral spread of noise_bursts (2e-8 and 6e-8 relative, 4e-9 absolute):
# its silent gaps are constant frames once the signal is de-meaned, whose spectrum off DC is pure
# rounding noise of either DFT, which the spread's expanded variance amplifies. 69-BPM and
# 70-BPMconf exactly equal. rtol 1e-6 leaves more than an order of magnitude above that noise for
# other BLAS/FFT builds, and still every behaviour difference
# we guard against moves columns of every signal by far more (docs/analyze-beatport2016.md):
# 1102- instead of 1103-sample frames, eps 2.2e-16 instead of 1e-8 and 0.3.14's peak
# normalisation change columns by 1e-4 to 1; a mutated module fails this test for each of them.
# The discrete parts (roll-off bin, peak positions, BPM) would only differ if a value sat within
# ~1e-15 of its threshold, which does not happen on these signals. atol covers values near 0.
RTOL = 1e-6
ATOL = 1e-9


def _signals():
    spec = importlib.util.spec_from_file_location("pyaa_signals", HERE / "pyaa_signals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SIGNALS = _signals()
REFERENCE = json.loads(FIXTURE.read_text())


def test_columns_are_the_71_of_the_table_layout():
    assert len(BEATPORT2016_COLUMNS) == 71
    assert len(set(BEATPORT2016_COLUMNS)) == 71
    assert BEATPORT2016_COLUMNS[0] == "1-ZCRm"
    assert BEATPORT2016_COLUMNS[33] == "34-ChromaDeviationm"
    assert BEATPORT2016_COLUMNS[34] == "35-ZCRstd"
    assert BEATPORT2016_COLUMNS[67] == "68-ChromaDeviationstd"
    assert BEATPORT2016_COLUMNS[68:] == ("69-BPM", "70-BPMconf", "71-BPMessentia")
    assert list(BEATPORT2016_COLUMNS[:70]) == REFERENCE["columns"]


def test_columns_equal_the_header_of_the_shared_table():
    if not TABLE.is_file():
        pytest.skip(f"shared Beatport table not present at {TABLE}")
    header = TABLE.read_text().split("\n", 1)[0].split(",")
    assert header[0] == ""  # the unnamed row index
    assert tuple(header[1:-1]) == BEATPORT2016_COLUMNS
    assert header[-1] == "class"


@pytest.mark.parametrize("name", sorted(SIGNALS.SIGNALS))
def test_parity_with_pyaudioanalysis(name):
    expected = REFERENCE["signals"][name]
    y = SIGNALS.SIGNALS[name]()
    assert len(y) == expected["n_samples"]
    got = beatport2016_features(y, sample_rate=SR)
    assert list(got) == REFERENCE["columns"]
    mismatches = []
    for column, want in zip(REFERENCE["columns"], expected["values"]):
        have = got[column]
        if column == "69-BPM":
            ok = have == pytest.approx(want, rel=1e-12)  # a discrete value 1200 / k
        else:
            ok = math.isclose(have, want, rel_tol=RTOL, abs_tol=ATOL)
        if not ok:
            mismatches.append(f"{column}: {have!r} != {want!r}")
    assert not mismatches, "\n".join(mismatches)


def test_float32_input_gives_the_same_columns_as_float64():
    y = SIGNALS.drum_loop(3.0)
    a = beatport2016_features(y)
    b = beatport2016_features(y.astype(np.float32))  # int16-grid values are exact in float32
    assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


def test_scale_does_not_matter_because_the_signal_is_peak_normalised():
    y = SIGNALS.chord_progression(4.0)
    a = beatport2016_features(y)
    b = beatport2016_features(y * 0.125)  # a power of two: exactly the same normalised signal
    assert a == b


def test_only_the_first_120_seconds_count():
    y = SIGNALS.long_pulse()
    assert len(y) > 120 * SR
    assert beatport2016_features(y) == beatport2016_features(y[: 120 * SR])


def test_digital_silence_gives_finite_values():
    got = beatport2016_features(np.zeros(3 * SR, dtype=np.float32))
    values = np.array(list(got.values()))
    assert np.isfinite(values).all()
    assert got["1-ZCRm"] == 0.0
    assert got["2-Energym"] == 0.0
    assert got["36-Energystd"] == 0.0


def test_a_constant_signal_gives_finite_values():
    got = beatport2016_features(np.full(2 * SR, 0.3))
    assert np.isfinite(np.array(list(got.values()))).all()


def test_one_second_is_enough_and_a_shorter_clip_is_refused():
    got = beatport2016_features(SIGNALS.drum_loop(1.0))
    assert np.isfinite(np.array(list(got.values()))).all()
    with pytest.raises(SpotidanceError, match="too short"):
        beatport2016_features(SIGNALS.drum_loop(1.0)[:-1])


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_other_sample_rates_are_refused(rate):
    with pytest.raises(SpotidanceError, match="22050"):
        beatport2016_features(np.zeros(5 * rate), sample_rate=rate)


def test_stereo_and_non_finite_input_are_refused():
    with pytest.raises(SpotidanceError, match="mono"):
        beatport2016_features(np.zeros((2, 3 * SR)))
    y = SIGNALS.drum_loop(2.0)
    y[100] = np.nan
    with pytest.raises(SpotidanceError, match="non-finite"):
        beatport2016_features(y)


def test_essentia_bpm_rule():
    assert essentia_bpm(None) is None
    assert essentia_bpm(float("nan")) is None
    assert essentia_bpm(float("inf")) is None
    assert essentia_bpm(0.0) is None
    assert essentia_bpm(-120.0) is None
    # Essentia's RhythmExtractor reads ~0.5 % high: 128 -> 128.6 -> 129 (the table's big room median)
    assert essentia_bpm(128.0) == 129
    assert essentia_bpm(124.0) == 125
    assert essentia_bpm(100.0) == 100
    assert essentia_bpm(140.0) == 141
    assert essentia_bpm(150.0) == 151  # hard dance: the table's median is 150
    assert essentia_bpm(155.0) == 156  # the last tempo kept
    # above 155 BPM it reports half tempo: drum and bass near 87, as in the table
    assert essentia_bpm(156.0) == 78
    assert essentia_bpm(174.0) == 87
    assert essentia_bpm(348.0) == 87
    assert essentia_bpm(70.0) == 70  # slow tempi are not doubled (the table goes down to 61)
    assert isinstance(essentia_bpm(128.6), int)


def test_essentia_bpm_puts_drum_and_bass_where_the_table_has_it():
    if not TABLE.is_file():
        pytest.skip(f"shared Beatport table not present at {TABLE}")
    import pandas as pd

    table = pd.read_csv(TABLE, index_col=0)
    dnb = table.loc[table["class"] == "DrumAndBass", "71-BPMessentia"].median()
    techno = table.loc[table["class"] == "Techno", "71-BPMessentia"].median()
    # drum and bass is produced at 170-178 BPM, techno at 120-135 BPM
    assert min(essentia_bpm(t) for t in (170, 174, 178)) <= dnb <= max(essentia_bpm(t) for t in (170, 174, 178))
    assert essentia_bpm(120) <= techno <= essentia_bpm(135)


@pytest.mark.parametrize("n", [7, 13, 101, 1103])
def test_rader_dft_magnitudes_equal_numpys_fft(n):
    """The prime-length spectrum is computed by Rader's algorithm: the same magnitudes as a plain
    FFT, to rounding, for every bin that the features use; silent and constant frames included."""
    from spotidance.analyze.beatport import _dft_magnitude

    rng = np.random.default_rng(n)
    frames = rng.standard_normal((70, n))
    frames[3] = 0.0
    frames[4] = 0.25
    frames[5] *= 1e-6
    n_bins = n // 2
    got = _dft_magnitude(frames, n_bins)
    want = np.abs(np.fft.rfft(frames, axis=1))[:, :n_bins]
    scale = np.maximum(want.max(axis=1, keepdims=True), 1e-300)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= 1e-13 * scale)
    assert np.all(got[3] == 0.0)
