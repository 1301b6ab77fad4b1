"""The two seed architectures: layer stacks and parameter counts from the architecture arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError
from spotidance.model.architectures import DEFAULTS, MODEL_NAMES, build_model

CONFIGS = [SpectrogramConfig(), SpectrogramConfig(n_mels=64, frame_length=96)]


def conv_len(n: int, kernel: int = 4, pool: int = 2) -> int:
    """Length after a 'valid' convolution of ``kernel`` then a max pool of ``pool``."""
    return (n - kernel + 1) // pool


def binary_1d_params(config: SpectrogramConfig, n_labels: int, *, pooling: str = "seed") -> tuple[int, int]:
    """(trainable, non-trainable) parameters of binary-1d, from the issue's description."""
    trainable = non_trainable = 0
    channels = config.n_mels  # Permute: time steps x mel channels
    for filters in (64, 128, 256):
        trainable += 4 * channels * filters + filters  # Conv1D kernel 4
        trainable += 2 * filters  # BatchNorm gamma, beta
        non_trainable += 2 * filters  # BatchNorm moving mean, variance
        channels = filters
    trainable += 256 * 256 + 256  # Dense 256 after global pooling of 256 channels
    trainable += 256 * n_labels + n_labels
    return trainable, non_trainable


def multiclass_2d_params(config: SpectrogramConfig, n_labels: int, *, pooling: str = "seed") -> int:
    """Parameters of multiclass-2d (all trainable), from the issue's description."""
    total, channels = 0, 1
    h, w = config.n_mels, config.frame_length
    for filters in (32, 64, 64):
        total += 4 * 4 * channels * filters + filters
        channels, h, w = filters, conv_len(h), conv_len(w)
    flat = channels if pooling == "avg" else h * w * channels
    total += flat * 128 + 128
    total += 128 * n_labels + n_labels
    return total


def layer_kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("config", CONFIGS, ids=["128x128", "64x96"])
@pytest.mark.parametrize("n_labels", [2, 3, 7])
def test_binary_1d_layer_stack_and_parameter_count(config, n_labels):
    model = build_model("binary-1d", n_labels=n_labels, config=config)
    assert layer_kinds(model) == [
        "InputLayer", "Permute",
        "Conv1D", "BatchNormalization", "MaxPooling1D",
        "Conv1D", "BatchNormalization", "MaxPooling1D",
        "Conv1D", "BatchNormalization", "MaxPooling1D",
        "GlobalMaxPooling1D", "Dropout", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    trainable, non_trainable = binary_1d_params(config, n_labels)
    assert model.count_params() == trainable + non_trainable
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv1D"]
    assert [c.filters for c in convs] == [64, 128, 256]
    assert all(c.kernel_size == (4,) and c.activation.__name__ == "relu" for c in convs)
    assert convs[0].kernel_regularizer is not None and convs[1].kernel_regularizer is None
    assert float(convs[0].kernel_regularizer.l2) == pytest.approx(0.001)
    assert [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"] == [0.3, 0.3]
    assert {layer.momentum for layer in model.layers if type(layer).__name__ == "BatchNormalization"} == {0.99}  # the seed's (Keras')
    assert model.input_shape == (None, config.n_mels, config.frame_length)
    assert model.output_shape == (None, n_labels)
    # time steps x mel channels after the Permute; time shrinks by the conv/pool arithmetic
    assert model.layers[1].output.shape[1:] == (config.frame_length, config.n_mels)
    assert model.layers[10].output.shape[1] == conv_len(conv_len(conv_len(config.frame_length)))


@pytest.mark.parametrize("config", CONFIGS, ids=["128x128", "64x96"])
@pytest.mark.parametrize("n_labels", [2, 3, 7])
def test_multiclass_2d_layer_stack_and_parameter_count(config, n_labels):
    model = build_model("multiclass-2d", n_labels=n_labels, config=config)
    assert layer_kinds(model) == [
        "InputLayer", "Reshape",
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
        "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip
    assert model.count_params() == multiclass_2d_params(config, n_labels)
    assert len(model.non_trainable_weights) == 0
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 64, 64]
    assert all(c.kernel_size == (4, 4) for c in convs)
    assert model.layers[-2].rate == 0.5
    assert model.layers[-3].units == 128
    assert model.input_shape == (None, config.n_mels, config.frame_length)
    assert model.output_shape == (None, n_labels)


def test_average_pooling_option_changes_only_the_pooling():
    config = SpectrogramConfig()
    two_d = build_model("multiclass-2d", n_labels=3, pooling="avg")
    assert "GlobalAveragePooling2D" in layer_kinds(two_d) and "Flatten" not in layer_kinds(two_d)
    assert two_d.count_params() == multiclass_2d_params(config, 3, pooling="avg")
    one_d = build_model("binary-1d", n_labels=3, pooling="avg")
    assert "GlobalAveragePooling1D" in layer_kinds(one_d)
    assert one_d.count_params() == sum(binary_1d_params(config, 3))


def test_outputs_are_probabilities_for_frames_as_stored():
    rng = np.random.default_rng(0)
    frames = rng.uniform(-80, 20, (5, 128, 128)).astype(np.float32)
    for name in MODEL_NAMES:
        probs = np.asarray(build_model(name, n_labels=4)(frames, training=False))
        assert probs.shape == (5, 4)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert (probs >= 0).all()


def test_standardize_option_normalises_each_mel_band_with_the_given_statistics():
    import keras

    config = SpectrogramConfig(n_mels=16, frame_length=32)
    mean, var = np.linspace(-60, -10, 16), np.linspace(4, 100, 16)
    model = build_model("binary-1d", n_labels=2, config=config, standardize=True, stats=(mean, var))
    layer = model.get_layer("standardize")
    x = np.random.default_rng(1).normal(-30, 5, (3, 16, 32)).astype(np.float32)
    got = np.asarray(keras.Model(model.input, layer.output)(x))
    expected = (x - mean[None, :, None]) / np.sqrt(var[None, :, None])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert model.count_params() == sum(binary_1d_params(config, 2))  # the statistics are constants, not weights


def test_bad_requests_are_one_line_errors():
    with pytest.raises(SpotidanceError, match="unknown model 'resnet'; choose one of binary-1d, multiclass-2d"):
        build_model("resnet", n_labels=2)
    with pytest.raises(SpotidanceError, match="at least 2 labels"):
        build_model("binary-1d", n_labels=1)
    with pytest.raises(SpotidanceError, match="statistics"):
        build_model("binary-1d", n_labels=2, standardize=True)
    with pytest.raises(SpotidanceError, match="unknown pooling"):
        build_model("multiclass-2d", n_labels=2, pooling="min")


def test_defaults_are_the_seeds_training_settings():
    assert DEFAULTS["binary-1d"].learning_rate == 1e-3 and DEFAULTS["binary-1d"].epochs == 20
    assert DEFAULTS["binary-1d"].patience is None
    assert DEFAULTS["multiclass-2d"].learning_rate == 5e-4 and DEFAULTS["multiclass-2d"].batch_size == 16
    assert DEFAULTS["multiclass-2d"].patience is not None
