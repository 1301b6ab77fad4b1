"""``spotidance synth``: render labelled synthetic genre clips (see :mod:`spotidance.synth.render`)."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.core import progress
from spotidance.core.summary import to_json
from spotidance.synth import DEFAULT_DURATION, DEFAULT_GENRES, DEFAULT_PER_GENRE, GENRES
from spotidance.synth.render import format_summary, render_collection


@click.command("synth", cls=SectionedCommand, sections={
    "Clips": ["genres", "per_genre", "duration", "seed"],
    "Output": ["as_json"],
    "Run": ["workers", "quiet"],
})  # fmt: skip
@click.argument("out", type=click.Path(file_okay=False, path_type=str))
@click.option("--genres", default=",".join(DEFAULT_GENRES), show_default=True, help=f"Comma-separated genres from {', '.join(GENRES)}.")
@click.option("--per-genre", type=click.IntRange(1, 100000), default=DEFAULT_PER_GENRE, show_default=True, help="Clips per genre.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seed of the collection (0 to 4294967295).")
@click.option("--duration", type=click.FloatRange(1.0, 600.0), default=DEFAULT_DURATION, show_default=True, help="Seconds per clip.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Rendering processes [default: all cores].")
@click.option("--json", "as_json", is_flag=True, help="Print the closing summary as one JSON document on stdout (the tables go to stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(out: str, genres: str, per_genre: int, seed: int, duration: float, workers: int | None, as_json: bool,
            quiet: bool) -> None:
    """Render labelled synthetic techno / EDM / drum-and-bass clips as mp3 files.

    Writes OUT/<genre>/<genre>-NNN.mp3 (44.1 kHz, 128 kbps, like a store preview) and one
    OUT/<genre>.csv per genre in the `collect` format, with each clip's ground truth (tempo, key,
    mode, instrumentalness, ...). The same seed gives the same files; a rerun renders only the
    missing clips.

    \b
    Example:
      spotidance synth clips --genres techno,edm,dnb --per-genre 30
      spotidance prepare clips/techno.csv clips/edm.csv clips/dnb.csv --out frames
    """
    names = [g.strip() for g in genres.split(",") if g.strip()]
    unknown = [g for g in names if g not in GENRES]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(GENRES)}", param_hint="--genres")
    summary = render_collection(out, genres=names, per_genre=per_genre, seed=seed, duration=duration, workers=workers, progress=progress.wanted(quiet=quiet))
    click.echo(format_summary(summary), err=as_json)
    if as_json:
        click.echo(to_json(summary))
