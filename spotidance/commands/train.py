"""``spotidance train``: train a CNN on a frame dataset (see :mod:`spotidance.model.train`)."""

from __future__ import annotations

import click

from spotidance.core import progress
from spotidance.model.train import train


@click.command("train")
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--model", "model_name", required=True, type=click.Choice(["binary-1d", "multiclass-2d"]),
              help="Architecture: the binary seed's 1D CNN or the three-class seed's 2D CNN (any number of labels).")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Model bundle folder (new, or an old bundle to replace).")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=None, help="Maximum epochs [default: binary-1d 20, multiclass-2d 30].")
@click.option("--batch-size", type=click.IntRange(1, 65_536), default=None, help="Frames per batch [default: binary-1d 32, multiclass-2d 16].")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=None,
              help="Adam's learning rate [default: binary-1d 0.001, multiclass-2d 0.0005].")
@click.option("--patience", type=click.IntRange(0, 10_000), default=None,
              help="Stop after this many epochs without a lower validation loss; 0 never stops early "
                   "[default: binary-1d 0, multiclass-2d 5]. The best epoch's weights are kept either way.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, weights, shuffling and augmentation.")
@click.option("--group-by-artist", is_flag=True, help="Keep each artist's tracks on one side of the split.")
@click.option("--standardize", is_flag=True, help="Option: standardise each mel band with the training frames' mean and variance (inside the model).")
@click.option("--pooling", type=click.Choice(["seed", "avg"]), default="seed", show_default=True,
              help="Option: avg = global average pooling instead of the seed's max pooling / Flatten.")
@click.option("--spec-augment", is_flag=True, help="Option: mask one random time span and mel band per training frame.")
@click.option("--class-weights", is_flag=True, help="Option: weight frames by inverse label frequency.")
@click.option("--bn-momentum", type=click.FloatRange(0, 1, max_open=True), default=0.99, show_default=True,
              help="binary-1d's BatchNorm momentum (0.99 = Keras' default, as the seed).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def command(dataset: str, model_name: str, out: str, epochs: int | None, batch_size: int | None, learning_rate: float | None,
            patience: int | None, seed: int, group_by_artist: bool, standardize: bool, pooling: str, spec_augment: bool,
            class_weights: bool, bn_momentum: float, quiet: bool) -> None:
    """Train a CNN genre classifier on a frame dataset and write a model bundle.

    DATASET is a folder from `spotidance prepare`. Its tracks are split 70/15/15 into train,
    validation and test, by track (or by artist), stratified by label; no track has frames on
    two sides. The epoch with the lowest validation loss is kept; the test set is scored once,
    at the end, per 3 s frame and per track (mean of its frames' probabilities). The bundle in
    --out holds the model (Keras and LiteRT), labels, spectrogram and training settings, the
    split, metrics.json, learning_curves.png and confusion_matrix.png.

    \b
    Examples:
      spotidance train frames --model binary-1d --out model
      spotidance train frames --model multiclass-2d --out model-2d --group-by-artist --seed 1
    """

    train(
        dataset,
        model_name=model_name,
        out=out,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience="model" if patience is None else patience,
        seed=seed,
        group_by_artist=group_by_artist,
        progress=progress.wanted(quiet=quiet),
        echo=click.echo,
        standardize=standardize,
        pooling=pooling,
        spec_augment=spec_augment,
        class_weights=class_weights,
        bn_momentum=bn_momentum,
    )
