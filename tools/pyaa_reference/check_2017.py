"""Cross-check the fixtures against the 2017 pyAudioAnalysis source itself (optional, one-off).

The Beatport table was computed in May-June 2017 with pyAudioAnalysis as it was then (Python 2;
commit fcf1fe4 of 2017-04-06 is the last change to the feature code before the table's commit on
2017-06-11). That code is not on PyPI. Given its two files, this script runs their feature
functions under Python 3 with the smallest possible shims (Python 2 integer division at the two
places that need it, ``numpy.int`` -> ``int``, no plotting imports) and compares the 70 columns of
the test signals with tests/analyze/fixtures/pyaa_reference.json::

    git -C pyAudioAnalysis show fcf1fe4:audioFeatureExtraction.py > /tmp/afe2017.py
    git -C pyAudioAnalysis show fcf1fe4:utilities.py > /tmp/util2017.py
    ~/.cache/spotidance/pyaa-ref/bin/python tools/pyaa_reference/check_2017.py /tmp/afe2017.py /tmp/util2017.py
"""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "analyze"))
import pyaa_signals

WANTED = ["stZCR", "stEnergy", "stEnergyEntropy", "stSpectralCentroidAndSpread", "stSpectralEntropy",
          "stSpectralFlux", "stSpectralRollOff", "mfccInitFilterBanks", "stMFCC", "stChromaFeaturesInit",
          "stChromaFeatures", "stFeatureExtraction", "mtFeatureExtraction", "beatExtraction"]


def load(afe_path: str, util_path: str) -> dict:
    """The 2017 functions, exec'd from their source with Python 2 shims."""
    import scipy.fftpack
    from scipy.fftpack.realtransforms import dct

    utilities = types.ModuleType("utilities")
    util_src = Path(util_path).read_text()
    tree = ast.parse(util_src)
    peakdet = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "peakdet")
    exec(compile(ast.Module([peakdet], []), util_path, "exec"), {"numpy": np, "sys": sys}, utilities.__dict__)  # noqa: S102
    src = Path(afe_path).read_text()
    # the module has Python 2 print statements elsewhere: pick the wanted functions by line range
    lines = src.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("def ")]
    chunks = []
    for i, start in enumerate(starts):
        name = lines[start][4:].split("(")[0]
        if name in WANTED:
            end = starts[i + 1] if i + 1 < len(starts) else len(lines)
            chunks.append("\n".join(lines[start:end]))
    code = "\n\n".join(chunks)
    shims = {  # Python 2 semantics
        "nFFT = Win / 2": "nFFT = Win // 2",
        "C2.reshape(C2.shape[0]/12, 12)": "C2.reshape(C2.shape[0]//12, 12)",
        "dtype=numpy.int)": "dtype=int)",
    }
    for old, new in shims.items():
        assert old in code, old
        code = code.replace(old, new)
    namespace = {"numpy": np, "fft": scipy.fftpack.fft, "dct": dct, "eps": 0.00000001, "utilities": utilities,
                 "plt": None}
    exec(compile(code, afe_path, "exec"), namespace)  # noqa: S102  (the 2017 source, read from a file you give)
    return namespace


def main() -> None:
    ns = load(sys.argv[1], sys.argv[2])
    ref = json.loads((ROOT / "tests" / "analyze" / "fixtures" / "pyaa_reference.json").read_text())
    fs = 22050
    worst = 0.0
    for name, make in pyaa_signals.SIGNALS.items():
        x = np.round(make() * 32768.0).astype(np.int16)[: 120 * fs]
        # dirWavFeatureExtraction(dirs, 1, 1, 0.05, 0.05, True) under Python 2: round() gives floats
        # 22050.0, 22050.0, 1103.0, 1103.0 (round(1102.5) == 1103.0, half away from zero)
        mid, short = ns["mtFeatureExtraction"](x, fs, 22050.0, 22050.0, 1103.0, 1103.0)
        bpm, conf = ns["beatExtraction"](short, 0.05)
        values = np.concatenate([mid.T.mean(axis=0), [bpm, conf]])
        want = np.array(ref["signals"][name]["values"])
        rel = np.abs(values - want) / np.maximum(np.abs(want), 1e-12)
        worst = max(worst, float(rel.max()))
        i = int(rel.argmax())
        print(f"{name}: 2017 code vs fixture, largest relative difference {rel[i]:.2g} ({ref['columns'][i]})")
    print(f"worst {worst:.2g}")


if __name__ == "__main__":
    main()
