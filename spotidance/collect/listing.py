"""Step 1, **list**: the run's label, then each playlist's tracks into the store, page by page (resumable).

Several playlists share one label's table: a track already listed by another playlist is not
added again; the playlist joins its ``playlist_ids`` (its ``playlist_id``, ``added_at`` and the
rest stay those of the first playlist that listed it; only other empty cells are filled from the
later playlist, never ``added_at`` or ``playlist_id``). A page is journaled as one line with the
new offset, so a kill keeps the whole page or none of it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

from spotidance.collect.context import RunContext, Services
from spotidance.collect.names import check_label, safe_label
from spotidance.collect.sources import PlaylistRef
from spotidance.collect.sources.spotify import row_object, track_fields
from spotidance.core import progress
from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import find_label, join_list, split_list

#: Fields of a shared track that stay the first playlist's even when empty (the others' gaps are filled).
FIRST_LISTING = ("label", "playlist_id", "added_at")

#: One listed page: each item's CSV fields (``None`` when skipped) with why it was skipped, and the
#: playlist's size.
Page = tuple[list[tuple[dict | None, str]], int]


def slugify(name: str) -> str:
    """A file-name-safe label from a playlist name (see :func:`spotidance.collect.names.safe_label`)."""
    return safe_label(name)


def resolve_label(refs: list[PlaylistRef], *, out: Path, label: str | None, services: Services) -> tuple[str, str, bool]:
    """The run's label, the first playlist's name (``""`` when not asked for) and whether the label was chosen.

    The label given, else the one an earlier run in ``out`` gave these playlists, else a safe form
    of the first playlist's name (letters of every script kept), else ``<service>-<id>``. The label
    is *chosen* (the playlists may join a table holding other playlists) in the first two cases; one
    made from a name may only name a new table or one holding these same playlists.
    """
    if label:
        return check_label(label), "", True
    earlier = list(dict.fromkeys(found for ref in refs if (found := find_label(out, ref.key))))
    if len(earlier) > 1:
        raise SpotidanceError(f"these playlists were collected under different labels ({', '.join(earlier)}): "
                              "pass --label to say which one they go to")  # fmt: skip
    if earlier:
        return earlier[0], "", True
    ref = refs[0]
    if ref.service == "spotify":
        name = services.spotify.playlist_info(ref.id)["name"]
    else:
        name = str(services.deezer.playlist(ref.id).get("title") or "")
    return safe_label(name) or f"{ref.service}-{ref.id}", name, False


def list_tracks(ctx: RunContext) -> None:
    """List ``ctx.ref``'s playlist into ``ctx.store``, continuing from its saved offset."""
    store, limit, key, pid = ctx.store, ctx.options.limit, ctx.ref.key, ctx.ref.id
    listing = dict((store.state.get("listings") or {}).get(key) or {})
    count = len(ctx.members())
    if listing.get("complete") or (limit and count >= limit):
        return
    offset = int(listing.get("offset") or 0)
    skipped = Counter(listing.get("skipped") or {})
    shared = int(listing.get("shared") or 0)
    bar = progress.bar(enabled=ctx.options.progress, desc=f"listing {pid}", unit="track", initial=offset)
    try:
        pages = _spotify_pages(ctx, offset) if ctx.ref.service == "spotify" else _deezer_pages(ctx, offset)
        stopped = False
        for items, total in pages:
            bar.total = total
            changes: dict[str, dict] = {}
            stop = False
            for fields, reason in items:
                offset += 1
                bar.update(1)
                if fields is None:
                    skipped[reason] += 1
                    continue
                tid = fields["track_id"]
                row = {**store.rows.get(tid, {}), **changes.get(tid, {})}
                ids = split_list(row.get("playlist_ids", ""))
                if pid in ids:
                    skipped["duplicate"] += 1
                    continue
                if not ids:
                    changes[tid] = {**fields, "playlist_ids": pid}
                else:  # listed by another playlist of this label: one row, this playlist joins it
                    shared += 1
                    gaps = {k: v for k, v in fields.items() if v not in ("", None) and not row.get(k) and k not in FIRST_LISTING}
                    changes[tid] = {**changes.get(tid, {}), **gaps, "playlist_ids": join_list([*ids, pid])}
                count += 1
                if limit and count >= limit:
                    stop = True
                    break
            state = {"offset": offset, "complete": not stop and offset >= total, "skipped": dict(skipped), "shared": shared}
            store.update_many(changes.items(), state=("listings", {key: state}), merge=True)
            if stop:
                stopped = True
                break
        state = {"offset": offset, "complete": not stopped, "skipped": dict(skipped), "shared": shared}
        store.set_state("listings", {key: state}, merge=True)
    finally:
        bar.close()


def _spotify_pages(ctx: RunContext, offset: int) -> Iterator[Page]:
    for rows, _next_offset, total in ctx.services.spotify.iter_pages(ctx.ref.id, offset=offset):
        items: list[tuple[dict | None, str]] = []
        for row in rows:
            obj, reason = row_object(row)
            items.append((None, reason) if obj is None else (track_fields(obj, label=ctx.label, playlist_id=ctx.ref.id, row=row), ""))
        yield items, total


def deezer_added_at(track: dict) -> str:
    """A Deezer playlist track's ``time_add`` (Unix seconds) as ISO 8601 UTC; ``""`` when 0 or absent."""
    from datetime import datetime, timezone

    try:
        seconds = int(track.get("time_add") or 0)
    except (TypeError, ValueError):
        return ""
    if seconds <= 0:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deezer_pages(ctx: RunContext, offset: int) -> Iterator[Page]:
    for tracks, _next_index, total in ctx.services.deezer.playlist_tracks(ctx.ref.id, index=offset):
        items: list[tuple[dict | None, str]] = []
        for t in tracks:
            if not t or not t.get("id") or t.get("type", "track") != "track":
                items.append((None, "unavailable (null row)"))
                continue
            items.append(({
                "track_id": str(t["id"]), "deezer_id": str(t["id"]), "track_name": t.get("title") or "",
                "artist_name": (t.get("artist") or {}).get("name") or "",
                "track_length": int(t["duration"]) * 1000 if t.get("duration") else "",
                "album_name": (t.get("album") or {}).get("title") or "", "added_at": deezer_added_at(t),
                "label": ctx.label, "playlist_id": ctx.ref.id,
            }, ""))  # fmt: skip
        yield items, total
