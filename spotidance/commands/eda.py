"""``spotidance eda``: compare labelled playlist CSVs (see :mod:`spotidance.eda.run`)."""

from __future__ import annotations

import click

from spotidance.core import progress
from spotidance.eda.run import format_ranking, run_report


@click.command("eda")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "out", default="eda-report", show_default=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for report.html, the figures (SVG) and the tables (CSV).")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the figures (the slow part).")
@click.option("--label-column", default="label", show_default=True,
              help="Column holding each row's label (else the file name is the label).")
@click.option("--features-source", default=None, metavar="NAME|all",
              help="Rows to compare by their features_source (spotify, reccobeats, local, ...), or `all` to pool "
                   "them. Default: when the labels' mixes differ, only the rows of the source every label has most.")
@click.option("--top", type=click.IntRange(1, None), default=None, help="Print only the first N ranked features.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(inputs: tuple[str, ...], out: str, figures: bool, label_column: str, features_source: str | None,
            top: int | None, quiet: bool) -> None:  # fmt: skip
    """Write a report comparing the audio features of labelled CSVs.

    INPUTS are two or more playlist CSVs (from `spotidance collect` or `synth`, or older Spotify
    exports) and/or folders of them. Each row's label is its CSV's `label` column, else the file
    name. Prints a short summary (how well a cross-validated classifier separates the labels, and
    the features that differ most, in their units), warnings where the data are not comparable,
    and the features ranked by effect size; writes DIR/report.html (self-contained, figures
    embedded), the figures as SVG and the tables as CSV.

    \b
    Examples:
      spotidance eda playlists/techno.csv playlists/edm.csv --out eda-report
      spotidance eda playlists/ --out eda-report    # every *.csv in the folder
    """
    result = run_report(list(inputs), out_dir=out, progress=progress.wanted(quiet=quiet), figures=figures,
                        label_column=label_column, features_source=features_source)  # fmt: skip
    click.echo(format_ranking(result, top=top))
