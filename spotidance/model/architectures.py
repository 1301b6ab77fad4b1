"""The two CNN architectures of the seeds, as Keras models, and their training defaults.

Both models take what a frame dataset stores: float32 frames of shape ``(n_mels,
frame_length)`` = ``[mel, time]`` (128 x 128 by default), and end in a softmax over any number
of labels. The reshaping each architecture needs happens inside the model, so a model bundle's
input contract holds (see ``docs/bundle.md``).

``binary-1d``
    After the binary seed (itself after Dieleman's Spotify CNN): a ``Permute`` turns the frame
    into 128 time steps of 128 mel channels; 3 x [Conv1D kernel 4 with ReLU -> BatchNorm ->
    MaxPool 2] with 64, 128 and 256 filters (L2 0.001 on the first kernel); GlobalMaxPool;
    Dropout 0.3; Dense 256 ReLU; Dropout 0.3; Dense softmax.
``multiclass-2d``
    After the three-class seed: a ``Reshape`` adds a channel axis (128 x 128 x 1); Conv2D 32,
    64, 64 filters, kernel 4 x 4, ReLU, each followed by MaxPool 2 x 2; Flatten; Dense 128 ReLU;
    Dropout 0.5; Dense softmax.

Every option defaults to the seed's choice; the alternatives are opt-in (``docs/train.md``
lists their measured effect):

``standardize``
    A ``Normalization`` layer first, with a mean and variance per mel band computed on the
    training frames (``stats=(mean, variance)``, each of length ``n_mels``). Part of the model,
    so inference needs no extra step.
``bn_momentum``
    Momentum of ``binary-1d``'s BatchNorm moving statistics: the seed's (Keras') 0.99 by default;
    0.9 is better on small data. The moving statistics start at mean 0, variance 1 while the first convolution of raw dB
    frames gives values in the hundreds; with 0.99 they need several hundred steps to catch up,
    so a model trained on a few hundred frames for a few epochs predicts one class at inference
    (measured: 50 % test accuracy on two labels after 8 epochs of 340 frames, 100 % with 0.9).
``pooling``
    ``"avg"`` replaces ``binary-1d``'s global max pooling, or ``multiclass-2d``'s ``Flatten``,
    with global average pooling (``multiclass-2d`` then has 23x fewer parameters).

Keras and TensorFlow are imported inside :func:`build_model` only.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence

from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError
from spotidance.core.extras import require

#: The architectures :func:`build_model` knows.
MODEL_NAMES: tuple[str, ...] = ("binary-1d", "multiclass-2d")

#: Momentum of ``binary-1d``'s BatchNorm moving statistics (Keras' default is 0.99; see
#: :func:`build_model`).
BN_MOMENTUM = 0.99

#: Accepted values of the ``pooling`` option.
POOLING_CHOICES: tuple[str, ...] = ("seed", "avg")


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """A model's seed training settings (``spotidance train`` uses them unless told otherwise).

    Attributes
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
    learning_rate : float
        Adam's learning rate.
    patience : int or None
        Epochs without a lower validation loss before training stops; ``None`` runs every epoch.
        Either way the weights of the epoch with the lowest validation loss are kept.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int | None


#: Per-model training defaults, from the seeds: binary-1d used Adam's default rate for 20
#: epochs (batch 32, Keras' default); multiclass-2d used Adam 0.0005, batch 16 and early stopping
#: on the validation loss (patience 5 here; the seed's value is not recorded).
DEFAULTS: dict[str, TrainingDefaults] = {
    "binary-1d": TrainingDefaults(epochs=20, batch_size=32, learning_rate=1e-3, patience=None),
    "multiclass-2d": TrainingDefaults(epochs=30, batch_size=16, learning_rate=5e-4, patience=5),
}


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a known architecture, else raise a one-line error."""
    if name not in MODEL_NAMES:
        raise SpotidanceError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return name


def check_options(*, pooling: str, bn_momentum: float) -> None:
    """Raise a one-line error for an unknown ``pooling`` or a ``bn_momentum`` outside [0, 1)."""
    if pooling not in POOLING_CHOICES:
        raise SpotidanceError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING_CHOICES)}")
    if not 0.0 <= float(bn_momentum) < 1.0:
        raise SpotidanceError(f"bn_momentum must be in [0, 1), got {bn_momentum}")


def build_model(
    name: str,
    *,
    n_labels: int,
    config: SpectrogramConfig | None = None,
    standardize: bool = False,
    stats: tuple[Sequence[float], Sequence[float]] | None = None,
    pooling: str = "seed",
    bn_momentum: float = BN_MOMENTUM,
):
    """Build an untrained (uncompiled) model.

    Parameters
    ----------
    name : {"binary-1d", "multiclass-2d"}
    n_labels : int
        Number of output classes (at least 2).
    config : SpectrogramConfig, optional
        Gives the input shape ``(n_mels, frame_length)`` (default: 128 x 128).
    standardize : bool
        Put a per-mel-band ``Normalization`` layer first; needs ``stats``.
    stats : (mean, variance), optional
        Per-mel-band mean and variance of the training frames, each ``n_mels`` long.
    pooling : {"seed", "avg"}
        ``"avg"``: global average pooling instead of the seed's global max pooling / Flatten.
    bn_momentum : float
        BatchNorm momentum of ``binary-1d`` (see the module docstring).

    Returns
    -------
    keras.Model
        Input ``(None, n_mels, frame_length)`` float32, output softmax ``(None, n_labels)``.

    Raises
    ------
    SpotidanceError
        Unknown name or option, fewer than 2 labels, missing statistics.
    """
    check_model_name(name)
    config = config or SpectrogramConfig()
    if n_labels < 2:
        raise SpotidanceError(f"a classifier needs at least 2 labels, got {n_labels}")
    check_options(pooling=pooling, bn_momentum=bn_momentum)
    if standardize and stats is None:
        raise SpotidanceError("standardize needs the training frames' per-mel-band statistics (stats=(mean, variance))")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    keras = require("keras", extra="train", purpose="build a CNN model")
    import numpy as np

    layers = keras.layers
    n_mels, length = config.n_mels, config.frame_length
    inputs = keras.Input((n_mels, length), name="frames")
    x = inputs
    if standardize:
        mean, var = (np.asarray(s, dtype=np.float32).reshape(n_mels) for s in stats)
        x = layers.Normalization(axis=1, mean=mean, variance=var, name="standardize")(x)  # per mel band
    if name == "binary-1d":
        x = layers.Permute((2, 1), name="time_major")(x)  # (time, mel): mel bands are channels
        for i, filters in enumerate((64, 128, 256), start=1):
            reg = keras.regularizers.L2(0.001) if i == 1 else None
            x = layers.Conv1D(filters, 4, activation="relu", kernel_regularizer=reg, name=f"conv{i}")(x)
            x = layers.BatchNormalization(momentum=bn_momentum, name=f"bn{i}")(x)
            x = layers.MaxPooling1D(2, name=f"pool{i}")(x)
        x = (layers.GlobalAveragePooling1D if pooling == "avg" else layers.GlobalMaxPooling1D)(name="global_pool")(x)
        x = layers.Dropout(0.3, name="dropout1")(x)
        x = layers.Dense(256, activation="relu", name="dense")(x)
        x = layers.Dropout(0.3, name="dropout2")(x)
    else:
        x = layers.Reshape((n_mels, length, 1), name="image")(x)
        for i, filters in enumerate((32, 64, 64), start=1):
            x = layers.Conv2D(filters, (4, 4), activation="relu", name=f"conv{i}")(x)
            x = layers.MaxPooling2D((2, 2), name=f"pool{i}")(x)
        x = layers.GlobalAveragePooling2D(name="global_pool")(x) if pooling == "avg" else layers.Flatten(name="flatten")(x)
        x = layers.Dense(128, activation="relu", name="dense")(x)
        x = layers.Dropout(0.5, name="dropout")(x)
    outputs = layers.Dense(n_labels, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name.replace("-", "_"))


def model_options(options: dict[str, Any]) -> dict[str, Any]:
    """The subset of training ``options`` that :func:`build_model` takes (others go elsewhere)."""
    return {k: v for k, v in options.items() if k in ("standardize", "pooling", "bn_momentum")}
