"""One small, untrained but non-trivial model bundle per test session (building it imports TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spotidance.audio.config import SpectrogramConfig

LABELS = ["house", "techno", "trance"]

_CACHE: dict[str, Path] = {}


def tiny_model(config: SpectrogramConfig, n_labels: int, *, seed: int = 0):
    """A small CNN with the layer kinds of both real models, and random (not default) weights.

    BatchNorm statistics and every kernel are randomised, and the dB input is scaled inside the
    model, so the softmax outputs are spread out and a Keras/LiteRT mismatch would show.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((config.n_mels, config.frame_length))
    x = keras.layers.Rescaling(1 / 40.0, offset=1.0)(inp)
    a = keras.layers.Permute((2, 1))(x)  # time steps x mel channels, as binary-1d
    a = keras.layers.Conv1D(8, 4, activation="relu")(a)
    a = keras.layers.BatchNormalization()(a)
    a = keras.layers.MaxPooling1D(2)(a)
    a = keras.layers.GlobalMaxPooling1D()(a)
    b = keras.layers.Reshape((config.n_mels, config.frame_length, 1))(x)  # image, as multiclass-2d
    b = keras.layers.Conv2D(4, 4, activation="relu")(b)
    b = keras.layers.MaxPooling2D(4)(b)
    b = keras.layers.GlobalAveragePooling2D()(b)
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(n_labels, activation="softmax")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    weights = []
    for w, v in zip(model.weights, model.get_weights()):
        if "moving_variance" in w.path:
            weights.append(rng.uniform(0.5, 2.0, v.shape).astype(v.dtype))
        else:
            weights.append((v + rng.normal(0, 0.3, v.shape)).astype(v.dtype))
    model.set_weights(weights)
    return model


def tiny_bundle(tmp_path_factory, *, name: str = "tiny") -> Path:
    """Write (once per session) and return a bundle of :func:`tiny_model` with :data:`LABELS`."""
    if name in _CACHE:
        return _CACHE[name]
    from spotidance.model.bundle import write_bundle

    config = SpectrogramConfig()
    root = tmp_path_factory.mktemp(f"bundle-{name}")
    figure = root / "curve.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)  # content is copied, not parsed
    out = write_bundle(
        root / "model",
        model=tiny_model(config, len(LABELS)),
        model_name="tiny-test",
        labels=LABELS,
        config=config,
        training={"seed": np.int64(7), "epochs": 0, "optimizer": "adam"},
        metrics={"track": {"accuracy": np.float32(0.5), "macro_f1": float("nan")}},
        split={"train": ["a", "b"], "validation": ["c"], "test": ["d"]},
        figures={"learning_curves": figure},
    )
    _CACHE[name] = out
    return out
