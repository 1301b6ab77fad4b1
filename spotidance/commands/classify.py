"""``spotidance classify``: label audio files with a model bundle (see :mod:`spotidance.classify.run`)."""

from __future__ import annotations

import click

from spotidance.classify.run import classify, format_for, format_report, write_output
from spotidance.core import progress
from spotidance.core.errors import SpotidanceError


@click.command("classify")
@click.argument("model_dir", type=click.Path(path_type=str))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default=None,
              help="Output format [default: from --output's suffix (.csv, .json), else table].")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the results to this file (atomically) instead of stdout.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Decoding processes [default: all cores].")
@click.option("--backend", type=click.Choice(["auto", "litert", "keras"]), default="auto", show_default=True,
              help="Inference runtime: auto uses LiteRT (no TensorFlow import) when the bundle has model.tflite.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(model_dir: str, paths: tuple[str, ...], fmt: str | None, output: str | None, workers: int | None,
            backend: str, quiet: bool) -> None:
    """Label audio files with a trained model bundle.

    PATHS are audio files (mp3, wav, flac, ogg, m4a, ...), folders (searched recursively) and
    quoted glob patterns. For each track: the most probable label, every label's probability
    (the mean over the track's 2.97 s frames) and the number of frames used.

    Files that cannot be decoded or are shorter than one frame are reported on stderr, one line
    each, and skipped. Exit status: 0 if every file was classified, 1 if any was skipped, 2 for
    a usage error or an unusable model bundle.

    \b
    Examples:
      spotidance classify model/ song.mp3
      spotidance classify model/ ~/Music/techno "downloads/**/*.m4a"
      spotidance classify model/ my-music/ --output labels.csv
    """

    fmt = format_for(output, fmt)
    report = classify(model_dir, list(paths), workers=workers, backend=backend,
                      progress=progress.wanted(quiet=quiet))
    text = format_report(report, fmt=fmt)
    if output:
        write_output(text, output=output)
        click.echo(f"{len(report.tracks)} tracks classified ({report.backend}); results in {output}", err=True)
    elif report.tracks or fmt != "table":
        click.echo(text, nl=False)
    for item in report.skipped:
        click.echo(f"spotidance: skipped {item.path}: {item.reason}", err=True)
    if report.skipped:
        total = len(report.tracks) + len(report.skipped)
        raise SpotidanceError(f"{len(report.skipped)} of {total} inputs could not be classified (reasons above)", exit_code=1)
