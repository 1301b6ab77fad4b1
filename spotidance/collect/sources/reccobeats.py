"""ReccoBeats (free, no key): Spotify-like audio features by Spotify track id or ISRC.

``GET /v1/audio-features?ids=`` takes at most 40 ids; the answer's order and completeness are not
guaranteed (unknown ids are silently missing), so every item is mapped back to the id asked for
through its ``href`` (``https://open.spotify.com/track/<id>``), else its ``isrc``. It gives no
``duration_ms`` and no ``time_signature``: those stay empty.
"""

from __future__ import annotations

from typing import Any

from spotidance.collect.http import PacedSession, ServiceUnavailable, raise_for_rate_limit, service_url

#: Ids per request (the API's maximum).
BATCH = 40
#: Feature names ReccoBeats returns that are CSV columns.
KEYS = ("acousticness", "danceability", "energy", "instrumentalness", "key", "loudness", "mode", "speechiness", "tempo", "valence")


class ReccoBeatsClient:
    """Audio features from ReccoBeats on one paced session."""

    def __init__(self, session: PacedSession) -> None:
        self.session = session
        self.base = service_url("reccobeats")

    def audio_features(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Features of up to :data:`BATCH` ids (Spotify ids or ISRCs), keyed by the id asked for."""
        if not ids:
            return {}
        if len(ids) > BATCH:
            raise ValueError(f"at most {BATCH} ids per request")
        response = self.session.get(self.base + "/v1/audio-features", params={"ids": ",".join(ids)})
        raise_for_rate_limit("ReccoBeats", response)
        if response.status_code in (400, 404):
            return {}  # none of these ids is known
        if response.status_code >= 400:
            raise ServiceUnavailable("ReccoBeats", f"HTTP {response.status_code}")
        try:
            items = response.json().get("content") or []
        except (ValueError, AttributeError):
            raise ServiceUnavailable("ReccoBeats", "unreadable answer") from None
        wanted = set(ids)
        upper = {i.upper(): i for i in ids}
        out: dict[str, dict[str, Any]] = {}
        for item in items:
            key = _key_of(item, wanted, upper)
            if key is not None and key not in out:
                out[key] = {k: item[k] for k in KEYS if item.get(k) is not None}
        return out


def _key_of(item: dict, wanted: set[str], upper: dict[str, str]) -> str | None:
    href = str(item.get("href") or "")
    if "/track/" in href:
        sid = href.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        if sid in wanted:
            return sid
    isrc = str(item.get("isrc") or "").upper()
    if isrc and isrc in upper:
        return upper[isrc]
    rid = str(item.get("id") or "")
    return rid if rid in wanted else None
