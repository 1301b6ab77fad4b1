"""The error type every stage raises for problems a user can fix.

The CLI turns a :class:`SpotidanceError` into one line on stderr and a non-zero exit code
(never a traceback). Messages must never contain a credential.
"""

from __future__ import annotations


class SpotidanceError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Parameters
    ----------
    message : str
        What happened and, where possible, what to do about it.
    exit_code : int
        The process exit code the CLI uses (default 2).
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AudioDecodeError(SpotidanceError):
    """An audio file is missing, empty, corrupt, truncated, silent or not audio."""


def short_reason(exc: BaseException, *, limit: int = 120) -> str:
    """The first line of an exception's message (or its type's name), at most ``limit`` characters.

    For one-line errors that name what went wrong in a library without its traceback.
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."
