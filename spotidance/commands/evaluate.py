"""``spotidance evaluate``: score a model bundle on a frame dataset (see :mod:`spotidance.model.evaluate`)."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.core import progress
from spotidance.model.evaluate import check_scores_output, evaluate, format_scores, write_scores
from spotidance.model.runners import BACKENDS


@click.command("evaluate", cls=SectionedCommand, sections={
    "Model": ["backend"],
    "Output": ["json_file"],
    "Run": ["quiet"],
})  # fmt: skip
@click.argument("model_dir", type=click.Path(path_type=str))
@click.argument("dataset", type=click.Path(path_type=str))
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=str), default=None, is_flag=False,
              flag_value="-", metavar="[FILE]",
              help="Every score as one JSON document: on stdout with no FILE (or -), then the tables go to stderr; "
                   "else written to FILE (replaced atomically).")
@click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True,
              help="Inference runtime: auto uses LiteRT (no TensorFlow import) when the bundle has model.tflite.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(model_dir: str, dataset: str, json_file: str | None, backend: str, quiet: bool) -> None:
    """Score a trained model bundle on another frame dataset.

    DATASET is a folder from `spotidance prepare` made with the model's spectrogram settings
    (anything else is refused); its labels are matched to the model's by name. Prints accuracy,
    macro-F1, per-label precision and recall and the confusion matrix, per 3 s frame and per
    track (mean of its frames' probabilities), as `spotidance train` does for its test set.

    \b
    Examples:
      spotidance evaluate model/ other-frames/
      spotidance evaluate model/ other-frames/ --json scores.json
      spotidance evaluate model/ other-frames/ --json | jq .track
    """
    from pathlib import Path

    # the output is checked before scoring: an input, a folder or an unwritable place is refused now
    kind = check_scores_output(json_file, model_dir=model_dir, dataset=dataset) if json_file else None
    result = evaluate(model_dir, dataset, backend=backend, progress=progress.wanted(quiet=quiet))
    to_stdout = kind == "stdout"
    click.echo(format_scores(result.scores, title=Path(dataset).name or "dataset"), err=to_stdout)
    if result.tracks_seen_in_training:
        click.echo(f"note: {result.tracks_seen_in_training} of these tracks were in the model's training or "
                   "validation split; their scores are not held-out scores", err=True)  # fmt: skip
    if json_file:
        if write_scores(result, out=json_file, model_dir=model_dir, dataset=dataset) != "stdout":
            click.echo(f"scores -> {json_file}", err=True)
