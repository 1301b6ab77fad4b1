"""Running a bundle's model on frames: LiteRT when possible, Keras otherwise.

A *runner* turns a batch of frames ``(n, n_mels, frame_length)`` float32 into softmax
probabilities ``(n, n_labels)`` float32. Two implementations:

* :class:`LiteRTRunner` runs ``model.tflite`` with the ``ai-edge-litert`` runtime. Importing it
  takes about 0.2 s and no TensorFlow, which is what lets ``classify`` answer for one file in well
  under 2 s from a cold start (importing TensorFlow alone takes about 8 s on a 2-core machine).
* :class:`KerasRunner` loads ``model.keras`` with Keras (and TensorFlow). It is the fallback for a
  bundle without a LiteRT model or a machine without the runtime; the answers are the same (the
  bundle writer checks the two agree to 1e-4 before it keeps ``model.tflite``).

:func:`spotidance.model.bundle.load_runner` picks one for a bundle (the bundle imports the
runners, never the other way round).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Protocol

import numpy as np

from spotidance.core.errors import SpotidanceError, short_reason
from spotidance.core.workers import quiet_native_stderr

#: Accepted values of ``backend``.
BACKENDS: tuple[str, ...] = ("auto", "litert", "keras")


class Runner(Protocol):
    """Anything that maps frames to probabilities."""

    backend: str

    def predict(self, frames: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        """Probabilities ``(n, n_labels)`` for frames ``(n, n_mels, frame_length)``."""


def litert_available() -> bool:
    """Whether the ``ai-edge-litert`` runtime is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("ai_edge_litert") is not None
    except (ImportError, ValueError):  # pragma: no cover - broken installation
        return False


class LiteRTRunner:
    """Run a ``.tflite`` model with the LiteRT interpreter.

    Parameters
    ----------
    model_path : path-like
        The ``.tflite`` file.
    num_threads : int
        Interpreter threads. One by default: ``classify`` decodes audio on the other cores.
    """

    backend = "litert"

    def __init__(self, model_path: str | os.PathLike, *, num_threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - exercised only without the runtime
            # TensorFlow's copy of the same interpreter (deprecated there, but identical)
            from tensorflow.lite import Interpreter
        try:
            self._interpreter = Interpreter(model_path=os.fspath(model_path), num_threads=num_threads)
        except Exception as exc:
            raise SpotidanceError(f"{model_path}: LiteRT cannot load it ({short_reason(exc)})") from None
        inputs, outputs = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise SpotidanceError(f"{model_path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self._input = inputs[0]["index"]
        self._output = outputs[0]["index"]
        signature = inputs[0].get("shape_signature", inputs[0]["shape"])
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in signature[1:])
        self.n_outputs = int(outputs[0]["shape"][-1])
        self._batch: int | None = None

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Softmax probabilities for ``frames``; any batch size (the input is resized as needed)."""
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        n = len(frames)
        if n == 0:
            return np.zeros((0, self.n_outputs), dtype=np.float32)
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input, [n, *frames.shape[1:]], strict=True)
            with quiet_native_stderr():  # LiteRT logs "INFO: Created ... XNNPACK delegate" to fd 2
                self._interpreter.allocate_tensors()
            self._batch = n
        self._interpreter.set_tensor(self._input, frames)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)


class KerasRunner:
    """Run a Keras model (imports TensorFlow: several seconds).

    Parameters
    ----------
    model : keras.Model
    """

    backend = "keras"

    def __init__(self, model) -> None:
        self._model = model
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in model.input_shape[1:])
        self.n_outputs = int(model.output_shape[-1])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Softmax probabilities for ``frames``."""
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        if len(frames) == 0:
            return np.zeros((0, self.n_outputs), dtype=np.float32)
        return np.asarray(self._model(frames, training=False), dtype=np.float32)


