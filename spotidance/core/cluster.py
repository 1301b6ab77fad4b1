"""Per-file work on a Dask distributed cluster: the second backend of :func:`spotidance.core.workers.map_ordered`.

The per-file stages (``prepare``, ``analyze``, ``classify``) hand their files to
:func:`~spotidance.core.workers.map_ordered`. Inside a :func:`use_scheduler` block with an
address, that function sends each file to a Dask cluster instead of the local process pool::

    with use_scheduler("tcp://scheduler-host:8786"):      # or "local": a LocalCluster on this machine
        summary = prepare(inputs, out="frames")

How it behaves (the same contract as the local pool):

* results come back to this process in input order, and this process writes every output, so
  nothing is written twice and the outputs are the same bit for bit as a local run on the same
  kind of machine with the same package versions (workers use one BLAS thread, as local workers do);
* items travel in small tasks (up to 4 items each), at most 4 tasks per cluster thread in flight,
  so 100,000 files never hold all futures or results in memory;
* a worker that dies (killed, out of memory) loses nothing: Dask runs its tasks again elsewhere;
  a task that kills ``distributed.scheduler.allowed-failures + 1`` workers (3 by default) stops the run
  with a one-line error naming the file;
* Ctrl-C cancels the tasks not yet done and closes the connection (and a ``local`` cluster).

Items that are paths are made absolute before they leave (a worker's working directory is not
this one's) and URLs (``s3://...``, ``gs://...``, ``https://...``) are copied by the worker to a
local temporary file with fsspec, since the decoders read local files; either way the worker's
result names the path as it was given. Dask and distributed are the optional extra
``spotidance[dask]``; this module imports them only inside functions.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import os
import signal
import sys
import threading
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from spotidance import __version__
from spotidance.core.errors import SpotidanceError, short_reason

#: The environment variable ``--scheduler`` falls back on (click's ``envvar``).
ENV_VAR = "DASK_SCHEDULER_ADDRESS"

#: ``--scheduler`` value that starts a cluster on this machine.
LOCAL = "local"

#: Seconds to wait for a scheduler to answer, and then for its first worker.
CONNECT_TIMEOUT = 10.0

#: The one-line message when Dask is not installed.
MISSING_EXTRA = "--scheduler needs Dask: pip install 'spotidance[dask]' (dask and distributed)"

#: Tasks in flight per worker thread of the cluster (as the local pool's 4 per process).
IN_FLIGHT_PER_THREAD = 4

#: Most items in one Dask task.
ITEMS_PER_TASK = 4

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("spotidance_dask_client", default=None)


def current_client() -> Any:
    """The ``distributed.Client`` set by the enclosing :func:`use_scheduler`, or ``None`` (local pool)."""
    return _current.get()


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise SpotidanceError(MISSING_EXTRA) from None
    return distributed


@contextlib.contextmanager
def use_scheduler(address: str | None, *, workers: int | None = None, timeout: float | None = None) -> Iterator[Any]:
    """Run the enclosed :func:`~spotidance.core.workers.map_ordered` calls on a Dask cluster.

    Parameters
    ----------
    address : str or None
        A scheduler address (``tcp://host:8786``, ``host:8786``), ``"local"`` to start a
        ``LocalCluster`` of ``workers`` single-threaded processes on this machine, or ``None``
        for the local process pool (nothing is imported or started). Not read from the
        environment: the command line does that (``--scheduler`` has ``envvar=ENV_VAR``).
    workers : int, optional
        Worker processes of a ``local`` cluster (default: the cores this process may use).
    timeout : float, optional
        Seconds to wait for the scheduler, then for its first worker (default
        :data:`CONNECT_TIMEOUT`).

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    SpotidanceError
        Dask is not installed (exit code 2); the scheduler does not answer, has no worker, or its
        workers cannot import this version of spotidance (exit code 3).
    """
    if not address:
        token = _current.set(None)
        try:
            yield None
        finally:
            _current.reset(token)
        return
    _import_distributed()
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    with contextlib.ExitStack() as stack:
        if address.strip().lower() == LOCAL:
            client = stack.enter_context(_local_cluster(workers=workers))
        else:
            client = stack.enter_context(_connect(address.strip(), timeout=timeout))
        token = _current.set(client)
        try:
            yield client
        finally:
            _current.reset(token)


@contextlib.contextmanager
def _local_cluster(*, workers: int | None):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,  # None: one per core Dask may use
        threads_per_worker=1,
        processes=True,
        silence_logs=logging.ERROR,
        preload=[__name__],  # dask_setup below: the workers leave Ctrl-C to this process
    )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            _check_workers(client, address="local")
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


@contextlib.contextmanager
def _connect(address: str, *, timeout: float):
    client = _client_within(address, timeout=timeout)
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise SpotidanceError(
                f"dask scheduler {address} has no worker after {timeout:g} s; start some with `dask worker {address}`",
                exit_code=3,
            ) from None
        _check_workers(client, address=address)
        yield client
    finally:
        client.close()


def _client_within(address: str, *, timeout: float) -> Any:
    """``distributed.Client(address)``, or a one-line error (exit 3) if it is not there in ``timeout`` s.

    The client starts in a helper thread that this one waits for: Client's own ``timeout`` does
    not cover a peer that accepts the TCP connection and then never speaks (a hung or foreign
    service on the port), where it would wait for ever.
    """
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        parse_host_port(parse_address(address)[1])
    except ValueError as exc:
        raise SpotidanceError(
            f"--scheduler {address}: not a scheduler address ({short_reason(exc, limit=80)}); give tcp://HOST:PORT, or local"
        ) from None
    box: dict[str, Any] = {}

    def start() -> None:
        try:
            box["client"] = Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc

    thread = threading.Thread(target=start, name="spotidance-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if "client" in box:
        return box["client"]
    exc = box.pop("error", None)
    if exc is not None and not isinstance(exc, (OSError, TimeoutError, ValueError)):
        raise exc
    why = f" ({short_reason(exc, limit=80)})" if exc is not None else ""
    del exc  # its traceback holds the half-built Client, whose __del__ would stall the exit
    raise SpotidanceError(
        f"dask scheduler {address} did not answer within {timeout:g} s{why}; is `dask scheduler` running there, and the port open?",
        exit_code=3,
    )


def _check_workers(client: Any, *, address: str) -> None:
    """Every worker must import spotidance, at this version (results are compared bit for bit)."""
    try:
        versions = client.run(_worker_version)
    except (ImportError, AttributeError) as exc:
        raise SpotidanceError(
            f"dask workers at {address} cannot run spotidance ({short_reason(exc, limit=80)}); "
            f"install spotidance[dask]=={__version__} on every worker",
            exit_code=3,
        ) from None
    wrong = sorted({v for v in versions.values() if v != __version__})
    if wrong:
        raise SpotidanceError(
            f"dask workers at {address} run spotidance {', '.join(wrong)}, this is {__version__}; install the same version everywhere",
            exit_code=3,
        )


def _worker_version() -> str:
    return __version__


def describe(client: Any) -> str:
    """One line about the cluster for the terminal: its workers, threads and dashboard."""
    info = client.scheduler_info(n_workers=-1) if _accepts_n_workers(client) else client.scheduler_info()
    n = len(info.get("workers", {}))
    threads = sum(w.get("nthreads", 0) for w in info.get("workers", {}).values())
    line = f"dask: {n} worker{'s' if n != 1 else ''}, {threads} thread{'s' if threads != 1 else ''} at {client.scheduler.address}"
    link = getattr(client, "dashboard_link", None)
    return line + (f"; dashboard {link}" if link else "")


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


# --------------------------------------------------------------------------------------------
# the map


def map_on_cluster(client: Any, fn: Callable[[Any], Any], items: Iterable[Any], *, what: str = "a file") -> Iterator[Any]:
    """``fn`` over ``items`` on the cluster of ``client``, yielding results in input order.

    Items go out in tasks of up to :data:`ITEMS_PER_TASK` (the first tasks hold one item, so a
    handful of files still spreads over the workers; sizes then grow), since each Dask task costs
    the client and scheduler a few milliseconds of CPU, a tenth of a file's framing. A sliding
    window keeps at most :data:`IN_FLIGHT_PER_THREAD` tasks per worker thread of the cluster
    submitted and not yet yielded (the thread count is read again every 64 tasks, so workers
    that join are used). Called by :func:`spotidance.core.workers.map_ordered`; see this module's
    docstring for what it guarantees.

    Raises
    ------
    SpotidanceError
        A task killed its workers too often, the scheduler was lost, or the workers cannot load ``fn``.
    """
    from distributed import KilledWorker

    lost = _connection_errors()
    cwd = os.getcwd()
    window: deque = deque()
    todo = iter(items)
    tasks = 0
    try:
        threads = _threads(client)
        exhausted = False
        while True:
            while not exhausted and len(window) < IN_FLIGHT_PER_THREAD * threads:
                size = min(ITEMS_PER_TASK, 1 + tasks // threads)
                chunk = list(itertools.islice(todo, size))
                exhausted = len(chunk) < size
                if not chunk:
                    break
                try:
                    future = client.submit(_run_tasks, fn, [_outgoing(item, cwd=cwd) for item in chunk], chunk, pure=False)
                except lost as exc:
                    raise _lost(exc) from None
                window.append((chunk, future))
                tasks += 1
                if tasks % 64 == 0:
                    threads = _threads(client)
            if not window:
                return
            chunk, future = window.popleft()
            try:
                results = future.result()
            except KilledWorker:
                more = f" or one of the {len(chunk) - 1} after it" if len(chunk) > 1 else ""
                raise SpotidanceError(
                    f"dask workers died again and again while reading {what} ({chunk[0]}{more}); out of memory? "
                    "give workers more memory, or leave that file out",
                    exit_code=3,
                ) from None
            except lost as exc:
                raise _lost(exc) from None
            except (ImportError, AttributeError) as exc:
                if not _is_import_problem(exc):
                    raise
                raise SpotidanceError(
                    f"a dask worker cannot run spotidance's code ({short_reason(exc, limit=80)}); "
                    "install the same spotidance[dask] version on every worker",
                    exit_code=3,
                ) from None
            del future
            yield from results
    finally:
        if window:
            with contextlib.suppress(Exception):
                client.cancel([f for _, f in window])
        window.clear()


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a client raises when its scheduler has gone (cancelled futures, closed comms)."""
    from concurrent.futures import CancelledError

    from distributed.comm import CommClosedError

    errors: list[type[BaseException]] = [CancelledError, CommClosedError]
    with contextlib.suppress(ImportError):
        from distributed.utils import CancelledError as DaskCancelled

        errors.append(DaskCancelled)
    with contextlib.suppress(ImportError):
        from distributed.client import ClosedClientError

        errors.append(ClosedClientError)
    return tuple(errors)


def _lost(exc: BaseException) -> SpotidanceError:
    why = getattr(exc, "reason", None) or short_reason(exc, limit=80)
    return SpotidanceError(
        f"lost the dask scheduler ({why}); what was committed stays, rerun to resume",
        exit_code=3,
    )


_END = object()


def _is_import_problem(exc: BaseException) -> bool:
    return isinstance(exc, ImportError) or "Can't get attribute" in str(exc)


def _threads(client: Any) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - a scheduler hiccup must not end the run; keep a sane window
        return 1


def is_url(item: Any) -> bool:
    """Whether ``item`` is a URL string with a scheme other than ``file`` (``s3://b/k.mp3``)."""
    if not isinstance(item, str) or "://" not in item:
        return False
    scheme = item.split("://", 1)[0]
    return scheme.isidentifier() and scheme.lower() != "file"


def _outgoing(item: Any, *, cwd: str) -> Any:
    """What the worker is given for ``item``: an absolute path for an existing relative one."""
    if isinstance(item, str) and not is_url(item) and not os.path.isabs(item) and os.path.exists(item):
        return os.path.join(cwd, item)
    return item


# --------------------------------------------------------------------------------------------
# on the worker

def dask_setup(worker: Any) -> None:
    """Dask preload hook for the workers of a ``local`` cluster: ignore SIGINT, set up the process.

    Those workers share this terminal's process group, so Ctrl-C reaches them too; left alone,
    each would print a KeyboardInterrupt traceback. This process handles Ctrl-C (cancels the
    tasks, closes the cluster, which stops its workers), as with the local pool.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_worker_process()


_setup_lock = threading.Lock()
_worker_ready = False


def _run_tasks(fn: Callable[[Any], Any], sent: list[Any], original: list[Any]) -> list[Any]:
    """The task each worker runs: :func:`_run_task` over a few items."""
    return [_run_task(fn, s, o) for s, o in zip(sent, original)]


def _run_task(fn: Callable[[Any], Any], sent: Any, original: Any) -> Any:
    """The task each worker runs: ``fn(sent)``, with the result naming ``original`` as given."""
    setup_worker_process()
    if is_url(sent):
        with local_copy(sent) as local:
            return _swap_paths(fn(local), local, original)
    result = fn(sent)
    return result if sent == original else _swap_paths(result, sent, original)


def setup_worker_process() -> None:
    """Once per Dask worker process: one BLAS thread, native stderr off the terminal, glibc heap reuse.

    One BLAS thread per process, as :func:`spotidance.core.workers.init_worker_process` does,
    so every float32 bit of a result is the same as in a local run. Native libraries' notes
    (libmpg123's resync messages on damaged mp3s) write straight to file descriptor 2, which a
    ``local`` cluster's workers share with the terminal and its progress bar; so descriptor 2 goes
    to ``/dev/null`` while Python's ``sys.stderr`` and the logging handlers on it move to a copy
    of the old descriptor: the worker's own log lines (Dask's) still reach its log. SIGINT is left
    alone: Dask's nanny and worker handle their own signals.
    """
    global _worker_ready
    if _worker_ready:
        return
    with _setup_lock:
        if _worker_ready:
            return
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            pass
        _keep_python_stderr_silence_native()
        _reuse_freed_memory()
        _worker_ready = True


#: glibc ``mallopt`` parameters (malloc.h) and the values set on workers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own upper bound for its dynamic threshold
_TRIM_THRESHOLD = 2 * _MMAP_THRESHOLD


def _reuse_freed_memory() -> None:
    """Let glibc's heap reuse freed blocks of up to 32 MiB, as in a plain Python process.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand memory back to
    the system). Setting that variable also stops glibc from raising its mmap threshold, so every
    array over 128 KiB (each STFT block, each frame batch) is a fresh ``mmap`` whose pages are
    faulted in and zeroed again: framing a 30 s clip took twice the CPU (84 ms instead of 42 ms,
    measured). This sets the thresholds glibc would otherwise reach by itself; a worker then keeps
    up to a few tens of MiB of freed heap for the next file. Not glibc (macOS, musl): nothing to do.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


def _keep_python_stderr_silence_native() -> None:
    old = sys.stderr
    try:
        old.flush()
        if old.fileno() != 2:
            return
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to protect
        return
    new = os.fdopen(saved, "w", buffering=1, encoding=getattr(old, "encoding", None) or "utf-8", errors="backslashreplace")
    sys.stderr = new
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) in (old, sys.__stderr__):
                handler.setStream(new)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A worker-local temporary copy of ``url`` (same suffix, for the decoders), removed afterwards.

    If the copy fails (no such object, no permission, fsspec's protocol package missing), the
    URL itself is handed on, and the stage reports the file as unreadable, as for a missing local
    file; without fsspec on the worker the run stops with a one-line error.
    """
    import tempfile

    try:
        import fsspec
    except ImportError:
        raise SpotidanceError(f"{url}: reading URLs needs fsspec on every dask worker (pip install fsspec, and s3fs/gcsfs for S3/GCS)") from None
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    suffix = os.path.splitext(name)[1][:10]
    fd, local = tempfile.mkstemp(prefix="spotidance-", suffix=suffix)
    try:
        copied = True
        try:
            with os.fdopen(fd, "wb") as dst, fsspec.open(url, "rb") as src:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        except Exception:  # noqa: BLE001 - the stage reports the URL as unreadable, with its own reason
            copied = False
        yield local if copied else url
    finally:
        with contextlib.suppress(OSError):
            os.unlink(local)


def _swap_paths(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string inside tuples, lists and dicts."""
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_swap_paths(v, old, new) for v in value)
    if isinstance(value, list):
        return [_swap_paths(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _swap_paths(v, old, new) for k, v in value.items()}
    return value
