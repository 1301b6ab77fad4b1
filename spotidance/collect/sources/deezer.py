"""Deezer's public API (no key): previews by ISRC or search, and public playlists.

Deezer reports most errors with HTTP 200 and an ``error`` object: code 4 ("Quota limit exceeded",
about 50 requests per 5 s per IP) means back off and retry (done by the session, see
:func:`is_throttled`), code 800 ("no data") means not found. ``GET /track/isrc:{ISRC}`` may resolve
to another version of a recording (instrumental, live, a remix), so its title and duration are
checked against Spotify's; on a mismatch a search by artist and title looks for the right one.
Preview URLs are signed and expire within minutes: look a track up right before downloading.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Any, Iterator

import requests

from spotidance.core.errors import SpotidanceError
from spotidance.collect.http import PacedSession, RateLimited, ServiceUnavailable, raise_for_rate_limit, service_url

#: Words that mark a different version of a recording when only one of two titles has them.
VERSION_WORDS = frozenset(
    "instrumental acapella cappella live acoustic karaoke remix mix edit extended radio club dub vip "
    "rework bootleg version demo unplugged orchestral piano slowed sped reverb cover".split()
)
#: Words that do not change the recording.
NEUTRAL_WORDS = frozenset("remaster remastered original feat ft featuring with explicit clean single album".split())
#: Largest accepted duration difference: seconds, or this share of the length, whichever is larger.
DURATION_TOLERANCE_S, DURATION_TOLERANCE_SHARE = 6.0, 0.04


def is_throttled(response: requests.Response) -> bool:
    """Whether a 200 answer is Deezer's throttling error (code 4)."""
    if "json" not in response.headers.get("Content-Type", "") or len(response.content) > 512:
        return False
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") == 4


def deezer_session(**kwargs) -> PacedSession:
    """The Deezer request queue (paced; throttling answers backed off and retried)."""
    return PacedSession("deezer", throttled=is_throttled, **kwargs)


class DeezerClient:
    """A few calls of Deezer's public API on one paced session."""

    def __init__(self, session: PacedSession) -> None:
        self.session = session
        self.base = service_url("deezer")

    def get(self, path: str, params: dict | None = None) -> dict | None:
        """GET ``path``; ``None`` when Deezer says not found (code 800 or HTTP 404)."""
        url = path if path.startswith("http") else self.base + path
        response = self.session.get(url, params=params)
        raise_for_rate_limit("Deezer", response)
        if response.status_code == 404:
            return None
        if response.status_code >= 500:  # after the session's retries
            raise ServiceUnavailable("Deezer", f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise ServiceUnavailable("Deezer", f"HTTP {response.status_code}, not JSON") from None
        error = body.get("error") if isinstance(body, dict) else None
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            if code == 800:
                return None
            if code == 4:
                raise RateLimited("Deezer", retry_after=None, reason="throttled (quota limit exceeded)")
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ServiceUnavailable("Deezer", f"error {code}: {message}")
        if response.status_code >= 400:
            raise ServiceUnavailable("Deezer", f"HTTP {response.status_code}")
        return body

    def track(self, track_id: str | int) -> dict | None:
        """The full track (with a fresh signed ``preview`` URL), or ``None``."""
        return self.get(f"/track/{track_id}")

    def track_by_isrc(self, isrc: str) -> dict | None:
        """The full track Deezer resolves ``isrc`` to, or ``None``."""
        return self.get(f"/track/isrc:{isrc}")

    def search(self, *, artist: str, title: str, limit: int = 10) -> list[dict]:
        """Simplified tracks from an advanced search ``artist:"..." track:"..."``."""
        query = f'artist:"{_quote(artist)}" track:"{_quote(title)}"'
        body = self.get("/search/track", {"q": query, "limit": limit})
        return list((body or {}).get("data") or [])

    def playlist(self, playlist_id: str) -> dict:
        """The playlist's metadata; a one-line error when it does not exist."""
        body = self.get(f"/playlist/{playlist_id}")
        if body is None:
            raise SpotidanceError(f"Deezer has no playlist {playlist_id} (or it is private): check the URL or id")
        return body

    def playlist_tracks(self, playlist_id: str, *, index: int = 0, limit: int = 100) -> Iterator[tuple[list[dict], int, int]]:
        """Yield ``(tracks, next_index, total)`` per page, following ``next``."""
        body = self.get(f"/playlist/{playlist_id}/tracks", {"index": index, "limit": limit})
        while body:
            data = list(body.get("data") or [])
            index += len(data)
            yield data, index, int(body.get("total") or 0)
            if not body.get("next") or not data:
                return
            body = self.get(body["next"])


def _quote(text: str) -> str:
    return text.replace('"', " ").strip()


def _words(text: str) -> list[str]:
    """Lower-case words of any script: ``"Кино"`` -> ``["кино"]``, ``"東京"`` -> ``["東京"]``, ``"Café"`` -> ``["cafe"]``.

    Case is folded and compatibility forms unified (NFKC: full-width letters, ligatures), and
    accents are dropped from Latin letters only (so ``é`` = ``e``, while a kana's voicing mark,
    which changes the word, is kept).
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) and kept and kept[-1] < "\u0250":  # an accent on a Latin letter
            continue
        kept.append(ch)
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", "".join(kept)))


def _core(title: str) -> str:
    """The title without bracketed parts or a `` - Remix``-style suffix."""
    core = re.sub(r"[\(\[].*?[\)\]]", " ", title)
    core = re.split(r"\s[-–—]\s", core)[0]
    return " ".join(_words(core))


def titles_match(spotify_title: str, deezer_title: str) -> bool:
    """Whether two titles name the same version of a recording (see :data:`VERSION_WORDS`)."""
    a, b = _core(spotify_title), _core(deezer_title)
    if not a or not b:
        return False
    if a != b and SequenceMatcher(None, a, b).ratio() < 0.85:
        return False
    return _version_marks(spotify_title) == _version_marks(deezer_title)


def _version_marks(title: str) -> set[str]:
    # "Original Mix" / "Original Version" is the plain recording in dance-music catalogues.
    text = " ".join(_words(title))
    text = re.sub(r"\boriginal (mix|version)\b", " ", text)
    return set(text.split()) & VERSION_WORDS


def durations_match(spotify_ms: Any, deezer_s: Any) -> bool:
    """Whether Spotify's length (ms) and Deezer's (s) agree within the tolerance; unknown = agree."""
    try:
        a, b = float(spotify_ms) / 1000.0, float(deezer_s)
    except (TypeError, ValueError):
        return True
    if a <= 0 or b <= 0:
        return True
    return abs(a - b) <= max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_SHARE * a)


def matches(track: dict, *, title: str, duration_ms: Any) -> bool:
    """Whether a Deezer track is the Spotify track (title and duration)."""
    return titles_match(title, track.get("title") or "") and durations_match(duration_ms, track.get("duration"))


def find_track(client: DeezerClient, *, isrc: str, title: str, artist: str, duration_ms: Any) -> tuple[dict | None, str]:
    """The Deezer track for a Spotify track: by ISRC, checked; else by search. ``(track, why-not)``.

    The returned track comes straight from the API, so its preview URL is fresh.
    """
    rejected = ""
    if isrc:
        track = client.track_by_isrc(isrc)
        if track is not None and matches(track, title=title, duration_ms=duration_ms):
            return track, ""
        if track is not None:
            rejected = "ISRC resolved to another version"
    if title and artist:
        for item in client.search(artist=artist, title=title):
            if matches(item, title=title, duration_ms=duration_ms) and _same_artist(item, artist):
                return item, ""
    return None, rejected or "not on Deezer"


def _same_artist(item: dict, artist: str) -> bool:
    name = " ".join(_words((item.get("artist") or {}).get("name") or ""))
    wanted = " ".join(_words(artist))
    if not name or not wanted or name == wanted or wanted in name or name in wanted:  # "A" vs "A & B"
        return True
    return SequenceMatcher(None, name, wanted).ratio() >= 0.8
