"""``collect``: a playlist's tracks, 30 s previews and audio features into ``DIR/<label>.csv``.

Stages (each resumable, each with a progress bar on stderr):

1. **list** (:mod:`~spotidance.collect.listing`) the playlist (Spotify ``/items`` 50 per page, or ``/tracks`` 100 for older apps;
   or a public Deezer playlist), skipping null rows, local files, episodes and duplicates;
2. **previews** (:mod:`~spotidance.collect.preview_step`): Spotify's ``preview_url`` when it has one, else the Deezer track found by ISRC
   (checked against title and duration) or by search; downloaded right after the lookup (signed
   URLs expire), concurrently, atomically, size-capped and checked to decode;
3. **features** (:mod:`~spotidance.collect.features`; ``auto``): Spotify audio features in batches of 100 (a 403 is remembered), else
   ReccoBeats (40 ids per request), else computed locally from the preview
   (:func:`spotidance.analyze.features.compute_features`).

Every fact is journaled as soon as it is known (see :mod:`spotidance.core.playlist_csv`), so a rerun
continues where the last run stopped and asks no service twice for what it already gave. A long
``Retry-After``, ``QUOTA_EXCEEDED`` or a service that stays down saves progress and stops with a
message saying when to rerun.

The steps share one :class:`~spotidance.collect.context.RunContext`; this module orchestrates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from spotidance.collect import DEFAULT_FEATURES, DEFAULT_MAX_WAIT, DEFAULT_WORKERS, FEATURE_CHOICES
from spotidance.collect.context import Options, RunContext, Services
from spotidance.collect.features import fetch_features
from spotidance.collect.http import Limits, RateLimited, ServiceUnavailable
from spotidance.collect.listing import list_tracks, resolve_label, slugify
from spotidance.collect.preview_step import fetch_previews, is_permanent_miss, PERMANENT_MISSES
from spotidance.collect.sources import parse_playlist, PlaylistRef
from spotidance.collect.summary import rerun_message, Summary, summarize
from spotidance.core import progress
from spotidance.core.atomic import OutputError, output_errors
from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import PlaylistStore

__all__ = ["collect", "EXIT_RERUN", "FEATURE_CHOICES", "is_permanent_miss", "PERMANENT_MISSES", "slugify", "Summary"]

#: Exit code when a service stops the run (quota, long Retry-After, outage); progress is saved.
EXIT_RERUN = 3


def _run(ref: PlaylistRef, *, out: Path, label: str | None, options: Options, services: Services,
         notify: Callable[[str], None]) -> Summary:  # fmt: skip
    """Resolve the label, open the store, then list, fetch previews and features; save on any stop."""
    try:
        label, name = resolve_label(ref, out=out, label=label, services=services)
    except RateLimited as exc:
        raise SpotidanceError(f"{exc.service} stopped us ({exc.reason}) before anything was saved: rerun later",
                              exit_code=EXIT_RERUN) from None  # fmt: skip
    except ServiceUnavailable as exc:
        raise SpotidanceError(f"{exc}: check the network (or the SPOTIDANCE_*_URL settings) and rerun",
                              exit_code=EXIT_RERUN) from None  # fmt: skip
    store = PlaylistStore(out, label)
    if store.csv_path.exists() and not store.meta_path.exists():
        raise SpotidanceError(
            f"{store.csv_path} exists but was not written by `spotidance collect` (no {store.meta_path.name}): "
            "pass another --label or --out"
        )
    store.load()
    known = store.meta.get("playlist")
    if known and known != ref.key:
        raise SpotidanceError(f"{store.csv_path} holds another playlist ({known}): pass another --label or --out")
    store.meta.update({"playlist": ref.key, "playlist_name": store.meta.get("playlist_name") or name})
    ctx = RunContext(ref=ref, out=out, options=options, services=services, store=store, notify=notify)
    stage = "listing"
    try:
        list_tracks(ctx)
        store.save()
        selected = ctx.selected()
        if options.previews:
            stage = "previews"
            fetch_previews(ctx, selected)
            store.save()
        if options.features != "none":
            stage = "features"
            fetch_features(ctx, selected)
        store.save()
    except RateLimited as exc:
        store.save()
        raise SpotidanceError(rerun_message(exc, store, _done(ctx, stage)), exit_code=EXIT_RERUN) from None
    except ServiceUnavailable as exc:
        store.save()
        raise SpotidanceError(
            f"{exc}; progress saved in {store.csv_path} ({_done(ctx, stage)}): rerun the same command later to continue",
            exit_code=EXIT_RERUN,
        ) from None
    except BaseException:
        if store.rows:
            try:
                store.save()  # Ctrl-C or an error: keep what is known
            except OSError:  # a full disk: the journal and the last saved CSV stay, a rerun replays them
                pass
        raise
    finally:
        store.close()
    return summarize(ctx, ctx.selected())


def _done(ctx: RunContext, stage: str) -> str:
    return f"stopped during {stage}, {len(ctx.selected())} tracks listed"


def _notify(message: str) -> None:
    progress.write(f"spotidance: {message}")


def collect(
    playlist: str,
    *,
    out: str | Path = ".",
    label: str | None = None,
    market: str | None = None,
    limit: int | None = None,
    previews: bool = True,
    features: str = DEFAULT_FEATURES,
    workers: int = DEFAULT_WORKERS,
    max_wait: float = DEFAULT_MAX_WAIT,
    progress: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Summary:
    """Collect a playlist into ``out/<label>.csv`` (and previews under ``out/<label>/``).

    Parameters
    ----------
    playlist : str
        Spotify playlist URL, URI or id, or a Deezer playlist URL or ``deezer:playlist:ID``.
    out : path-like
        Output folder (created).
    label : str, optional
        Label and file name; default: a slug of the playlist's name (or the one an earlier run used).
    market : str, optional
        Spotify market (ISO country code).
    limit : int, optional
        Only the first ``limit`` usable tracks.
    previews : bool
        Download previews.
    features : {"auto", "spotify", "reccobeats", "local", "none"}
    workers : int
        Concurrent downloads/lookups.
    max_wait : float
        Longest ``Retry-After`` waited out, in seconds.
    progress : bool
        Progress bars on stderr.
    notify : callable, optional
        Receives one-line notices (waits, refusals); default: printed on stderr.

    Returns
    -------
    Summary

    Raises
    ------
    SpotidanceError
        Bad input, refusals (with what to do), or a stop by a service (``exit_code`` 3, progress saved).
    """
    if features not in FEATURE_CHOICES:
        raise SpotidanceError(f"--features must be one of {', '.join(FEATURE_CHOICES)}")
    if limit is not None and limit < 1:
        raise SpotidanceError("--limit must be at least 1")
    ref = parse_playlist(playlist)
    notify = notify or _notify
    options = Options(market=market, limit=limit, previews=previews, features=features, workers=max(1, workers), progress=progress)
    services = Services(limits=Limits(max_wait=max_wait), notify=notify, workers=options.workers, market=market)
    # a full disk, a read-only or unwritable --out: one line; what was saved stays, a rerun resumes
    hint = "; what was saved stays saved: free some space and rerun the same command to continue"
    try:
        with output_errors(out):
            return _run(ref, out=Path(out), label=label, options=options, services=services, notify=notify)
    except OutputError as exc:
        raise OutputError(f"{exc}{hint}", cause=exc) from None
    finally:
        services.close()
