"""The services ``collect`` reads: Spotify (playlists, ISRCs, features), Deezer (playlists,
previews), ReccoBeats (features). This module parses what the user types as PLAYLIST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spotidance.core.errors import SpotidanceError

_BASE62 = r"[0-9A-Za-z]{16,32}"
_SPOTIFY_URL = re.compile(r"^https?://open\.spotify\.com/(?:intl-[a-zA-Z-]+/)?(?:user/[^/]+/)?playlist/(" + _BASE62 + r")/?(?:[?#].*)?$")
_SPOTIFY_URI = re.compile(r"^spotify:(?:user:[^:]+:)?playlist:(" + _BASE62 + r")$")
_DEEZER_URL = re.compile(r"^https?://(?:www\.)?deezer\.com/(?:[a-z]{2}(?:-[a-z]{2})?/)?playlist/(\d+)/?(?:[?#].*)?$")
_DEEZER_URI = re.compile(r"^deezer:playlist:(\d+)$")


@dataclass(frozen=True)
class PlaylistRef:
    """A playlist on one service.

    Attributes
    ----------
    service : str
        ``"spotify"`` or ``"deezer"``.
    id : str
        The service's playlist id.
    """

    service: str
    id: str

    @property
    def key(self) -> str:
        """``spotify:playlist:ID`` or ``deezer:playlist:ID`` (stored in the CSV's metadata)."""
        return f"{self.service}:playlist:{self.id}"


def parse_playlist(text: str) -> PlaylistRef:
    """Recognise a Spotify playlist URL, URI or id, or a Deezer playlist URL or ``deezer:playlist:ID``.

    Parameters
    ----------
    text : str

    Returns
    -------
    PlaylistRef

    Raises
    ------
    SpotidanceError
        If ``text`` is none of these.
    """
    value = text.strip()
    for pattern, service in ((_SPOTIFY_URL, "spotify"), (_SPOTIFY_URI, "spotify"), (_DEEZER_URL, "deezer"), (_DEEZER_URI, "deezer")):
        match = pattern.match(value)
        if match:
            return PlaylistRef(service, match.group(1))
    if re.fullmatch(_BASE62, value):
        return PlaylistRef("spotify", value)
    if "link.deezer.com" in value or "deezer.page.link" in value:
        raise SpotidanceError(
            f"{value!r} is a Deezer short link: open it in a browser and pass the "
            "https://www.deezer.com/.../playlist/ID address it leads to"
        )
    raise SpotidanceError(
        f"{value!r} is not a playlist: pass a Spotify playlist URL, URI (spotify:playlist:ID) or id, "
        "or a Deezer playlist URL or deezer:playlist:ID"
    )
