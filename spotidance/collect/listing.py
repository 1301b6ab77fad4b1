"""Step 1, **list**: the playlist's label, then its tracks into the store, page by page (resumable)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterator

from spotidance.collect.context import RunContext, Services
from spotidance.collect.sources import PlaylistRef
from spotidance.collect.sources.spotify import row_object, track_fields
from spotidance.core import progress
from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import find_label

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

#: One listed page: the rows' fields, why others were skipped, the next offset, the playlist's size.
Page = tuple[list[dict], Counter, int, int]


def slugify(name: str) -> str:
    """A file-name-safe label from a playlist name (``"Techno Bunker!"`` -> ``"techno-bunker"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80]


def resolve_label(ref: PlaylistRef, *, out: Path, label: str | None, services: Services) -> tuple[str, str]:
    """The run's label and the playlist's name (``""`` when not asked for).

    The label given, else the one an earlier run in ``out`` used, else a slug of the playlist's name.
    """
    if label:
        if not LABEL_PATTERN.match(label):
            raise SpotidanceError(f"--label {label!r} must be letters, digits, '.', '_' or '-' (it names files)")
        return label, ""
    earlier = find_label(out, ref.key)
    if earlier:
        return earlier, ""
    if ref.service == "spotify":
        name = services.spotify.playlist_info(ref.id)["name"]
    else:
        name = str(services.deezer.playlist(ref.id).get("title") or "")
    return slugify(name) or f"{ref.service}-{ref.id}", name


def list_tracks(ctx: RunContext) -> None:
    """List the playlist into ``ctx.store``, continuing from the saved offset."""
    store, limit = ctx.store, ctx.options.limit
    listing = dict(store.state.get("listing") or {})
    if listing.get("complete") or (limit and len(store.rows) >= limit):
        return
    offset = int(listing.get("offset") or 0)
    skipped = Counter(listing.get("skipped") or {})
    kept = int(listing.get("rows") or 0)
    if len(store.rows) > kept:  # rows of a page cut short by a kill: that page is listed again
        store.drop(list(store.rows)[kept:])
    bar = progress.bar(enabled=ctx.options.progress, desc="listing", unit="track", initial=offset)
    complete = False
    try:
        pages = _spotify_pages(ctx, offset) if ctx.ref.service == "spotify" else _deezer_pages(ctx, offset)
        for fields_list, reasons, offset, total in pages:
            bar.total = total
            for fields in fields_list:
                if fields["track_id"] in store.rows:
                    skipped["duplicate"] += 1
                else:
                    store.update(fields["track_id"], fields)
            skipped.update(reasons)
            bar.update(len(fields_list) + sum(reasons.values()))
            complete = offset >= total
            store.set_state("listing", {"offset": offset, "complete": complete, "skipped": dict(skipped), "rows": len(store.rows)})
            if limit and len(store.rows) >= limit:
                break
        else:
            complete = True
        store.set_state("listing", {"offset": offset, "complete": complete, "skipped": dict(skipped), "rows": len(store.rows)})
    finally:
        bar.close()


def _spotify_pages(ctx: RunContext, offset: int) -> Iterator[Page]:
    for rows, next_offset, total in ctx.services.spotify.iter_pages(ctx.ref.id, offset=offset):
        fields_list, reasons = [], Counter()
        for row in rows:
            obj, reason = row_object(row)
            if obj is None:
                reasons[reason] += 1
            else:
                fields_list.append(track_fields(obj, label=ctx.label, playlist_id=ctx.ref.id))
        yield fields_list, reasons, next_offset, total


def _deezer_pages(ctx: RunContext, offset: int) -> Iterator[Page]:
    for tracks, next_index, total in ctx.services.deezer.playlist_tracks(ctx.ref.id, index=offset):
        fields_list, reasons = [], Counter()
        for t in tracks:
            if not t or not t.get("id") or t.get("type", "track") != "track":
                reasons["unavailable (null row)"] += 1
                continue
            fields_list.append({
                "track_id": str(t["id"]), "deezer_id": str(t["id"]), "track_name": t.get("title") or "",
                "artist_name": (t.get("artist") or {}).get("name") or "",
                "track_length": int(t["duration"]) * 1000 if t.get("duration") else "",
                "label": ctx.label, "playlist_id": ctx.ref.id,
            })  # fmt: skip
        yield fields_list, reasons, next_index, total
