"""A real two-worker Dask cluster on 127.0.0.1 for tests (no mocks), and a marker to skip without Dask.

Use in a test module::

    from tests.helpers.dask import dask_cluster, requires_dask

    pytestmark = [pytest.mark.dask, requires_dask]

    @pytest.fixture(scope="module")
    def scheduler():
        with dask_cluster() as address:
            yield address

    def test_same_as_local(scheduler, tmp_path):
        with use_scheduler(scheduler):
            ...

One cluster per module keeps start-up (about 2 s) out of each test. A killed worker process is
restarted by its nanny, so the cluster is still whole for the next test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Iterator

import pytest

#: Skips a test (or module, via ``pytestmark``) when dask/distributed are not installed.
requires_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="needs the dask extra: pip install -e '.[dask]'"
)


@contextlib.contextmanager
def dask_cluster(*, n_workers: int = 2) -> Iterator[str]:
    """A scheduler and ``n_workers`` single-threaded worker processes on 127.0.0.1; yields its address.

    Worker processes (not threads), as on a real cluster: each one imports spotidance anew,
    results are pickled back, and a worker can be killed.
    """
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


def silent_port() -> int:
    """A 127.0.0.1 port with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mute_listener() -> Iterator[str]:
    """A ``tcp://`` address that accepts connections and never says a word (a hung scheduler)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"


# --------------------------------------------------------------------------------------------
# task functions: top level in an importable module, so the worker processes can load them


def square(x: int) -> tuple[int, int]:
    """``(x, x * x)``: a cheap task whose result names its item."""
    return x, x * x


def square_and_note(item: tuple[int, str]) -> tuple[int, int]:
    """:func:`square` that also leaves a file per run in a folder, to count executions."""
    x, folder = item
    fd, _ = _unique(Path(folder) / f"ran-{x}")
    os.close(fd)
    return square(x)


def kill_worker_once(item: tuple[int, int, str]) -> tuple[int, int]:
    """:func:`square_and_note`, except that the first run of item ``kill`` SIGKILLs its own worker process.

    The marker file is created (exclusively) before the kill, so the retry that Dask runs on a
    worker returns normally: a worker dies mid-task exactly once, whatever the timing.
    """
    x, kill, folder = item
    if x == kill:
        try:
            fd = os.open(Path(folder) / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
    return square_and_note((x, folder))


def _unique(stem: Path) -> tuple[int, Path]:
    for i in range(1000):
        path = stem.with_name(f"{stem.name}.{i}")
        try:
            return os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY), path
        except FileExistsError:
            continue
    raise RuntimeError(f"too many runs of {stem}")
