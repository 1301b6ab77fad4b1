"""pytest fixtures around the fake services (import them into a test module to use them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.fakeservices.catalog import make_playlist
from tests.helpers.fakeservices.clips import render_clips
from tests.helpers.fakeservices.server import FakeServices

#: A Spotify-style playlist id the tests use.
PLAYLIST_ID = "3cEYpjA9oz9GiPac4AsH4n"


@pytest.fixture(scope="session")
def fake_clips() -> list[bytes]:
    """Four real mp3 previews, rendered once per session."""
    return render_clips(4, seconds=4.0)


@pytest.fixture
def fake_services(fake_clips, monkeypatch, tmp_path):
    """A factory: ``fake_services(mode, latency=, login=, n_tracks=)`` -> a started, configured fake.

    The collector's environment points at it (service URLs, app credentials, no pacing) and the
    token cache lives in ``tmp_path/cache``; with ``login=True`` a user token is cached already.
    """
    started: list[FakeServices] = []

    def make(mode: str = "dev2026", *, latency: float = 0.0, login: bool = True, n_tracks: int | None = 230) -> FakeServices:
        fake = FakeServices(mode=mode, clips=fake_clips, latency=latency).start()
        started.append(fake)
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SPOTIDANCE_CACHE_DIR", str(tmp_path / "cache"))
        if n_tracks:
            fake.add_playlist(make_playlist(PLAYLIST_ID, n_tracks=n_tracks))
        if login:
            from spotidance.collect.sources.spotify import PrivateTokenCache

            PrivateTokenCache(Path(tmp_path / "cache" / "spotify-user-token.json")).save_token_to_cache(fake.issue_user_token())
        return fake

    yield make
    for fake in started:
        fake.stop()
