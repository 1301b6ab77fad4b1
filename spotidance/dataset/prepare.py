"""``spotidance prepare``: audio files to a frame dataset, in parallel and incrementally.

Inputs are either

* CSV files written by ``collect`` (or ``synth``): one track per row; the label is the ``label``
  column (else the file name), the audio is ``preview_path`` relative to the CSV's folder, the
  artist is ``artist_id`` (else ``artist_name``); or
* a folder with one sub-folder of audio files per label (searched recursively); the track id is
  the file's path relative to that folder, and the artist is unknown.

Each file is decoded and framed in a worker process (one per core by default); frames are
committed to the dataset every ``commit_every`` tracks (see :mod:`spotidance.dataset.frames`), so
Ctrl-C loses at most the tracks since the last commit and a rerun carries on from there. A track
already in the dataset from the same, unchanged file is not decoded again, nor is a file that
was already skipped for a reason.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from spotidance.audio import decode as audio
from spotidance.audio import spectrogram
from spotidance.audio.config import SpectrogramConfig
from spotidance.audio.files import source_key
from spotidance.core.errors import SpotidanceError
from spotidance.core.playlist_csv import read_table
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.core.workers import default_workers, map_ordered
from spotidance.dataset.frames import DatasetWriter, FrameDataset


@dataclasses.dataclass(frozen=True)
class TrackSource:
    """One audio file to frame, with its label."""

    track_id: str
    label: str
    artist: str
    path: str
    source_key: str


@dataclasses.dataclass
class PrepareSummary:
    """What one ``prepare`` run did."""

    dataset: Path
    added: int
    unchanged: int
    relabelled: int
    skipped: list[dict[str, str]]
    previously_skipped: int
    frames_per_label: dict[str, int]
    tracks_per_label: dict[str, int]
    repaired: int = 0


def sources_from_inputs(inputs: list[str | os.PathLike]) -> tuple[list[TrackSource], list[dict[str, str]]]:
    """Resolve CSVs and label folders into track sources.

    Returns
    -------
    sources : list of TrackSource
    problems : list of dict
        ``path, source_key, reason`` for rows that name no usable file or repeat a track id.

    Raises
    ------
    SpotidanceError
        If an input does not exist, or is neither a CSV nor a folder.
    """
    sources: list[TrackSource] = []
    problems: list[dict[str, str]] = []
    if not inputs:
        raise SpotidanceError("no input: give CSV files from `collect` or a folder with one sub-folder per label")
    for raw in inputs:
        item = Path(raw)
        if not item.exists():
            raise SpotidanceError(f"{item}: no such file or folder")
        if not item.is_dir() and not item.is_file():
            raise SpotidanceError(f"{item}: not a regular file or folder (a FIFO, socket or device is not read)")
        if item.is_dir():
            found = _from_folder(item)
        elif item.suffix.lower() in (".csv", ".parquet"):
            found, bad = _from_csv(item)
            problems.extend(bad)
        else:
            raise SpotidanceError(f"{item}: expected a .csv (or .parquet) file or a folder with one sub-folder per label")
        sources.extend(found)
    seen: set[str] = set()
    unique: list[TrackSource] = []
    for s in sources:
        if s.track_id in seen:
            problems.append({"path": s.path, "source_key": s.source_key, "reason": f"duplicate track id {s.track_id}"})
            continue
        seen.add(s.track_id)
        unique.append(s)
    return unique, problems


def _from_folder(root: Path) -> list[TrackSource]:
    out: list[TrackSource] = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(label_dir.rglob("*")):
            if file.is_file() and audio.is_audio_path(file) and not file.name.startswith("."):
                rel = file.relative_to(root).as_posix()
                out.append(TrackSource(rel, label_dir.name, "", str(file), source_key(file)))
    return out


#: Why a row whose preview came from Spotify is not framed.
SPOTIFY_PREVIEW_REASON = "Spotify preview: Spotify's terms forbid training models on its content (use a Deezer preview or your own file)"


def _from_csv(file: Path) -> tuple[list[TrackSource], list[dict[str, str]]]:
    try:
        header, rows = read_table(file)  # CSV (a UTF-8 BOM is not part of a name) or collect's Parquet
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SpotidanceError(f"{file}: unreadable CSV ({exc.__class__.__name__})") from None
    if not header:
        raise SpotidanceError(f"{file}: empty CSV (no header, no rows)")
    if "track_id" not in header:
        raise SpotidanceError(f"{file}: no track_id column; is this a CSV written by `spotidance collect`?")
    if not rows:
        raise SpotidanceError(f"{file}: the CSV has a header but no rows")
    out: list[TrackSource] = []
    problems: list[dict[str, str]] = []
    for row in rows:
        track_id = (row.get("track_id") or "").strip()
        label = (row.get("label") or "").strip() or file.stem
        artist = (row.get("artist_id") or "").strip() or (row.get("artist_name") or "").strip()
        rel = (row.get("preview_path") or "").strip()
        if not track_id:
            problems.append({"path": str(file), "source_key": f"{file}|row-without-id", "reason": "row without track_id"})
            continue
        if not rel:
            problems.append({"path": f"{file}:{track_id}", "source_key": f"{file}|{track_id}|no-preview", "reason": "no preview file in the CSV"})
            continue
        if (row.get("preview_source") or "").strip() == "spotify":
            # Spotify's Developer Policy forbids training models on Spotify content.
            problems.append({"path": f"{file}:{track_id}", "source_key": f"{file}|{track_id}|spotify", "reason": SPOTIFY_PREVIEW_REASON})
            continue
        path = Path(rel) if Path(rel).is_absolute() else file.parent / rel
        out.append(TrackSource(track_id, label, artist, str(path), source_key(path)))
    return out, problems


def prepare(
    inputs: list[str | os.PathLike],
    *,
    out: str | os.PathLike,
    config: SpectrogramConfig | None = None,
    workers: int | None = None,
    progress: bool = False,
    commit_every: int = 64,
) -> PrepareSummary:
    """Build or extend the frame dataset at ``out`` from ``inputs``.

    Parameters
    ----------
    inputs : list of path-like
        CSV files from ``collect`` and/or folders with one sub-folder of audio per label.
    out : path-like
        Dataset folder; created, or extended when it exists with the same configuration.
    config : SpectrogramConfig, optional
        Spectrogram settings (defaults: the seed's).
    workers : int, optional
        Worker processes (default: the cores this process may use).
    progress : bool
        Show a progress bar on stderr.
    commit_every : int
        Tracks per atomic commit.

    Returns
    -------
    PrepareSummary
    """
    config = config or SpectrogramConfig()
    sources, problems = sources_from_inputs(list(inputs))
    if not sources and not problems:
        raise SpotidanceError("the input holds no audio files (a folder needs one sub-folder of audio files per label)")
    writer = DatasetWriter(Path(out), config)  # forgets tracks whose shard is missing or damaged
    known, known_skips = writer.known(), writer.known_skips()

    todo: list[TrackSource] = []
    relabel: dict[str, str] = {}
    unchanged = previously_skipped = 0
    for s in sources:
        entry = known.get(s.track_id)
        if entry is not None and entry["source_key"] == s.source_key:
            unchanged += 1
            if entry["label"] != s.label:
                relabel[s.track_id] = s.label
        elif s.source_key in known_skips:
            previously_skipped += 1
        else:
            todo.append(s)
    new_problems = [p for p in problems if p["source_key"] not in known_skips]
    previously_skipped += len(problems) - len(new_problems)
    skipped: list[dict[str, str]] = list(new_problems)
    if relabel or new_problems:
        writer.commit([], skipped=new_problems, relabelled=relabel)

    added = 0
    buffer: list[tuple[dict[str, Any], np.ndarray]] = []
    skip_buffer: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal buffer, skip_buffer
        if buffer or skip_buffer:
            writer.commit(buffer, skipped=skip_buffer)
        buffer, skip_buffer = [], []

    bar = progress_bar(enabled=progress and bool(todo), total=len(todo), desc="framing", unit="track")
    try:
        for source, (status, result) in zip(todo, _run_jobs(todo, config=config, workers=workers)):
            if status == "ok":
                buffer.append((dataclasses.asdict(source), result))
                added += 1
            else:
                item = {"path": source.path, "source_key": source.source_key, "reason": result}
                skip_buffer.append(item)
                skipped.append(item)
            if len(buffer) + len(skip_buffer) >= commit_every:
                flush()
            bar.update(1)
        flush()
    finally:
        bar.close()
    writer.write_track_table()

    ds = FrameDataset.open(out)
    tracks_per_label = Counter(t["label"] for t in ds.manifest["tracks"])
    if len(ds) == 0:
        reasons = Counter(s["reason"] for s in (skipped or ds.manifest["skipped"]))
        listed = "; ".join(f"{n} x {reason}" if n > 1 else reason for reason, n in reasons.most_common(3))
        more = f"; {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
        raise SpotidanceError(f"no frames: all {len(skipped) + previously_skipped} input files were skipped ({listed}{more})")
    return PrepareSummary(
        dataset=Path(out),
        added=added,
        unchanged=unchanged,
        relabelled=len(relabel),
        skipped=skipped,
        previously_skipped=previously_skipped,
        frames_per_label=ds.frames_per_label(),
        tracks_per_label={label: tracks_per_label.get(label, 0) for label in ds.labels},
        repaired=len(writer.repaired),
    )


def _run_jobs(todo: list[TrackSource], *, config: SpectrogramConfig, workers: int | None):
    """Yield ``(status, result)`` for each source, in order: over processes, or a Dask cluster.

    Every path runs with one BLAS thread (:func:`spotidance.core.workers.map_ordered`): the mel
    product's summation order, and so every float32 bit of the dataset, does not depend on
    ``--workers`` or on where the work ran.
    """
    import functools

    workers = max(1, min(workers or default_workers(), len(todo)))
    job = functools.partial(spectrogram.frames_or_reason, config=config)
    yield from map_ordered(job, [s.path for s in todo], workers=workers, what="a file")


def format_summary(summary: PrepareSummary) -> str:
    """The closing summary as readable text tables."""
    lines = [f"dataset: {summary.dataset}"]
    rows = [[label, summary.tracks_per_label.get(label, 0), frames] for label, frames in summary.frames_per_label.items()]
    rows.append(["total", sum(summary.tracks_per_label.values()), sum(summary.frames_per_label.values())])
    lines.append(format_table(rows, headers=["label", "tracks", "frames"]))
    lines.append(
        f"this run: {summary.added} tracks added, {summary.unchanged} already present"
        + (f" ({summary.relabelled} relabelled)" if summary.relabelled else "")
        + f", {len(summary.skipped)} skipped"
        + (f", {summary.previously_skipped} skipped before and unchanged" if summary.previously_skipped else "")
    )
    if summary.repaired:
        lines.append(f"repaired: {summary.repaired} tracks whose shard was missing or damaged were framed again")
    if summary.skipped:
        lines.append(format_table([[s["path"], s["reason"]] for s in summary.skipped], headers=["skipped file", "reason"]))
    return "\n".join(lines)
