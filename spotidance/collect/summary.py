"""The closing table of a run, and the message telling when to rerun after a stop."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from spotidance.collect.context import RunContext
from spotidance.collect.http import RateLimited
from spotidance.collect.preview_step import is_permanent_miss
from spotidance.core.playlist_csv import PlaylistStore
from spotidance.core.tables import format_table


@dataclass
class Summary:
    """What a collection produced (also the closing table)."""

    label: str
    csv_path: Path
    tracks: int = 0
    with_preview: int = 0
    preview_sources: Counter = field(default_factory=Counter)
    preview_misses: Counter = field(default_factory=Counter)
    features_sources: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    #: Tracks of each playlist of the run (``service:playlist:ID`` -> tracks), in the order given.
    playlists: dict[str, int] = field(default_factory=dict)
    #: Tracks listed by more than one playlist of the run (one row each).
    shared: int = 0
    #: Tracks given genres (artist_genres not empty).
    with_genres: int = 0
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The closing summary as an aligned table."""
        rows: list[tuple[str, int]] = [("tracks", self.tracks)]
        if len(self.playlists) > 1:
            rows += [(f"from {key}", n) for key, n in self.playlists.items()]
            rows += [("in more than one playlist (one row)", self.shared)]
        rows += [("with a preview", self.with_preview)]
        rows += [(f"preview from {k}", v) for k, v in sorted(self.preview_sources.items())]
        rows += [(f"no preview: {k}", v) for k, v in sorted(self.preview_misses.items())]
        rows += [(f"features from {k or 'nowhere'}", v) for k, v in sorted(self.features_sources.items())]
        rows += [("with artist genres", self.with_genres)]
        rows += [(f"skipped: {k}", v) for k, v in sorted(self.skipped.items())]
        return format_table(rows, headers=(f"{self.label} -> {self.csv_path}", "tracks"))


def summarize(contexts: list[RunContext]) -> Summary:
    """The summary of the run's playlists (each track once) as the store holds them now."""
    ctx = contexts[0]
    store = ctx.store
    per_playlist = {c.ref.key: c.selected() for c in contexts}
    counts = Counter(tid for ids in per_playlist.values() for tid in ids)
    selected = [tid for tid in store.rows if tid in counts]
    summary = Summary(label=store.label, csv_path=store.csv_path, tracks=len(selected),
                      playlists={k: len(v) for k, v in per_playlist.items()}, shared=sum(1 for n in counts.values() if n > 1))  # fmt: skip
    misses = store.state.get("preview_misses") or {}
    retry = store.state.get("preview_retry") or {}
    for tid in selected:
        row = store.rows[tid]
        if row.get("preview_path"):
            summary.with_preview += 1
            summary.preview_sources[row.get("preview_source") or "?"] += 1
        elif tid in misses and is_permanent_miss(misses[tid]):
            summary.preview_misses[f"{misses[tid]} (not retried)"] += 1
        elif tid in retry or tid in misses:
            why = retry.get(tid) or misses[tid]
            summary.preview_misses[f"{_brief(why)} (a rerun retries)"] += 1
        elif ctx.options.previews:
            summary.preview_misses["not fetched (a rerun retries)"] += 1
        summary.features_sources[row.get("features_source") or ""] += 1
        summary.with_genres += bool(row.get("artist_genres"))
    listings = store.state.get("listings") or {}
    for c in contexts:
        summary.skipped.update((listings.get(c.ref.key) or {}).get("skipped") or {})
    summary.notes = list(dict.fromkeys(ctx.notes))
    return summary


def rerun_message(exc: RateLimited, store: PlaylistStore, done: str) -> str:
    """Who stopped the run, where progress is saved, and when to rerun."""
    if exc.retry_after:
        when = datetime.now(timezone.utc) + timedelta(seconds=exc.retry_after)
        hours = exc.retry_after / 3600
        span = f"{hours:.0f} h" if hours >= 1 else f"{exc.retry_after / 60:.0f} min" if exc.retry_after >= 60 else f"{exc.retry_after:.0f} s"
        after = f"after {when:%Y-%m-%d %H:%M} UTC (in {span})"
    else:
        after = "in a few minutes"
    return (f"{exc.service} stopped us ({exc.reason}); progress saved in {store.csv_path} ({done}): "
            f"rerun the same command {after} to continue")  # fmt: skip


def _brief(reason: str) -> str:
    """A failure's reason without per-track detail (``(truncated: decoded 1.0 s ...)`` -> ``(truncated)``)."""
    return re.sub(r"\(([^:()]*):[^()]*\)$", r"(\1)", reason).strip() or reason
