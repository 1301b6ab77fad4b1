"""``spotidance login``: Spotify login with PKCE, token cached privately (see :mod:`spotidance.collect.sources.spotify`)."""

from __future__ import annotations

import click

from spotidance.commands import SectionedCommand
from spotidance.collect.sources.spotify import login, logout as forget, token_cache_path


@click.command("login", cls=SectionedCommand, sections={
    "Login": ["redirect_uri", "no_browser", "timeout"],
    "Logout": ["logout"],
    "Help": [],
})  # fmt: skip
@click.option("--redirect-uri", default=None,
              help="Loopback redirect URI registered in your Spotify app [default: SPOTIPY_REDIRECT_URI or http://127.0.0.1:8888/callback].")
@click.option("--no-browser", is_flag=True, help="Only print the address to open.")
@click.option("--logout", is_flag=True, help="Forget the cached login instead.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True, help="Seconds to wait for the browser.")
def command(redirect_uri: str | None, no_browser: bool, logout: bool, timeout: float) -> None:
    """Log in to Spotify (PKCE) so collect can read your own playlists.

    Since 2026 Spotify lists a playlist's tracks only to its owner or collaborators. This opens
    Spotify's consent page, receives the answer on a loopback address, and caches the token (mode
    0600) under ~/.cache/spotidance/ or $SPOTIDANCE_CACHE_DIR. Needs SPOTIPY_CLIENT_ID (no secret).

    \b
    Examples:
      spotidance login
      spotidance login --no-browser --redirect-uri http://127.0.0.1:9090/callback
      spotidance login --logout
    """
    if logout:
        click.echo("logged out" if forget() else "there was no cached login")
        return
    opener = (lambda url: None) if no_browser else None
    name = login(redirect_uri=redirect_uri, open_url=opener, show=lambda text: click.echo(text, err=True), timeout=timeout)
    click.echo(f"logged in as {name}; token cached in {token_cache_path()}")
