"""The shipped tabular models (trained on the Beatport 2016 feature table).

Each lives in ``spotidance/tabular/shipped/<name>/`` as an ordinary tabular bundle, rebuilt from
the table by ``tools/train_shipped_models.py``; their cards are in ``docs/tabular.md``.
"""

from __future__ import annotations

from pathlib import Path

from spotidance.core.errors import SpotidanceError
from spotidance.tabular.bundle import load_tabular_bundle

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"

#: The recipe each shipped model is trained with (``tools/train_shipped_models.py``) and scored
#: with (``benchmarks/bench_beatport.py``). The 23-subgenre model adds the perceptron member
#: (``ensemble-mlp``: +0.6 points on the development fold seeds 0-4); on the three classes that
#: member cost 0.5 points on the same seeds, so the three-class and binary models keep ``ensemble``
#: (see ``docs/tabular.md``).
SHIPPED_RECIPES = {
    "beatport2016-3": "ensemble",
    "beatport2016-23": "ensemble-mlp",
    "beatport2016-techno-edm": "ensemble",
}


def shipped_models() -> list[str]:
    """Names of the shipped models present in this installation (sorted)."""
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "bundle.json").is_file())


def shipped_path(name: str) -> Path:
    """The bundle folder of a shipped model."""
    names = shipped_models()
    if name not in names:
        raise SpotidanceError(f"no shipped tabular model {name!r}; available: {', '.join(names) or 'none'}")
    return SHIPPED_DIR / name


def load_shipped(name: str):
    """Load a shipped model by name (see :func:`shipped_models`).

    Returns
    -------
    spotidance.tabular.model.TabularModel
    """
    return load_tabular_bundle(shipped_path(name))
