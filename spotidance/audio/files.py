"""Finding the audio files a command was given: files, folders (recursive) and glob patterns.

Shared by ``classify`` and ``analyze`` (and any stage that takes "audio files" on the command line),
so every command expands its inputs, and explains the ones it cannot use, the same way.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from spotidance.audio.decode import is_audio_path

_GLOB_CHARS = frozenset("*?[")


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A path that could not be classified, and why."""

    path: str
    reason: str


def find_audio_files(paths: Iterable[str | os.PathLike]) -> tuple[list[str], list[Skipped]]:
    """Expand files, folders and glob patterns into audio files.

    Parameters
    ----------
    paths : iterable of path-like
        A file is taken as it is, whatever its extension (decoding says whether it is audio).
        A folder contributes every file with an audio extension
        (:data:`spotidance.audio.decode.AUDIO_EXTENSIONS`) below it, hidden ones excepted, sorted.
        ``-`` reads one path per line from standard input (``find ... | spotidance classify -``).
        A path that does not exist but contains ``*``, ``?`` or ``[`` is a glob pattern
        (``**`` matches folders recursively); folders it matches are searched as above.

    Returns
    -------
    files : list of str
        Without repeats (the same file reached twice is classified once), in the order found.
    problems : list of Skipped
        Paths that name nothing, and folders or patterns without audio files.
    """
    files: list[str] = []
    problems: list[Skipped] = []
    seen: set[str] = set()

    def add(file: str) -> None:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            files.append(file)

    for raw in _with_stdin(paths):
        item = os.fspath(raw)
        if os.path.isfile(item):
            add(item)
        elif os.path.isdir(item):
            found = _scan_folder(item, is_audio_path)
            if not found:
                problems.append(Skipped(item, "folder holds no audio files"))
            for file in found:
                add(file)
        elif _GLOB_CHARS & set(item):
            matches = sorted(glob.glob(item, recursive=True))
            found = []
            for match in matches:
                if os.path.isdir(match):
                    found.extend(_scan_folder(match, is_audio_path))
                elif os.path.isfile(match) and is_audio_path(match):
                    found.append(match)
            if not found:
                problems.append(Skipped(item, "no audio files match this pattern"))
            for file in found:
                add(file)
        elif os.path.lexists(item):
            problems.append(Skipped(item, "not a regular file or folder"))
        else:
            problems.append(Skipped(item, "no such file or folder"))
    return files, problems


def _with_stdin(paths: Iterable[str | os.PathLike]) -> Iterator[str | os.PathLike]:
    """``paths`` with a ``-`` replaced by the lines of standard input (one path per line), once."""
    read = False
    for raw in paths:
        if os.fspath(raw) == "-":
            if not read:
                read = True
                yield from (line.rstrip("\r\n") for line in sys.stdin if line.strip())
        else:
            yield raw


def _scan_folder(folder: str, is_audio) -> list[str]:
    out: list[str] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith(".") and is_audio(n))
    return out


def source_key(path: str | os.PathLike) -> str:
    """Identity of a file's current content: resolved path, size and modification time.

    A rerun of an incremental stage (``prepare``, ``analyze``) redoes a file whose key changed.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return f"{path.resolve()}|missing"
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
