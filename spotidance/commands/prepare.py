"""``spotidance prepare``: build a frame dataset (see :mod:`spotidance.dataset.prepare`)."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.audio.config import NORMALIZE_CHOICES, SpectrogramConfig
from spotidance.core import progress
from spotidance.core.cluster import ENV_VAR, describe, use_scheduler
from spotidance.core.summary import to_json
from spotidance.dataset.prepare import format_summary, prepare


@click.command("prepare", cls=SectionedCommand, sections={
    "Output": ["out", "as_json"],
    "Spectrograms": ["normalize"],
    "Run": ["workers", "scheduler", "quiet"],
})  # fmt: skip
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=str), help="Dataset folder (created or extended).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Worker processes [default: all cores].")
@click.option("--normalize", type=click.Choice(NORMALIZE_CHOICES), default=SpectrogramConfig.normalize, show_default=True,
              help="Per-frame standardisation of the log-mel values.")
@click.option("--scheduler", metavar="ADDRESS", envvar=ENV_VAR, show_envvar=True, default=None,
              help="Run on a Dask cluster: its scheduler (tcp://HOST:8786), or 'local' for one on this machine "
                   "(--workers processes). Needs spotidance[dask]; see docs/scale-out.md.")
@click.option("--json", "as_json", is_flag=True, help="Print the closing summary as one JSON document on stdout (the tables go to stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(inputs: tuple[str, ...], out: str, workers: int | None, normalize: str, scheduler: str | None, as_json: bool,
            quiet: bool) -> None:
    """Build a frame dataset of 128x128 log-mel frames from audio.

    INPUTS are CSV files written by `spotidance collect` (label from the CSV, audio from its
    preview_path column) and/or folders with one sub-folder of audio files per label. Each clip
    gives one frame per 2.97 s (10 from a 30 s preview). Rerunning with more tracks frames only
    the new ones; Ctrl-C keeps everything committed so far.

    \b
    Examples:
      spotidance prepare previews/techno.csv previews/edm.csv --out frames
      spotidance prepare my-music/ --out frames      # my-music/<label>/*.mp3
      spotidance prepare /shared/music/ --out frames --scheduler tcp://scheduler-host:8786
    """
    with use_scheduler(scheduler, workers=workers) as client:
        if client is not None:
            click.echo(describe(client), err=True)
        summary = prepare(list(inputs), out=out, config=SpectrogramConfig(normalize=normalize), workers=workers, progress=progress.wanted(quiet=quiet))
    click.echo(format_summary(summary), err=as_json)
    if as_json:
        click.echo(to_json(summary))
