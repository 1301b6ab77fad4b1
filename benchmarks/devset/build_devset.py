"""Build the tempo development set in a cache directory outside the repository.

Two parts:

* ``midi``: MIDI files written here with :mod:`mido` (genre drum, bass and chord patterns: drum and
  bass breakbeats with amen-like syncopation and half-time sections, boom-bap hip-hop with swung or
  triplet hats, house, techno, trance, rock, metal with double kick, some with long intros without
  drums) and rendered with Debian's ``fluidsynth`` through a General MIDI soundfont, so the timbres
  are sampled instruments. The truth is the MIDI tempo (quarter note = beat, the genre's usual
  notation: drum and bass in 170-180 with the snare on 2 and 4).
  Seeds 0-5 of every genre with FluidR3_GM are the *tuning* split (looked at while building the
  estimator); seeds 100-103 rendered with a different soundfont (TimGM6mb, when installed) are
  *held out*.
* ``debian``: ProTracker modules (.mod) shipped in Debian's ``tecnoballz-data`` game package
  (``apt-get download`` + ``dpkg-deb -x``), rendered with ``openmpt123``. The truth is read from the
  module's pattern data (BPM and speed set by ``Fxx`` on the first row; beat = 4 rows, the tracker
  convention, so the metrical level is a convention); modules that change tempo or speed anywhere
  are dropped. Written per item into the manifest. Held out.

Needs ``apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont openmpt123`` and
``pip install mido``.

Usage::

    .venv/bin/python benchmarks/devset/build_devset.py [--cache /work/devset-cache] [--write-manifest]

Idempotent: items already in the cache are kept. Prints what it made.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.csv"
DEFAULT_CACHE = Path("/work/devset-cache")
SF_TUNE = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SF_HELD = "/usr/share/sounds/sf2/TimGM6mb.sf2"
TPB = 480  # ticks per quarter note
STEP = TPB // 4  # a 16th note
DURATION = 32.0  # seconds rendered (clips are cut to 30 s when read)

GENRES = {  # name: (tempo range, GM drum kit program)
    "dnb": (170.0, 180.0),
    "hiphop": (85.0, 100.0),
    "house": (118.0, 130.0),
    "techno": (120.0, 150.0),
    "trance": (132.0, 142.0),
    "rock": (95.0, 160.0),
    "metal": (160.0, 190.0),
}
TUNE_SEEDS = range(0, 6)
HELD_SEEDS = range(100, 104)

KICK, SNARE, CLAP, CHH, OHH, PHH, RIDE, CRASH, RIM, TOM = 36, 38, 39, 42, 46, 44, 51, 49, 37, 45


# --------------------------------------------------------------------------- drum patterns
# A bar is 16 sixteenths (or 12 triplet eighths where said). Each pattern returns a list of
# (position in 16ths, float allowed for swing/triplets, note, velocity).


def _hats(rng, bar_hits, *, every, note=CHH, vel=(55, 80), offset=0.0, swing=0.0):
    for s in np.arange(offset, 16, every):
        pos = float(s)
        if swing and abs((s / every) % 2 - 1) < 1e-9:  # every second hat is late
            pos += swing * every
        bar_hits.append((pos, note, int(rng.integers(*vel))))


def dnb_bar(rng, variant, bar):
    hits = []
    if variant == "halftime":
        hits += [(0, KICK, 110), (8, SNARE, 115)]
        if rng.random() < 0.5:
            hits.append((11, KICK, 90))
        _hats(rng, hits, every=2, note=CHH)
        return hits
    if variant == "amen":
        for s, n, v in [(0, KICK, 110), (2, KICK, 100), (4, SNARE, 115), (7, SNARE, 60), (9, SNARE, 70),
                        (10, KICK, 100), (11, KICK, 95), (12, SNARE, 115), (15, SNARE, 65)]:
            hits.append((s, n, v))
        _hats(rng, hits, every=2, note=RIDE, vel=(50, 75))
    else:  # two-step
        hits += [(0, KICK, 115), (4, SNARE, 118), (10, KICK, 105), (12, SNARE, 118)]
        if rng.random() < 0.4:
            hits.append((7, SNARE, 55))
        _hats(rng, hits, every=2, note=CHH)
        if rng.random() < 0.5:
            _hats(rng, hits, every=4, offset=2, note=OHH, vel=(40, 60))
    return hits


def hiphop_bar(rng, variant, bar):
    hits = [(0, KICK, 112), (4, SNARE, 115), (12, SNARE, 115)]
    kicks = [(7, 10), (10,), (3, 10), (8, 10), (10, 11)]
    hits += [(s, KICK, 100) for s in kicks[int(rng.integers(len(kicks)))]]
    swing = float(rng.uniform(0.15, 0.33))
    if variant == "triplet":
        for k in range(12):  # triplet 8th hats: 12 per bar
            hits.append((k * 16 / 12, CHH, int(rng.integers(50, 80))))
        if rng.random() < 0.5:  # a triplet-16th roll at the end of the bar
            for k in range(6):
                hits.append((12 + k * 4 / 6, CHH, 55))
    elif variant == "sixteenth":
        _hats(rng, hits, every=1, swing=swing * 0.7, vel=(40, 75))
    else:
        _hats(rng, hits, every=2, swing=swing, vel=(55, 85))
    return hits


def house_bar(rng, variant, bar):
    hits = [(s, KICK, 118) for s in (0, 4, 8, 12)] + [(4, CLAP, 100), (12, CLAP, 100)]
    _hats(rng, hits, every=4, offset=2, note=OHH, vel=(60, 85))
    if variant == "shuffle":
        _hats(rng, hits, every=2, offset=1, note=CHH, vel=(35, 55))
    else:
        _hats(rng, hits, every=1, note=CHH, vel=(30, 50))
    return hits


def techno_bar(rng, variant, bar):
    hits = [(s, KICK, 120) for s in (0, 4, 8, 12)]
    _hats(rng, hits, every=4, offset=2, note=OHH, vel=(60, 85))
    if variant == "ride":
        _hats(rng, hits, every=1, note=RIDE, vel=(35, 60))
    if rng.random() < 0.5:
        hits += [(4, CLAP, 80), (12, CLAP, 80)]
    if variant == "syncopated":
        hits += [(3, RIM, 70), (10, RIM, 70), (14, RIM, 60)]
    return hits


def trance_bar(rng, variant, bar):
    hits = [(s, KICK, 120) for s in (0, 4, 8, 12)] + [(4, CLAP, 95), (12, CLAP, 95)]
    _hats(rng, hits, every=4, offset=2, note=OHH, vel=(65, 90))
    _hats(rng, hits, every=1, note=CHH, vel=(25, 45))
    return hits


def rock_bar(rng, variant, bar):
    hits = [(0, KICK, 115), (8, KICK, 110), (4, SNARE, 118), (12, SNARE, 118)]
    if rng.random() < 0.5:
        hits.append((10, KICK, 95))
    if variant == "ride":
        _hats(rng, hits, every=4, note=RIDE, vel=(60, 80))
        _hats(rng, hits, every=2, offset=0, note=CHH, vel=(40, 60))
    else:
        _hats(rng, hits, every=2, note=CHH, vel=(55, 85))
    if bar % 4 == 3 and rng.random() < 0.7:  # a tom fill at the end of a phrase
        hits = [h for h in hits if h[0] < 12] + [(12, TOM, 100), (13, TOM, 95), (14, 43, 100), (15, 43, 105)]
    return hits


def metal_bar(rng, variant, bar):
    hits = [(4, SNARE, 120), (12, SNARE, 120)]
    if variant == "gallop":
        for s in (0, 2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15):
            hits.append((s, KICK, 105))
    else:  # double kick 16ths
        for s in range(16):
            hits.append((s, KICK, int(rng.integers(95, 115))))
    _hats(rng, hits, every=4, note=RIDE if variant == "ride" else CHH, vel=(70, 95))
    if bar % 4 == 0:
        hits.append((0, CRASH, 110))
    return hits


PATTERNS = {
    "dnb": (dnb_bar, ["twostep", "amen"]),
    "hiphop": (hiphop_bar, ["eighth", "sixteenth", "triplet"]),
    "house": (house_bar, ["straight", "shuffle"]),
    "techno": (techno_bar, ["plain", "ride", "syncopated"]),
    "trance": (trance_bar, ["plain"]),
    "rock": (rock_bar, ["straight", "ride"]),
    "metal": (metal_bar, ["double", "gallop", "ride"]),
}


# --------------------------------------------------------------------------- pitched parts


def pitched_parts(rng, genre, bars):
    """Bass and chord notes: list of (channel, start 16th from song start, length 16ths, note, vel)."""
    root = int(rng.integers(33, 45))
    minor = [0, 3, 7]
    prog = [0, 5, 3, 7] if rng.random() < 0.5 else [0, 8, 3, 10]
    notes = []
    for bar in range(bars):
        r = root + prog[(bar // 2) % 4] % 12
        base = bar * 16
        if genre in ("house", "trance", "techno"):
            for s in (2, 6, 10, 14):  # off-beat bass
                notes.append((1, base + s, 2, r, 90))
        elif genre == "dnb":
            notes.append((1, base, 8, r, 100))
            notes.append((1, base + 10, 6, r + (7 if rng.random() < 0.5 else 0), 95))
        elif genre == "hiphop":
            notes.append((1, base, 6, r, 100))
            notes.append((1, base + 10, 4, r + 3, 90))
        else:  # rock / metal: 8th-note bass on the root
            for s in range(0, 16, 2):
                notes.append((1, base + s, 2, r, 85))
        # chords (pad or guitar), held per bar or stabbed
        ch = [r + 12 + i for i in minor]
        if genre in ("rock", "metal"):
            for s in (0, 6, 8, 14) if genre == "rock" else (0, 4, 8, 12):
                for p in (r + 12, r + 19):
                    notes.append((2, base + s, 2 if genre == "metal" else 4, p, 80))
        elif genre == "trance" and bar % 2 == 0:
            for s in range(0, 32, 3):  # 3-16th gated chord stabs (a classic trance rhythm)
                for p in ch:
                    notes.append((2, base + s, 2, p, 60))
        else:
            for p in ch:
                notes.append((2, base, 16, p, 55))
    return notes


PROGRAMS = {  # (bass, chords) GM programs
    "dnb": (38, 89), "hiphop": (33, 4), "house": (38, 81), "techno": (39, 90),
    "trance": (38, 81), "rock": (33, 29), "metal": (33, 30),
}


def make_midi(genre: str, seed: int, path: Path) -> dict:
    """Write one MIDI file; returns its metadata (tempo, variant, structure)."""
    import mido

    rng = np.random.default_rng([seed, list(GENRES).index(genre), 7])
    lo, hi = GENRES[genre]
    bpm = round(float(rng.uniform(lo, hi)), 2)
    func, variants = PATTERNS[genre]
    variant = variants[int(rng.integers(len(variants)))]
    bar_s = 4 * 60.0 / bpm
    bars = int(np.ceil(DURATION / bar_s))
    intro = int(rng.integers(2, 5)) if rng.random() < 0.3 else 0  # bars without drums
    halftime_from = None
    if genre == "dnb" and rng.random() < 0.4:
        halftime_from = int(rng.integers(intro + 4, max(intro + 5, bars - 4)))
    breakdown = None
    if genre == "trance" and rng.random() < 0.5:
        breakdown = (bars // 2, bars // 2 + 2)  # two bars without kick
    swing_humanize = 8 if genre in ("rock", "metal", "hiphop") else 3  # ticks of timing jitter

    events = []  # (tick, msg)
    for bar in range(bars):
        if bar < intro:
            continue
        v = variant
        if halftime_from is not None and halftime_from <= bar < halftime_from + 4:
            v = "halftime"
        hits = func(rng, v, bar)
        if breakdown and breakdown[0] <= bar < breakdown[1]:
            hits = [h for h in hits if h[1] != KICK]
        for pos, note, vel in hits:
            t = int(round((bar * 16 + pos) * STEP + rng.normal(0, swing_humanize)))
            t = max(t, 0)
            vel = int(np.clip(vel + rng.normal(0, 6), 20, 127))
            events.append((t, mido.Message("note_on", channel=9, note=note, velocity=vel)))
            events.append((t + STEP, mido.Message("note_off", channel=9, note=note, velocity=0)))
    for ch, start, length, note, vel in pitched_parts(rng, genre, bars):
        t0 = start * STEP
        events.append((t0, mido.Message("note_on", channel=ch, note=int(note), velocity=vel)))
        events.append((t0 + length * STEP - 10, mido.Message("note_off", channel=ch, note=int(note), velocity=0)))
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))

    mid = mido.MidiFile(ticks_per_beat=TPB)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    tr.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    bass, chords = PROGRAMS[genre]
    tr.append(mido.Message("program_change", channel=1, program=bass, time=0))
    tr.append(mido.Message("program_change", channel=2, program=chords, time=0))
    now = 0
    for t, msg in events:
        tr.append(msg.copy(time=t - now))
        now = t
    mid.save(str(path))
    notes = [variant]
    if intro:
        notes.append(f"{intro}-bar intro without drums")
    if halftime_from is not None:
        notes.append(f"half-time bars {halftime_from}-{halftime_from + 3}")
    if breakdown:
        notes.append("2-bar breakdown without kick")
    return {"bpm": bpm, "notes": "; ".join(notes)}


def render(mid: Path, wav: Path, soundfont: str) -> None:
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "22050", "-F", str(wav), soundfont, str(mid)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------- Debian tracker modules

DEBIAN_PACKAGES = ["tecnoballz-data"]


def module_tempo(path: Path) -> tuple[float, float, bool] | None:
    """(BPM, speed, constant) of a ProTracker .mod, read from its pattern data, or None.

    The speed (ticks a row) and BPM start at 6 and 125 and are set by ``Fxx`` effects
    (xx < 32: speed, else BPM). The values in force on the first row of the first pattern in the
    order list are returned; ``constant`` is False when any later ``Fxx`` sets another value
    (such pieces are dropped from the dev set).
    """
    data = path.read_bytes()
    if len(data) < 1084 or data[1080:1084] not in (b"M.K.", b"M!K!", b"4CHN", b"FLT4"):
        return None
    song_len = data[950]
    orders = list(data[952:952 + song_len])
    n_pat = max(data[952:1080]) + 1
    if len(data) < 1084 + n_pat * 1024:
        return None
    speed, bpm = 6, 125
    values: list[tuple[str, int]] = []
    first = True
    for o in orders:
        base = 1084 + o * 1024
        for row in range(64):
            for ch in range(4):
                b = data[base + row * 16 + ch * 4: base + row * 16 + ch * 4 + 4]
                if b[2] & 0x0F == 0x0F and b[3] > 0:
                    kind = "speed" if b[3] < 32 else "bpm"
                    if first and row == 0:
                        if kind == "speed":
                            speed = b[3]
                        else:
                            bpm = b[3]
                    else:
                        values.append((kind, b[3]))
            first = first and row < 0
        first = False
    constant = all((v == speed) if k == "speed" else (v == bpm) for k, v in values)
    return float(bpm), float(speed), constant


def extract_debian(cache: Path) -> list[dict]:
    """Download and unpack the packages; returns one record per module found."""
    debs = cache / "debs"
    root = cache / "debian-root"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for pkg in DEBIAN_PACKAGES:
        if not list(debs.glob(f"{pkg}_*.deb")):
            r = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
            if r.returncode:
                print(f"  could not download {pkg}: {r.stderr.strip().splitlines()[-1:]}")
                continue
        for deb in debs.glob(f"{pkg}_*.deb"):
            mark = root / f".{deb.name}.done"
            if not mark.exists():
                subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
                mark.touch()
    out = []
    for f in sorted(glob.glob(str(root / "**" / "*"), recursive=True)):
        p = Path(f)
        if p.suffix.lower() == ".mod" and p.is_file():  # ProTracker modules (module_tempo reads these)
            pkg = next((k for k in DEBIAN_PACKAGES if k.split("-")[0] in str(p)), "?")
            out.append({"path": p, "package": pkg, "tempo": module_tempo(p)})
    return out


# --------------------------------------------------------------------------- main


def midi_items():
    for genre in GENRES:
        for seed in TUNE_SEEDS:
            yield genre, seed, "tune", SF_TUNE
        for seed in HELD_SEEDS:
            yield genre, seed, "heldout", SF_HELD if os.path.exists(SF_HELD) else SF_TUNE


def read_manifest() -> list[dict]:
    with open(MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--write-manifest", action="store_true", help="rewrite benchmarks/devset/manifest.csv")
    args = ap.parse_args(argv)
    if not shutil.which("fluidsynth"):
        sys.exit("fluidsynth is missing: apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont")
    cache = args.cache
    (cache / "midi").mkdir(parents=True, exist_ok=True)
    (cache / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    made = 0
    for genre, seed, split, sf in midi_items():
        item = f"midi-{genre}-{seed:03d}"
        mid = cache / "midi" / f"{item}.mid"
        wav = cache / "audio" / f"{item}.wav"
        meta = make_midi(genre, seed, mid)  # cheap and deterministic; always rewritten
        if not wav.exists():
            render(mid, wav, sf)
            made += 1
        rows.append({"item": item, "split": split, "genre": genre, "bpm": f"{meta['bpm']:.2f}",
                     "source": f"mido generator seed {seed}, fluidsynth + {Path(sf).name}",
                     "truth": "MIDI set_tempo (quarter note = beat)", "notes": meta["notes"]})
    print(f"midi: {len(rows)} items ({made} rendered now) in {cache / 'audio'}")
    if shutil.which("openmpt123"):
        mods = extract_debian(cache)
        n = 0
        for m in mods:
            t = m["tempo"]
            if t is None:
                continue
            bpm, speed, constant = t
            beat_bpm = bpm * 6.0 / speed  # rows at bpm/(2.5*speed) per s, 4 rows a beat
            if not constant:
                print(f"  dropped {m['path'].name}: tempo changes inside the piece")
                continue
            item = f"deb-{m['path'].stem.lower().replace(' ', '_')}"
            wav = cache / "audio" / f"{item}.wav"
            if not wav.exists():
                subprocess.run(["openmpt123", "--quiet", "--batch", "--samplerate", "22050", "--channels", "1",
                                "--no-float", "--end-time", "32", "-o", str(wav), "--force", str(m["path"])],
                               check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not wav.exists():
                continue
            rows.append({"item": item, "split": "heldout-debian", "genre": "tracker", "bpm": f"{beat_bpm:.2f}",
                         "source": f"Debian {m['package']}: {m['path'].name}",
                         "truth": f"module Fxx: BPM {bpm:g} speed {speed:g}, 4 rows a beat",
                         "notes": "beat level by tracker convention (4 rows a beat); no tempo change in the file"})
            n += 1
        print(f"debian: {n} modules rendered or present")
    if args.write_manifest:
        with open(MANIFEST, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {MANIFEST} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
