"""Writing files safely: atomic replacement, and one rule for every output a user names.

Two layers:

* :func:`write_atomic` replaces a file the program owns (dataset manifests, playlist CSVs and
  their metadata, report pages and figures, synth ground truth): a reader, a crash or Ctrl-C sees
  the old file or the new one, never half. A write that fails (full disk, read-only file system,
  no permission) raises :class:`OutputError`, one line naming the path; the old file is intact
  and no temporary file is left behind.
* :func:`write_output` is for a file the *user* names on the command line (``classify -o``,
  ``evaluate --json``, ...). Every command that writes such a file uses it, and
  :func:`check_output` before long work, so the rule is the same everywhere:

  ============================== ==================================================================
  ``-``                          standard output
  the same file as stdout        standard output (``/dev/stdout``, ``/proc/self/fd/1``, even when
                                 stdout is redirected to a file): never renamed over
  a terminal, pipe, FIFO, device written straight through (opened and written, not replaced)
  a symlink                      its target is replaced atomically; the link stays a link
  one of the run's inputs        refused (one line), before any work is done
  a folder                       refused (one line)
  a missing folder               refused unless the caller allows creating it
  a regular file or a new name   replaced atomically (:func:`write_atomic`)
  ============================== ==================================================================

  A command passes the paths it reads as ``inputs``: a file is an input, and a folder means every
  file under it is one (pass the exact files where only some are read, e.g. a dataset's
  ``dataset.json`` and ``shards/``, so that ``--json DATASET/scores.json`` stays allowed).

Streamed writes (shards, downloads, ffmpeg output, model bundles) use the same temporary-then-
rename idea with their own temporary paths; wrap them in :func:`output_errors` to get the same
one-line error, and call :func:`check_writable_folder` before long work (training) to fail
before it starts rather than after it ends.

Examples
--------
In a command::

    inputs = (bundle_dir, dataset / "dataset.json", dataset / "shards")
    check_output(json_file, inputs=inputs, what="--json")      # before the work
    ...
    write_output(json_file, text, inputs=inputs, what="--json")
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import shutil
import stat
import sys
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from spotidance.core.errors import SpotidanceError

#: What a user-named output may be given as to mean standard output.
STDOUT = "-"


class OutputError(SpotidanceError, OSError):
    """A file could not be written (full disk, read-only file system, no permission), in one line.

    Also an :class:`OSError` (with the ``errno`` and ``strerror`` of the failure), so code that
    already handles ``OSError`` around a write keeps working.
    """

    def __init__(self, message: str, *, cause: OSError | None = None, exit_code: int = 2) -> None:
        super().__init__(message, exit_code=exit_code)
        if cause is not None:
            self.errno = cause.errno
            self.strerror = cause.strerror
        self.message = message

    def __str__(self) -> str:  # OSError's own would print "[Errno 28] ..." instead of the message
        return self.message


def os_error_text(exc: OSError) -> str:
    """A short, single-line reason for an ``OSError`` (``"no space left on device"``)."""
    if exc.errno == _errno.ENOSPC:
        return "no space left on device"
    if exc.errno == _errno.EROFS:
        return "read-only file system"
    if exc.errno in (_errno.EACCES, _errno.EPERM):
        return "permission denied"
    if exc.errno == _errno.EDQUOT:
        return "disk quota exceeded"
    text = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0].lower() if text else type(exc).__name__


@contextlib.contextmanager
def output_errors(path: str | os.PathLike, *, hint: str = "") -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into one :class:`OutputError` naming ``path``.

    Parameters
    ----------
    path : path-like
        What the block writes (named in the message).
    hint : str
        Appended to the message (``"; free some space and rerun"``).
    """
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        if exc.errno is None and type(exc) is not OSError:
            raise  # an OSError subclass that is not about the file (e.g. a requests network error)
        reason = os_error_text(exc)
        if exc.errno is None and "written" in str(exc):  # NumPy's short write ("N requested and M written")
            reason = "no space left on device"
        raise OutputError(f"cannot write {path}: {reason}{hint}", cause=exc) from None


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
        ``path`` (a symlink's target when ``path`` is a symlink: the link stays a link).

    Raises
    ------
    OutputError
        If the file cannot be written (full disk, read-only, no permission); the old file, if
        any, is untouched and the temporary file removed.

    Notes
    -----
    The file gets the default permissions (not the 0600 of :func:`tempfile.mkstemp`), is flushed
    to disk before the rename, and the temporary file is removed if anything fails.
    """
    path = Path(path)
    if path.is_symlink():  # replace the link's target, not the link
        path = Path(os.path.realpath(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with output_errors(path):
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
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------------------ user-named outputs


def _is_stdout(path: str) -> bool:
    """Whether ``path`` is ``-`` or the very file standard output is open on."""
    if path == STDOUT:
        return True
    try:
        return os.path.samestat(os.stat(path), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # no such file, or no real stdout (captured)
        return False


def _input_files(inputs: Iterable[str | os.PathLike]) -> tuple[set[tuple[int, int]], list[Path]]:
    """The inputs' (device, inode) pairs for files, and the resolved folders."""
    files: set[tuple[int, int]] = set()
    folders: list[Path] = []
    for item in inputs:
        try:
            st = os.stat(item)
        except (OSError, ValueError):
            continue
        if stat.S_ISDIR(st.st_mode):
            folders.append(Path(os.path.realpath(item)))
        else:
            files.add((st.st_dev, st.st_ino))
    return files, folders


def _clashes_with_input(target: Path, inputs: Iterable[str | os.PathLike]) -> bool:
    files, folders = _input_files(inputs)
    try:
        st = os.stat(target)
    except OSError:
        st = None
    if st is not None and (st.st_dev, st.st_ino) in files:
        return True
    if st is not None and stat.S_ISREG(st.st_mode):
        return any(target == folder or target.is_relative_to(folder) for folder in folders)
    return False


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    what: str = "output",
    make_parents: bool = False,
) -> str:
    """Check that ``path`` may be written as a user-named output, before any long work.

    Parameters
    ----------
    path : path-like
        The output as the user gave it (``-`` is standard output).
    inputs : iterable of path-like
        Files and folders the run reads; an output that is one of them, or an existing file
        under an input folder, is refused.
    what : str
        How the output is named in messages (the option, e.g. ``"--json"``).
    make_parents : bool
        Allow a missing folder (it is created when writing).

    Returns
    -------
    str
        How the output will be written: ``"stdout"``, ``"stream"`` (not a regular file: written
        straight through) or ``"file"`` (replaced atomically).

    Raises
    ------
    SpotidanceError
        One line: the output is an input, a folder, or its folder is missing or not writable.
    """
    raw = os.fspath(path)
    if raw == "":
        raise SpotidanceError(f"{what}: empty file name")
    if _is_stdout(raw):
        return "stdout"
    target = Path(os.path.realpath(raw))  # a symlink's target (a dangling link: where it points)
    if _clashes_with_input(target, inputs):
        raise SpotidanceError(f"{what} {raw}: is one of this run's inputs (or inside an input folder); "
                              "choose another file name")  # fmt: skip
    if target.is_dir():
        raise SpotidanceError(f"{what} {raw}: is a folder; give a file name")
    if target.exists() and not target.is_file():
        return "stream"
    folder = target.parent
    if not folder.is_dir():
        if folder.exists():
            raise SpotidanceError(f"{what} {raw}: {folder} is not a folder")
        if not make_parents:
            raise SpotidanceError(f"{what} {raw}: folder {folder} does not exist")
        return "file"
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "permission denied"
        try:
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                why = "read-only file system"
        except (OSError, AttributeError):
            pass
        raise SpotidanceError(f"{what} {raw}: cannot write in {folder}: {why}")
    return "file"


def write_output(
    path: str | os.PathLike,
    data: bytes | str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    what: str = "output",
    make_parents: bool = False,
) -> str:
    """Write ``data`` to a file the user named, by the rule in this module's docstring.

    Parameters
    ----------
    path : path-like
        The output as the user gave it; ``-`` writes to standard output.
    data : bytes or str
        The whole content (text is UTF-8).
    inputs : iterable of path-like
        Files and folders the run reads (see :func:`check_output`).
    what : str
        How the output is named in messages (``"--json"``, ``"--output"``).
    make_parents : bool
        Create the file's folder if it is missing.

    Returns
    -------
    str
        ``"stdout"``, ``"stream"`` or ``"file"``: how it was written.

    Raises
    ------
    SpotidanceError
        The output is an input or a folder; :class:`OutputError` if writing fails (full disk,
        read-only, no permission), with the earlier file intact and no temporary file left.
    """
    kind = check_output(path, inputs=inputs, what=what, make_parents=make_parents)
    raw = os.fspath(path)
    if kind == "stdout":
        with output_errors("standard output"):
            if isinstance(data, bytes) and hasattr(sys.stdout, "buffer"):
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            elif isinstance(data, bytes):  # a captured stdout without a byte layer
                sys.stdout.write(data.decode("utf-8", errors="replace"))
                sys.stdout.flush()
            else:
                sys.stdout.write(data)
                sys.stdout.flush()
        return kind
    target = Path(os.path.realpath(raw))
    if kind == "stream":
        with output_errors(raw), open(target, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        return kind
    if make_parents:
        with output_errors(target.parent):
            target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
    return kind


def check_writable_folder(folder: str | os.PathLike, *, need_bytes: int = 0, what: str = "") -> None:
    """Fail now, in one line, if ``folder`` cannot take files (or ``need_bytes`` of them).

    For commands whose output comes at the end of long work (``train``): a read-only or full
    folder is reported before the work starts. Writes and removes a small probe file.

    Parameters
    ----------
    folder : path-like
        An existing folder.
    need_bytes : int
        The free space required.
    what : str
        How the folder is named in messages (default: its path).

    Raises
    ------
    OutputError
    """
    folder = Path(folder)
    name = what or str(folder)
    probe = folder / f".spotidance-write-check.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        with output_errors(name, hint="; choose another folder"):
            with open(probe, "xb") as fh:
                fh.write(b"\0" * 4096)
                fh.flush()
                os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    if need_bytes:
        free = shutil.disk_usage(folder).free
        if free < need_bytes:
            raise OutputError(
                f"cannot write {name}: {free / 1e6:.1f} MB free, about {need_bytes / 1e6:.1f} MB needed; free some space",
                cause=OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC)),
            )
