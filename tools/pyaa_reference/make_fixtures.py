"""Write tests/analyze/fixtures/pyaa_reference.json with pyAudioAnalysis 0.3.14, the 2017 way.

Run it in the reference environment made by ``tools/pyaa_reference/build.sh`` (never in
spotidance's venv: pyAudioAnalysis needs numpy < 2)::

    bash tools/pyaa_reference/build.sh
    ~/.cache/spotidance/pyaa-ref/bin/python tools/pyaa_reference/make_fixtures.py

It follows Caparrini et al.'s extraction (``pyGenreClf``: ``dirsWavFeatureExtraction(dirs, 1, 1,
0.05, 0.05, True)`` on 16-bit mono WAVs at 22,050 Hz, at most 120 s) and makes 0.3.14 behave as the
pyAudioAnalysis of spring 2017 that produced the table did, where the two differ:

- the short-term frame is ``round(22050 * 0.05)``: 1103 samples under the Python 2 of 2017
  (round half away from zero), 1102 under Python 3; we pass 1103 explicitly;
- the 2017 ``stFeatureExtraction`` divided the de-meaned signal by the peak of the raw signal,
  0.3.14's ``dc_normalize`` divides by the peak of the de-meaned signal (+1e-10); we patch
  ``ShortTermFeatures.dc_normalize`` with the 2017 formula;
- 2017's ``eps`` (added to denominators, to the filter-bank energies before log10, to the
  cumulative spectrum of the roll-off) was 1e-8; 0.3.14's ShortTermFeatures uses
  ``sys.float_info.epsilon`` (2.2e-16), which changes quiet frames a lot (MFCC1 of a silent frame
  is log10(eps)); we set ``ShortTermFeatures.eps = 1e-8``;
- 0.3.14's beat confidence divides by ``sum + 1e-8`` (MidTermFeatures.eps), 2017 by the sum; we
  set ``MidTermFeatures.eps = 0`` (every test signal has beat peaks, so the sum is positive);
- 0.3.14 computes delta features by default: we keep the 34 base features' rows only.

With ``--compare`` it also prints, per signal, the largest relative change of each column between
this 2017-faithful reference and plain 0.3.14 (Python 3 rounding, 0.3.14 normalisation), which is
how docs/analyze-beatport2016.md quantifies the history.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "analyze"))

import pyaa_signals
from pyAudioAnalysis import MidTermFeatures, ShortTermFeatures

FS = 22050
FRAME_2017 = 1103  # Python 2: round(22050 * 0.05) == 1103.0
N_BASE = 34


def _dc_normalize_2017(sig):
    """stFeatureExtraction's normalisation in 2016-2017: (x - mean) / max|x| (raw peak)."""
    return (sig - sig.mean()) / np.abs(sig).max()


def columns() -> list[str]:
    names = (["ZCR", "Energy", "EnergyEntropy", "SpectralCentroid", "SpectralSpread", "SpectralEntropy",
              "SpectralFlux", "SpectralRolloff"] + [f"MFCCs{i}" for i in range(1, 14)]
             + [f"ChromaVector{i}" for i in range(1, 13)] + ["ChromaDeviation"])
    return ([f"{i + 1}-{n}m" for i, n in enumerate(names)] + [f"{i + 35}-{n}std" for i, n in enumerate(names)]
            + ["69-BPM", "70-BPMconf"])


def extract(x_int16: np.ndarray, *, frame: int = FRAME_2017, eps: float | None = 1e-8,
            normalise_2017: bool = True) -> list[float]:
    """The 70 values of one file, as dirWavFeatureExtraction(..., computeBEAT=True) returns them.

    The defaults are the 2017 behaviour; ``frame=1102, eps=None, normalise_2017=False`` is plain
    0.3.14 under Python 3.
    """
    x = x_int16[: 120 * FS]  # Caparrini's main.py: x[:22050 * 120]; the previews were 120 s
    original = ShortTermFeatures.dc_normalize, ShortTermFeatures.eps, MidTermFeatures.eps
    if normalise_2017:
        ShortTermFeatures.dc_normalize = _dc_normalize_2017
    if eps is not None:
        ShortTermFeatures.eps = eps
        MidTermFeatures.eps = 0.0
    try:
        mid, short, _ = MidTermFeatures.mid_feature_extraction(x, FS, round(1.0 * FS), round(1.0 * FS), frame, frame)
        bpm, conf = MidTermFeatures.beat_extraction(short, 0.05)
    finally:
        ShortTermFeatures.dc_normalize, ShortTermFeatures.eps, MidTermFeatures.eps = original
    n_feats = short.shape[0]  # 68 with 0.3.14's default deltas: base rows 0-33
    assert n_feats == 2 * N_BASE, n_feats
    file_mean = mid.T.mean(axis=0)
    values = np.concatenate([file_mean[:N_BASE], file_mean[n_feats : n_feats + N_BASE], [bpm, conf]])
    return [float(v) for v in values]


VARIANTS = {  # one 0.3.14 behaviour at a time, then all of them (plain 0.3.14)
    "frame 1102 (Python 3 round)": {"frame": 1102},
    "eps 2.2e-16": {"eps": None},
    "0.3.14 normalisation": {"normalise_2017": False},
    "plain 0.3.14": {"frame": 1102, "eps": None, "normalise_2017": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "analyze" / "fixtures" / "pyaa_reference.json"))
    parser.add_argument("--compare", action="store_true", help="also print 2017-vs-0.3.14 differences")
    args = parser.parse_args()
    from importlib.metadata import version

    import pyAudioAnalysis  # noqa: F401

    cols = columns()
    out = {
        "generator": "tools/pyaa_reference/make_fixtures.py",
        "pyAudioAnalysis": version("pyAudioAnalysis"),
        "numpy": np.__version__,
        "behaviour": "2017 (frame 1103 samples, raw-peak normalisation, eps 1e-8, beat ratio without eps); mid-term 1 s / 1 s; beat on 0.05 s",
        "sample_rate": FS,
        "columns": cols,
        "signals": {},
    }
    for name, make in pyaa_signals.SIGNALS.items():
        x = make()
        x_int16 = np.round(x * 32768.0).astype(np.int16)
        assert np.array_equal(x_int16 / 32768.0, x), name  # the signals are on the int16 grid
        values = extract(x_int16)
        out["signals"][name] = {"n_samples": len(x), "values": values}
        print(f"{name}: BPM {values[68]:.2f} conf {values[69]:.4f}")
        if args.compare:
            ref = np.array(values)
            for label, kwargs in VARIANTS.items():
                other = np.array(extract(x_int16, **kwargs))
                rel = np.abs(other - ref) / np.maximum(np.abs(ref), 1e-12)
                worst = np.argsort(rel)[::-1][:3]
                print(f"   {label}: {int((rel > 1e-6).sum())} columns change by > 1e-6 relative; largest",
                      ", ".join(f"{cols[i]} {rel[i]:.2g}" for i in worst))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
