"""One progress rule: bars only on a terminal and without --quiet; never redraws in a log file."""

from __future__ import annotations

import io
import subprocess
import sys

from spotidance.core import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_only_on_a_terminal_and_not_when_quiet():
    assert progress.wanted(stream=_Tty()) is True
    assert progress.wanted(stream=_Tty(), quiet=True) is False
    assert progress.wanted(stream=io.StringIO()) is False


def test_a_disabled_bar_counts_and_draws_nothing(capsys):
    with progress.bar(enabled=False, total=3, desc="x") as bar:
        bar.update(2)
    assert bar.n == 2 and capsys.readouterr().err == ""


def test_commands_redirected_to_a_log_write_no_bar_redraws(tmp_path):
    """synth, prepare and eda with stderr and stdout in a log file (as a cron job or CI would)."""
    log = tmp_path / "run.log"
    cli = [sys.executable, "-m", "spotidance"]
    runs = [
        ["synth", str(tmp_path / "clips"), "--genres", "techno,edm", "--per-genre", "3", "--duration", "4"],
        ["prepare", str(tmp_path / "clips" / "techno.csv"), str(tmp_path / "clips" / "edm.csv"), "--out", str(tmp_path / "frames")],
        ["eda", str(tmp_path / "clips"), "--out", str(tmp_path / "report"), "--no-figures"],
    ]
    with log.open("wb") as fh:
        for args in runs:
            done = subprocess.run([*cli, *args], stdout=fh, stderr=subprocess.STDOUT, timeout=300)
            assert done.returncode == 0, log.read_text()[-2000:]
    text = log.read_bytes()
    assert b"\r" not in text and b"\x1b[" not in text, text[-2000:]
    assert b"framed" in text or b"frames" in text  # the closing summaries are still there
