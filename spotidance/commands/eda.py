"""``spotidance eda``: compare labelled playlist CSVs (see :mod:`spotidance.eda.run`)."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.core import progress
from spotidance.core.summary import to_json
from spotidance.eda.run import format_ranking, run_report


@click.command("eda", cls=SectionedCommand, sections={
    "Input": ["label_column", "features_source"],
    "Output": ["out", "figures", "top", "as_json"],
    "Run": ["quiet"],
})  # fmt: skip
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out", "-o", "out", default="eda-report", show_default=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for report.html, the figures (SVG) and the tables (CSV).")
@click.option("--figures/--no-figures", default=True, show_default=True, help="Draw the figures (the slow part).")
@click.option("--label-column", default="label", show_default=True,
              help="Column holding each row's label (else the file name is the label).")
@click.option("--features-source", default=None, metavar="NAME|all",
              help="Rows to compare by their features_source (spotify, reccobeats, local, ...), or `all` to pool "
                   "them. Default: when the labels' mixes differ, only the rows of the source every label has most.")
@click.option("--top", type=click.IntRange(1, None), default=None, help="Print only the first N ranked features.")
@click.option("--json", "as_json", is_flag=True, help="Print the closing summary as one JSON document on stdout (the tables go to stderr).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(inputs: tuple[str, ...], out: str, figures: bool, label_column: str, features_source: str | None,
            top: int | None, as_json: bool, quiet: bool) -> None:  # fmt: skip
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
    click.echo(format_ranking(result, top=top), err=as_json)
    if as_json:
        click.echo(to_json(_summary(result, top=top)))


def _summary(result, *, top: int | None) -> dict:
    """What ``--json`` prints: the report's paths, the separability, the warnings and the ranked features."""
    sep = result.separability
    ranking = result.ranking if top is None else result.ranking.head(top)
    shown = ["rank", "feature", "effect", "effect_size", "p_holm", "highest"]
    return {
        "report": result.report,
        "out_dir": result.out_dir,
        "labels": result.labels,
        "counts": result.counts,
        "answer": result.answer,
        "separability": None if sep is None else {
            "accuracy": sep.accuracy, "spread": sep.spread, "folds": sep.folds, "chance": sep.chance, "rows": sep.rows,
            "features": sep.features, "top": sep.top, "top_accuracy": sep.top_accuracy,
        },
        "warnings": result.warnings,
        "top_features": ranking[[c for c in shown if c in ranking.columns]],
        "octave_flags": len(result.octave_flags),
    }
