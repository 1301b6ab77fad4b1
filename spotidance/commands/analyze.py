"""``spotidance analyze``: tempo, key, loudness (and the Beatport 2016 features) of audio files."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.analyze import DEFAULT_FEATURE_SET, FEATURE_SETS
from spotidance.analyze.features import DEFAULT_TEMPO_RANGE
from spotidance.analyze.run import analyze, format_summary
from spotidance.core import progress
from spotidance.core.cluster import ENV_VAR, describe, use_scheduler
from spotidance.core.errors import SpotidanceError
from spotidance.core.summary import to_json


def _tempo_range(ctx, param, value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LOW:HIGH in BPM, e.g. 60:200") from None
    if not (0 < lo < hi) or hi > 1000 or hi / lo < 2.0:
        raise click.BadParameter(f"{value!r}: need 0 < LOW < HIGH <= 1000 spanning at least an octave (HIGH >= 2 x LOW)")
    return lo, hi


@click.command("analyze", cls=SectionedCommand, sections={
    "Output": ["out", "as_json"],
    "Analysis": ["feature_set", "tempo_range"],
    "Run": ["workers", "scheduler", "quiet"],
})  # fmt: skip
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The CSV to write (resumed by a rerun: only new or changed files are analysed).")
@click.option("--set", "feature_set", type=click.Choice(FEATURE_SETS), default=DEFAULT_FEATURE_SET, show_default=True,
              help="core: tempo, key, loudness, energy; beatport2016 / all: also the 71 Beatport 2016 columns.")
@click.option("--tempo-range", default=f"{DEFAULT_TEMPO_RANGE[0]:g}:{DEFAULT_TEMPO_RANGE[1]:g}", show_default=True,
              callback=_tempo_range, help="LOW:HIGH bounds of the tempo answer in BPM.")
@click.option("--scheduler", metavar="ADDRESS", envvar=ENV_VAR, show_envvar=True, default=None,
              help="Run on a Dask cluster: its scheduler (tcp://HOST:8786), or 'local' for one on this machine "
                   "(--workers processes). Needs spotidance[dask]; see docs/scale-out.md.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Worker processes [default: all cores].")
@click.option("--json", "as_json", is_flag=True, help="Print the closing summary as one JSON document on stdout (the tables go to stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(paths: tuple[str, ...], out: str, feature_set: str, tempo_range: tuple[float, float],
            workers: int | None, scheduler: str | None, as_json: bool, quiet: bool) -> None:
    """Analyse audio files: tempo, key (and Camelot), loudness in LUFS, energy.

    PATHS are audio files (mp3, wav, flac, ogg, m4a, ...), folders (searched recursively) and
    quoted glob patterns. One CSV row per file: path, duration_ms, tempo (BPM), tempo_confidence,
    key (0-11), mode (1 major, 0 minor), key_name ("F# minor"), camelot ("11A"), key_strength,
    loudness (integrated LUFS, ITU-R BS.1770-4) and energy (0..1). --set beatport2016 adds the
    71 features of the Beatport 2016 data set (Caparrini et al. 2020) under their exact names, so
    models trained on that table (spotidance classify's shipped models) work on your files.

    A rerun analyses only new or changed files; Ctrl-C keeps what was finished. A file that
    cannot be analysed is skipped with its reason (exit status 1).

    \b
    Examples:
      spotidance analyze ~/Music/techno --out techno.csv
      spotidance analyze "sets/**/*.mp3" --out sets.csv --set all
      spotidance analyze dnb/ --out dnb.csv --tempo-range 80:200
      spotidance analyze song.mp3 --out song.csv --json | jq .skipped
    """
    with use_scheduler(scheduler, workers=workers) as client:
        if client is not None:
            click.echo(describe(client), err=True)
        result = analyze(list(paths), out=out, feature_set=feature_set, tempo_range=tempo_range, workers=workers,
                         progress=progress.wanted(quiet=quiet))
    click.echo(format_summary(result), nl=False, err=as_json)
    if as_json:
        click.echo(to_json({"out": result.out, "feature_set": feature_set, "analysed": result.analysed, "reused": result.reused,
                            "rows": len(result.table), "skipped": result.skipped,
                            "previously_skipped": result.previously_skipped, "seconds": result.seconds}))
    if result.skipped:
        raise SpotidanceError(f"{len(result.skipped)} input(s) could not be analysed (reasons above)", exit_code=1)
