"""spotidance.audio.fft: scipy.fft.rfft's numbers without importing scipy.fft."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spotidance.audio import fft
from tests.helpers.fresh import run_fresh


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(256, 1024), (7, 2048), (3, 1103), (1000,), (2, 3, 64)])
def test_rfft_is_scipys_bit_for_bit_with_the_module_loaded_alone_and_without(dtype, shape, monkeypatch):
    from scipy.fft import rfft as scipy_rfft

    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    want = scipy_rfft(x, axis=-1, workers=1)
    fft._kernel.cache_clear()
    monkeypatch.delitem(sys.modules, "scipy.fft")  # as in a fresh worker process
    kernel = fft._kernel()
    monkeypatch.undo()
    assert kernel is not fft._public  # the compiled module loaded by itself
    got = fft.rfft(x)
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    fft._kernel.cache_clear()
    assert fft._kernel() is fft._public  # scipy.fft imported already: the public function
    assert np.array_equal(fft.rfft(x), want)
    fft._kernel.cache_clear()


def test_rfft_of_other_dtypes_goes_to_scipy():
    from scipy.fft import rfft as scipy_rfft

    x = np.arange(16, dtype=np.int16)
    assert np.array_equal(fft.rfft(x), scipy_rfft(x, axis=-1, workers=1))
    with pytest.raises(ValueError):
        fft.rfft(np.zeros((3, 0), np.float32))


def test_log_mel_in_a_fresh_process_does_not_import_scipy_fft():
    code = ("import numpy as np\n"
            "from spotidance.audio.config import SpectrogramConfig\n"
            "from spotidance.audio.spectrogram import log_mel\n"
            "y = np.sin(np.arange(22050 * 3) * 0.05).astype(np.float32)\n"
            "print(float(log_mel(y, config=SpectrogramConfig()).sum()))\n")
    (total,), loaded = run_fresh(code, watch=["scipy.fft"])
    assert loaded == []
    from spotidance.audio.config import SpectrogramConfig
    from spotidance.audio.spectrogram import log_mel

    y = np.sin(np.arange(22050 * 3) * 0.05).astype(np.float32)
    assert float(total) == float(log_mel(y, config=SpectrogramConfig()).sum())


def test_scipy_fft_still_imports_after_the_module_was_loaded_alone():
    """analyze's workers load the module alone for tempo, then the key estimator imports scipy.fft:
    the second load of the compiled module must work and give the same numbers."""
    code = ("import sys, numpy as np\n"
            "from spotidance.audio import fft\n"
            "x = np.random.default_rng(0).standard_normal((4, 1024)).astype(np.float32)\n"
            "a = fft.rfft(x)\n"
            "alone = 'scipy.fft' not in sys.modules\n"
            "import scipy.fft\n"
            "print(alone, np.array_equal(a, scipy.fft.rfft(x, axis=-1, workers=1)), np.array_equal(fft.rfft(x), a))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "True"]
