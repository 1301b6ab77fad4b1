"""Optional parts of spotidance (pip extras) and the one-line message when one is missing.

``pip install spotidance`` gives collect, login, eda, synth, prepare, analyze and classify (LiteRT and
tabular models); training the CNNs needs ``spotidance[train]`` (TensorFlow/Keras) and scale-out
needs ``spotidance[dask]``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from spotidance.core.errors import SpotidanceError

#: extra name -> what it adds (for messages)
EXTRAS: dict[str, str] = {
    "train": "TensorFlow and Keras, to train and export the CNN models",
    "dask": "Dask, to run prepare, analyze and classify on a cluster",
    "parquet": "pyarrow, to write and read Parquet tables",
}


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise a one-line :class:`SpotidanceError` naming the extra to install.

    Parameters
    ----------
    module : str
        The module to import (``"keras"``).
    extra : str
        The pip extra that installs it (a key of :data:`EXTRAS`).
    purpose : str
        What the caller wanted to do ("train a CNN"), for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpotidanceError(
            f"to {purpose}, install the '{extra}' extra: pip install 'spotidance[{extra}]' ({module} is missing)"
        ) from None
