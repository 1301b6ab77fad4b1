"""Sanity check: our columns on synthetic dance clips against the real Beatport 2016 table.

    .venv/bin/python tools/pyaa_reference/table_sanity.py [../shared/data/beatport-features-2016/features.csv]

Renders 20 clips (30 s) each of techno, edm (big room) and dnb with spotidance.synth.render_clip,
computes columns 1-70 and compares the per-genre medians with the table's classes Techno, BigRoom
and DrumAndBass: how many columns have a median of the same order of magnitude as the table's
(ratio within 0.1-10, or both below 1e-3 in absolute value), how many fall inside the class's
5-95 % range and inside the whole table's 1-99 % range. Synthetic clips are not real tracks, so
only the order of magnitude is expected to agree; a unit or scaling bug would show up as columns
off by orders of magnitude.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spotidance.analyze.beatport import BEATPORT2016_COLUMNS, beatport2016_features
from spotidance.synth import render_clip

CLASSES = {"techno": "Techno", "edm": "BigRoom", "dnb": "DrumAndBass"}
SHOW = ["1-ZCRm", "2-Energym", "3-EnergyEntropym", "4-SpectralCentroidm", "7-SpectralFluxm",
        "8-SpectralRolloffm", "9-MFCCs1m", "34-ChromaDeviationm", "69-BPM", "70-BPMconf"]


def main() -> None:
    import pandas as pd

    root = Path(__file__).resolve().parents[2]
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else root / ".." / "shared" / "data" / "beatport-features-2016" / "features.csv"
    table = pd.read_csv(path, index_col=0)
    cols = list(BEATPORT2016_COLUMNS[:70])
    rows = []
    for gi, genre in enumerate(CLASSES):
        for i in range(20):
            y, _ = render_clip(genre, seed=[5, gi, i], duration=30.0, sample_rate=22050)
            rows.append({**beatport2016_features(y), "genre": genre})
    ours = pd.DataFrame(rows)
    whole_lo, whole_hi = table[cols].quantile(0.01), table[cols].quantile(0.99)
    show = {}
    for genre, cls in CLASSES.items():
        tab = table.loc[table["class"] == cls, cols]
        med, tmed = ours.loc[ours.genre == genre, cols].median(), tab.median()
        ratio = (med.abs() + 1e-12) / (tmed.abs() + 1e-12)
        same = ((ratio > 0.1) & (ratio < 10)) | ((med.abs() < 1e-3) & (tmed.abs() < 1e-3))
        inside = (med >= tab.quantile(0.05)) & (med <= tab.quantile(0.95))
        inside_all = (med >= whole_lo) & (med <= whole_hi)
        print(f"{genre} vs {cls}: same order {int(same.sum())}/70, inside class 5-95 % {int(inside.sum())}/70, "
              f"inside table 1-99 % {int(inside_all.sum())}/70")
        off = [c for c in cols if not same[c]]
        if off:
            print("   not the same order:", ", ".join(f"{c} (ours {med[c]:.3g}, table {tmed[c]:.3g})" for c in off))
        show[f"table {cls}"] = tmed[SHOW]
        show[f"ours {genre}"] = med[SHOW]
    print(pd.DataFrame(show).round(4).to_string())


if __name__ == "__main__":
    main()
