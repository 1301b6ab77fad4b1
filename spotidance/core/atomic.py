"""Atomic file writes: a reader, a crash or Ctrl-C sees the old file or the new one, never half.

Every stage that rewrites a small file in place (dataset manifests, playlist CSVs and their
metadata, report pages and figures, classify output, synth ground truth) goes through
:func:`write_atomic`. Streamed writes (downloads, ffmpeg output, model bundles) use the same idea
with their own temporary paths.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it.

    Parameters
    ----------
    path : path-like
        The target; its folder must exist.
    data : bytes or str
        The whole content; text is written as UTF-8, line endings untouched.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    The file gets the default permissions (not the 0600 of :func:`tempfile.mkstemp`), is flushed
    to disk before the rename, and the temporary file is removed if anything fails.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, bytes):
            fh = open(tmp, "xb")
        else:
            fh = open(tmp, "x", encoding="utf-8", newline="")
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
