"""``collect``: a playlist's tracks, 30 s previews and audio features into ``DIR/<label>.csv``.

Stages (each resumable, each with a progress bar on stderr):

1. **list** the playlist (Spotify ``/items`` 50 per page, or ``/tracks`` 100 for older apps;
   or a public Deezer playlist), skipping null rows, local files, episodes and duplicates;
2. **previews**: Spotify's ``preview_url`` when it has one, else the Deezer track found by ISRC
   (checked against title and duration) or by search; downloaded right after the lookup (signed
   URLs expire), concurrently, atomically, size-capped and checked to decode;
3. **features** (``auto``): Spotify audio features in batches of 100 (a 403 is remembered), else
   ReccoBeats (40 ids per request), else computed locally from the preview
   (:func:`spotidance.analyze.features.compute_features`).

Every fact is journaled as soon as it is known (see :mod:`spotidance.core.playlist_csv`), so a rerun
continues where the last run stopped and asks no service twice for what it already gave. A long
``Retry-After``, ``QUOTA_EXCEEDED`` or a service that stays down saves progress and stops with a
message saying when to rerun.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from spotidance.analyze.features import compute_features
from spotidance.collect.http import DEFAULT_MAX_WAIT, Limits, PacedSession, RateLimited, ServiceUnavailable
from spotidance.collect.previews import check_audio, download, PreviewRejected
from spotidance.collect.sources import parse_playlist, PlaylistRef
from spotidance.collect.sources.deezer import deezer_session, DeezerClient, find_track
from spotidance.collect.sources.reccobeats import BATCH, ReccoBeatsClient
from spotidance.collect.sources.spotify import FEATURES_BATCH, FeaturesForbidden, row_object, SpotifySource, track_fields
from spotidance.core import progress
from spotidance.core.atomic import OutputError, output_errors
from spotidance.core.errors import SpotidanceError, short_reason
from spotidance.core.playlist_csv import find_label, PlaylistStore
from spotidance.core.schema import AUDIO_FEATURES
from spotidance.core.tables import format_table
from spotidance.core.workers import default_workers


FEATURE_CHOICES = ("auto", "spotify", "reccobeats", "local", "none")
#: Exit code when a service stops the run (quota, long Retry-After, outage); progress is saved.
EXIT_RERUN = 3
#: Seconds between two rewrites of the CSV during a stage.
SAVE_EVERY = 5.0
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

#: Why a track has no preview, when that will not change on a rerun (the catalogue's answer).
#: Every other failure (truncated transfer, expired URL, 5xx, timeout, undecodable download) is
#: transient: recorded under ``preview_retry`` and tried again by the next run.
PERMANENT_MISSES = frozenset({"not on Deezer", "ISRC resolved to another version", "no preview on Deezer"})


def is_permanent_miss(reason: str) -> bool:
    """Whether a recorded preview miss is final (see :data:`PERMANENT_MISSES`)."""
    return reason in PERMANENT_MISSES or reason.startswith("preview larger than")


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
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The closing summary as an aligned table."""
        rows: list[tuple[str, int]] = [("tracks", self.tracks), ("with a preview", self.with_preview)]
        rows += [(f"preview from {k}", v) for k, v in sorted(self.preview_sources.items())]
        rows += [(f"no preview: {k}", v) for k, v in sorted(self.preview_misses.items())]
        rows += [(f"features from {k or 'nowhere'}", v) for k, v in sorted(self.features_sources.items())]
        rows += [(f"skipped: {k}", v) for k, v in sorted(self.skipped.items())]
        return format_table(rows, headers=(f"{self.label} -> {self.csv_path}", "tracks"))


def slugify(name: str) -> str:
    """A file-name-safe label from a playlist name (``"Techno Bunker!"`` -> ``"techno-bunker"``)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80]


def _rerun_message(exc: RateLimited, store: PlaylistStore, done: str) -> str:
    if exc.retry_after:
        when = datetime.now(timezone.utc) + timedelta(seconds=exc.retry_after)
        hours = exc.retry_after / 3600
        span = f"{hours:.0f} h" if hours >= 1 else f"{exc.retry_after / 60:.0f} min" if exc.retry_after >= 60 else f"{exc.retry_after:.0f} s"
        after = f"after {when:%Y-%m-%d %H:%M} UTC (in {span})"
    else:
        after = "in a few minutes"
    return (f"{exc.service} stopped us ({exc.reason}); progress saved in {store.csv_path} ({done}): "
            f"rerun the same command {after} to continue")  # fmt: skip


class Collector:
    """One collection run; see :func:`collect` for the parameters."""

    def __init__(self, ref: PlaylistRef, *, out: Path, label: str | None, market: str | None, limit: int | None,
                 previews: bool, features: str, workers: int, max_wait: float, progress: bool,
                 notify: Callable[[str], None] | None) -> None:  # fmt: skip
        self.ref = ref
        self.out = out
        self.label = label
        self.market = market
        self.limit = limit
        self.previews = previews
        self.features = features
        self.workers = max(1, workers)
        self.progress = progress
        self.notify = notify or _notify
        self.limits = Limits(max_wait=max_wait)
        self._spotify = None
        self._deezer = None
        self._reccobeats = None
        self._sessions: dict[str, PacedSession] = {}
        self._last_save = time.monotonic()
        self.store: PlaylistStore | None = None
        self.summary_notes: list[str] = []

    # -- clients ----------------------------------------------------------------------------
    def session(self, service: str) -> PacedSession:
        if service not in self._sessions:
            if service == "deezer":
                self._sessions[service] = deezer_session(limits=self.limits, notify=self.notify, pool_size=self.workers + 4)
            else:
                self._sessions[service] = PacedSession(service, limits=self.limits, notify=self.notify, pool_size=self.workers + 4)
        return self._sessions[service]

    @property
    def spotify(self):
        if self._spotify is None:
            self._spotify = SpotifySource(self.session("spotify"), market=self.market)
        return self._spotify

    @property
    def deezer(self):
        if self._deezer is None:
            self._deezer = DeezerClient(self.session("deezer"))
        return self._deezer

    @property
    def reccobeats(self):
        if self._reccobeats is None:
            self._reccobeats = ReccoBeatsClient(self.session("reccobeats"))
        return self._reccobeats

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> Summary:
        try:
            label = self._resolve_label()
        except RateLimited as exc:
            raise SpotidanceError(f"{exc.service} stopped us ({exc.reason}) before anything was saved: rerun later",
                                  exit_code=EXIT_RERUN) from None  # fmt: skip
        except ServiceUnavailable as exc:
            raise SpotidanceError(f"{exc}: check the network (or the SPOTIDANCE_*_URL settings) and rerun",
                                  exit_code=EXIT_RERUN) from None  # fmt: skip
        store = self.store = PlaylistStore(self.out, label)
        if store.csv_path.exists() and not store.meta_path.exists():
            raise SpotidanceError(
                f"{store.csv_path} exists but was not written by `spotidance collect` (no {store.meta_path.name}): "
                "pass another --label or --out"
            )
        store.load()
        known = store.meta.get("playlist")
        if known and known != self.ref.key:
            raise SpotidanceError(
                f"{store.csv_path} holds another playlist ({known}): pass another --label or --out"
            )
        store.meta.update({"playlist": self.ref.key, "playlist_name": store.meta.get("playlist_name") or self._name or ""})
        stage = "listing"
        try:
            self._list()
            store.save()
            selected = self._selected()
            if self.previews:
                stage = "previews"
                self._previews(selected)
                store.save()
            if self.features != "none":
                stage = "features"
                self._features(selected)
            store.save()
        except RateLimited as exc:
            store.save()
            raise SpotidanceError(_rerun_message(exc, store, self._done(stage)), exit_code=EXIT_RERUN) from None
        except ServiceUnavailable as exc:
            store.save()
            raise SpotidanceError(
                f"{exc}; progress saved in {store.csv_path} ({self._done(stage)}): rerun the same command later to continue",
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
            for s in self._sessions.values():
                s.close()
        return self._summary(self._selected())

    def _done(self, stage: str) -> str:
        assert self.store is not None
        n = len(self._selected())
        return f"stopped during {stage}, {n} tracks listed"

    _name: str | None = None

    def _resolve_label(self) -> str:
        if self.label:
            if not _LABEL.match(self.label):
                raise SpotidanceError(f"--label {self.label!r} must be letters, digits, '.', '_' or '-' (it names files)")
            return self.label
        earlier = find_label(self.out, self.ref.key)
        if earlier:
            return earlier
        if self.ref.service == "spotify":
            self._name = self.spotify.playlist_info(self.ref.id)["name"]
        else:
            self._name = str(self.deezer.playlist(self.ref.id).get("title") or "")
        return slugify(self._name) or f"{self.ref.service}-{self.ref.id}"

    def _selected(self) -> list[str]:
        assert self.store is not None
        ids = list(self.store.rows)
        return ids[: self.limit] if self.limit else ids

    def _maybe_save(self) -> None:
        if time.monotonic() - self._last_save >= SAVE_EVERY:
            assert self.store is not None
            self.store.save()
            self._last_save = time.monotonic()

    # -- 1. listing -------------------------------------------------------------------------
    def _list(self) -> None:
        store = self.store
        assert store is not None
        listing = dict(store.state.get("listing") or {})
        if listing.get("complete") or (self.limit and len(store.rows) >= self.limit):
            return
        offset = int(listing.get("offset") or 0)
        skipped = Counter(listing.get("skipped") or {})
        kept = int(listing.get("rows") or 0)
        if len(store.rows) > kept:  # rows of a page cut short by a kill: that page is listed again
            store.drop(list(store.rows)[kept:])
        bar = progress.bar(enabled=self.progress, desc="listing", unit="track", initial=offset)
        complete = False
        try:
            pages = self._spotify_pages(offset) if self.ref.service == "spotify" else self._deezer_pages(offset)
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
                if self.limit and len(store.rows) >= self.limit:
                    break
            else:
                complete = True
            store.set_state("listing", {"offset": offset, "complete": complete, "skipped": dict(skipped), "rows": len(store.rows)})
        finally:
            bar.close()

    def _spotify_pages(self, offset: int):
        for rows, next_offset, total in self.spotify.iter_pages(self.ref.id, offset=offset):
            fields_list, reasons = [], Counter()
            for row in rows:
                obj, reason = row_object(row)
                if obj is None:
                    reasons[reason] += 1
                else:
                    fields_list.append(track_fields(obj, label=self.store.label, playlist_id=self.ref.id))
            yield fields_list, reasons, next_offset, total

    def _deezer_pages(self, offset: int):
        for tracks, next_index, total in self.deezer.playlist_tracks(self.ref.id, index=offset):
            fields_list, reasons = [], Counter()
            for t in tracks:
                if not t or not t.get("id") or t.get("type", "track") != "track":
                    reasons["unavailable (null row)"] += 1
                    continue
                fields_list.append({
                    "track_id": str(t["id"]), "deezer_id": str(t["id"]), "track_name": t.get("title") or "",
                    "artist_name": (t.get("artist") or {}).get("name") or "",
                    "track_length": int(t["duration"]) * 1000 if t.get("duration") else "",
                    "label": self.store.label, "playlist_id": self.ref.id,
                })  # fmt: skip
            yield fields_list, reasons, next_index, total

    # -- 2. previews ------------------------------------------------------------------------
    def _preview_file(self, track_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", track_id)
        return self.out / self.store.label / f"{safe}.mp3"

    def _needs_preview(self, tid: str) -> bool:
        row = self.store.rows[tid]
        misses = self.store.state.get("preview_misses") or {}
        if tid in misses and is_permanent_miss(misses[tid]):  # older runs also recorded transient ones
            return False
        if row.get("preview_path"):
            path = self.out / row["preview_path"]
            if path.is_file() and path.stat().st_size > 0:
                return False
        return True

    def _previews(self, selected: list[str]) -> None:
        for stale in (self.out / self.store.label).glob(".*.part.mp3"):  # left by a killed run
            stale.unlink(missing_ok=True)
        todo = [tid for tid in selected if self._needs_preview(tid)]
        bar = progress.bar(enabled=self.progress, desc="previews", unit="track", total=len(selected), initial=len(selected) - len(todo))
        try:
            self._run_pool(todo, self._preview_one, bar)
        finally:
            bar.close()

    def _run_pool(self, items: Iterable[Any], fn: Callable[[Any], None], bar, *, workers: int | None = None) -> None:
        """Run ``fn`` over ``items`` on a bounded thread pool; the first service stop cancels the rest."""
        items = list(items)
        if not items:
            return
        workers = min(workers or self.workers, len(items))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect")
        pending: set[Future] = set()
        it = iter(items)
        failure: BaseException | None = None
        try:
            for item in it:
                pending.add(pool.submit(fn, item))
                if len(pending) >= workers * 2:
                    break
            while pending:
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    exc = fut.exception()
                    if exc is not None and failure is None:
                        failure = exc
                    bar.update(1)
                if failure is None:
                    for item in it:
                        pending.add(pool.submit(fn, item))
                        if len(pending) >= workers * 2:
                            break
                self._maybe_save()
        except BaseException:
            # Ctrl-C: do not wait for downloads in flight (each ends by its own timeout).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if failure is not None:
            raise failure

    def _preview_one(self, tid: str) -> None:
        store = self.store
        row = dict(store.rows[tid])
        dest = self._preview_file(tid)
        rel = dest.relative_to(self.out).as_posix()

        # A file left by a killed run: keep it if it decodes.
        reuse = dest.is_file() and check_audio(dest) is None
        reasons: list[PreviewRejected] = []
        if row.get("mp3") and self.ref.service == "spotify":
            if reuse and row.get("preview_source") in ("", "spotify") and not row.get("deezer_id"):
                store.update(tid, {"preview_source": "spotify", "preview_path": rel})
                return
            try:
                download(self.session("previews"), row["mp3"], dest)
                store.update(tid, {"preview_source": "spotify", "preview_path": rel})
                return
            except PreviewRejected as exc:
                reasons.append(exc)
        if reuse and row.get("deezer_id"):  # looked up and downloaded before a kill
            store.update(tid, {"preview_source": "deezer", "preview_path": rel})
            return
        track = self._deezer_track(tid, row)
        if track is None:
            return
        if reuse:
            store.update(tid, {"preview_source": "deezer", "preview_path": rel})
            return
        for attempt in range(2):
            url = track.get("preview") or ""
            if not url:
                self._miss(tid, "no preview on Deezer")
                return
            try:
                download(self.session("previews"), url, dest)
                store.update(tid, {"preview_source": "deezer", "preview_path": rel})
                return
            except PreviewRejected as exc:
                reasons.append(exc)
                if attempt == 0:
                    fresh = self.deezer.track(track["id"])  # a fresh signed URL
                    if fresh is None:
                        break
                    track = fresh
        reason = str(reasons[-1]) if reasons else "preview download failed"
        if reasons and not reasons[-1].transient and is_permanent_miss(reason):
            self._miss(tid, reason)
        else:  # a broken transfer, an expired URL, a server error: the next run tries again
            store.set_state("preview_retry", {tid: reason}, merge=True)

    def _deezer_track(self, tid: str, row: dict[str, str]) -> dict | None:
        """The Deezer track (with a fresh preview URL) for a row, recording what it links."""
        store = self.store
        if row.get("deezer_id"):
            track = self.deezer.track(row["deezer_id"])
            if track is None:
                self._miss(tid, "not on Deezer")
                return None
        else:
            track, why = find_track(self.deezer, isrc=row.get("isrc", ""), title=row.get("track_name", ""),
                                    artist=row.get("artist_name", ""), duration_ms=row.get("track_length"))  # fmt: skip
            if track is None:
                self._miss(tid, why)
                return None
        fields: dict[str, Any] = {"deezer_id": str(track["id"])}
        if self.ref.service == "deezer":  # the playlist gave only a simplified track
            fields["isrc"] = (track.get("isrc") or "").upper()
            fields["album_date"] = track.get("release_date") or ""
        store.update(tid, fields)
        return track

    def _miss(self, tid: str, reason: str) -> None:
        self.store.set_state("preview_misses", {tid: reason}, merge=True)

    # -- 3. features ------------------------------------------------------------------------
    def _features(self, selected: list[str]) -> None:
        chain = ["spotify", "reccobeats", "local"] if self.features == "auto" else [self.features]
        if self.ref.service != "spotify" and "spotify" in chain:
            if self.features == "spotify":
                raise SpotidanceError("--features spotify needs a Spotify playlist; use --features auto or reccobeats")
            chain.remove("spotify")
        todo = [tid for tid in selected if not self.store.rows[tid].get("features_source")]
        bar = progress.bar(enabled=self.progress, desc="features", unit="track", total=len(selected), initial=len(selected) - len(todo))
        try:
            for source in chain:
                tried = self.store.state.get("features_tried") or {}
                todo = [t for t in todo if not self.store.rows[t].get("features_source")]
                pending = [t for t in todo if source not in (tried.get(t) or [])]
                if not pending:
                    continue
                try:
                    getattr(self, f"_features_{source}")(pending, bar)
                except ServiceUnavailable as exc:  # the next source fills in; a rerun asks again
                    self.notify(f"{exc}; features from the next source")
                    self.summary_notes.append(f"{source} features: {exc}")
        finally:
            bar.close()

    def _record_features(self, tid: str, values: dict[str, Any], source: str) -> None:
        fields = {k: values.get(k) for k in AUDIO_FEATURES if values.get(k) is not None}
        fields["features_source"] = source
        self.store.update(tid, fields)

    def _tried(self, tids: Iterable[str], source: str) -> None:
        tried = self.store.state.get("features_tried") or {}
        self.store.set_state("features_tried", {t: sorted(set(tried.get(t) or []) | {source}) for t in tids}, merge=True)

    def _features_spotify(self, tids: list[str], bar) -> None:
        batches = [tids[i : i + FEATURES_BATCH] for i in range(0, len(tids), FEATURES_BATCH)]
        forbidden = threading.Event()

        def one(batch: list[str]) -> None:
            if forbidden.is_set():
                return
            try:
                found = self.spotify.audio_features(batch)
            except FeaturesForbidden:
                if not forbidden.is_set():
                    forbidden.set()
                    self.notify("Spotify refuses audio features to this app (403, Development Mode): using the next source")
                return
            for tid, values in found.items():
                self._record_features(tid, values, "spotify")
                bar.update(1)
            self._tried(batch, "spotify")

        one(batches[0])  # alone first: a 403 here spares every other batch
        self._run_pool(batches[1:], one, progress.NoBar(), workers=2)
        if forbidden.is_set():
            self.summary_notes.append("Spotify audio features: refused (403), remembered for the run")

    def _features_reccobeats(self, tids: list[str], bar) -> None:
        keyed: dict[str, str] = {}
        for tid in tids:
            row = self.store.rows[tid]
            key = tid if self.ref.service == "spotify" else row.get("isrc", "")
            if key:
                keyed[key] = tid
        keys = list(keyed)
        batches = [keys[i : i + BATCH] for i in range(0, len(keys), BATCH)]

        def one(batch: list[str]) -> None:
            found = self.reccobeats.audio_features(batch)
            for key, values in found.items():
                self._record_features(keyed[key], values, "reccobeats")
                bar.update(1)
            self._tried([keyed[k] for k in batch], "reccobeats")

        self._run_pool(batches, one, progress.NoBar(), workers=2)

    def _features_local(self, tids: list[str], bar) -> None:
        with_audio = [t for t in tids if self.store.rows[t].get("preview_path") and (self.out / self.store.rows[t]["preview_path"]).is_file()]
        if not with_audio:
            if not self.previews:
                self.summary_notes.append("local features need the previews: rerun without --no-previews")
            return
        def one(tid: str) -> None:
            path = self.out / self.store.rows[tid]["preview_path"]
            try:
                values = compute_features(str(path))
            except (SpotidanceError, ValueError, RuntimeError, MemoryError) as exc:
                self.summary_notes.append(f"local features failed for {tid}: {short_reason(exc)}")
                values = None
            if values:
                self._record_features(tid, values, "local")
                bar.update(1)
            self._tried([tid], "local")

        self._run_pool(with_audio, one, progress.NoBar(), workers=min(4, default_workers()))

    # -- summary ----------------------------------------------------------------------------
    def _summary(self, selected: list[str]) -> Summary:
        store = self.store
        summary = Summary(label=store.label, csv_path=store.csv_path, tracks=len(selected))
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
            elif self.previews:
                summary.preview_misses["not fetched (a rerun retries)"] += 1
            summary.features_sources[row.get("features_source") or ""] += 1
        summary.skipped.update((store.state.get("listing") or {}).get("skipped") or {})
        summary.notes = list(dict.fromkeys(self.summary_notes))
        return summary


def _brief(reason: str) -> str:
    """A failure's reason without per-track detail (``(truncated: decoded 1.0 s ...)`` -> ``(truncated)``)."""
    return re.sub(r"\(([^:()]*):[^()]*\)$", r"(\1)", reason).strip() or reason


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
    features: str = "auto",
    workers: int = 8,
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
    collector = Collector(ref, out=Path(out), label=label, market=market, limit=limit, previews=previews,
                          features=features, workers=workers, max_wait=max_wait, progress=progress, notify=notify)  # fmt: skip
    # a full disk, a read-only or unwritable --out: one line; what was saved stays, a rerun resumes
    hint = "; what was saved stays saved: free some space and rerun the same command to continue"
    try:
        with output_errors(out):
            return collector.run()
    except OutputError as exc:
        raise OutputError(f"{exc}{hint}", cause=exc) from None
