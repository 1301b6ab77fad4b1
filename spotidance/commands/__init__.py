"""One module per CLI subcommand; each imports only click at the top (see spotidance.cli).

:class:`SectionedCommand` prints a command's options under headings ("Input", "Output", "Run",
...). Click has no option groups. The libraries that add them were weighed: cloup (well kept)
would replace every ``click.command``/``click.option`` with its own and add a dependency and its
import to every start-up; click-option-group changes how options are declared and parsed (its
groups are also constraints). We only want headings in ``--help``, which is a matter of
formatting: this class overrides click's one formatting hook (``format_options``) and leaves
parsing, completion and errors to click, in under 50 lines.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import click

#: Longest first column (option names) before the help text moves to its own line.
NAMES_WIDTH = 30


class SectionedCommand(click.Command):
    """A click command whose ``--help`` lists its options under headings.

    Parameters
    ----------
    sections : mapping of str to sequence of str
        Heading -> the parameter names (the Python names) listed under it, in order. ``--help``
        joins the last heading. A parameter in no heading is listed under "Other options" (the
        tests forbid that, so that every option has its place).
    *args, **kwargs
        Passed to :class:`click.Command`.

    Examples
    --------
    >>> @click.command("x", cls=SectionedCommand, sections={"Output": ["out"], "Run": ["quiet"]})
    ... @click.option("--out", "-o")
    ... @click.option("--quiet", "-q", is_flag=True)
    ... def x(out, quiet): ...
    """

    def __init__(self, *args, sections: Mapping[str, Sequence[str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sections = {title: list(names) for title, names in (sections or {}).items()}

    def section_rows(self, ctx: click.Context) -> list[tuple[str, list[tuple[str, str]]]]:
        """``(heading, [(names, help), ...])`` in the order ``--help`` prints them."""
        # arguments are named in the usage line and explained in the text, as click does
        records = {p.name: rec for p in self.get_params(ctx)
                   if isinstance(p, click.Option) and (rec := p.get_help_record(ctx)) is not None}  # fmt: skip
        help_option = self.get_help_option(ctx)
        titles = list(self.sections)
        placed: set[str] = set()
        out = []
        for i, title in enumerate(titles):
            names = self.sections[title] + ([help_option.name] if help_option and i == len(titles) - 1 else [])
            placed.update(names)
            rows = [records[n] for n in names if n in records]
            if rows:
                out.append((title, rows))
        rest = [rec for name, rec in records.items() if name not in placed]
        if rest:
            out.append(("Other options" if titles else "Options", rest))
        return out

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections = self.section_rows(ctx)
        # one width for the first column of every section, so that the help texts line up
        width = min(NAMES_WIDTH, max((len(names) for _, rows in sections for names, _ in rows), default=0))
        for title, rows in sections:
            with formatter.section(title):
                formatter.write_dl([(names.ljust(width), text) for names, text in rows], col_max=NAMES_WIDTH)
