"""One of scipy's compiled modules, loaded without importing the scipy subpackage around it.

``import scipy.signal`` costs about 0.7 s of CPU and ``import scipy.fft`` about 0.2 s (they pull in
scipy.stats, scipy.special, numpy.testing, ...). ``analyze`` and ``classify`` pay that in every
worker process and every cold start for one small compiled loop each: the K-weighting filter
(:func:`spotidance.analyze.loudness.sosfilt`) and the real FFT (:func:`spotidance.audio.fft.rfft`).
:func:`load_extension` loads such a compiled module by its file, the way the import system would,
but without running the subpackage's ``__init__``. Callers probe the result against known numbers
and fall back to scipy's public function when it is missing, behaves differently (another scipy
layout or signature), or when the subpackage is imported already (then nothing is saved).

Written by hand because no library offers it: it is a few lines of :mod:`importlib`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType


def load_extension(dotted: str) -> ModuleType | None:
    """The compiled module ``dotted`` (``"scipy.signal._sosfilt"``) loaded alone, or None.

    None when its subpackage (``scipy.signal``) is imported already, or when no such compiled file
    exists or it fails to load.
    """
    parts = dotted.split(".")
    if parts[0] != "scipy" or len(parts) < 3 or ".".join(parts[:2]) in sys.modules:
        return None
    try:
        import scipy

        folder = os.path.join(os.path.dirname(scipy.__file__), *parts[1:-1])
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, parts[-1] + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader(dotted, path)
                module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(dotted, path, loader=loader))
                loader.exec_module(module)
                return module
    except Exception:  # another scipy layout: the caller falls back to the public function
        return None
    return None
