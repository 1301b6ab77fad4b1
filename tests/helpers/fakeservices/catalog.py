"""The fake's music catalogue: deterministic tracks, playlists, Deezer entries and features.

Every value derives from a seed and the track's index, so two fakes built alike answer alike
(that is what the resume tests compare).
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass, field

_B62 = string.digits + string.ascii_letters


def spotify_id(*parts: object) -> str:
    """A 22-character base62 id derived from ``parts``."""
    digest = int.from_bytes(hashlib.sha256(repr(parts).encode()).digest(), "big")
    out = []
    for _ in range(22):
        digest, r = divmod(digest, 62)
        out.append(_B62[r])
    return "".join(out)


@dataclass
class DeezerEntry:
    """How Deezer knows one recording."""

    did: int
    title: str
    duration_s: int
    has_preview: bool = True
    #: ``/track/isrc:`` resolves to this other version (an instrumental) instead; search finds the right one.
    isrc_points_to: "DeezerEntry | None" = None
    isrc: str = ""
    artist: str = ""
    release_date: str = ""
    clip: int = 0


@dataclass
class Track:
    """A Spotify track of the fake catalogue."""

    index: int
    sid: str
    name: str
    artist: str
    artist_id: str
    album_date: str
    duration_ms: int
    popularity: int
    isrc: str
    clip: int
    spotify_preview: bool
    spotify_features: bool
    reccobeats: bool
    deezer: DeezerEntry | None

    def features(self) -> dict:
        """Spotify-style audio features (deterministic from the id)."""
        rng = random.Random(self.sid)
        return {
            "acousticness": round(rng.uniform(0, 0.2), 5), "danceability": round(rng.uniform(0.4, 0.95), 3),
            "duration_ms": self.duration_ms, "energy": round(rng.uniform(0.4, 1.0), 3),
            "instrumentalness": round(rng.uniform(0, 0.95), 3), "key": rng.randrange(12),
            "liveness": round(rng.uniform(0.03, 0.3), 4), "loudness": round(rng.uniform(-12, -4), 3),
            "mode": rng.randrange(2), "speechiness": round(rng.uniform(0.03, 0.1), 4),
            "tempo": round(rng.uniform(118, 140), 3), "time_signature": 4, "valence": round(rng.uniform(0.05, 0.9), 3),
        }  # fmt: skip


@dataclass
class Playlist:
    """A playlist: rows are ``("track", Track)``, ``("null", None)``, ``("local", name)``, ``("episode", name)``."""

    pid: str
    name: str
    owner: str
    rows: list[tuple[str, object]] = field(default_factory=list)
    collaborators: tuple[str, ...] = ()
    #: The ``added_at`` of its items (Spotify sends ``1970-01-01T00:00:00Z`` when it does not know).
    added_at: str = "2026-01-02T03:04:05Z"

    @property
    def tracks(self) -> list[Track]:
        return [obj for kind, obj in self.rows if kind == "track"]  # type: ignore[misc]


WORDS = ("deep", "acid", "night", "pulse", "warehouse", "signal", "drift", "echo", "static", "orbit", "machine",
         "ritual", "concrete", "neon", "tunnel", "vapor", "circuit", "phase", "shadow", "motion")  # fmt: skip
ARTISTS = ("Kobalt Unit", "Mira Vey", "Dust Theory", "Halden", "Orsola", "The Quiet Rooms", "Feral Lines",
           "Sena Dijk", "Brass Motel", "Juno Fell")  # fmt: skip


#: Genres the fake's Spotify gives each artist (older apps; "Juno Fell" is not classified yet).
ARTIST_GENRES: dict[str, list[str]] = {
    "Kobalt Unit": ["techno", "minimal techno"], "Mira Vey": ["deep house"], "Dust Theory": ["techno", "hard techno"],
    "Halden": ["ambient techno"], "Orsola": ["italo disco", "electro"], "The Quiet Rooms": ["deep house", "house"],
    "Feral Lines": ["acid techno"], "Sena Dijk": ["dutch techno"], "Brass Motel": ["nu disco"], "Juno Fell": [],
}  # fmt: skip


def make_tracks(n: int, *, seed: int = 0, n_clips: int = 4, start_did: int = 100_000) -> list[Track]:
    """``n`` tracks with the catalogue's built-in gaps.

    Of every track index ``i``: ``i % 29 == 0`` is not on Deezer; ``i % 23 == 5`` has an ISRC
    Deezer resolves to an instrumental version (the right one is found by search); ``i % 41 == 7``
    is on Deezer without a preview; ``i % 5 == 0`` has no Spotify preview even for older apps;
    ``i % 11 == 0`` has no Spotify audio features; ``i % 13 == 3`` is unknown to ReccoBeats.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sid = spotify_id("track", seed, i)
        title = " ".join(rng.choice(WORDS).title() for _ in range(2))
        if i % 6 == 2:
            title += " - Original Mix"
        artist = ARTISTS[i % len(ARTISTS)]
        duration_ms = rng.randint(180_000, 420_000)
        isrc = f"QZ{'ABCDEFGH'[seed % 8]}{rng.randint(10, 99)}{rng.randint(0, 9999999):07d}"
        clip = i % n_clips
        entry = None
        if i % 29 != 0:
            entry = DeezerEntry(did=start_did + i * 2, title=title, duration_s=round(duration_ms / 1000), isrc=isrc,
                                artist=artist, release_date=f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 10}",
                                has_preview=(i % 41 != 7), clip=clip)  # fmt: skip
            if i % 23 == 5:
                entry.isrc_points_to = DeezerEntry(did=start_did + i * 2 + 1, title=f"{title} (Instrumental)",
                                                   duration_s=entry.duration_s + 41, isrc=isrc, artist=artist,
                                                   release_date=entry.release_date, clip=(clip + 1) % n_clips)  # fmt: skip
        out.append(Track(index=i, sid=sid, name=title, artist=artist, artist_id=spotify_id("artist", artist),
                         album_date=f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 10}", duration_ms=duration_ms,
                         popularity=rng.randint(0, 80), isrc=isrc, clip=clip, spotify_preview=(i % 5 != 0),
                         spotify_features=(i % 11 != 0), reccobeats=(i % 13 != 3), deezer=entry))  # fmt: skip
    return out


def make_playlist(pid: str, *, n_tracks: int = 230, name: str = "Warehouse Techno", owner: str = "fakeuser",
                  seed: int = 0, nulls: int = 4, locals_: int = 3, episodes: int = 2, duplicates: int = 1,
                  n_clips: int = 4) -> Playlist:  # fmt: skip
    """A playlist of ``n_tracks`` tracks with null, local, episode and duplicate rows mixed in."""
    tracks = make_tracks(n_tracks, seed=seed, n_clips=n_clips)
    rows: list[tuple[str, object]] = [("track", t) for t in tracks]
    rng = random.Random(seed + 1)
    extras: list[tuple[str, object]] = [("null", None)] * nulls
    extras += [("local", f"Local Song {k}") for k in range(locals_)]
    extras += [("episode", f"Episode {k}") for k in range(episodes)]
    extras += [("track", tracks[k * 7 % len(tracks)]) for k in range(duplicates)]
    for extra in extras:
        rows.insert(rng.randrange(1, len(rows)), extra)
    return Playlist(pid=pid, name=name, owner=owner, rows=rows)
