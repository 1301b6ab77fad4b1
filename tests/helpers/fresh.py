"""Run code in a fresh Python process and see which modules it loaded (start-up cost tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable


def run_fresh(code: str, *, watch: Iterable[str], timeout: float = 120) -> tuple[list[str], list[str]]:
    """``(stdout lines, the names of ``watch`` found in sys.modules at the end)`` of ``code``.

    ``code`` runs in a new interpreter (nothing imported yet); a ``SystemExit`` with a non-zero
    code, or any error, fails with the process's stderr.
    """
    watched = sorted(set(watch))
    tail = (
        "\nimport json as _json, sys as _sys\n"
        f"print('LOADED', _json.dumps(sorted(m for m in {watched!r} if m in _sys.modules)))\n"
    )
    wrapped = "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + (
        "except SystemExit as _exc:\n    assert not _exc.code, _exc.code\n") + tail
    proc = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("LOADED "), proc.stdout
    return lines[:-1], json.loads(lines[-1][len("LOADED "):])
