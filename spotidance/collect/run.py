"""``collect``: playlists' tracks, 30 s previews and audio features into ``DIR/<label>.csv`` (or ``.parquet``).

Several playlists under one label share one table (one row per track; see
:mod:`~spotidance.collect.listing`). Per playlist, in the order given, the stages run (each
resumable, each with a progress bar on stderr):

1. **list** (:mod:`~spotidance.collect.listing`) the playlist (Spotify ``/items`` 50 per page, or ``/tracks`` 100 for older apps;
   or a public Deezer playlist), skipping null rows, local files, episodes and duplicates;
2. **previews** (:mod:`~spotidance.collect.preview_step`): Spotify's ``preview_url`` when it has one, else the Deezer track found by ISRC
   (checked against title and duration) or by search; downloaded right after the lookup (signed
   URLs expire), concurrently, atomically, size-capped and checked to decode;
3. **features** (:mod:`~spotidance.collect.features`; ``auto``): Spotify audio features in batches of 100 (a 403 is remembered), else
   ReccoBeats (40 ids per request), else computed locally from the preview
   (:func:`spotidance.analyze.features.compute_features`);
4. **genres** (:mod:`~spotidance.collect.genres`): the artists' genres, where Spotify still gives them.

Every fact is journaled as soon as it is known (see :mod:`spotidance.core.playlist_csv`), so a rerun
continues where the last run stopped and asks no service twice for what it already gave. A long
``Retry-After``, ``QUOTA_EXCEEDED`` or a service that stays down saves progress and stops with a
message saying when to rerun.

The steps of a playlist share one :class:`~spotidance.collect.context.RunContext`; this module orchestrates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from spotidance.collect import DEFAULT_FEATURES, DEFAULT_MAX_WAIT, DEFAULT_WORKERS, FEATURE_CHOICES
from spotidance.collect.context import Options, RunContext, Services
from spotidance.collect.features import fetch_features
from spotidance.collect.genres import fetch_genres
from spotidance.collect.http import Limits, RateLimited, ServiceUnavailable
from spotidance.collect.listing import list_tracks, resolve_label, slugify
from spotidance.collect.preview_step import fetch_previews, is_permanent_miss, PERMANENT_MISSES
from spotidance.collect.sources import parse_playlist, PlaylistRef
from spotidance.collect.summary import rerun_message, Summary, summarize
from spotidance.core import progress
from spotidance.core.atomic import OutputError, output_errors
from spotidance.core.errors import SpotidanceError
from spotidance.core.extras import require
from spotidance.core.playlist_csv import playlist_keys, PlaylistStore
from spotidance.core.schema import TABLE_FORMATS

__all__ = ["collect", "EXIT_RERUN", "FEATURE_CHOICES", "is_permanent_miss", "PERMANENT_MISSES", "slugify", "Summary"]

#: Exit code when a service stops the run (quota, long Retry-After, outage); progress is saved.
EXIT_RERUN = 3


def _open_store(refs: list[PlaylistRef], *, out: Path, label: str, name: str, fmt: str, chosen: bool = True) -> PlaylistStore:
    """The label's table, loaded, with ``refs`` recorded in its metadata (old layouts brought up to date).

    A label not ``chosen`` (made from a playlist's name) that names a table of other playlists is
    refused: two different playlists of the same name must not be merged silently.
    """
    other = next((f for f in TABLE_FORMATS if f != fmt and (out / f"{label}.{f}.meta.json").exists()), None)
    if other:
        raise SpotidanceError(f"{out / f'{label}.{other}'} holds this label already: rerun with --format {other}, "
                              "or pass another --label or --out")  # fmt: skip
    store = PlaylistStore(out, label, fmt=fmt)
    if store.csv_path.exists() and not store.meta_path.exists():
        raise SpotidanceError(
            f"{store.csv_path} exists but was not written by `spotidance collect` (no {store.meta_path.name}): "
            "pass another --label or --out"
        )
    store.load()
    keys = playlist_keys(store.meta)
    if not chosen and set(keys) - {ref.key for ref in refs}:
        raise SpotidanceError(f"{store.csv_path} holds other playlists: pass --label {label} to add this one to it, "
                              "or another --label")  # fmt: skip
    legacy = store.state.pop("listing", None)
    listings = store.state.setdefault("listings", {})
    if isinstance(legacy, dict) and keys and keys[0] not in listings:  # schema 1: one playlist, its state at the top
        kept = int(legacy.get("rows") or 0)
        if len(store.rows) > kept:  # rows of a page cut short by a kill: that page is listed again
            store.drop(list(store.rows)[kept:])
        listings[keys[0]] = {k: v for k, v in legacy.items() if k != "rows"}
    orphans = [tid for tid, row in store.rows.items() if not row.get("playlist_ids")]
    if orphans:  # journaled without a playlist (a page cut short by a kill): listed again
        store.drop(orphans)
    names = dict(store.meta.get("playlist_names") or {})
    if keys and store.meta.get("playlist_name") and keys[0] not in names:
        names[keys[0]] = store.meta["playlist_name"]
    if name and refs[0].key not in names:
        names[refs[0].key] = name
    keys = list(dict.fromkeys([*keys, *(ref.key for ref in refs)]))
    store.meta.update({"playlists": keys, "playlist": keys[0], "playlist_names": names})
    store.meta.pop("playlist_name", None)
    return store


def _run(refs: list[PlaylistRef], *, out: Path, label: str | None, fmt: str, options: Options, services: Services,
         notify: Callable[[str], None]) -> Summary:  # fmt: skip
    """Resolve the label, open the store, then per playlist list, fetch previews, features and genres; save on any stop."""
    try:
        label, name, chosen = resolve_label(refs, out=out, label=label, services=services)
    except RateLimited as exc:
        raise SpotidanceError(f"{exc.service} stopped us ({exc.reason}) before anything was saved: rerun later",
                              exit_code=EXIT_RERUN) from None  # fmt: skip
    except ServiceUnavailable as exc:
        raise SpotidanceError(f"{exc}: check the network (or the SPOTIDANCE_*_URL settings) and rerun",
                              exit_code=EXIT_RERUN) from None  # fmt: skip
    store = _open_store(refs, out=out, label=label, name=name, fmt=fmt, chosen=chosen)
    notes: list[str] = []
    contexts = [RunContext(ref=ref, out=out, options=options, services=services, store=store, notify=notify, notes=notes)
                for ref in refs]  # fmt: skip
    ctx, stage = contexts[0], "listing"
    try:
        for ctx in contexts:
            stage = "listing"
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
            stage = "genres"
            fetch_genres(ctx, selected)
            store.save()
    except RateLimited as exc:
        store.save()
        raise SpotidanceError(rerun_message(exc, store, _done(ctx, stage, len(refs))), exit_code=EXIT_RERUN) from None
    except ServiceUnavailable as exc:
        store.save()
        raise SpotidanceError(
            f"{exc}; progress saved in {store.csv_path} ({_done(ctx, stage, len(refs))}): rerun the same command later to continue",
            exit_code=EXIT_RERUN,
        ) from None
    except BaseException:
        if store.rows:
            try:
                store.save()  # Ctrl-C or an error: keep what is known
            except OSError:  # a full disk: the journal and the last saved table stay, a rerun replays them
                pass
        raise
    finally:
        store.close()
    return summarize(contexts)


def _done(ctx: RunContext, stage: str, playlists: int) -> str:
    which = f" of playlist {ctx.ref.id}" if playlists > 1 else ""
    return f"stopped during {stage}{which}, {len(ctx.selected())} tracks listed"


def _notify(message: str) -> None:
    progress.write(f"spotidance: {message}")


def collect(
    playlist: str | Sequence[str],
    *,
    out: str | Path = ".",
    label: str | None = None,
    fmt: str = "csv",
    market: str | None = None,
    limit: int | None = None,
    previews: bool = True,
    features: str = DEFAULT_FEATURES,
    workers: int = DEFAULT_WORKERS,
    max_wait: float = DEFAULT_MAX_WAIT,
    progress: bool = False,
    notify: Callable[[str], None] | None = None,
) -> Summary:
    """Collect one or several playlists into ``out/<label>.csv`` (and previews under ``out/<label>/``).

    Several playlists (in one run, or added by later runs with the same label) share one table: one
    row per track, ``playlist_id`` the first playlist that listed it, ``playlist_ids`` all of them.

    Parameters
    ----------
    playlist : str or sequence of str
        Spotify playlist URLs, URIs or ids, or Deezer playlist URLs or ``deezer:playlist:ID``.
    out : path-like
        Output folder (created).
    label : str, optional
        Label and file name; default: the label an earlier run in ``out`` gave these playlists, else
        the first playlist's name made file-name-safe (see :func:`spotidance.collect.names.safe_label`).
    fmt : {"csv", "parquet"}
        The table's format (Parquet needs pyarrow: ``pip install 'spotidance[parquet]'``).
    market : str, optional
        Spotify market (ISO country code).
    limit : int, optional
        Only the first ``limit`` usable tracks of each playlist.
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
    texts = [playlist] if isinstance(playlist, str) else list(playlist)
    if not texts:
        raise SpotidanceError("no playlist given: pass one or more playlist URLs, URIs or ids")
    refs = list(dict.fromkeys(parse_playlist(text) for text in texts))
    if features == "spotify" and any(ref.service != "spotify" for ref in refs):
        raise SpotidanceError("--features spotify needs Spotify playlists; use --features auto or reccobeats")
    if fmt not in TABLE_FORMATS:
        raise SpotidanceError(f"--format must be one of {', '.join(TABLE_FORMATS)}")
    if fmt == "parquet":
        require("pyarrow", extra="parquet", purpose="write Parquet files")
    notify = notify or _notify
    options = Options(market=market, limit=limit, previews=previews, features=features, workers=max(1, workers), progress=progress)
    services = Services(limits=Limits(max_wait=max_wait), notify=notify, workers=options.workers, market=market)
    # a full disk, a read-only or unwritable --out: one line; what was saved stays, a rerun resumes
    hint = "; what was saved stays saved: free some space and rerun the same command to continue"
    try:
        with output_errors(out):
            return _run(refs, out=Path(out), label=label, fmt=fmt, options=options, services=services, notify=notify)
    except OutputError as exc:
        raise OutputError(f"{exc}{hint}", cause=exc) from None
    finally:
        services.close()
