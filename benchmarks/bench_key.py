#!/usr/bin/env python
"""Benchmark: key estimation (spotidance.analyze.key) against the old chroma_cqt path, and LUFS speed.

Renders N held-out synthetic clips per genre (``spotidance.synth.render_clip`` at 22,050 Hz, seeds
``[SEED, genre index, i]``; the method's parameters were chosen on seeds 7100 and 7200, the default
here is 9100, never used for choosing anything) and, with ``--real``, real-instrument renderings:
MIDI files written here (chord progressions, a bass line on the chord roots and a drum kit, in all
24 keys) rendered by Debian's ``fluidsynth`` with the ``fluid-soundfont-gm`` General MIDI sound font.

Methods compared on the same clips:

* ``hpcp-edma``: :func:`spotidance.analyze.key.estimate_key` (the method: segment-averaged
  ``edma`` correlations plus the diatonic-collection term);
* ``hpcp-global``: the same HPCP front end deciding as before (November 2026): the best ``edma``
  correlation of the whole clip's profile (``match_profile(pitch_class_profile(y))``);
* ``cqt-kk``: the old path (``spotidance.local_features`` before the ``analyze`` stage, reproduced
  here): librosa ``chroma_cqt`` (hop 512) averaged over time, Krumhansl-Kessler profiles;
* ``cqt-edma``: the same chroma with the new method's ``edma`` profiles (only the profile swapped).

For each: exact key and mode, the MIREX error classes (fifth: same mode, tonic a fifth up or down;
relative: the relative major/minor; parallel: same tonic, other mode; other; none: no key given),
the MIREX weighted score (exact 1, fifth 0.5, relative 0.3, parallel 0.2) and CPU ms per clip
(one process). Also CPU ms per clip of :func:`spotidance.analyze.loudness.integrated_loudness`
and of pyloudnorm 0.2.0 when it is installed.

Usage::

    python benchmarks/bench_key.py                      # 50 clips per genre, 30 s, seed 9100
    python benchmarks/bench_key.py --per-genre 20 --real
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

GENRES = ("techno", "edm", "dnb")
SR = 22050
CLASSES = ("exact", "fifth", "relative", "parallel", "other", "none")
WEIGHTS = {"exact": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0, "none": 0.0}


def classify(key, mode, true_key: int, true_mode: int) -> str:
    """MIREX key-error class of an estimate against the truth."""
    if key is None or mode is None:
        return "none"
    d = (key - true_key) % 12
    if mode == true_mode:
        if d == 0:
            return "exact"
        if d in (5, 7):
            return "fifth"
    elif true_mode == 1 and mode == 0 and d == 9 or true_mode == 0 and mode == 1 and d == 3:
        return "relative"
    elif d == 0:
        return "parallel"
    return "other"


def _render(job: tuple[str, int, int, float]) -> tuple[str, np.ndarray, int, int]:
    from spotidance.synth import render_clip

    genre, seed, index, duration = job
    y, meta = render_clip(genre, seed=[seed, GENRES.index(genre), index], duration=duration, sample_rate=SR)
    return genre, y, int(meta["key"]), int(meta["mode"])


#: Krumhansl-Kessler probe-tone ratings, C major and C minor (Krumhansl 1990, table 2.1), as the
#: old path used them.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def old_estimate_key(chroma_mean: np.ndarray) -> tuple[int, int, float]:
    """The old ``local_features.estimate_key`` (removed from the package), reproduced: the best
    Pearson correlation of a 12-bin chroma with the 24 rotated Krumhansl-Kessler profiles."""
    v = np.asarray(chroma_mean, dtype=np.float64)
    if v.shape != (12,) or not np.isfinite(v).all() or np.ptp(v) == 0:
        return 0, 1, 0.0
    best = (-2.0, 0, 1)
    for mode, profile in ((1, KK_MAJOR), (0, KK_MINOR)):
        for key in range(12):
            r = float(np.corrcoef(v, np.roll(profile, key))[0, 1])
            if r > best[0]:
                best = (r, key, mode)
    return best[1], best[2], best[0]


def methods():
    import librosa

    from spotidance.analyze.key import (
        MIN_STRENGTH,
        estimate_key,
        match_profile,
        pitch_class_profile,
    )

    def hpcp(y):
        e = estimate_key(y, sample_rate=SR)
        return e.key, e.mode

    def hpcp_global(y):  # the earlier decision rule; its no-key rule without the flatness test
        profile = pitch_class_profile(y, sample_rate=SR)
        if profile is None:
            return None, None
        key, mode, r = match_profile(profile)
        return (key, mode) if r >= MIN_STRENGTH else (None, None)

    def cqt_kk(y):
        chroma = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512)
        key, mode, r = old_estimate_key(chroma.mean(axis=1))
        return (key, mode) if r > 0 else (None, None)

    def cqt_edma(y):
        chroma = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512)
        key, mode, _ = match_profile(chroma.mean(axis=1))
        return key, mode

    return {"hpcp-edma": hpcp, "hpcp-global": hpcp_global, "cqt-kk": cqt_kk, "cqt-edma": cqt_edma}


# --- real instruments: MIDI through fluidsynth -------------------------------------------------

MAJOR_SCALE, MINOR_SCALE = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
# Progressions as scale degrees (0 = tonic); triads are stacked in thirds on the scale. The minor
# progressions end on a major V (harmonic minor) in one of three, as common practice does.
PROGRESSIONS = {1: [(0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4)], 0: [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6)]}
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")


def write_midi(path: Path, key: int, mode: int, variant: int, *, bars: int = 16, bpm: float = 124.0) -> None:
    """A 4/4 loop in ``key``/``mode``: chords (one per bar), bass on the chord roots, drums."""
    import mido

    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    scale = MAJOR_SCALE if mode == 1 else MINOR_SCALE
    prog = PROGRESSIONS[mode][variant % 3]
    chord_program, bass_program = ((0, 33), (48, 38), (89, 32))[variant % 3]  # piano/strings/pad, basses
    events = []  # (tick, channel, kind, note, velocity)

    def triad(degree: int, harmonic_v: bool) -> list[int]:
        notes = []
        for k in (0, 2, 4):
            d = degree + k
            pc = scale[d % 7] + 12 * (d // 7)
            notes.append(pc)
        if harmonic_v and mode == 0 and degree == 4:
            notes[1] += 1  # raised leading tone: a major dominant
        return notes

    for bar in range(bars):
        degree = prog[bar % 4]
        start = bar * 4 * tpb
        for n in triad(degree, harmonic_v=variant % 3 == 1):
            note = 60 + key + n - (12 if key + n >= 12 else 0)
            events += [(start, 0, "on", note, 70), (start + 4 * tpb - 10, 0, "off", note, 0)]
        root = 36 + key + scale[degree % 7] - (12 if key + scale[degree % 7] >= 12 else 0)
        for beat in range(4):
            t = start + beat * tpb + tpb // 2  # off-beat bass, as in house
            events += [(t, 1, "on", root, 90), (t + tpb // 2 - 10, 1, "off", root, 0)]
        for beat in range(4):
            t = start + beat * tpb
            events += [(t, 9, "on", 36, 110), (t + 60, 9, "off", 36, 0)]  # kick
            events += [(t + tpb // 2, 9, "on", 42, 70), (t + tpb // 2 + 60, 9, "off", 42, 0)]  # closed hat
            if beat in (1, 3):
                events += [(t, 9, "on", 38, 90), (t + 60, 9, "off", 38, 0)]  # snare
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    track.append(mido.Message("program_change", channel=0, program=chord_program, time=0))
    track.append(mido.Message("program_change", channel=1, program=bass_program, time=0))
    last = 0
    for tick, ch, kind, note, vel in sorted(events, key=lambda e: (e[0], e[2] == "on")):
        track.append(mido.Message("note_on" if kind == "on" else "note_off", channel=ch, note=note, velocity=vel, time=tick - last))
        last = tick
    mid.save(path)


def render_real(folder: Path) -> list[tuple[str, np.ndarray, int, int]]:
    """All 24 keys x 2 arrangements through fluidsynth; empty when fluidsynth or mido is missing."""
    import soundfile

    fluidsynth = shutil.which("fluidsynth")
    font = next((f for f in SOUNDFONTS if Path(f).exists()), None)
    try:
        import mido
    except ImportError:
        mido = None
    if not fluidsynth or not font or mido is None:
        print("(--real skipped: needs fluidsynth, fluid-soundfont-gm and mido)", file=sys.stderr)
        return []
    clips = []
    for key in range(12):
        for mode in (1, 0):
            for variant in ((key + mode) % 3, (key + mode + 1) % 3):
                mid, wav = folder / f"k{key}m{mode}v{variant}.mid", folder / f"k{key}m{mode}v{variant}.wav"
                write_midi(mid, key, mode, variant)
                subprocess.run([fluidsynth, "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(wav), font, str(mid)],
                               check=True, capture_output=True)  # fmt: skip
                y, sr = soundfile.read(wav, dtype="float32", always_2d=True)
                assert sr == SR, sr
                clips.append(("real", y.mean(axis=1)[: 30 * SR], key, mode))
    return clips


KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_TO_SHARP = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}


def midi_key(path: Path) -> tuple[int, int, str] | None:
    """A MIDI file's key: its first ``key_signature`` meta message (``"F#m"``: F# minor) if it has
    one, else, for the project's development set (``benchmarks/devset/build_devset.py``: minor
    triads over a bass on channel 1), the first bass note's pitch class as a minor tonic; None if
    neither. The second is a weak label: that generator's progressions (i-iv-iii-v and i-vi-iii-vii,
    all minor triads) are not diatonic, and a declared key signature is not always the sounding key."""
    import mido

    mid = mido.MidiFile(path)
    for track in mid.tracks:
        for msg in track:
            if msg.type == "key_signature":
                name = msg.key
                minor = name.endswith("m")
                tonic = FLAT_TO_SHARP.get(name.rstrip("m"), name.rstrip("m"))
                return KEY_NAMES.index(tonic), 0 if minor else 1, "key_signature"
    for track in mid.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.channel == 1 and msg.velocity > 0:
                return msg.note % 12, 0, "first bass note (weak)"
    return None


def load_devset(folder: Path) -> list[tuple[str, np.ndarray, int, int]]:
    """``folder/midi/*.mid`` with their renderings ``folder/audio/<name>.wav`` (first 30 s, mono, 22,050 Hz)."""
    import soundfile

    clips = []
    for mid in sorted((folder / "midi").glob("*.mid")):
        wav = folder / "audio" / (mid.stem + ".wav")
        label = midi_key(mid)
        if not wav.exists() or label is None:
            continue
        y, sr = soundfile.read(wav, dtype="float32", always_2d=True)
        if sr != SR:
            print(f"(skipping {wav}: {sr} Hz, not {SR})", file=sys.stderr)
            continue
        clips.append((f"dev:{label[2].split()[0]}", y.mean(axis=1)[: 30 * SR], label[0], label[1]))
    return clips


def score(clips, fns) -> dict:
    """Error classes and ms per clip of every method on every group of clips."""
    out: dict = {}
    for name, fn in fns.items():
        fn(clips[0][1])  # warm-up (imports, caches)
        for group, y, key, mode in clips:
            t0 = time.process_time()
            k, m = fn(y)
            ms = 1000 * (time.process_time() - t0)
            row = out.setdefault((name, group), {c: 0 for c in CLASSES} | {"n": 0, "ms": 0.0})
            row[classify(k, m, key, mode)] += 1
            row["n"] += 1
            row["ms"] += ms
    return out


def loudness_speed(y: np.ndarray) -> dict:
    from spotidance.analyze.loudness import integrated_loudness

    res = {}
    integrated_loudness(y, sample_rate=SR)
    t0 = time.process_time()
    for _ in range(10):
        ours = integrated_loudness(y, sample_rate=SR)
    res["spotidance LUFS ms"] = 100 * (time.process_time() - t0)
    try:
        import pyloudnorm
    except ImportError:
        return res
    meter = pyloudnorm.Meter(SR, filter_class="DeMan")
    t0 = time.process_time()
    for _ in range(10):
        ref = meter.integrated_loudness(y.astype(np.float64))
    res["pyloudnorm LUFS ms"] = 100 * (time.process_time() - t0)
    res["difference LU"] = abs(ours - ref)
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-genre", type=int, default=50, help="synthetic clips per genre (default 50)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per clip (default 30)")
    parser.add_argument("--seed", type=int, default=9100, help="held-out seed (7100 and 7200 were used to choose parameters)")
    parser.add_argument("--real", action="store_true", help="also 48 fluidsynth renderings of MIDI in all 24 keys")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    parser.add_argument("--devset", type=Path, help="also MIDI files and their renderings: DIR/midi/*.mid, DIR/audio/*.wav")
    args = parser.parse_args()

    jobs = [(g, args.seed, i, args.duration) for g in GENRES for i in range(args.per_genre)]
    with ProcessPoolExecutor(args.workers) as pool:
        clips = list(pool.map(_render, jobs))
    if args.real:
        with tempfile.TemporaryDirectory() as tmp:
            clips += render_real(Path(tmp))
    if args.devset:
        clips += load_devset(args.devset)
    results = score(clips, methods())

    print(f"held-out synthetic clips: seed {args.seed}, {args.per_genre} per genre, {args.duration:g} s, {SR} Hz")
    header = f"{'method':10s} {'clips':9s} {'n':>4s} " + " ".join(f"{c:>8s}" for c in CLASSES) + f" {'exact%':>7s} {'MIREX':>6s} {'ms/clip':>8s}"
    print(header)
    for (name, group), row in results.items():
        n = row["n"]
        mirex = sum(WEIGHTS[c] * row[c] for c in CLASSES) / n
        print(f"{name:10s} {group:9s} {n:4d} " + " ".join(f"{row[c]:8d}" for c in CLASSES)
              + f" {100 * row['exact'] / n:6.1f}% {mirex:6.3f} {row['ms'] / n:8.1f}")  # fmt: skip
    for k, v in loudness_speed(clips[0][1]).items():
        print(f"{k}: {v:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
