"""Step 2, **previews**: Spotify's ``preview_url``, else the Deezer track found by ISRC or search.

Each preview is downloaded right after its lookup (signed URLs expire), concurrently, and every
answer is journaled: a rerun skips what is done and what the catalogue refused for good.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spotidance.collect.context import RunContext
from spotidance.collect.previews import check_audio, download, PreviewRejected
from spotidance.collect.sources.deezer import find_track
from spotidance.core import progress

#: Why a track has no preview, when that will not change on a rerun (the catalogue's answer).
#: Every other failure (truncated transfer, expired URL, 5xx, timeout, undecodable download) is
#: transient: recorded under ``preview_retry`` and tried again by the next run.
PERMANENT_MISSES = frozenset({"not on Deezer", "ISRC resolved to another version", "no preview on Deezer"})


def is_permanent_miss(reason: str) -> bool:
    """Whether a recorded preview miss is final (see :data:`PERMANENT_MISSES`)."""
    return reason in PERMANENT_MISSES or reason.startswith("preview larger than")


def fetch_previews(ctx: RunContext, selected: list[str]) -> None:
    """Find and download the previews of ``selected`` that are not on disk yet."""
    for stale in (ctx.out / ctx.label).glob(".*.part.mp3"):  # left by a killed run
        stale.unlink(missing_ok=True)
    todo = [tid for tid in selected if _needs_preview(ctx, tid)]
    bar = progress.bar(enabled=ctx.options.progress, desc="previews", unit="track", total=len(selected), initial=len(selected) - len(todo))
    try:
        ctx.run_pool(todo, lambda tid: _preview_one(ctx, tid), bar)
    finally:
        bar.close()


def preview_file(ctx: RunContext, track_id: str) -> Path:
    """Where the preview of ``track_id`` goes."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", track_id)
    return ctx.out / ctx.label / f"{safe}.mp3"


def _needs_preview(ctx: RunContext, tid: str) -> bool:
    row = ctx.store.rows[tid]
    misses = ctx.store.state.get("preview_misses") or {}
    if tid in misses and is_permanent_miss(misses[tid]):  # older runs also recorded transient ones
        return False
    if row.get("preview_path"):
        path = ctx.out / row["preview_path"]
        if path.is_file() and path.stat().st_size > 0:
            return False
    return True


def _preview_one(ctx: RunContext, tid: str) -> None:
    store = ctx.store
    row = dict(store.rows[tid])
    dest = preview_file(ctx, tid)
    rel = dest.relative_to(ctx.out).as_posix()

    # A file left by a killed run: keep it if it decodes.
    reuse = dest.is_file() and check_audio(dest) is None
    reasons: list[PreviewRejected] = []
    if row.get("mp3") and ctx.ref.service == "spotify":
        if reuse and row.get("preview_source") in ("", "spotify") and not row.get("deezer_id"):
            store.update(tid, {"preview_source": "spotify", "preview_path": rel})
            return
        try:
            download(ctx.services.session("previews"), row["mp3"], dest)
            store.update(tid, {"preview_source": "spotify", "preview_path": rel})
            return
        except PreviewRejected as exc:
            reasons.append(exc)
    if reuse and row.get("deezer_id"):  # looked up and downloaded before a kill
        store.update(tid, {"preview_source": "deezer", "preview_path": rel})
        return
    track = _deezer_track(ctx, tid, row)
    if track is None:
        return
    if reuse:
        store.update(tid, {"preview_source": "deezer", "preview_path": rel})
        return
    for attempt in range(2):
        url = track.get("preview") or ""
        if not url:
            _miss(ctx, tid, "no preview on Deezer")
            return
        try:
            download(ctx.services.session("previews"), url, dest)
            store.update(tid, {"preview_source": "deezer", "preview_path": rel})
            return
        except PreviewRejected as exc:
            reasons.append(exc)
            if attempt == 0:
                fresh = ctx.services.deezer.track(track["id"])  # a fresh signed URL
                if fresh is None:
                    break
                track = fresh
    reason = str(reasons[-1]) if reasons else "preview download failed"
    if reasons and not reasons[-1].transient and is_permanent_miss(reason):
        _miss(ctx, tid, reason)
    else:  # a broken transfer, an expired URL, a server error: the next run tries again
        store.set_state("preview_retry", {tid: reason}, merge=True)


def _deezer_track(ctx: RunContext, tid: str, row: dict[str, str]) -> dict | None:
    """The Deezer track (with a fresh preview URL) for a row, recording what it links."""
    deezer = ctx.services.deezer
    if row.get("deezer_id"):
        track = deezer.track(row["deezer_id"])
        if track is None:
            _miss(ctx, tid, "not on Deezer")
            return None
    else:
        track, why = find_track(deezer, isrc=row.get("isrc", ""), title=row.get("track_name", ""),
                                artist=row.get("artist_name", ""), duration_ms=row.get("track_length"))  # fmt: skip
        if track is None:
            _miss(ctx, tid, why)
            return None
    fields: dict[str, Any] = {"deezer_id": str(track["id"])}
    if ctx.ref.service == "deezer":  # the playlist gave only a simplified track
        fields["isrc"] = (track.get("isrc") or "").upper()
        fields["album_date"] = track.get("release_date") or ""
        if not row.get("album_name"):
            fields["album_name"] = (track.get("album") or {}).get("title") or ""
    ctx.store.update(tid, fields)
    return track


def _miss(ctx: RunContext, tid: str, reason: str) -> None:
    ctx.store.set_state("preview_misses", {tid: reason}, merge=True)
