"""HTTP for the collector: one paced request queue per service, timeouts, retries, rate limits.

Every service (Spotify's Web API and token endpoint, Deezer, ReccoBeats, the preview CDNs) gets
one :class:`PacedSession`, a :class:`requests.Session` whose ``request`` method

* waits for its turn in the service's pace (a token bucket shared by all threads),
* sets a timeout on every request,
* retries connection errors, timeouts and 5xx answers a few times with exponential backoff,
* declares the service down for the rest of the run after a request's worth of timeouts or
  refused connections in a row (counted over every thread): later requests fail at once, so
  the collector saves its progress and stops (exit code 3) instead of waiting track by track,
* waits out a ``429`` whose ``Retry-After`` is at most ``max_wait`` seconds, saying so on stderr,
  and hands back a longer one, or one with ``QUOTA_EXCEEDED``, for the caller to raise
  :class:`RateLimited` (the collector then saves its progress and stops with a message saying
  when to rerun).

spotipy gets such a session through ``requests_session=``: a plain :class:`requests.Session`
subclass has no urllib3 retry adapter, so spotipy never sleeps for hours on
``Retry-After: 86400`` and its exceptions keep ``reason`` and the ``Retry-After`` header.
This module is hand-written rather than built on ``urllib3.Retry`` because that adapter can
neither pace several threads together nor report a wait before sleeping.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import requests
from requests.adapters import HTTPAdapter

from spotidance.collect import DEFAULT_MAX_WAIT


#: The real services; each can be redirected (proxy, tests) with the environment variable named.
SERVICE_URLS: dict[str, tuple[str, str]] = {
    "spotify_api": ("SPOTIDANCE_SPOTIFY_API_URL", "https://api.spotify.com/v1/"),
    "spotify_accounts": ("SPOTIDANCE_SPOTIFY_ACCOUNTS_URL", "https://accounts.spotify.com"),
    "deezer": ("SPOTIDANCE_DEEZER_API_URL", "https://api.deezer.com"),
    "reccobeats": ("SPOTIDANCE_RECCOBEATS_API_URL", "https://api.reccobeats.com"),
}

#: Default pace per service: (requests per second, burst). Deezer throttles near 50 requests per
#: 5 s per IP; ReccoBeats publishes no limit (public clients use about 2/s); Spotify limits over a
#: rolling 30 s window. ``None`` means unpaced (preview downloads from CDNs).
DEFAULT_PACE: dict[str, tuple[float, int] | None] = {
    "spotify": (8.0, 10),
    "deezer": (9.0, 40),
    "reccobeats": (2.0, 4),
    "previews": None,
}

#: How services are named in messages.
DISPLAY_NAMES = {"spotify": "Spotify", "deezer": "Deezer", "reccobeats": "ReccoBeats", "previews": "the preview server"}

#: Environment variable overriding the pace: ``off`` or ``deezer=20,spotify=5`` (requests per second).
PACE_ENV = "SPOTIDANCE_PACE"

#: Default first backoff after a failure, in seconds (doubled at each retry).
DEFAULT_BACKOFF = 0.5

#: Default timeout of one request, in seconds (connect, read).
DEFAULT_TIMEOUT = (5.0, 30.0)


def service_url(name: str) -> str:
    """Base URL of a service (``spotify_api``, ``spotify_accounts``, ``deezer``, ``reccobeats``).

    The environment variable named in :data:`SERVICE_URLS` wins over the real service's address.
    The Spotify API URL keeps its trailing slash (spotipy appends paths); the others lose theirs.
    """
    env, default = SERVICE_URLS[name]
    url = os.environ.get(env, "").strip() or default
    if name == "spotify_api":
        return url if url.endswith("/") else url + "/"
    return url.rstrip("/")


def pace_for(service: str) -> tuple[float, int] | None:
    """The (rate, burst) of ``service`` after applying :data:`PACE_ENV`."""
    pace = DEFAULT_PACE.get(service)
    spec = os.environ.get(PACE_ENV, "").strip()
    if not spec:
        return pace
    if spec.lower() in ("off", "none", "0"):
        return None
    for part in spec.split(","):
        key, _, value = part.partition("=")
        if key.strip() == service:
            try:
                rate = float(value)
            except ValueError:
                return pace
            return None if rate <= 0 else (rate, max(1, int(rate)))
    return pace


class RateLimited(Exception):
    """A service asked us to stop for longer than we may wait (or its quota is used up).

    Attributes
    ----------
    service : str
    retry_after : float or None
        Seconds the service asked for (``None`` when it gave none).
    reason : str
        ``QUOTA_EXCEEDED``, ``throttled`` or ``rate limited``.
    """

    def __init__(self, service: str, *, retry_after: float | None, reason: str) -> None:
        self.service = service
        self.retry_after = retry_after
        self.reason = reason
        wait = f" for {retry_after:.0f} s" if retry_after is not None else ""
        super().__init__(f"{service} asked us to stop{wait} ({reason})")


class ServiceUnavailable(Exception):
    """A service kept failing (5xx, timeouts, refused connections) after every retry.

    Attributes
    ----------
    service : str
    down : bool
        The session declared the whole service down for this run (see :class:`PacedSession`):
        the collector stops (exit code 3, progress saved) instead of trying track after track.
    """

    def __init__(self, service: str, detail: str, *, down: bool = False) -> None:
        self.service = service
        self.down = down
        super().__init__(f"{service} is not answering ({detail})")


class Pacer:
    """A thread-safe token bucket: at most ``burst`` requests at once, ``rate`` per second after.

    Parameters
    ----------
    rate : float
        Sustained requests per second.
    burst : int
        Requests allowed back to back before the rate applies.
    clock, sleep : callable
        The monotonic clock and the sleep (injectable for tests).
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.interval = 1.0 / rate
        self.tolerance = (max(1, int(burst)) - 1) * self.interval
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request (GCRA)

    def wait(self) -> None:
        """Block until this caller may send its request."""
        with self._lock:
            now = self.clock()
            tat = max(self._tat, now)
            start = max(now, tat - self.tolerance)
            self._tat = tat + self.interval
        if start > now:
            self.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold back every later request for ``seconds`` (after a throttling answer)."""
        with self._lock:
            self._tat = max(self._tat, self.clock() + seconds + self.tolerance)


@dataclass
class Limits:
    """How patient the collector is with every service."""

    #: Longest ``Retry-After`` waited out (longer ones stop the run with a rerun time).
    max_wait: float = DEFAULT_MAX_WAIT
    #: Retries after a 5xx, a timeout or a refused connection.
    retries: int = 3
    #: First backoff in seconds (doubled at each retry, with jitter).
    backoff: float = field(default_factory=lambda: DEFAULT_BACKOFF)
    #: (connect, read) timeout of each request in seconds.
    timeout: tuple[float, float] = field(default_factory=lambda: DEFAULT_TIMEOUT)
    #: Failed attempts in a row (timeouts, refused connections; any thread) after which the
    #: service is declared down for the rest of the run. ``None``: ``retries + 1``, i.e. one
    #: request's worth, shared by all threads, so 8 threads waiting on a silent service give up
    #: after one timeout, not 8 x 4.
    down_after: int | None = None


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header of ``response`` in seconds (``None`` if absent or unreadable)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_reason(response: requests.Response) -> str:
    """``error.reason`` of a Spotify-style JSON error body (``""`` when there is none)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("reason") or "") if isinstance(error, dict) else ""


class PacedSession(requests.Session):
    """A session that paces, times out, retries and handles ``429`` for one service.

    Parameters
    ----------
    service : str
        Name used in messages and as the key of :data:`DEFAULT_PACE`.
    limits : Limits
    notify : callable, optional
        Called with a one-line message before every wait (the collector prints it above the
        progress bars).
    pool_size : int
        Connections kept open (at least the number of threads using the session).
    throttled : callable, optional
        ``throttled(response) -> bool`` for services that signal throttling in a 200 body
        (Deezer); such answers are backed off and retried like a 429 without ``Retry-After``.
    """

    def __init__(
        self,
        service: str,
        *,
        limits: Limits | None = None,
        notify: Callable[[str], None] | None = None,
        pool_size: int = 16,
        throttled: Callable[[requests.Response], bool] | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.name = DISPLAY_NAMES.get(service, service)
        self.limits = limits or Limits()
        self.notify = notify or (lambda message: None)
        self.throttled = throttled
        pace = pace_for(service)
        self.pacer = Pacer(*pace) if pace else None
        self._health = threading.Lock()
        self._failures = 0  # failed attempts in a row, over every thread
        self.down: str | None = None  # why the service was declared down for this run
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = "spotidance (+https://github.com/spotidance)"

    def _failed(self, kind: str) -> None:
        """Count one failed attempt; declare the service down after :attr:`Limits.down_after` in a row."""
        limit = self.limits.down_after or (self.limits.retries + 1)
        with self._health:
            self._failures += 1
            if self._failures >= limit and self.down is None:
                self.down = f"{kind} {self._failures} times in a row"
        if self.down is not None:
            raise ServiceUnavailable(self.name, f"{self.down}; declared down for this run", down=True)

    def _answered(self) -> None:
        with self._health:
            self._failures = 0

    def _sleep_backoff(self, attempt: int) -> None:
        delay = self.limits.backoff * (2**attempt) * (0.75 + 0.5 * random.random())
        time.sleep(delay)

    def _hold(self, seconds: float, message: str) -> None:
        """Say why, then hold this service's queue (every thread) for ``seconds``."""
        self.notify(message)
        if self.pacer is not None:
            self.pacer.pause(seconds)
        else:
            time.sleep(seconds)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        """Send a request with pacing, timeout, retries and short ``429`` waits (see the class)."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.limits.timeout
        attempt = 0
        throttles = 0
        while True:
            if self.down is not None:  # declared down by any thread: give up at once
                raise ServiceUnavailable(self.name, f"{self.down}; declared down for this run", down=True)
            if self.pacer is not None:
                self.pacer.wait()
            started = time.monotonic()
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                _log.debug("%s %s %s: %s after %.0f ms", self.name, method, _path_only(url), type(exc).__name__,
                           1000 * (time.monotonic() - started))
                kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                self._failed(kind)
                if attempt >= self.limits.retries:
                    raise ServiceUnavailable(self.name, f"{kind} {attempt + 1} times") from None
                self._sleep_backoff(attempt)
                attempt += 1
                continue
            except requests.RequestException as exc:  # a bad URL, too many redirects, ...
                raise ServiceUnavailable(self.name, type(exc).__name__) from None
            status = response.status_code
            _log.debug("%s %s %s -> %d in %.0f ms", self.name, method, _path_only(url), status, 1000 * (time.monotonic() - started))
            if status < 500:  # a 5xx is about one resource (retried below), not the service being down
                self._answered()
            if status >= 500 and attempt < self.limits.retries:
                response.close()
                self._sleep_backoff(attempt)
                attempt += 1
                continue
            if status == 429:
                wait = retry_after_seconds(response)
                reason = error_reason(response)
                if reason != "QUOTA_EXCEEDED" and wait is not None and wait <= self.limits.max_wait and throttles < 5:
                    self._hold(wait, f"{self.name} asked to wait {wait:.0f} s (HTTP 429); waiting")
                    throttles += 1
                    continue
                return response
            if self.throttled is not None and status == 200 and self.throttled(response):
                if throttles >= 5:
                    raise RateLimited(self.name, retry_after=None, reason="throttled")
                wait = min(self.limits.max_wait, 5.0 * self.limits.backoff * 2**throttles)
                self._hold(wait, f"{self.name} is throttling us (quota limit exceeded); backing off {wait:.1f} s")
                throttles += 1
                continue
            return response


def raise_for_rate_limit(service: str, response: requests.Response) -> None:
    """Raise :class:`RateLimited` if ``response`` is a ``429`` the session handed back."""
    if response.status_code == 429:
        reason = error_reason(response) or "rate limited"
        raise RateLimited(service, retry_after=retry_after_seconds(response), reason=reason)


_log = logging.getLogger("spotidance.http")


def _path_only(url: str) -> str:
    """``scheme://host/path`` of a URL: the query (signed preview tokens, ids) never reaches the log."""
    from urllib.parse import urlsplit

    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
