"""Progress bars: one helper and one rule for every stage.

The rule: library functions take ``progress: bool = False``; the command line turns bars on only
when stderr is a terminal and ``--quiet`` is not given (:func:`wanted`), so a log file of any
command run with its output redirected holds no bar redraws. :func:`bar` gives a tqdm bar, or a
stand-in that does nothing (and spares the import) when bars are off.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def wanted(*, quiet: bool = False, stream: TextIO | None = None) -> bool:
    """Whether a command should draw progress bars: not ``quiet`` and ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class NoBar:
    """Stands in for a tqdm bar when bars are off."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "NoBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(*, enabled: bool, total: int | None = None, desc: str = "", unit: str = "it", initial: int = 0,
        leave: bool = True) -> Any:
    """A tqdm progress bar on stderr when ``enabled``, else a :class:`NoBar`.

    Parameters
    ----------
    enabled : bool
        Draw a bar (see :func:`wanted`).
    total, desc, unit, initial, leave
        As tqdm's.
    """
    if not enabled:
        return NoBar()
    import threading

    from tqdm import tqdm

    shown = tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=sys.stderr, dynamic_ncols=True)
    lock, update = threading.Lock(), shown.update

    def safe_update(n: int = 1) -> None:  # collect updates from several threads
        with lock:
            update(n)

    shown.update = safe_update  # type: ignore[method-assign]
    return shown


def write(message: str) -> None:
    """A line on stderr that does not tear a progress bar in progress."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)
