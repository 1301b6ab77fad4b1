"""Rebuild the shipped tabular models from the Beatport 2016 feature table.

Usage::

    .venv/bin/python tools/train_shipped_models.py [--table PATH] [--out DIR] [--cv 10] [--only NAME]

Writes ``spotidance/tabular/shipped/<name>/`` (one tabular bundle each): the model is fitted on
all rows of its classes with its recipe (``spotidance.tabular.shipped.SHIPPED_RECIPES``); its
``metrics.json`` holds the 10-fold stratified CV figures of the same recipe (seed 0), and its card says where the data came from. The table is
``../shared/data/beatport-features-2016/features.csv`` next to the checkout by default.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_TABLE = REPO.parent / "shared" / "data" / "beatport-features-2016" / "features.csv"
TABLE_SHA256 = "a4a98738514ce490e1dba27e9d247bf78e322ffa99b0ca3c6b9c13011ef0af9f"

#: Techno vs mainstream EDM, by Beatport 2016 subgenre. See docs/tabular.md for the reasoning.
TECHNO_SIDE = ["Techno", "Minimal"]
EDM_SIDE = ["BigRoom", "ElectroHouse", "Dance", "FutureHouse", "ProgressiveHouse"]

DATA = {
    "source": "Beatport top-100 of 23 subgenres, 29 November 2016 (Set 1 of Caparrini et al., Journal of New "
              "Music Research 49(3), 2020, doi 10.1080/09298215.2020.1761399); table from GitHub "
              "dmf1998/ml-edm-subgenre-classification commit 91b09b4, data/subgenre_dataset_features.csv",
    "features": "pyAudioAnalysis short-term features (means and standard deviations over a 120 s preview), "
                "pyAudioAnalysis tempo and its confidence, Essentia tempo",
    "sha256": TABLE_SHA256,
    "licence": "unclear: neither source repository states a licence (all rights reserved by default); the "
               "features are derived from Beatport previews. Check before redistributing the models.",
}

MODELS = {
    "beatport2016-3": {
        "labels": ["BigRoom", "DrumAndBass", "Techno"],
        "description": "Three-class model: big room / drum and bass / techno, the classes of spotidance's "
                       "three-class CNN, from the 71 Beatport-table features.",
    },
    "beatport2016-23": {
        "labels": None,
        "description": "All 23 Beatport 2016 subgenres (100 tracks each).",
    },
    "beatport2016-techno-edm": {
        "labels": TECHNO_SIDE + EDM_SIDE,
        "binary": True,
        "description": "Binary techno vs mainstream EDM. Techno side: Beatport Techno and Minimal; EDM side: "
                       "BigRoom, ElectroHouse, Dance, FutureHouse, ProgressiveHouse (the festival / radio "
                       "'EDM' of the 2010s). Left out as belonging to neither or to both: TechHouse, "
                       "HardcoreHardTechno, Trance, PsyTrance, HardDance and the non-four-on-the-floor genres.",
    },
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--out", type=Path, default=REPO / "spotidance" / "tabular" / "shipped")
    parser.add_argument("--cv", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    args = parser.parse_args(argv)

    import pandas as pd

    from spotidance.tabular.shipped import SHIPPED_RECIPES
    from spotidance.tabular.train import train_tabular

    if not args.table.is_file():
        print(f"{args.table}: no such table", file=sys.stderr)
        return 2
    digest = hashlib.sha256(args.table.read_bytes()).hexdigest()
    if digest != TABLE_SHA256:
        print(f"warning: {args.table} has sha256 {digest}, not the documented {TABLE_SHA256}", file=sys.stderr)
    frame = pd.read_csv(args.table, index_col=0)
    for name in args.only or list(MODELS):
        spec = MODELS[name]
        data = frame
        label_column = "class"
        if spec.get("labels"):
            data = frame[frame["class"].isin(spec["labels"])].copy()
        if spec.get("binary"):
            data["side"] = data["class"].map(lambda c: "techno" if c in TECHNO_SIDE else "edm")
            data = data.drop(columns=["class"])
            label_column = "side"
        card = {"name": name, "description": spec["description"], "data": DATA,
                "subgenres": spec.get("labels") or sorted(frame["class"].unique())}
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = train_tabular(data, label_column=label_column, cv=args.cv, seed=args.seed,
                                   recipe=SHIPPED_RECIPES[name], out=args.out / name, card=card)
        cv = result.metrics["cv"]
        size = sum(p.stat().st_size for p in (args.out / name).iterdir())
        print(f"{name}: {cv['k']}-fold CV accuracy {100 * cv['accuracy_mean']:.2f} % +- {100 * cv['accuracy_std']:.2f}, "
              f"macro-F1 {100 * cv['macro_f1_mean']:.2f} %, bundle {size / 1e6:.2f} MB, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
