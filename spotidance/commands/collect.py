"""``spotidance collect``: a playlist into a CSV with previews and features (see :mod:`spotidance.collect.run`)."""

from __future__ import annotations

import click

from spotidance.collect import DEFAULT_FEATURES, DEFAULT_MAX_WAIT, DEFAULT_WORKERS, FEATURE_CHOICES, LONGEST_MAX_WAIT, MAX_WORKERS
from spotidance.collect.run import collect
from spotidance.commands import SectionedCommand
from spotidance.core import progress
from spotidance.core.schema import TABLE_FORMATS
from spotidance.core.summary import to_json


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Refuse NaN (which every range check lets through) and infinities."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx=ctx, param=param)
    return value


@click.command("collect", cls=SectionedCommand, sections={
    "Input": ["playlists", "market", "limit"],
    "Output": ["label", "out", "fmt", "as_json"],
    "Sources": ["no_previews", "features"],
    "Run": ["workers", "max_wait", "quiet"],
})  # fmt: skip
@click.argument("playlists", nargs=-1, required=True, metavar="PLAYLIST...")
@click.option("--label", default=None,
              help="Label and table name [default: the label an earlier run gave these playlists, else the first playlist's name].")
@click.option("--out", "-o", "out", default=".", show_default=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder: <label>.csv (or .parquet) and <label>/ previews.")
@click.option("--format", "fmt", type=click.Choice(TABLE_FORMATS), default="csv", show_default=True,
              help="Table format (parquet needs pyarrow: pip install 'spotidance[parquet]').")
@click.option("--market", default=None, metavar="CC", help="Spotify market (ISO country code) for track relinking.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N tracks of each playlist.")
@click.option("--no-previews", is_flag=True, help="Do not download previews (no local features then).")
@click.option("--features", type=click.Choice(FEATURE_CHOICES), default=DEFAULT_FEATURES,
              show_default=True, help="Where audio features come from (auto: spotify, then reccobeats, then local).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_WORKERS, show_default=True, help="Concurrent lookups/downloads.")
@click.option("--max-wait", type=click.FloatRange(0, LONGEST_MAX_WAIT), default=DEFAULT_MAX_WAIT, show_default=True, callback=_finite,
              help="Longest Retry-After (s) waited out; longer ones save progress and stop.")
@click.option("--json", "as_json", is_flag=True, help="Print the closing summary as one JSON document on stdout (the tables go to stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def command(playlists: tuple[str, ...], label: str | None, out: str, fmt: str, market: str | None, limit: int | None,
            no_previews: bool, features: str, workers: int, max_wait: float, as_json: bool, quiet: bool) -> None:  # fmt: skip
    """Collect playlists' tracks, 30 s previews and audio features into one table.

    PLAYLIST is a Spotify playlist URL, URI or id, or a Deezer playlist URL or deezer:playlist:ID;
    several playlists go into one table, <label>.csv (one row per track: `playlist_id` is the first
    playlist that lists it, `playlist_ids` all of them). Rerun with another playlist and the same
    --label to add it. Spotify needs SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET (environment or
    .env); since 2026 it lists only playlists you own or collaborate on, after `spotidance login`.
    Previews come from Spotify when it still gives them, else from Deezer (matched by ISRC, title
    and duration). Rerun the same command to resume; exit code 3 means a service stopped us (quota,
    long Retry-After, outage) and the message says when to rerun.

    \b
    Examples:
      spotidance collect https://open.spotify.com/playlist/3cEYpjA9oz9GiPac4AsH4n --label techno -o data
      spotidance collect deezer:playlist:9200461 deezer:playlist:1479458365 --label techno -o data
      spotidance collect deezer:playlist:9200461 -o data --features reccobeats --format parquet
    """
    summary = collect(list(playlists), out=out, label=label, fmt=fmt, market=market, limit=limit, previews=not no_previews,
                      features=features, workers=workers, max_wait=max_wait, progress=progress.wanted(quiet=quiet))  # fmt: skip
    click.echo(summary.table(), err=as_json)
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        click.echo(to_json(summary))
