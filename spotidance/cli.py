"""The ``spotidance`` command line: a click group whose subcommands load lazily.

Each subcommand lives in ``spotidance/commands/<name>.py`` and exposes a click command called
``command``. Those modules import only click at the top; the stage they drive (librosa,
TensorFlow, seaborn, ...) is imported inside the command body, so ``spotidance --help`` and the
light commands start fast.

Every :class:`~spotidance.core.errors.SpotidanceError` becomes one line on stderr and a non-zero
exit; Ctrl-C becomes a one-line note (exit 130). Work already saved stays saved.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import click

from spotidance import __version__
from spotidance.core.errors import SpotidanceError

#: subcommand name -> (module under spotidance.commands, one-line summary for the group's help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "Run the whole pipeline offline on synthetic genres."),
    "synth": ("synth", "Render labelled synthetic genre clips as mp3 files."),
    "prepare": ("prepare", "Build a frame dataset of log-mel spectrograms from audio."),
    "collect": ("collect", "Collect a playlist's tracks, previews and audio features into a CSV."),
    "login": ("login", "Log in to Spotify (PKCE) so collect can read your own playlists."),
    "analyze": ("analyze", "Measure tempo, key, loudness (and the Beatport 2016 features) of audio files."),
    "eda": ("eda", "Write a report comparing the audio features of labelled CSVs."),
    "train": ("train", "Train a CNN genre classifier on a frame dataset."),
    "evaluate": ("evaluate", "Score a trained model bundle on another frame dataset."),
    "classify": ("classify", "Label your own audio files by genre (a shipped model, or one you trained)."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"spotidance.commands.{COMMANDS[cmd_name][0]}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Summaries come from COMMANDS so that the group's --help imports no subcommand.
        rows = [(name, summary) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spotidance")
@click.option("--verbose", "-v", is_flag=True,
              help="Debug log on stderr (requests with their timings, worker setup) and the full traceback behind an error.")
def cli(verbose: bool) -> None:
    """Turn dance-music playlists into datasets, reports and genre classifiers.

    Every command has --help with an example, and -q/--quiet to turn off progress bars (they are
    drawn only on a terminal). Shell completion: see the README (eval "$(_SPOTIDANCE_COMPLETE=bash_source spotidance)").

    \b
    Examples (offline, no credentials):
      spotidance demo --out spotidance-demo
      spotidance classify ~/Music/unsorted
      spotidance -v analyze song.mp3 --out features.csv
    """
    if verbose:
        _VERBOSE[0] = True
        logging.basicConfig(level=logging.DEBUG, format="spotidance: %(name)s: %(message)s", stream=sys.stderr)
        for noisy in ("urllib3", "matplotlib", "PIL", "numba", "h5py", "absl", "tensorflow"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


#: Set by ``--verbose``: errors then come with their traceback.
_VERBOSE = [False]


def _load_dotenv() -> None:
    """Read credentials from a ``.env`` file in the working directory, if there is one."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - python-dotenv is a dependency
        return
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``spotidance`` console script."""
    _load_dotenv()
    try:
        cli.main(args=argv, prog_name="spotidance", standalone_mode=False)
    except SpotidanceError as exc:
        if _VERBOSE[0]:
            traceback.print_exc()
        click.echo(f"spotidance: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("spotidance: interrupted; what was saved stays saved (commands that save as they go resume on a rerun).", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("spotidance: interrupted; what was saved stays saved (commands that save as they go resume on a rerun).", err=True)
        sys.exit(130)
    except click.exceptions.UsageError as exc:  # one line, as every other error
        where = f"spotidance {exc.ctx.command_path.split(' ', 1)[1]} --help" if exc.ctx and " " in exc.ctx.command_path else "spotidance --help"
        click.echo(f"spotidance: error: {exc.format_message()} (see '{where}')", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # e.g. `spotidance classify ... | head`
        sys.exit(0)
