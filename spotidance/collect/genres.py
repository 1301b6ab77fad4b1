"""Step 4, **genres**: the genres of each track's (first) artist, from Spotify's ``GET /artists``.

Asked 50 artists per request, each artist once per table: the answers are kept in the state
(``artist_genres``: artist id -> genres), so another playlist of the label, or a rerun, asks nothing
again. Spotify marks the batch call and the field deprecated (spec 2026.5.31): it may answer
without the field, or refuse the batch call (403, or 400/404/410 once removed). Then each artist is
asked on its own (``GET /artists/{id}``); if that is refused too, the cells stay empty. The closing
summary says which happened. Deezer playlists
give no genres (only ``GET /album/{id}`` has them, one request per album), so their cells stay empty.
"""

from __future__ import annotations

from spotidance.collect.context import RunContext
from spotidance.collect.sources.spotify import ARTISTS_BATCH, ArtistsRefused
from spotidance.core.playlist_csv import join_list


def fetch_genres(ctx: RunContext, selected: list[str]) -> None:
    """Fill ``artist_genres`` of ``selected`` (Spotify playlists) from Spotify's artists."""
    if ctx.ref.service != "spotify":
        return
    store = ctx.store
    known: dict[str, str] = dict(store.state.get("artist_genres") or {})
    _fill(ctx, selected, known)
    wanted = list(dict.fromkeys(store.rows[t]["artist_id"] for t in selected
                                if store.rows[t].get("artist_id") and store.rows[t]["artist_id"] not in known))  # fmt: skip
    if not wanted:
        return
    spotify = ctx.services.spotify
    absent = 0
    for start in range(0, len(wanted), ARTISTS_BATCH):
        batch = wanted[start : start + ARTISTS_BATCH]
        try:
            found = spotify.artist_genres(batch)
        except ArtistsRefused as exc:
            ctx.notes.append(f"artist genres: Spotify refuses GET /artists to this app (HTTP {exc.args[0]}); artist_genres left empty")
            break
        answered = {aid: join_list(genres or []) for aid, genres in found.items()}
        absent += sum(1 for genres in found.values() if genres is None)
        store.set_state("artist_genres", answered, merge=True)
        known.update(answered)
        _fill(ctx, selected, answered)
    if spotify.artists_batch_refused:
        ctx.notes.append(f"artist genres: Spotify refuses the batch GET /artists to this app (HTTP "
                         f"{spotify.artists_batch_refused}); each artist was asked on its own (GET /artists/{{id}})")
    if absent:
        ctx.notes.append(f"artist genres: Spotify's answer had no genres field for {absent} artists (deprecated); left empty")


def _fill(ctx: RunContext, selected: list[str], genres: dict[str, str]) -> None:
    """Write the known genres into the rows of ``selected`` that lack them."""
    rows = ctx.store.rows
    updates = [(t, {"artist_genres": genres[rows[t]["artist_id"]]}) for t in selected
               if not rows[t].get("artist_genres") and genres.get(rows[t].get("artist_id", ""))]  # fmt: skip
    if updates:
        ctx.store.update_many(updates)
