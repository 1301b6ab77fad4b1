"""Worker processes: how many, and how each starts (one initialiser for every stage's pool)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

from spotidance.core import cluster
from spotidance.core.errors import SpotidanceError

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The number of cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def init_worker_process() -> None:
    """Initialiser for worker processes that decode, frame, analyse or render audio.

    Parallelism comes from the processes, so each uses one BLAS thread (two processes of two
    threads each on two cores run slower than two of one); the parent handles Ctrl-C and stops the
    pool, so workers ignore SIGINT; native stderr is silenced.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    silence_native_stderr()


def silence_native_stderr() -> None:
    """Send this process's C-level stderr to /dev/null.

    For worker-process initialisers: libmpg123 prints resync notes for damaged mp3s straight to
    file descriptor 2, which would tear through progress bars. Python-level errors still travel
    back to the parent as exceptions.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def map_ordered(fn: Callable[[T], R], items: Iterable[T], *, workers: int, what: str = "a file") -> Iterator[R]:
    """``fn`` over ``items`` in worker processes, yielding results in order, memory bounded.

    At most ``4 * workers`` items are in flight, so a folder of 100,000 files never holds all
    results or futures at once. With ``workers <= 1`` it runs inline (one BLAS thread, native stderr
    quiet), which gives the same results. Ctrl-C cancels what has not started and stops the pool.

    Inside :func:`spotidance.core.cluster.use_scheduler` with an address, the items go to that
    Dask cluster instead (``workers`` is then ignored: at most 4 tasks of up to 4 items per cluster
    thread are in flight), with the same results in the same order
    (:func:`spotidance.core.cluster.map_on_cluster`).

    Parameters
    ----------
    fn : callable
        A picklable top-level function (or :func:`functools.partial` of one) that reports its
        own failures in its result rather than raising.
    items : iterable
    workers : int
    what : str
        How an item is named in the message if a worker process dies (``"a file"``).

    Raises
    ------
    SpotidanceError
        If a worker process died (killed, out of memory); on a cluster, if a task killed its
        workers again and again, or the workers cannot run spotidance.
    """
    client = cluster.current_client()
    if client is not None:
        yield from cluster.map_on_cluster(client, fn, items, what=what)
        return
    if workers <= 1:
        from threadpoolctl import threadpool_limits

        for item in items:
            with threadpool_limits(1), quiet_native_stderr():
                result = fn(item)
            yield result
        return

    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool

    pool = cf.ProcessPoolExecutor(max_workers=workers, initializer=init_worker_process)
    try:
        window: deque = deque()
        todo = iter(items)
        for item in todo:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= 4 * workers:
                break
        while window:
            item, future = window.popleft()
            nxt = next(todo, _END)
            if nxt is not _END:
                window.append((nxt, pool.submit(fn, nxt)))
            try:
                result = future.result()
            except BrokenProcessPool:
                raise SpotidanceError(
                    f"a worker process died while reading {what} ({item}); out of memory? retry with --workers 1"
                ) from None
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C-level writes to file descriptor 2 for the duration of the block.

    Native libraries (LiteRT's start-up note, libmpg123's resync notes on damaged mp3s) write
    straight to fd 2, bypassing ``sys.stderr``; spotidance reports problems itself, in one line.
    Python exceptions are unaffected.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to protect
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
