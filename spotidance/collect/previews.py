"""Downloading one preview: streamed, size-capped, checked to decode, then renamed into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import requests

from spotidance.audio.decode import load
from spotidance.collect.http import PacedSession, raise_for_rate_limit, ServiceUnavailable
from spotidance.core.atomic import output_errors
from spotidance.core.errors import AudioDecodeError


#: Largest preview accepted, in bytes (a 30 s mp3 at 320 kb/s is about 1.2 MB).
MAX_PREVIEW_BYTES = 5 * 1024 * 1024


class PreviewRejected(Exception):
    """The preview could not be used; the message is the reason.

    ``transient`` marks failures worth retrying on a later run (server errors, broken transfers).
    """

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


class PreviewExpired(PreviewRejected):
    """The signed preview URL was refused (403/404/410): look the track up again for a fresh one."""


def check_audio(path: str | os.PathLike) -> str | None:
    """``None`` if ``path`` decodes as audio, else the reason (truncated, corrupt, silent, ...)."""
    try:
        load(path, sample_rate=44100)
    except AudioDecodeError as exc:
        return str(exc)
    return None


def download(session: PacedSession, url: str, dest: Path, *, max_bytes: int = MAX_PREVIEW_BYTES) -> int:
    """Download ``url`` to ``dest`` atomically after checking it decodes; return its size.

    Raises
    ------
    PreviewExpired
        The server refused the URL (signed URLs expire within minutes).
    PreviewRejected
        Too large, empty, broken transfer or not decodable audio (the reason is the message).
    """
    with output_errors(dest):  # a full or read-only disk: one line, not a traceback from a thread
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".part" + dest.suffix, dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        size = 0
        try:
            with session.get(url, stream=True) as response:
                raise_for_rate_limit("the preview server", response)
                if response.status_code in (401, 403, 404, 410):
                    raise PreviewExpired(f"preview URL refused (HTTP {response.status_code})")
                if response.status_code >= 400:
                    raise PreviewRejected(f"preview download failed (HTTP {response.status_code})", transient=response.status_code >= 500)
                declared = int(response.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise PreviewRejected(f"preview larger than {max_bytes // 1024} KiB")
                with output_errors(dest), os.fdopen(fd, "wb") as fh:
                    fd = -1
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            raise PreviewRejected(f"preview larger than {max_bytes // 1024} KiB")
                        fh.write(chunk)
        except requests.RequestException as exc:
            raise PreviewRejected(f"preview transfer broken ({type(exc).__name__})", transient=True) from None
        except ServiceUnavailable as exc:
            if exc.down:  # the preview server is down for this run: stop, do not try every track
                raise
            raise PreviewRejected(str(exc), transient=True) from None
        if size == 0:
            raise PreviewRejected("preview is empty")
        reason = check_audio(tmp)
        if reason:
            raise PreviewRejected(f"preview not usable audio ({reason})")
        with output_errors(dest):
            os.replace(tmp, dest)
        return size
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
