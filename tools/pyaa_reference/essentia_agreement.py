"""Measure the agreement of ``essentia_bpm`` with Essentia's tempo on synthetic clips of known tempo.

Three steps, two environments (Essentia is AGPL-3.0 and lives only in its own venv)::

    # 1. render the clips with spotidance (its venv)
    .venv/bin/python tools/pyaa_reference/essentia_agreement.py render /tmp/ess-clips
    # 2. run Essentia on them (the venv of tools/pyaa_reference/build_essentia.sh)
    ~/.cache/spotidance/essentia-ref/bin/python tools/pyaa_reference/essentia_agreement.py essentia /tmp/ess-clips
    # 3. score the rule (spotidance's venv)
    .venv/bin/python tools/pyaa_reference/essentia_agreement.py report /tmp/ess-clips

Two sets of clips are rendered with ``spotidance.synth.render_clip`` (30 s, 22,050 Hz):

- ``probe``: fixed tempi 100, 104, ..., 188 BPM, each with the four-on-the-floor (techno) and the
  breakbeat (dnb) pattern. This set was used to CHOOSE the rule (octave threshold, tempo factor).
- ``eval``: 40 clips each of techno, edm and dnb with the tempi render_clip draws (120-135,
  126-130, 170-178 BPM). The agreement reported in the docs is measured on this set only.

Essentia is run as Caparrini et al. ran it (pyGenreClf ``featuresExtraction.py``, June 2017):
``RhythmExtractor()`` with default parameters on the librosa-loaded 22,050 Hz mono signal
(``old22``; RhythmExtractor's ``sampleRate`` parameter defaults to 44,100 Hz, so it reads the
signal as if it were played twice as fast). For comparison: ``RhythmExtractor2013()`` on the same
signal (``x2013_22``) and both extractors on the signal resampled to 44,100 Hz (``old44``,
``x2013_44``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

GENRES = ("techno", "edm", "dnb")


def render(out: Path) -> None:
    import dataclasses

    import spotidance.synth.render as synth

    out.mkdir(parents=True, exist_ok=True)
    clips, tempo = {}, {}
    for gi, genre in enumerate(GENRES):
        for i in range(40):
            y, meta = synth.render_clip(genre, seed=[7, gi, i], duration=30.0, sample_rate=22050)
            clips[f"eval/{genre}/{i}"], tempo[f"eval/{genre}/{i}"] = y, meta["tempo"]
    original = dict(synth.GENRES)
    try:
        for t in range(100, 192, 4):
            for genre in ("techno", "dnb"):
                synth.GENRES[genre] = dataclasses.replace(original[genre], tempo=(float(t), float(t)))
                y, meta = synth.render_clip(genre, seed=[9, t], duration=30.0, sample_rate=22050)
                clips[f"probe/{genre}/{t}"], tempo[f"probe/{genre}/{t}"] = y, meta["tempo"]
    finally:
        synth.GENRES.update(original)
    np.savez(out / "clips.npz", **clips)
    (out / "tempo.json").write_text(json.dumps(tempo))
    print(f"rendered {len(clips)} clips into {out}")


def essentia(out: Path) -> None:
    import essentia as ess
    import essentia.standard as es

    ess.log.infoActive = False
    ess.log.warningActive = False
    clips = np.load(out / "clips.npz")
    resample = es.Resample(inputSampleRate=22050, outputSampleRate=44100)
    result = {}
    for key in clips.files:
        y = clips[key].astype(np.float32)
        y44 = resample(y)
        result[key] = {
            # Caparrini's call on librosa's 22,050 Hz signal: bpm, _, _, _ = RhythmExtractor()(x)
            # (RhythmExtractor's sampleRate parameter defaults to 44,100 Hz)
            "old22": float(es.RhythmExtractor()(y)[0]),
            "x2013_22": float(es.RhythmExtractor2013()(y)[0]),
            # for comparison, the same extractors on the signal at the rate they assume
            "old44": float(es.RhythmExtractor()(y44)[0]),
            "x2013_44": float(es.RhythmExtractor2013()(y44)[0]),
        }
    (out / "essentia.json").write_text(json.dumps({"essentia": ess.__version__, "tempo": result}, indent=0))
    print(f"essentia {ess.__version__}: {len(result)} clips")


def report(out: Path) -> None:
    from spotidance.analyze.beatport import ESSENTIA_HALVE_ABOVE, essentia_bpm

    def octave_only(t: float) -> int:  # the rule without the tempo factor, for comparison
        while t > ESSENTIA_HALVE_ABOVE:
            t /= 2.0
        return round(t)

    tempo = json.loads((out / "tempo.json").read_text())
    measured = json.loads((out / "essentia.json").read_text())
    print(f"essentia {measured['essentia']}; rule: spotidance.analyze.beatport.essentia_bpm")
    for variant in ("old22", "x2013_22", "old44", "x2013_44"):
        print(f"{variant}:")
        for genre in GENRES:
            keys = [k for k in tempo if k.startswith(f"eval/{genre}/")]
            pred = np.array([essentia_bpm(tempo[k]) for k in keys])
            ess = np.array([round(measured["tempo"][k][variant]) for k in keys])
            octave = np.mean([abs(np.log2(p / e)) < 0.1 for p, e in zip(pred, ess)])
            plain = np.array([octave_only(tempo[k]) for k in keys])
            print(f"  eval {genre:6s} n={len(keys)}: exact {np.mean(pred == ess):.0%}, "
                  f"within 1 BPM {np.mean(np.abs(pred - ess) <= 1):.0%}, same octave {octave:.0%} "
                  f"(octave rule alone, no factor: exact {np.mean(plain == ess):.0%})")
        probe = sorted((k for k in tempo if k.startswith("probe/")), key=lambda k: tempo[k])
        kinds = {"half": 0.5, "two thirds": 2 / 3, "kept": 1.0}
        for pattern in ("techno", "dnb"):
            seen = {name: [] for name in kinds}
            for k in probe:
                if k.split("/")[1] == pattern:
                    r = measured["tempo"][k][variant] / tempo[k]
                    name = min(kinds, key=lambda n: abs(np.log(r / kinds[n])))
                    seen[name].append(int(tempo[k]))
            print(f"  probe {pattern}: " + "; ".join(f"{n} {v}" for n, v in seen.items() if v))
        eval_keys = [k for k in tempo if k.startswith("eval/")]
        thirds = [k for k in eval_keys if abs(np.log(measured["tempo"][k][variant] / tempo[k] / (2 / 3))) < 0.05]
        print(f"  eval clips read at 2/3 tempo: {len(thirds)} of {len(eval_keys)}")
        ratio = [measured["tempo"][k][variant] / (tempo[k] / 2 ** round(np.log2(tempo[k] / measured["tempo"][k][variant])))
                 for k in probe]
        print(f"  probe: Essentia / true tempo (octave aligned): median {np.median(ratio):.4f}, "
              f"IQR {np.percentile(ratio, 25):.4f}-{np.percentile(ratio, 75):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["render", "essentia", "report"])
    parser.add_argument("dir", type=Path)
    args = parser.parse_args()
    {"render": render, "essentia": essentia, "report": report}[args.step](args.dir)


if __name__ == "__main__":
    sys.exit(main())
