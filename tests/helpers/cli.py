"""The two ways tests drive the command line, both through the real entry point (``spotidance.cli.main``).

* :func:`run_main`: in this process, with pytest's ``capsys``: fast, and monkeypatches apply.
* :func:`run_process`: ``python -m spotidance ARGS`` in a fresh process: for what only a separate
  process shows (imports at start-up, native stderr, signals, exit codes set by the interpreter).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

from spotidance.cli import main


def run_main(args: list, capsys) -> tuple[int, str, str]:
    """The real entry point in-process: ``(exit code, stdout, stderr)``."""
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_captured(args: list) -> tuple[int, str, str]:
    """:func:`run_main` without ``capsys`` (for module-scoped fixtures): output captured by redirection."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def run_process(args: list, *, cwd: Path | None = None, timeout: float = 120, input: str | None = None,
                env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m spotidance ARGS`` as a separate process (its own stdout and stderr, text)."""
    return subprocess.run([sys.executable, "-m", "spotidance", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, input=input, env=env, check=False)
