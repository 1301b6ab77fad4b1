"""Step 3, **features**: the feature chain, one source after the other (see :data:`CHAIN`).

``auto`` asks Spotify in batches of 100 (a 403 is remembered for the run), then ReccoBeats (40 ids
per request) for what is left, then computes the rest locally from the previews
(:func:`spotidance.analyze.features.compute_features`). Which source was asked about which track
is journaled, so a rerun asks no source twice.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from spotidance.analyze.features import compute_features
from spotidance.collect.context import RunContext
from spotidance.collect.http import ServiceUnavailable
from spotidance.collect.sources.reccobeats import BATCH
from spotidance.collect.sources.spotify import FEATURES_BATCH, FeaturesForbidden
from spotidance.core import progress
from spotidance.core.errors import SpotidanceError, short_reason
from spotidance.core.schema import AUDIO_FEATURES
from spotidance.core.workers import default_workers


def fetch_features(ctx: RunContext, selected: list[str]) -> None:
    """Fill in the audio features of ``selected`` from the sources ``ctx.options.features`` names."""
    asked = ctx.options.features
    chain = list(CHAIN) if asked == "auto" else [asked]
    if ctx.ref.service != "spotify" and "spotify" in chain:
        if asked == "spotify":
            raise SpotidanceError("--features spotify needs a Spotify playlist; use --features auto or reccobeats")
        chain.remove("spotify")
    rows = ctx.store.rows
    todo = [tid for tid in selected if not rows[tid].get("features_source")]
    bar = progress.bar(enabled=ctx.options.progress, desc="features", unit="track", total=len(selected), initial=len(selected) - len(todo))
    try:
        for source in chain:
            tried = ctx.store.state.get("features_tried") or {}
            todo = [t for t in todo if not rows[t].get("features_source")]
            pending = [t for t in todo if source not in (tried.get(t) or [])]
            if not pending:
                continue
            try:
                CHAIN[source](ctx, pending, bar)
            except ServiceUnavailable as exc:  # the next source fills in; a rerun asks again
                ctx.notify(f"{exc}; features from the next source")
                ctx.notes.append(f"{source} features: {exc}")
    finally:
        bar.close()


def _record(ctx: RunContext, tid: str, values: dict[str, Any], source: str) -> None:
    fields = {k: values.get(k) for k in AUDIO_FEATURES if values.get(k) is not None}
    fields["features_source"] = source
    ctx.store.update(tid, fields)


def _tried(ctx: RunContext, tids: Iterable[str], source: str) -> None:
    tried = ctx.store.state.get("features_tried") or {}
    ctx.store.set_state("features_tried", {t: sorted(set(tried.get(t) or []) | {source}) for t in tids}, merge=True)


def spotify_features(ctx: RunContext, tids: list[str], bar) -> None:
    """Spotify's audio features, 100 ids per request; a 403 stops asking for the rest of the run."""
    if ctx.services.spotify.features_forbidden:  # refused for an earlier playlist of this run
        return
    batches = [tids[i : i + FEATURES_BATCH] for i in range(0, len(tids), FEATURES_BATCH)]
    forbidden = threading.Event()

    def one(batch: list[str]) -> None:
        if forbidden.is_set():
            return
        try:
            found = ctx.services.spotify.audio_features(batch)
        except FeaturesForbidden:
            if not forbidden.is_set():
                forbidden.set()
                ctx.notify("Spotify refuses audio features to this app (403, Development Mode): using the next source")
            return
        for tid, values in found.items():
            _record(ctx, tid, values, "spotify")
            bar.update(1)
        _tried(ctx, batch, "spotify")

    one(batches[0])  # alone first: a 403 here spares every other batch
    ctx.run_pool(batches[1:], one, progress.NoBar(), workers=2)
    if forbidden.is_set():
        ctx.notes.append("Spotify audio features: refused (403), remembered for the run")


def reccobeats_features(ctx: RunContext, tids: list[str], bar) -> None:
    """ReccoBeats' audio features, by Spotify id (or by ISRC for a Deezer playlist), 40 per request."""
    keyed: dict[str, str] = {}
    for tid in tids:
        row = ctx.store.rows[tid]
        key = tid if ctx.ref.service == "spotify" else row.get("isrc", "")
        if key:
            keyed[key] = tid
    keys = list(keyed)
    batches = [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]

    def one(batch: list[str]) -> None:
        found = ctx.services.reccobeats.audio_features(batch)
        for key, values in found.items():
            _record(ctx, keyed[key], values, "reccobeats")
            bar.update(1)
        _tried(ctx, [keyed[k] for k in batch], "reccobeats")

    ctx.run_pool(batches, one, progress.NoBar(), workers=2)


def local_features(ctx: RunContext, tids: list[str], bar) -> None:
    """Features computed from the downloaded previews."""
    rows = ctx.store.rows
    with_audio = [t for t in tids if rows[t].get("preview_path") and (ctx.out / rows[t]["preview_path"]).is_file()]
    if not with_audio:
        if not ctx.options.previews:
            ctx.notes.append("local features need the previews: rerun without --no-previews")
        return

    def one(tid: str) -> None:
        path = ctx.out / rows[tid]["preview_path"]
        try:
            values = compute_features(str(path))
        except (SpotidanceError, ValueError, RuntimeError, MemoryError) as exc:
            ctx.notes.append(f"local features failed for {tid}: {short_reason(exc)}")
            values = None
        if values:
            _record(ctx, tid, values, "local")
            bar.update(1)
        _tried(ctx, [tid], "local")

    ctx.run_pool(with_audio, one, progress.NoBar(), workers=min(4, default_workers()))


#: The feature chain of ``auto``, in order: source -> the step asking it for ``tids``.
CHAIN: dict[str, Callable[[RunContext, list[str], Any], None]] = {
    "spotify": spotify_features,
    "reccobeats": reccobeats_features,
    "local": local_features,
}
