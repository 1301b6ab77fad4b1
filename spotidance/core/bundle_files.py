"""File plumbing shared by the two kinds of model bundle (CNN: ``model.bundle``; tabular:
``tabular.bundle``): reading untrusted JSON, checksums, fsync'd writes, and the atomic swap of a
finished folder into place. The bundles' formats stay in their own modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from spotidance.core.errors import SpotidanceError, short_reason


def read_json(file: Path, *, missing: str, hint: str) -> Any:
    """The JSON in ``file``, or one line: ``missing`` when absent, else what is wrong and ``hint``.

    A FIFO or device is refused without reading (it could block forever); JSON nested deeper than
    Python can parse is reported as corrupt, not as a RecursionError.
    """
    if os.path.lexists(file) and not file.is_file():
        raise SpotidanceError(f"{file}: not a regular file; restore the bundle or {hint}")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpotidanceError(missing) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpotidanceError(f"{file}: unreadable ({short_reason(exc)}); restore the bundle or {hint}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpotidanceError(f"{file}: corrupt JSON (line {exc.lineno}: {exc.msg}); restore the bundle or {hint}") from None
    except RecursionError:
        raise SpotidanceError(f"{file}: corrupt JSON (nested too deeply); restore the bundle or {hint}") from None


def sha256_file(file: Path) -> str:
    """Hex SHA-256 of a file's contents."""
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_text_synced(file: Path, text: str) -> None:
    """Write ``text`` (UTF-8) and fsync it: a bundle's files are on disk before it is swapped in."""
    with open(file, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """fsync a folder (its entries), where the platform allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not supported on this platform
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished folder ``tmp`` to ``out``, replacing what is there; on failure the previous
    ``out`` is put back, so a crash leaves the old bundle or the new one, never a mixture."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
