"""scipy's real FFT without importing the ``scipy.fft`` package.

``scipy.fft.rfft`` transforms float32 natively (numpy's FFT computes in float64 and is about 5x
slower on STFT frames), but ``import scipy.fft`` costs about 0.2 s of CPU: it pulls in
scipy.special, numpy.testing and more. That is paid in every worker process of ``analyze`` and
``classify`` and in every cold start, for one compiled function. :func:`rfft` therefore loads the
compiled module that ``scipy.fft.rfft`` calls (``scipy/fft/_pocketfft/pypocketfft``) by itself,
as :func:`spotidance.analyze.loudness.sosfilt` loads scipy's filter kernel, and calls it with the
arguments ``scipy.fft.rfft`` would pass: the same numbers, bit for bit (tested). If that module
cannot be loaded this way (another scipy layout), or ``scipy.fft`` is imported already, the public
function runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from spotidance.core.scipy_kernels import load_extension

__all__ = ["rfft"]


def rfft(x: np.ndarray) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=-1, workers=1)``: the real FFT of each row, in ``x``'s precision.

    Parameters
    ----------
    x : numpy.ndarray
        float32 or float64, any number of dimensions; transformed along the last axis.

    Returns
    -------
    numpy.ndarray
        complex64 for float32 input, complex128 for float64; the last axis has
        ``x.shape[-1] // 2 + 1`` bins.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64) or x.ndim == 0 or x.shape[-1] < 1:
        return _public(x)
    return _kernel()(x)


def _public(x: np.ndarray) -> np.ndarray:
    from scipy.fft import rfft as scipy_rfft

    return scipy_rfft(x, axis=-1, workers=1)


def _call_r2c(r2c: Callable, x: np.ndarray) -> np.ndarray:
    # what scipy.fft.rfft(x, axis=-1, workers=1) calls: forward, no scaling, a new array, one thread
    return r2c(x, (-1,), True, 0, None, 1)


@functools.lru_cache(maxsize=1)
def _kernel() -> Callable[[np.ndarray], np.ndarray]:
    """The transform: pocketfft's ``r2c`` loaded alone when possible, else :func:`_public`."""
    module = load_extension("scipy.fft._pocketfft.pypocketfft")
    if module is None:
        return _public
    try:
        kernel = functools.partial(_call_r2c, module.r2c)
        probe = np.array([[1.0, 2.0, 0.0, -1.0, 0.5]])
        for dtype, ctype in ((np.float32, np.complex64), (np.float64, np.complex128)):
            got = kernel(probe.astype(dtype))
            if got.dtype != ctype or not np.allclose(got, np.fft.rfft(probe, axis=-1), rtol=1e-6, atol=1e-6):
                return _public
    except Exception:  # another signature: the public function instead
        return _public
    return kernel
