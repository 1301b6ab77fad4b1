"""The command line as a whole: light start-up, help with examples, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from spotidance.cli import COMMANDS, cli

HEAVY = ("tensorflow", "keras", "librosa", "matplotlib", "seaborn", "pandas", "scipy", "sklearn", "numba", "spotipy", "dask", "distributed", "fsspec", "lightgbm")


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"spotidance {name}" in result.output


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_groups_its_options_under_headings(name):
    """Each option is listed once, under one of the command's own headings ("Input", "Output", "Run", ...)."""
    import click

    from spotidance.commands import SectionedCommand

    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, SectionedCommand) and len(command.sections) >= 2
    output = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
    headings = [line[:-1] for line in output.splitlines() if line.endswith(":") and not line.startswith(" ")]
    shown = [h for h in headings if h in command.sections]
    assert shown == [h for h in command.sections if h in shown] and len(shown) >= 2, headings
    assert "Options" not in headings and "Other options" not in headings, output
    lines = output.splitlines()
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        where = [i for i, line in enumerate(lines) if line.lstrip().startswith(tuple(param.opts + param.secondary_opts))]
        assert len(where) == 1, (param.name, output)
        heading = next(lines[i][:-1] for i in range(where[0], -1, -1) if lines[i][:-1] in command.sections)
        assert param.name in command.sections[heading]
    assert "-h, --help" in output.split(f"{list(command.sections)[-1]}:", 1)[1]
    assert "Example" in output.split(f"{headings[0]}:")[0]  # the examples come before the options


def test_loading_every_command_imports_no_heavy_library():
    code = (
        "import sys, click\n"
        "from spotidance.cli import cli, COMMANDS\n"
        "ctx = click.Context(cli)\n"
        "for name in COMMANDS: cli.get_command(ctx, name)\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


def test_unknown_command_and_version():
    assert CliRunner().invoke(cli, ["nope"]).exit_code == 2
    result = subprocess.run([sys.executable, "-m", "spotidance", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "spotidance" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["prepare", "no-such-folder", "--out", "{tmp}/frames"],
        ["train", "{tmp}/no-such-dataset", "--model", "binary-1d", "--out", "{tmp}/model"],
        ["evaluate", "{tmp}/no-such-model", "{tmp}/no-such-dataset"],
        ["classify", "song.mp3", "--model", "{tmp}/no-such-model"],
        ["eda", "{tmp}/missing.csv"],
        ["collect", "https://example.com/not-a-playlist"],
        ["synth", "{tmp}/clips", "--genres", "polka"],
    ],
    ids=lambda a: a[0],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(args, tmp_path):
    """Through the real console entry point: no traceback, one explanatory line, exit code 2."""
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = "import sys; from spotidance.cli import main; main(sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines and (lines[-1].startswith("spotidance: error:") or lines[-1].startswith("Error:")), out.stderr


def test_verbose_shows_the_traceback_behind_the_one_line_error(tmp_path):
    code = "import sys; from spotidance.cli import main; main(sys.argv[1:])"
    args = ["analyze", str(tmp_path / "missing.mp3"), "--out", str(tmp_path / "f.csv")]
    quiet = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    loud = subprocess.run([sys.executable, "-c", code, "-v", *args], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert quiet.stderr.strip().splitlines()[-1] == loud.stderr.strip().splitlines()[-1]
    assert loud.stderr.strip().splitlines()[-1].startswith("spotidance: error: no audio files to analyse")


def test_a_dash_reads_paths_from_stdin(tmp_path):
    import numpy as np

    from tests.helpers.audio import write_audio

    t = np.arange(3 * 22050) / 22050
    song = write_audio(tmp_path / "a song.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate=22050)
    code = "import sys; from spotidance.cli import main; main(sys.argv[1:])"
    out = tmp_path / "f.csv"
    done = subprocess.run([sys.executable, "-c", code, "analyze", "-", "--out", str(out), "-q"], input=f"{song}\n\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[1].startswith(str(song) + ",")
