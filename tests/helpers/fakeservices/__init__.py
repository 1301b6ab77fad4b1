"""A local fake of the four services ``collect`` talks to (see :mod:`tests.helpers.fakeservices.server`)."""

from tests.helpers.fakeservices.catalog import Playlist, Track, make_playlist, make_tracks, spotify_id
from tests.helpers.fakeservices.clips import render_clips
from tests.helpers.fakeservices.server import CLIENT_ID, CLIENT_SECRET, FakeServices, Fault

__all__ = [
    "CLIENT_ID", "CLIENT_SECRET", "FakeServices", "Fault", "Playlist", "Track",
    "make_playlist", "make_tracks", "render_clips", "spotify_id",
]
