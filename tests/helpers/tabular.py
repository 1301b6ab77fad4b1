"""A tiny tabular bundle with the tiny CNN's labels, trained on a synthetic table of core ``analyze`` columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers.tiny_bundle import LABELS

#: Feature columns of the tiny tabular model: core columns ``analyze`` computes quickly.
COLUMNS = ["tempo", "loudness", "energy"]

_CACHE: dict[tuple[str, ...], Path] = {}


def synthetic_table(*, labels=LABELS, tempos=(124.0, 130.0, 138.0), rows: int = 40, seed: int = 0):
    """``rows`` rows per label: tempo around the label's, loudness and energy spread over typical values."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    parts = []
    for i, (label, bpm) in enumerate(zip(labels, tempos)):
        parts.append(pd.DataFrame({
            "class": label,
            "tempo": rng.normal(bpm, 2.0, rows),
            "loudness": rng.normal(-9.0 - i, 2.0, rows),
            "energy": np.clip(rng.normal(0.6 + 0.1 * i, 0.1, rows), 0, 1),
        }))
    return pd.concat(parts, ignore_index=True)


def tiny_tabular(tmp_path_factory, *, labels=LABELS, tempos=(124.0, 130.0, 138.0)) -> Path:
    """Write (once per session) and return a tabular bundle over :data:`COLUMNS` with ``labels``."""
    key = (*labels, *map(str, tempos))
    if key in _CACHE:
        return _CACHE[key]
    from spotidance.tabular.train import train_tabular

    out = tmp_path_factory.mktemp("tabular") / "model"
    train_tabular(synthetic_table(labels=labels, tempos=tempos), label_column="class", feature_columns=COLUMNS,
                  recipe="gbt", seed=0, out=out, card={"name": "tiny-tabular"})
    _CACHE[key] = out
    return out


def three_class_table(n_per_class: int = 30, seed: int = 0):
    """A small DataFrame with the Beatport class names, four noise-and-signal columns and the two
    Beatport tempo columns (BigRoom's Essentia BPM at half tempo), for fast tabular training tests."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    frame = pd.DataFrame(rng.normal(size=(len(y), 4)), columns=["a", "b", "c", "d"])
    frame["a"] += 1.5 * y
    frame["69-BPM"] = 90 + 20 * y + rng.normal(scale=4, size=len(y))
    frame["71-BPMessentia"] = frame["69-BPM"] / np.where(y == 0, 2, 1)
    frame["class"] = np.array(["BigRoom", "DrumAndBass", "Techno"])[y]
    return frame


def forbid_pickle(monkeypatch) -> None:
    """Make every pickle (and joblib) loading entry point fail the test if it is called."""
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle/joblib used while loading a tabular bundle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    try:
        import joblib
    except ImportError:
        return
    monkeypatch.setattr(joblib, "load", refuse)


def edited_copy(bundle: Path, dest: Path, edit) -> Path:
    """Copy a bundle folder to ``dest`` and apply ``edit(manifest)`` to its ``bundle.json``; returns ``dest``."""
    import json
    import shutil

    if not dest.exists():
        shutil.copytree(bundle, dest)
    manifest = json.loads((dest / "bundle.json").read_text())
    edit(manifest)
    (dest / "bundle.json").write_text(json.dumps(manifest))
    return dest
