#!/usr/bin/env python
"""How often the shipped models flag audio that is not their kind of music as "unlike the training data".

The shipped models were trained on Beatport's dance music; their novelty flag is calibrated so that
at most 5 % of their own training rows are flagged under cross-validation. This script measures the
flag rate, per kind of audio, on material none of them saw:

* speech: sentences spoken by Debian's ``espeak-ng`` (30 s each, several voices and speeds);
* classical-like: piano and string chord progressions written as MIDI (``mido``) and rendered
  through fluidsynth with the FluidR3 soundfont (no drums);
* rock, metal and hip-hop: the tempo development set's renders (``benchmarks/devset``), when built;
* dance music for comparison: its techno, house, trance and drum-and-bass renders, and synthetic
  techno / EDM / drum-and-bass clips from ``spotidance synth``.

None of this is real commercial music; read the figures as a check that the flag does what it says,
not as a measured false-alarm rate on a real collection.

Usage::

    apt-get install espeak-ng fluidsynth fluid-soundfont-gm && pip install mido
    python benchmarks/bench_novelty.py [--model beatport2016-3] [--devset /work/devset-cache/audio]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog while the orchestra tunes in the distance.",
    "Tonight we talk about the history of electronic music, from the first synthesizers to the clubs of today.",
    "Please mind the gap between the train and the platform, and keep your belongings with you at all times.",
    "In the morning the market opens early, and the farmers bring vegetables, bread and fresh cheese.",
    "Welcome to the evening news. Our first story concerns the weather, which will stay mild this week.",
    "Reading aloud helps children learn new words, and it is a pleasant way to end the day together.",
]


def speech(out: Path) -> list[Path]:
    files = []
    if not shutil.which("espeak-ng"):
        print("espeak-ng not installed: no speech clips", file=sys.stderr)
        return files
    for i, text in enumerate(SENTENCES):
        path = out / f"speech-{i}.wav"
        voice = ["en", "en-us", "de", "fr", "en-gb", "es"][i]
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(140 + 10 * i), "-w", str(path), " ".join([text] * 4)],
                       check=True, capture_output=True)
        files.append(path)
    return files


def classical(out: Path) -> list[Path]:
    files = []
    sf2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    try:
        import mido
    except ImportError:
        print("mido not installed: no classical-like clips", file=sys.stderr)
        return files
    if not (shutil.which("fluidsynth") and sf2.exists()):
        print("fluidsynth / FluidR3 not installed: no classical-like clips", file=sys.stderr)
        return files
    progressions = [[0, 5, 7, 0], [0, 9, 5, 7], [2, 7, 0, 9], [0, 4, 9, 5]]
    for i, prog in enumerate(progressions):
        mid = mido.MidiFile(ticks_per_beat=480)
        track = mido.MidiTrack()
        mid.tracks.append(track)
        track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(66 + 8 * i)))
        track.append(mido.Message("program_change", program=[0, 48, 40, 0][i], channel=0))
        for _ in range(4):
            for root in prog:
                notes = [48 + root, 60 + root, 64 + root if i % 2 == 0 else 63 + root, 67 + root]
                for n in notes:
                    track.append(mido.Message("note_on", note=n, velocity=70, time=0))
                for k, n in enumerate(notes):
                    track.append(mido.Message("note_off", note=n, velocity=0, time=960 * 2 if k == 0 else 0))
        midi = out / f"classical-{i}.mid"
        mid.save(midi)
        path = out / f"classical-{i}.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "22050", "-F", str(path), str(sf2), str(midi)],
                       check=True, capture_output=True)
        files.append(path)
    return files


def synthetic_dance(out: Path) -> list[Path]:
    from spotidance.synth.render import render_collection

    render_collection(out / "synth", genres=("techno", "edm", "dnb"), per_genre=4, seed=99, duration=30.0)
    return sorted((out / "synth").glob("*/*.mp3"))


def kind_of(path: Path) -> str:
    name = path.name
    if name.startswith("midi-"):
        return "devset " + name.split("-")[1]
    if name.startswith(("speech", "classical")):
        return name.split("-")[0]
    if path.parent.parent.name == "synth":
        return f"synth {path.parent.name}"
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="beatport2016-3")
    parser.add_argument("--devset", type=Path, default=Path("/work/devset-cache/audio"),
                        help="rendered development set (benchmarks/devset/build_devset.py)")
    args = parser.parse_args()

    from spotidance.classify.run import classify

    tmp = Path(tempfile.mkdtemp(prefix="bench-novelty-"))
    files = speech(tmp) + classical(tmp) + synthetic_dance(tmp)
    if args.devset.is_dir():
        files += sorted(p for p in args.devset.glob("midi-*.wav"))
    else:
        print(f"{args.devset} not found: no rock / metal / hip-hop renders (build benchmarks/devset)", file=sys.stderr)
    report = classify(args.model, [str(f) for f in files])
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in report.tracks:
        c = counts[kind_of(Path(t.path))]
        c[0] += 1
        c[1] += int(bool(t.unlike_training))
    skipped = defaultdict(int)
    for s in report.skipped:
        skipped[kind_of(Path(s.path))] += 1
    print(f"\nnovelty flag of {args.model} (flagged = 'unlike the training data'):")
    print(f"  {'audio':<18} {'files':>5} {'flagged':>8} {'skipped':>8}")
    for kind in sorted(set(counts) | set(skipped)):
        n, flagged = counts.get(kind, [0, 0])
        share = f"{flagged / n:.0%}" if n else "-"
        print(f"  {kind:<18} {n:>5} {share:>8} {skipped.get(kind, 0):>8}")
    print("  (skipped: a feature the model needs could not be measured, e.g. no tempo in speech)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
