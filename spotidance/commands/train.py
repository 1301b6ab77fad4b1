"""``spotidance train``: a CNN on a frame dataset (:mod:`spotidance.model.train`) or a tabular model on
a CSV of features (:mod:`spotidance.tabular.train`)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from spotidance.commands import SectionedCommand
from spotidance.core import progress
from spotidance.core.errors import SpotidanceError
from spotidance.core.summary import to_json
from spotidance.core.tables import format_table
from spotidance.model.architectures import MODEL_NAMES, POOLING_CHOICES
from spotidance.model.train import TrainingInterrupted, train
from spotidance.tabular.recipes import DEFAULT_RECIPE, RECIPES
from spotidance.tabular.train import train_tabular

#: ``--model`` value of the tabular recipe (gradient-boosted trees and friends on a feature table).
TABULAR = "trees"

#: Largest seed accepted (NumPy and Keras take 32-bit seeds).
MAX_SEED = 2**32 - 1


@click.command("train", cls=SectionedCommand, sections={
    "Input": ["label_column", "labels"],
    "Model": ["model_name", "recipe", "pooling", "standardize", "bn_momentum"],
    "Training": ["seed", "cv", "epochs", "batch_size", "learning_rate", "patience", "group_by_artist", "spec_augment", "class_weights"],
    "Output": ["out", "as_json"],
    "Run": ["quiet"],
})  # fmt: skip
@click.argument("data", type=click.Path(path_type=str))
@click.option("--model", "model_name", required=True, type=click.Choice([*MODEL_NAMES, TABULAR]),
              help="trees: a tabular model on a CSV of features; binary-1d / multiclass-2d: the seeds' CNNs on a "
                   "frame dataset (any number of labels).")
@click.option("--recipe", type=click.Choice(list(RECIPES)), default=None,
              help=f"[trees] The tabular recipe (docs/tabular.md) [default: {DEFAULT_RECIPE}; the shipped 23-subgenre "
                   "model uses ensemble-mlp].")
@click.option("--out", "-o", required=True, type=click.Path(path_type=str), help="Model bundle folder (new, or an old bundle to replace).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed of the split (or folds), weights, shuffling and augmentation.")
@click.option("--label-column", default="class", show_default=True, help="[trees] The CSV column holding each row's label.")
@click.option("--cv", type=click.IntRange(2, 100), default=None,
              help="[trees] Stratified K-fold cross-validation (tuning nested in the folds) instead of a 70/15/15 split.")
@click.option("--labels", default=None, help="[trees] Comma-separated labels to keep (default: all).")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=None, help="[CNN] Maximum epochs [default: binary-1d 20, multiclass-2d 30].")
@click.option("--batch-size", type=click.IntRange(1, 65_536), default=None, help="[CNN] Frames per batch [default: binary-1d 32, multiclass-2d 16].")
@click.option("--learning-rate", type=click.FloatRange(0, 10, min_open=True), default=None,
              help="[CNN] Adam's learning rate [default: binary-1d 0.001, multiclass-2d 0.0005].")
@click.option("--patience", type=click.IntRange(0, 10_000), default=None,
              help="[CNN] Stop after this many epochs without a lower validation loss; 0 never stops early "
                   "[default: binary-1d 0, multiclass-2d 5]. The best epoch's weights are kept either way.")
@click.option("--group-by-artist", is_flag=True, help="[CNN] Keep each artist's tracks on one side of the split.")
@click.option("--standardize", is_flag=True, help="[CNN] Standardise each mel band with the training frames' mean and variance (inside the model).")
@click.option("--pooling", type=click.Choice(POOLING_CHOICES), default="seed", show_default=True,
              help="[CNN] avg = global average pooling instead of the seed's max pooling / Flatten.")
@click.option("--spec-augment", is_flag=True, help="[CNN] Mask one random time span and mel band per training frame.")
@click.option("--class-weights", is_flag=True, help="[CNN] Weight frames by inverse label frequency.")
@click.option("--bn-momentum", type=click.FloatRange(0, 1, max_open=True), default=0.99, show_default=True,
              help="[CNN] binary-1d's BatchNorm momentum (0.99 = Keras' default, as the seed).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the closing summary (bundle, metrics.json, headline scores) as one JSON document on stdout; "
                   "the tables go to stderr.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def command(data: str, model_name: str, recipe: str | None, out: str, seed: int, label_column: str, cv: int | None, labels: str | None,
            epochs: int | None, batch_size: int | None, learning_rate: float | None, patience: int | None,
            group_by_artist: bool, standardize: bool, pooling: str, spec_augment: bool, class_weights: bool,
            bn_momentum: float, as_json: bool, quiet: bool) -> None:
    """Train a genre classifier and write a model bundle for `spotidance classify`.

    With --model trees, DATA is a CSV of numeric features with a label column (--label-column):
    the Beatport 2016 table, `spotidance analyze` output, `collect` CSVs. The recipe is
    gradient-boosted trees with engineered tempo features, in a soft vote with extra trees, a kernel
    and a linear model (--recipe picks another, such as ensemble-mlp; docs/tabular.md). With --cv K it is scored by stratified K-fold cross-validation, any tuning
    nested inside the training folds; without, on a 70/15/15 split. The final model is then fitted on
    all rows; the bundle (no pickle: JSON and a NumPy .npz) carries a model card and a novelty
    detector. metrics.json holds the scores (cv.accuracy_mean, ...).

    With --model binary-1d or multiclass-2d, DATA is a frame dataset from `spotidance prepare`.
    Its tracks are split 70/15/15 into train, validation and test, by track (or by artist),
    stratified by label; the epoch with the lowest validation loss is kept; the test set is scored
    once, per 3 s frame and per track. Needs the `train` extra (TensorFlow).

    \b
    Examples:
      spotidance train features.csv --model trees --label-column class --cv 10 --out my-model
      spotidance train features.csv --model trees --recipe ensemble-mlp --cv 10 -o my-23
      spotidance train frames --model binary-1d --out model
      spotidance train frames --model multiclass-2d --out model-2d --group-by-artist --seed 1
    """
    if model_name == TABULAR:
        _train_tabular(data, out=out, seed=seed, label_column=label_column, cv=cv, labels=labels, recipe=recipe,
                       quiet=quiet, as_json=as_json)
        return
    if cv is not None or labels is not None or recipe is not None:
        raise SpotidanceError("--cv, --labels and --recipe are options of --model trees; a CNN uses the 70/15/15 split "
                              "of its dataset")
    if Path(data).is_file():
        raise SpotidanceError(f"{data} is a file; --model {model_name} trains on a frame dataset folder "
                              "(spotidance prepare), --model trees on a CSV of features")
    try:
        result = train(data, model_name=model_name, out=out, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
              patience=patience, seed=seed, group_by_artist=group_by_artist, progress=progress.wanted(quiet=quiet),
              echo=(lambda line: click.echo(line, err=True)) if as_json else click.echo, standardize=standardize, pooling=pooling, spec_augment=spec_augment,
              class_weights=class_weights, bn_momentum=bn_momentum)  # fmt: skip
    except TrainingInterrupted as exc:  # says what was saved and exactly what a rerun does
        click.echo(f"spotidance: {exc.message}", err=True)
        sys.exit(130)
    if as_json:
        test = result.metrics["test"]
        click.echo(to_json({"model": model_name, "bundle": result.model_dir, "metrics": result.model_dir / "metrics.json",
                            "labels": result.labels, "accuracy": test["track"]["accuracy"],
                            "macro_f1": test["track"]["macro_f1"], "test": test, "best_epoch": result.best_epoch,
                            "epochs_run": result.epochs_run, "warnings": result.warnings, "seconds": result.seconds}))


def _train_tabular(data: str, *, out: str, seed: int, label_column: str, cv: int | None, labels: str | None,
                   recipe: str | None = None, quiet: bool, as_json: bool = False) -> None:
    keep = [s.strip() for s in labels.split(",") if s.strip()] if labels else None
    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train_tabular(data, label_column=label_column, labels=keep, cv=cv, seed=seed, out=out, progress=say,
                               recipe=recipe)
    for w in caught:
        click.echo(f"spotidance: warning: {w.message}", err=True)
    m = result.metrics
    if cv:
        part = m["cv"]
        head = (f"{cv}-fold cross-validation: accuracy {part['accuracy_mean']:.3f} +- {part['accuracy_std']:.3f}, "
                f"macro-F1 {part['macro_f1_mean']:.3f} +- {part['macro_f1_std']:.3f} "
                f"(always guessing the largest class: {m['majority_rate']:.3f})")
    else:
        part = m["test"]
        head = (f"test set ({part.get('n', '?')} rows, scored once): accuracy {part['accuracy']:.3f}, "
                f"macro-F1 {part['macro_f1']:.3f} (always guessing the largest class: {m['majority_rate']:.3f})")
    click.echo(head, err=as_json)
    rows = [[label, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v.get("support", "")]
            for label, v in part["per_class"].items()]
    click.echo(format_table(rows, headers=["label", "precision", "recall", "F1", "rows"]).rstrip("\n"), err=as_json)
    click.echo(f"bundle: {result.out} (final model fitted on all {m['n_rows']} rows; {result.seconds:.0f} s)", err=as_json)
    if as_json:
        click.echo(to_json({"model": TABULAR, "bundle": result.out, "metrics": result.out / "metrics.json" if result.out else None,
                            "scored_by": f"{cv}-fold cross-validation" if cv else "test set",
                            "accuracy": part["accuracy_mean"] if cv else part["accuracy"],
                            "accuracy_std": part["accuracy_std"] if cv else None,
                            "macro_f1": part["macro_f1_mean"] if cv else part["macro_f1"],
                            "majority_rate": m["majority_rate"], "per_class": part["per_class"], "n_rows": m["n_rows"],
                            "learned_nothing": result.learned_nothing, "seconds": result.seconds}))
    if result.learned_nothing:
        raise SpotidanceError("the model did no better than always guessing the largest class; it was written, but "
                              "check the label column and the features", exit_code=1)
