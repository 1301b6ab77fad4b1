"""Spotify as a playlist and ISRC source (and, for apps that may still use it, audio features).

Authentication: client credentials (``SPOTIPY_CLIENT_ID`` / ``SPOTIPY_CLIENT_SECRET``) by default;
after ``spotidance login`` (Authorization Code with PKCE) the user's token, cached privately
(mode 0600) under ``~/.cache/spotidance/`` or ``$SPOTIDANCE_CACHE_DIR``, because Spotify lists a
playlist's tracks only to its owner or collaborators. Every request goes through a
:class:`~spotidance.collect.http.PacedSession` (no urllib3 retry adapter: a ``Retry-After: 86400`` is
reported, not slept through). See ``docs/collect.md``.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

from spotidance.core.errors import SpotidanceError
from spotidance.collect.http import PacedSession, RateLimited, ServiceUnavailable, retry_after_seconds, service_url

#: Scopes a login asks for: reading the user's own and collaborative playlists.
SCOPES = "playlist-read-private playlist-read-collaborative"
#: Loopback redirect URI registered in the Spotify app (override: SPOTIPY_REDIRECT_URI).
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8888/callback"
#: Page sizes: ``/items`` allows 50, the older ``/tracks`` 100.
ITEMS_PAGE, TRACKS_PAGE = 50, 100
#: Audio features per request.
FEATURES_BATCH = 100
#: Artists per ``GET /artists?ids=`` request.
ARTISTS_BATCH = 50

AUDIO_FEATURE_KEYS = (
    "acousticness", "danceability", "duration_ms", "energy", "instrumentalness", "key", "loudness",
    "mode", "speechiness", "tempo", "time_signature", "valence",
)  # fmt: skip


def cache_dir() -> Path:
    """Folder of the private token cache: ``$SPOTIDANCE_CACHE_DIR`` or ``~/.cache/spotidance``."""
    env = os.environ.get("SPOTIDANCE_CACHE_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spotidance"


def token_cache_path() -> Path:
    """The file holding the user's token after ``spotidance login``."""
    return cache_dir() / "spotify-user-token.json"


class PrivateTokenCache:
    """The user's token, written atomically with mode 0600 in a 0700 folder.

    spotipy wants a subclass of its ``CacheHandler``; :func:`_spotipy_cache` adapts this one when
    spotipy is in use, so importing this module does not import spotipy.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else token_cache_path()

    def get_cached_token(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def save_token_to_cache(self, token_info: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".token-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(token_info, fh)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _credential(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SpotidanceError(
            f"{name} is not set: copy it from your app at https://developer.spotify.com/dashboard (create one if "
            "needed) into a .env file (see .env.example), or use a Deezer playlist"
        )
    return value


def client_id() -> str:
    """``SPOTIPY_CLIENT_ID`` from the environment (or ``.env``), else a one-line error."""
    return _credential("SPOTIPY_CLIENT_ID")


def client_secret() -> str:
    """``SPOTIPY_CLIENT_SECRET`` from the environment (or ``.env``), else a one-line error."""
    return _credential("SPOTIPY_CLIENT_SECRET")


def _quiet_spotipy_logs() -> None:
    # spotipy logs every HTTP error at ERROR level (the root's last-resort handler would print it
    # on stderr, through our progress bars); our own messages say what happened.
    import logging

    logging.getLogger("spotipy").addHandler(logging.NullHandler())
    logging.getLogger("spotipy").propagate = False


def _pkce_class():
    from spotipy.oauth2 import SpotifyPKCE

    class NonInteractivePKCE(SpotifyPKCE):
        """SpotifyPKCE that never prompts: an unusable cached login is an error to fix with `login`."""

        def get_authorization_code(self, response=None):  # noqa: D401 - spotipy's name
            raise SpotidanceError(
                "your Spotify login cannot be used any more (expired or missing permissions): run `spotidance login` again"
            )

    return NonInteractivePKCE


def _spotipy_cache(cache: PrivateTokenCache):
    """``cache`` as the spotipy ``CacheHandler`` subclass spotipy insists on."""
    from spotipy.cache_handler import CacheHandler

    class _Adapter(CacheHandler):
        def get_cached_token(self) -> dict | None:
            return cache.get_cached_token()

        def save_token_to_cache(self, token_info: dict) -> None:
            cache.save_token_to_cache(token_info)

    return _Adapter()


def pkce_manager(session: PacedSession, *, redirect_uri: str | None = None, cache: PrivateTokenCache | None = None):
    """A spotipy PKCE auth manager pointed at the configured accounts service."""
    auth = _pkce_class()(
        client_id=client_id(),
        redirect_uri=redirect_uri or os.environ.get("SPOTIPY_REDIRECT_URI", "").strip() or DEFAULT_REDIRECT_URI,
        scope=SCOPES,
        cache_handler=_spotipy_cache(cache or PrivateTokenCache()),
        requests_session=session,
        open_browser=False,
    )
    accounts = service_url("spotify_accounts")
    auth.OAUTH_AUTHORIZE_URL = accounts + "/authorize"
    auth.OAUTH_TOKEN_URL = accounts + "/api/token"
    return auth


def make_client(session: PacedSession, *, timeout: float = 30.0):
    """A spotipy client on ``session``: the user's login when there is one, else client credentials.

    Returns
    -------
    (spotipy.Spotify, bool)
        The client and whether it acts for a logged-in user.
    """
    import spotipy
    from spotipy.cache_handler import MemoryCacheHandler
    from spotipy.oauth2 import SpotifyClientCredentials

    _quiet_spotipy_logs()
    cache = PrivateTokenCache()
    if cache.get_cached_token():
        auth, user = pkce_manager(session, cache=cache), True
    else:
        auth = SpotifyClientCredentials(
            client_id=client_id(), client_secret=client_secret(), cache_handler=MemoryCacheHandler(),
            requests_session=session, requests_timeout=timeout,
        )  # fmt: skip
        auth.OAUTH_TOKEN_URL = service_url("spotify_accounts") + "/api/token"
        user = False
    client = spotipy.Spotify(auth_manager=auth, requests_session=session, requests_timeout=timeout, retries=0)
    client.prefix = service_url("spotify_api")
    return client, user


class FeaturesForbidden(Exception):
    """Spotify refused audio features to this app (403); remembered for the rest of the run."""


class SpotifySource:
    """Spotify playlist metadata, paged track listing and audio features.

    Parameters
    ----------
    session : PacedSession
        The Spotify request queue.
    market : str, optional
        ISO country code for track relinking.
    """

    def __init__(self, session: PacedSession, *, market: str | None = None) -> None:
        self.session = session
        self.market = market
        self.client, self.user = make_client(session)
        self.features_forbidden = False
        #: The HTTP status with which Spotify refused artists altogether (0: not refused).
        self.artists_refused = 0
        #: The HTTP status with which Spotify refused the batch ``GET /artists?ids=`` (0: not refused).
        self.artists_batch_refused = 0
        #: Whether a single-artist request has been answered (after that a 404 is an unknown artist,
        #: before it the call itself is taken as missing).
        self.artists_one_found = False
        self._lock = threading.Lock()

    # -- errors -----------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable, *args, playlist_id: str = "", **kwargs):
        from spotipy.exceptions import SpotifyException
        from spotipy.oauth2 import SpotifyOauthError

        try:
            return fn(*args, **kwargs)
        except SpotifyException as exc:
            if exc.http_status >= 500:
                raise ServiceUnavailable("Spotify", f"HTTP {exc.http_status} after retries") from None
            if exc.http_status == 429:
                headers = exc.headers or {}
                raise RateLimited("Spotify", retry_after=_header_seconds(headers), reason=exc.reason or "rate limited") from None
            raise SpotifyRefused(exc.http_status, what, playlist_id=playlist_id, user=self.user, reason=exc.reason or "") from None
        except SpotifyOauthError as exc:
            raise SpotidanceError(_oauth_message(exc)) from None
        except ServiceUnavailable:
            raise
        except (ValueError, KeyError, TypeError) as exc:  # malformed body
            raise SpotidanceError(f"Spotify sent an unreadable answer to {what} ({type(exc).__name__}); rerun later") from None

    # -- playlists --------------------------------------------------------------------------
    def playlist_info(self, playlist_id: str) -> dict[str, Any]:
        """The playlist's ``name`` and ``owner`` (metadata works for any playlist an app can see)."""
        data = self._call(
            "the playlist", self.client.playlist, playlist_id,
            fields="id,name,owner(id,display_name),collaborative", market=self.market, playlist_id=playlist_id,
        )  # fmt: skip
        return {"name": data.get("name") or "", "owner": (data.get("owner") or {}).get("id", "")}

    def iter_pages(self, playlist_id: str, *, offset: int = 0) -> Iterator[tuple[list[dict], int, int]]:
        """Yield ``(rows, next_offset, total)`` per page: ``/items`` at 50, else ``/tracks`` at 100.

        ``rows`` are the raw playlist-item objects; pass each to :func:`track_fields`.
        """
        kinds = "track,episode"
        try:
            page = self._call(
                "the playlist's items", self.client._get, f"playlists/{playlist_id}/items",
                limit=ITEMS_PAGE, offset=offset, market=self.market, additional_types=kinds, playlist_id=playlist_id,
            )  # fmt: skip
        except SpotifyRefused as first:
            if first.status not in (403, 404):
                raise
            # Older apps: /items unknown (404); some answer 403 there but list through /tracks.
            try:
                page = self._call(
                    "the playlist's tracks", self.client._get, f"playlists/{playlist_id}/tracks",
                    limit=TRACKS_PAGE, offset=offset, market=self.market, additional_types=kinds, playlist_id=playlist_id,
                )  # fmt: skip
            except SpotifyRefused:
                raise first from None
        while page:
            items = page.get("items") or []
            offset += len(items)
            yield items, offset, int(page.get("total") or 0)
            if not page.get("next") or not items:
                return
            page = self._call("the next page", self.client.next, page, playlist_id=playlist_id)

    # -- features ---------------------------------------------------------------------------
    def audio_features(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Audio features of up to 100 track ids (missing ids are absent from the result).

        Raises
        ------
        FeaturesForbidden
            On a 403, now and on every later call of this run (no request is sent again).
        """
        if self.features_forbidden:
            raise FeaturesForbidden
        try:
            body = self._call("audio features", self.client._get, "audio-features", ids=",".join(ids))
            found = (body or {}).get("audio_features") if isinstance(body, dict) else body
        except SpotifyRefused as exc:
            if exc.status in (401, 403):
                with self._lock:
                    self.features_forbidden = True
                raise FeaturesForbidden from None
            raise
        out: dict[str, dict[str, Any]] = {}
        for item in found or []:
            if item and item.get("id") in ids:
                out[item["id"]] = {k: item.get(k) for k in AUDIO_FEATURE_KEYS if item.get(k) is not None}
        return out


    def artist_genres(self, ids: list[str]) -> dict[str, list[str] | None]:
        """Genres of up to :data:`ARTISTS_BATCH` artists (``GET /artists?ids=``, else one by one).

        An artist Spotify answered for maps to its genres, or to ``None`` when the answer has no
        ``genres`` field (deprecated in the 2026 API: apps may get artists without it). Unknown
        ids are absent.

        When Spotify refuses the batch call (403, or 400/404/410 where it was removed), every
        artist is asked on its own (``GET /artists/{id}``, which the 2026 spec keeps), for this
        and every later call of the run; :attr:`artists_batch_refused` holds the batch call's
        status.

        Raises
        ------
        ArtistsRefused
            When Spotify refuses the single-artist call too (400, 403 or 410, or 404 before any
            artist was found: the artist ids come from the playlist, so a 404 then means the call
            is missing; after one was found, a 404 is an unknown artist), now and on every later
            call of this run (no request is sent again). A 401 is an expired or refused token,
            raised as :class:`SpotifyRefused` like any other call.
        """
        if self.artists_refused:
            raise ArtistsRefused(self.artists_refused)
        if not self.artists_batch_refused:
            try:
                body = self._call("artist genres", self.client._get, "artists", ids=",".join(ids))
            except SpotifyRefused as exc:
                if exc.status not in (400, 403, 404, 410):  # a 401 (token) is not a refusal of /artists
                    raise
                with self._lock:
                    self.artists_batch_refused = exc.status
            else:
                items = (body or {}).get("artists") or [] if isinstance(body, dict) else []
                return {aid: genres for aid, genres in map(_artist_genres, items) if aid in ids}
        out: dict[str, list[str] | None] = {}
        for aid in ids:
            try:
                body = self._call("artist genres", self.client._get, f"artists/{aid}")
            except SpotifyRefused as exc:
                if exc.status == 404 and self.artists_one_found:  # no such artist (the call itself works)
                    continue
                if exc.status in (400, 403, 404, 410):
                    with self._lock:
                        self.artists_refused = exc.status
                    raise ArtistsRefused(exc.status) from None
                raise
            found, genres = _artist_genres(body)
            if found == aid:
                out[aid] = genres
                with self._lock:
                    self.artists_one_found = True
        return out


def _artist_genres(item: Any) -> tuple[str | None, list[str] | None]:
    """``(id, genres)`` of an artist object (``genres`` None when the field is absent)."""
    if not isinstance(item, dict):
        return None, None
    genres = item.get("genres")
    return item.get("id"), [str(g) for g in genres if g] if isinstance(genres, list) else None


class ArtistsRefused(Exception):
    """Spotify refused ``GET /artists`` to this app; remembered for the rest of the run.

    ``args[0]`` is the HTTP status.
    """


class SpotifyRefused(SpotidanceError):
    """A 4xx from Spotify, explained: what happened and what to do."""

    def __init__(self, status: int, what: str, *, playlist_id: str = "", user: bool = False, reason: str = "") -> None:
        self.status = status
        super().__init__(_explain(status, what, playlist_id=playlist_id, user=user))


def _explain(status: int, what: str, *, playlist_id: str, user: bool) -> str:
    pl = f"playlist {playlist_id}" if playlist_id else "the playlist"
    if status == 401:
        return (f"Spotify refused our access token when asked for {what} (401): run `spotidance login` again, "
                "or check SPOTIPY_CLIENT_ID / SPOTIPY_CLIENT_SECRET in .env")  # fmt: skip
    if status == 403 and user:
        return (f"Spotify refused to list {pl} (403): it is not yours and Spotify no longer lists other people's "
                "playlists to apps; copy its tracks into a playlist of your own, or use a Deezer playlist")  # fmt: skip
    if status == 403:
        return (f"Spotify refused to list {pl} (403): apps may list only playlists the logged-in user owns or "
                "collaborates on; run `spotidance login` if it is yours, else copy it into a playlist of your own "
                "or use a Deezer playlist")  # fmt: skip
    if status == 404 and playlist_id.startswith("37i9"):
        return (f"Spotify answered 404 for {pl}: Spotify-owned editorial and algorithmic playlists are hidden from "
                "apps in Development Mode; copy its tracks into a playlist of your own, or use a Deezer playlist")  # fmt: skip
    if status == 404:
        return (f"Spotify answered 404 for {pl}: check the id or URL (a private playlist needs `spotidance login` "
                "as its owner); Spotify-owned editorial playlists are hidden from apps, use a Deezer playlist instead")  # fmt: skip
    if status == 400:
        return f"Spotify rejected the request for {what} (400): check the playlist id and --market"
    return f"Spotify answered {status} to the request for {what}; rerun later"


def _oauth_message(exc) -> str:
    error = getattr(exc, "error", "") or ""
    if error == "invalid_client":
        return ("Spotify rejected the app credentials (invalid_client): check SPOTIPY_CLIENT_ID and "
                "SPOTIPY_CLIENT_SECRET in .env (copy them from https://developer.spotify.com/dashboard)")  # fmt: skip
    if error == "invalid_grant":
        return "your Spotify login has expired or was revoked (invalid_grant): run `spotidance login` again"
    return f"Spotify's login service refused us ({error or 'no reason given'}): check the credentials in .env"


def _header_seconds(headers) -> float | None:
    class _R:  # the tiny part of a Response that retry_after_seconds reads
        pass

    r = _R()
    r.headers = {k.title(): v for k, v in dict(headers).items()}  # type: ignore[attr-defined]
    return retry_after_seconds(r)  # type: ignore[arg-type]


def row_object(row: dict | None) -> tuple[dict | None, str]:
    """The track of one playlist row, or ``(None, reason)`` for rows that carry no usable track."""
    if not row:
        return None, "unavailable (null row)"
    obj = row.get("item") or row.get("track")
    if not obj:
        return None, "unavailable (null row)"
    if row.get("is_local") or obj.get("is_local"):
        return None, "local file"
    if obj.get("type", "track") != "track":
        return None, "podcast episode" if obj.get("type") == "episode" else f"not a track ({obj.get('type')})"
    if not obj.get("id"):
        return None, "no Spotify id"
    return obj, ""


def added_at(row: dict) -> str:
    """A playlist row's ``added_at`` (ISO 8601, UTC); ``""`` when unknown.

    Spotify gives ``null`` or the Unix epoch (``1970-01-01T00:00:00Z``) for tracks added before it
    recorded the date: both mean unknown, not 1970.
    """
    value = row.get("added_at") or ""
    return "" if not isinstance(value, str) or value.startswith("1970-01-01") else value


def track_fields(obj: dict, *, label: str, playlist_id: str, row: dict | None = None) -> dict[str, Any]:
    """CSV fields of a Spotify track object (values Spotify did not give stay empty).

    ``row`` is the playlist item holding ``obj`` (for ``added_at``).
    """
    artists = obj.get("artists") or [{}]
    album = obj.get("album") or {}
    return {
        "track_id": obj["id"],
        "track_name": obj.get("name") or "",
        "artist_name": artists[0].get("name") or "",
        "artist_id": artists[0].get("id") or "",
        "album_date": album.get("release_date") or "",
        "track_length": obj.get("duration_ms", ""),
        "track_popularity": obj.get("popularity", ""),
        "mp3": _without_client_id(obj.get("preview_url") or ""),
        "isrc": ((obj.get("external_ids") or {}).get("isrc") or "").upper(),
        "label": label,
        "playlist_id": playlist_id,
        "album_name": album.get("name") or "",
        "added_at": added_at(row or {}),
    }


def _without_client_id(url: str) -> str:
    """A preview URL without its ``cid`` (the app's client id) query parameter, for the CSV."""
    if not url or "cid=" not in url:
        return url
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v[0]) for k, v in parse_qs(parts.query, keep_blank_values=True).items() if k != "cid"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def count_skips(rows: list[dict]) -> Counter:
    """Reasons of the rows :func:`row_object` rejects (for tests and summaries)."""
    return Counter(reason for row in rows for obj, reason in [row_object(row)] if obj is None)


# -- login (Authorization Code with PKCE) -------------------------------------------------------
def login(
    *,
    redirect_uri: str | None = None,
    open_url: Callable[[str], Any] | None = None,
    show: Callable[[str], Any] = print,
    timeout: float = 300.0,
) -> str:
    """Log the user in with PKCE and cache the token privately; return the user's display name.

    A one-shot web server on the redirect URI's loopback port receives Spotify's redirect.

    Parameters
    ----------
    redirect_uri : str, optional
        Must be registered in the app (default ``SPOTIPY_REDIRECT_URI`` or :data:`DEFAULT_REDIRECT_URI`).
    open_url : callable, optional
        Opens the authorisation address (default: the web browser; tests pass a fetcher).
    show : callable
        Prints the address for the user.
    timeout : float
        Seconds to wait for the redirect.
    """
    from http.server import BaseHTTPRequestHandler, HTTPServer

    session = PacedSession("spotify")
    redirect = redirect_uri or os.environ.get("SPOTIPY_REDIRECT_URI", "").strip() or DEFAULT_REDIRECT_URI
    target = urlparse(redirect)
    if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SpotidanceError(f"redirect URI {redirect!r} must be a loopback address such as {DEFAULT_REDIRECT_URI}")
    cache = PrivateTokenCache()
    auth = pkce_manager(session, redirect_uri=redirect, cache=cache)
    state = secrets.token_urlsafe(16)
    url = auth.get_authorize_url(state)
    received: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            query = parse_qs(urlparse(self.path).query)
            received.update({k: v[0] for k, v in query.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"spotidance: you can close this tab and return to the terminal.\n")

        def log_message(self, *args):  # silence
            pass

    try:
        server = HTTPServer((target.hostname or "127.0.0.1", target.port or 80), Callback)
    except OSError as exc:
        raise SpotidanceError(f"cannot listen on {target.hostname}:{target.port} for the login redirect ({exc.strerror}); "
                              "free that port or pass another registered --redirect-uri") from None  # fmt: skip
    server.timeout = timeout
    show(f"Log in to Spotify in your browser; if it does not open, visit:\n{url}")
    opener = open_url
    if opener is None:
        import webbrowser

        opener = webbrowser.open
    thread = threading.Thread(target=opener, args=(url,), daemon=True)
    thread.start()
    try:
        server.handle_request()
    finally:
        server.server_close()
    if not received:
        raise SpotidanceError(f"no answer from Spotify within {timeout:.0f} s: run `spotidance login` again")
    if received.get("state") != state:
        raise SpotidanceError("the login answer did not match this login attempt (state mismatch): run `spotidance login` again")
    if "error" in received:
        raise SpotidanceError(f"Spotify login refused ({received['error']}): run `spotidance login` again and accept")
    from spotipy.oauth2 import SpotifyOauthError

    try:
        auth.get_access_token(code=received.get("code", ""), check_cache=False)
    except SpotifyOauthError as exc:
        raise SpotidanceError(_oauth_message(exc)) from None
    client, _ = make_client(session)
    try:
        me = client.current_user() or {}
    except Exception:  # noqa: BLE001 - the login itself worked; the name is a nicety
        me = {}
    return str(me.get("display_name") or me.get("id") or "your account")


def logout() -> bool:
    """Delete the cached login; return whether there was one."""
    path = token_cache_path()
    if path.exists():
        path.unlink()
        return True
    return False
