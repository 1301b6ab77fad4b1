"""``spotidance classify``: label audio files with a shipped or trained model (see :mod:`spotidance.classify.run`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from spotidance.commands import SectionedCommand
from spotidance.classify.run import (
    DEFAULT_MODEL,
    DEFAULT_TOP,
    FORMATS,
    SEGMENT_SECONDS,
    classify,
    format_for,
    format_report,
)
from spotidance.classify.timeline import plot_timeline
from spotidance.audio.files import find_audio_files
from spotidance.core import progress
from spotidance.core.atomic import check_output, write_output
from spotidance.core.cluster import ENV_VAR, describe, use_scheduler
from spotidance.core.errors import SpotidanceError
from spotidance.model.runners import BACKENDS


class _Seconds(click.ParamType):
    """A positive number of seconds, with a hint when a file name was taken for it."""

    name = "seconds"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of seconds; put --segments after the files, or give SECONDS",
                      param, ctx)


@click.command("classify", cls=SectionedCommand, sections={
    "Model": ["models", "backend"],
    "Segments": ["segment_seconds", "plot"],
    "Output": ["top", "fmt", "output"],
    "Run": ["workers", "scheduler", "quiet"],
})  # fmt: skip
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--model", "-m", "models", multiple=True, metavar="NAME|DIR",
              help=f"A shipped model's name or a bundle folder from `spotidance train` [default: {DEFAULT_MODEL}]. "
                   "Repeat to average several models that share their labels.")
@click.option("--top", type=click.IntRange(1, 100), default=DEFAULT_TOP, show_default=True,
              help="How many of the most probable labels to list.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format [default: from --output's suffix (.csv, .json), else table].")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the results to this file (atomically) instead of stdout.")
@click.option("--scheduler", metavar="ADDRESS", envvar=ENV_VAR, show_envvar=True, default=None,
              help="Run on a Dask cluster: its scheduler (tcp://HOST:8786), or 'local' for one on this machine "
                   "(--workers processes). Needs spotidance[dask]; see docs/scale-out.md.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Decoding processes [default: all cores].")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="CNN inference runtime: auto uses LiteRT (no TensorFlow import) when the bundle has model.tflite.")
@click.option("--segments", "segment_seconds", type=_Seconds(), is_flag=False, flag_value=SEGMENT_SECONDS, default=None,
              metavar="[SECONDS]",
              help=f"Label each file over time: windows of SECONDS [default: {SEGMENT_SECONDS:g}], smoothed, merged "
                   "into segments with start and end times (put it after the files, or give SECONDS).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=str), default=None, metavar="FILE.png",
              help="With --segments (implied): draw each file's label probabilities over time into this PNG.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(paths: tuple[str, ...], models: tuple[str, ...], top: int, fmt: str | None, output: str | None,
            workers: int | None, scheduler: str | None, backend: str, segment_seconds: float | None, plot: str | None, quiet: bool) -> None:
    """Label audio files by genre, with no training needed.

    PATHS are audio files (mp3, wav, flac, ogg, m4a, ...), folders (searched recursively) and
    quoted glob patterns. Without --model, the shipped model beatport2016-3 (BigRoom / DrumAndBass /
    Techno, trained on 300 real Beatport tracks) labels them from features `spotidance analyze`
    computes; beatport2016-23 knows 23 Beatport subgenres, beatport2016-techno-edm answers techno
    or EDM. Each track gets its label, the --top most probable labels, and, for these models, a
    novelty score and a flag when the file is unlike the model's training data (rock, classical,
    speech...): its label is then a guess. A CNN bundle from `spotidance train` works too (the
    mean over the file's 2.97 s frames); several --model options average their probabilities.

    With --segments, each file is labelled along its length: windows of 30 s (or SECONDS), every
    model predicts each window, the window probabilities are smoothed over 3 windows, and runs of
    one label become segments (start, end, label, probability), one row each; --plot FILE.png draws
    them as a timeline. For DJ mixes and long tracks.

    Files that cannot be decoded or are too short are reported on stderr, one line each, and
    skipped. Exit status: 0 if every file was classified, 1 if any was skipped, 2 for a usage
    error or an unusable model.

    \b
    Examples:
      spotidance classify song.mp3
      spotidance classify ~/Music/techno "downloads/**/*.m4a" --model beatport2016-23 --top 5
      spotidance classify my-music/ --model model/ --model beatport2016-3 --output labels.csv
      spotidance classify mix.mp3 --segments 20 --plot mix.png
    """
    paths_list = list(paths)
    if not models and len(paths_list) > 1 and (Path(paths_list[0]) / "bundle.json").is_file():
        models = (paths_list.pop(0),)  # the 0.1 form: `classify MODEL_DIR PATHS...`
    fmt = format_for(output, fmt)
    if plot is not None and segment_seconds is None:
        segment_seconds = SEGMENT_SECONDS
    found = find_audio_files(paths_list)  # once: the output check below and classify() use the same list
    inputs = [*found[0], *(m for m in models if os.path.isdir(m))]
    for target, what in ((output, "--output"), (plot, "--plot")):
        if target:
            check_output(target, inputs=inputs, what=what)  # before any work: an input is never overwritten
    with use_scheduler(scheduler, workers=workers) as client:
        if client is not None:
            click.echo(describe(client), err=True)
        report = classify(list(models) or None, paths_list, workers=workers, backend=backend,
                          segment_seconds=segment_seconds, progress=progress.wanted(quiet=quiet), found=found)
    text = format_report(report, fmt=fmt, top=top)
    if plot is not None:
        plot_timeline(report, file=plot)
    if output:
        if write_output(output, text, inputs=inputs, what="--output") != "stdout":
            click.echo(f"{len(report.tracks)} tracks classified ({report.backend}); results in {output}", err=True)
    elif report.tracks or fmt != "table":
        click.echo(text, nl=False)
    if plot is not None:
        click.echo(f"timeline in {plot}", err=True)
    for item in report.skipped:
        click.echo(f"spotidance: skipped {item.path}: {item.reason}", err=True)
    if report.skipped:
        total = len(report.tracks) + len(report.skipped)
        raise SpotidanceError(f"{len(report.skipped)} of {total} inputs could not be classified (reasons above)", exit_code=1)
