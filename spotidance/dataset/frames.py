"""The frame dataset: log-mel frames on disk, with labels, tracks and the spectrogram config.

Layout of a dataset folder (format ``spotidance-frames``, version :data:`DATASET_VERSION`)::

    DATASET/
      dataset.json        the manifest, the single source of truth (replaced atomically)
      shards/<name>.npy   float32 arrays (n, n_mels, frame_length), one per commit, memory-mapped
      tracks.csv          a human-readable copy of the manifest's track table (convenience only)

``dataset.json`` holds the :class:`~spotidance.audio.config.SpectrogramConfig`, the label names (a
label's id is its position), one entry per track (``track_id, label, artist, path, source_key,
shard, offset, n_frames``) and the files that were skipped with the reason for each. Frames are
numbered in manifest order: track after track, each track's frames in time order.

Why shards of ``.npy`` files: each is written once, then only read through ``np.load(...,
mmap_mode="r")``, so 100,000 frames (6.5 GB) never have to fit in memory, and adding tracks
writes new shards without touching old ones. A new shard becomes part of the dataset only when
the manifest that names it replaces the old one (``os.replace``), so an interrupted run leaves
the previous dataset intact and the next run removes the orphaned shard.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from spotidance import __version__
from spotidance.core.atomic import write_atomic
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError

DATASET_FORMAT = "spotidance-frames"
DATASET_VERSION = 1
MANIFEST = "dataset.json"
SHARD_DIR = "shards"

#: Columns of a track entry in the manifest (and of ``tracks.csv``).
TRACK_FIELDS: tuple[str, ...] = ("track_id", "label", "artist", "path", "source_key", "shard", "offset", "n_frames")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


class FrameDataset:
    """Read access to a frame dataset folder.

    Use :meth:`open`. Frames are read lazily from memory-mapped shards.

    Attributes
    ----------
    path : pathlib.Path
    config : SpectrogramConfig
    labels : list of str
        Label names; a label's id is its index.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self.config = SpectrogramConfig.from_dict(manifest["spectrogram"])
        self.labels: list[str] = list(manifest["labels"])
        self._entries: list[dict[str, Any]] = list(manifest["tracks"])
        self._shards: dict[str, np.ndarray] = {}
        counts = np.array([int(t["n_frames"]) for t in self._entries], dtype=np.int64)
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, np.int64)
        self._n = int(counts.sum())
        label_id = {name: i for i, name in enumerate(self.labels)}
        self.frame_labels = np.repeat(np.array([label_id[t["label"]] for t in self._entries], dtype=np.int64), counts)
        self.frame_track_ids = np.repeat(np.array([t["track_id"] for t in self._entries], dtype=object), counts).astype(str)
        self._frame_entry = np.repeat(np.arange(len(self._entries), dtype=np.int64), counts)
        self._offsets = np.array([int(t["offset"]) for t in self._entries], dtype=np.int64)
        self._entry_shard = np.array([t["shard"] for t in self._entries], dtype=object)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "FrameDataset":
        """Open the dataset in folder ``path``.

        Raises
        ------
        SpotidanceError
            If the folder is not a dataset, or was written by a newer spotidance.
        """
        manifest = read_manifest(Path(path))
        if manifest is None:
            raise SpotidanceError(f"{path}: not a frame dataset (no {MANIFEST}); build one with `spotidance prepare`")
        return cls(Path(path), manifest)

    def __len__(self) -> int:
        return self._n

    @property
    def tracks(self):
        """One row per track: ``track_id, label, artist, path, n_frames, first_frame`` (a pandas DataFrame)."""
        import pandas as pd

        df = pd.DataFrame(self._entries, columns=list(TRACK_FIELDS))
        df["first_frame"] = self._first
        return df[["track_id", "label", "artist", "path", "n_frames", "first_frame"]]

    @property
    def skipped(self) -> list[dict[str, str]]:
        """Files that gave no frames: ``path, reason``."""
        return [{"path": s["path"], "reason": s["reason"]} for s in self.manifest.get("skipped", [])]

    def frames_per_label(self) -> dict[str, int]:
        """Number of frames of each label."""
        counts = np.bincount(self.frame_labels, minlength=len(self.labels))
        return {name: int(c) for name, c in zip(self.labels, counts)}

    def _shard(self, name: str) -> np.ndarray:
        if name not in self._shards:
            file = self.path / SHARD_DIR / name
            try:
                self._shards[name] = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise SpotidanceError(f"{file}: missing or damaged shard ({exc.__class__.__name__}); rebuild the dataset") from None
        return self._shards[name]

    def read(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Frames at global ``indices`` (any order), as float32 ``(k, n_mels, frame_length)``.

        Only the requested rows are read from disk.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), self.config.n_mels, self.config.frame_length), dtype=np.float32)
        if len(idx) == 0:
            return out
        if idx.min() < 0 or idx.max() >= self._n:
            raise IndexError(f"frame index out of range 0..{self._n - 1}")
        entry = self._frame_entry[idx]
        rows = self._offsets[entry] + (idx - self._first[entry])
        shard_names = self._entry_shard[entry]
        for name in dict.fromkeys(shard_names):
            mask = shard_names == name
            wanted = rows[mask]
            order = np.argsort(wanted, kind="stable")
            block = self._shard(name)[wanted[order]]  # sorted rows read sequentially
            dest = np.flatnonzero(mask)[order]
            out[dest] = block
        return out

    def track_frames(self, track_id: str) -> np.ndarray:
        """All frames of one track."""
        hits = np.flatnonzero(self.frame_track_ids == track_id)
        if len(hits) == 0:
            raise KeyError(track_id)
        return self.read(hits)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of the dataset at ``path``, or None when there is none."""
    file = Path(path) / MANIFEST
    if not file.exists():
        return None
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpotidanceError(f"{file}: unreadable manifest ({exc.__class__.__name__}); rebuild the dataset") from None
    if manifest.get("format") != DATASET_FORMAT:
        raise SpotidanceError(f"{path}: not a spotidance frame dataset")
    if int(manifest.get("version", 0)) > DATASET_VERSION:
        raise SpotidanceError(
            f"{path}: dataset version {manifest.get('version')} is newer than this spotidance reads "
            f"({DATASET_VERSION}); upgrade spotidance"
        )
    return manifest


@dataclasses.dataclass
class DatasetWriter:
    """Adds tracks to a dataset folder, one atomic commit at a time.

    Parameters
    ----------
    path : pathlib.Path
        The dataset folder (created if needed).
    config : SpectrogramConfig
        Must equal the existing dataset's configuration, if there is one.
    """

    path: Path
    config: SpectrogramConfig

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        existing = read_manifest(self.path)
        if existing is not None:
            old = SpectrogramConfig.from_dict(existing["spectrogram"])
            diffs = old.differences(self.config)
            if diffs:
                raise SpotidanceError(
                    f"{self.path} was built with other spectrogram settings ({'; '.join(diffs)}); "
                    "choose another --out folder for these settings"
                )
            self.manifest = existing
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise SpotidanceError(f"{self.path} exists and is not a frame dataset; choose an empty or new folder")
            self.manifest = {
                "format": DATASET_FORMAT,
                "version": DATASET_VERSION,
                "spotidance_version": __version__,
                "created": _now(),
                "spectrogram": self.config.to_dict(),
                "labels": [],
                "tracks": [],
                "skipped": [],
            }
        (self.path / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        self._remove_orphans()

    # -- what is already there -------------------------------------------------------------
    def known(self) -> dict[str, dict[str, Any]]:
        """Track entries by track id."""
        return {t["track_id"]: t for t in self.manifest["tracks"]}

    def known_skips(self) -> dict[str, dict[str, Any]]:
        """Skipped files by source key."""
        return {s["source_key"]: s for s in self.manifest["skipped"]}

    def _remove_orphans(self) -> None:
        """Delete shard files no manifest names (left by an interrupted run)."""
        named = {t["shard"] for t in self.manifest["tracks"]}
        for file in (self.path / SHARD_DIR).iterdir():
            if file.name not in named:
                file.unlink(missing_ok=True)

    # -- changes -----------------------------------------------------------------------------
    def commit(
        self,
        added: list[tuple[dict[str, Any], np.ndarray]],
        *,
        skipped: list[dict[str, str]] = (),
        relabelled: dict[str, str] | None = None,
    ) -> None:
        """Write one shard with the frames of ``added`` and replace the manifest atomically.

        Parameters
        ----------
        added : list of (entry, frames)
            ``entry`` has ``track_id, label, artist, path, source_key``; ``frames`` is
            ``(n, n_mels, frame_length)`` float32. A track id already present is replaced.
        skipped : list of dict
            ``path, source_key, reason`` of files that gave no frames.
        relabelled : dict, optional
            ``track_id -> new label`` for known tracks whose label changed.
        """
        manifest = json.loads(json.dumps(self.manifest))  # work on a copy until the commit succeeds
        tracks = {t["track_id"]: t for t in manifest["tracks"]}
        if added:
            shard = f"{uuid.uuid4().hex}.npy"
            stack = np.concatenate([f for _, f in added]).astype(np.float32, copy=False)
            tmp = self.path / SHARD_DIR / f".{shard}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, stack)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path / SHARD_DIR / shard)
            offset = 0
            for entry, frames in added:
                row = {k: entry.get(k, "") for k in ("track_id", "label", "artist", "path", "source_key")}
                row.update(shard=shard, offset=offset, n_frames=int(len(frames)))
                offset += len(frames)
                tracks.pop(row["track_id"], None)
                tracks[row["track_id"]] = row
        for track_id, label in (relabelled or {}).items():
            tracks[track_id]["label"] = label
        manifest["tracks"] = list(tracks.values())
        skips = {s["source_key"]: s for s in manifest["skipped"]}
        for s in skipped:
            skips[s["source_key"]] = {"path": s["path"], "source_key": s["source_key"], "reason": s["reason"]}
        done_keys = {t["source_key"] for t in manifest["tracks"]}
        manifest["skipped"] = [s for k, s in skips.items() if k not in done_keys]
        labels = list(manifest["labels"])
        for t in manifest["tracks"]:
            if t["label"] not in labels:
                labels.append(t["label"])
        manifest["labels"] = labels
        manifest["updated"] = _now()
        manifest["spotidance_version"] = __version__
        write_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1))
        old_shards = {t["shard"] for t in self.manifest["tracks"]}
        self.manifest = manifest
        for name in old_shards - {t["shard"] for t in manifest["tracks"]}:
            (self.path / SHARD_DIR / name).unlink(missing_ok=True)

    def write_track_table(self) -> None:
        """Write ``tracks.csv``, a readable copy of the manifest's track table."""
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(TRACK_FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.manifest["tracks"])
        write_atomic(self.path / "tracks.csv", buf.getvalue())
