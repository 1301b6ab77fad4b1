"""What every step of one collection run shares: options, services, the store, notices, notes."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from spotidance.collect.http import Limits, PacedSession
from spotidance.collect.sources import PlaylistRef
from spotidance.collect.sources.deezer import deezer_session, DeezerClient
from spotidance.collect.sources.reccobeats import ReccoBeatsClient
from spotidance.collect.sources.spotify import SpotifySource
from spotidance.core.playlist_csv import PlaylistStore, split_list

#: Seconds between two rewrites of the CSV during a stage.
SAVE_EVERY = 5.0


@dataclass(frozen=True)
class Options:
    """What the caller asked for (see :func:`spotidance.collect.run.collect`)."""

    market: str | None
    #: The first ``limit`` tracks of each playlist.
    limit: int | None
    previews: bool
    features: str
    workers: int
    progress: bool


class Services:
    """The run's HTTP sessions and service clients, each opened on first use and closed once.

    Parameters
    ----------
    limits : Limits
        Patience with every service.
    notify : callable
        Receives one-line notices.
    workers : int
        Concurrent requests (sizes the connection pools).
    market : str, optional
        Spotify market.
    """

    def __init__(self, *, limits: Limits, notify: Callable[[str], None], workers: int, market: str | None) -> None:
        self.limits = limits
        self.notify = notify
        self.workers = workers
        self.market = market
        self._sessions: dict[str, PacedSession] = {}
        self._clients: dict[str, Any] = {}

    def session(self, service: str) -> PacedSession:
        """The paced session of ``service`` (``spotify``, ``deezer``, ``reccobeats``, ``previews``)."""
        if service not in self._sessions:
            make = deezer_session if service == "deezer" else _paced_session(service)
            self._sessions[service] = make(limits=self.limits, notify=self.notify, pool_size=self.workers + 4)
        return self._sessions[service]

    def _client(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._clients:
            self._clients[name] = make()
        return self._clients[name]

    @property
    def spotify(self) -> SpotifySource:
        return self._client("spotify", lambda: SpotifySource(self.session("spotify"), market=self.market))

    @property
    def deezer(self) -> DeezerClient:
        return self._client("deezer", lambda: DeezerClient(self.session("deezer")))

    @property
    def reccobeats(self) -> ReccoBeatsClient:
        return self._client("reccobeats", lambda: ReccoBeatsClient(self.session("reccobeats")))

    def close(self) -> None:
        """Close every session opened."""
        for session in self._sessions.values():
            session.close()


def _paced_session(service: str) -> Callable[..., PacedSession]:
    return lambda **kwargs: PacedSession(service, **kwargs)


class Autosave:
    """Rewrites the CSV at most every ``every`` seconds while a step runs."""

    def __init__(self, store: PlaylistStore, *, every: float = SAVE_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.every = every
        self.clock = clock
        self.last = clock()

    def __call__(self) -> None:
        if self.clock() - self.last >= self.every:
            self.store.save()
            self.last = self.clock()


@dataclass(frozen=True)
class RunContext:
    """One playlist of a collection run: the playlist, where it goes, what was asked, the services and the store.

    The playlists of one run share the store, the services and ``notes``.
    """

    ref: PlaylistRef
    out: Path
    options: Options
    services: Services
    store: PlaylistStore
    notify: Callable[[str], None]
    #: Notes for the closing summary (kept in order, printed once each).
    notes: list[str] = field(default_factory=list)
    #: Saves the CSV now and then while a step runs.
    autosave: Autosave = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "autosave", Autosave(self.store))

    @property
    def label(self) -> str:
        return self.store.label

    def members(self) -> list[str]:
        """The track ids of this playlist in the store, in the table's order."""
        pid = self.ref.id
        return [tid for tid, row in self.store.rows.items() if pid in split_list(row.get("playlist_ids", ""))]

    def selected(self) -> list[str]:
        """The track ids of this playlist the run works on (the first ``limit`` listed)."""
        ids = self.members()
        return ids[: self.options.limit] if self.options.limit else ids

    def run_pool(self, items: Iterable[Any], fn: Callable[[Any], None], bar, *, workers: int | None = None) -> None:
        """Run ``fn`` over ``items`` on a bounded thread pool; the first service stop cancels the rest."""
        items = list(items)
        if not items:
            return
        workers = min(workers or self.options.workers, len(items))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect")
        pending: set[Future] = set()
        it = iter(items)
        failure: BaseException | None = None
        try:
            for item in it:
                pending.add(pool.submit(fn, item))
                if len(pending) >= workers * 2:
                    break
            while pending:
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    exc = fut.exception()
                    if exc is not None and failure is None:
                        failure = exc
                    bar.update(1)
                if failure is None:
                    for item in it:
                        pending.add(pool.submit(fn, item))
                        if len(pending) >= workers * 2:
                            break
                self.autosave()
        except BaseException:
            # Ctrl-C: do not wait for downloads in flight (each ends by its own timeout).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if failure is not None:
            raise failure
