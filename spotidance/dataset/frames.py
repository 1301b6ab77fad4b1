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
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from spotidance import __version__
from spotidance.core.atomic import output_errors, write_atomic
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError

DATASET_FORMAT = "spotidance-frames"
DATASET_VERSION = 1
MANIFEST = "dataset.json"
SHARD_DIR = "shards"

#: Columns of a track entry in the manifest (and of ``tracks.csv``).
TRACK_FIELDS: tuple[str, ...] = ("track_id", "label", "artist", "path", "source_key", "shard", "offset", "n_frames")


#: What a shard file name in a manifest must look like: a plain ``.npy`` name inside ``shards/``
#: (a manifest is untrusted input: ``../../victim.txt`` must never be read, written or deleted).
SHARD_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}\.npy$")

#: Largest number accepted for an offset or a frame count in a manifest.
_MAX_COUNT = 2**40


class ManifestError(SpotidanceError):
    """A ``dataset.json`` that is not a valid manifest (edited, damaged or hostile)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_manifest(manifest: Any, *, file: str | os.PathLike = MANIFEST) -> dict[str, Any]:
    """Check a parsed ``dataset.json`` completely before anything uses it.

    Types, required keys, ranges, labels that exist, unique track ids, and shard names that stay
    inside ``shards/``. A shared dataset is untrusted input: nothing it names outside its folder
    is ever touched.

    Parameters
    ----------
    manifest : object
        The parsed JSON.
    file : path-like
        Named in messages.

    Returns
    -------
    dict
        ``manifest`` (with ``skipped`` defaulted to an empty list).

    Raises
    ------
    ManifestError
        One line naming the first problem.
    """

    def bad(what: str) -> ManifestError:
        return ManifestError(f"{file}: damaged manifest ({what}); rebuild the dataset with `spotidance prepare` into a new folder")

    if not isinstance(manifest, dict):
        raise bad(f"a JSON {type(manifest).__name__}, not an object")
    if manifest.get("format") != DATASET_FORMAT:
        raise SpotidanceError(f"{Path(file).parent}: not a spotidance frame dataset")
    version = manifest.get("version")
    if not _is_int(version) or version < 1:
        raise bad(f"version {version!r} is not a positive whole number")
    if version > DATASET_VERSION:
        raise SpotidanceError(
            f"{Path(file).parent}: dataset version {version} is newer than this spotidance reads "
            f"({DATASET_VERSION}); upgrade spotidance"
        )
    for key, kind in (("spectrogram", dict), ("labels", list), ("tracks", list)):
        if key not in manifest:
            raise bad(f"no {key!r}")
        if not isinstance(manifest[key], kind):
            raise bad(f"{key!r} is not a JSON {'object' if kind is dict else 'list'}")
    manifest.setdefault("skipped", [])
    if not isinstance(manifest["skipped"], list):
        raise bad("'skipped' is not a JSON list")
    checked_config(manifest["spectrogram"], bad=bad)
    labels = manifest["labels"]
    if not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise bad("'labels' must be distinct non-empty strings")
    known_labels = set(labels)
    seen: set[str] = set()
    for i, t in enumerate(manifest["tracks"]):
        where = f"tracks[{i}]"
        if not isinstance(t, dict):
            raise bad(f"{where} is not an object")
        for key in TRACK_FIELDS:
            if key not in t:
                raise bad(f"{where} has no {key!r}")
        for key in ("track_id", "label", "artist", "path", "source_key", "shard"):
            if not isinstance(t[key], str):
                raise bad(f"{where}.{key} is not a string")
        for key in ("offset", "n_frames"):
            if not _is_int(t[key]) or not 0 <= t[key] <= _MAX_COUNT:
                raise bad(f"{where}.{key} {t[key]!r} is not a whole number >= 0")
        if not t["track_id"]:
            raise bad(f"{where}.track_id is empty")
        if t["track_id"] in seen:
            raise bad(f"track id {t['track_id']!r} appears twice")
        seen.add(t["track_id"])
        if t["label"] not in known_labels:
            raise bad(f"{where}.label {t['label']!r} is not in 'labels'")
        if not SHARD_NAME.match(t["shard"]):
            raise bad(f"{where}.shard {t['shard'][:60]!r} is not a shard file name inside {SHARD_DIR}/")
    for i, item in enumerate(manifest["skipped"]):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("path", "source_key", "reason")):
            raise bad(f"skipped[{i}] is not an object of strings path, source_key, reason")
    return manifest


def checked_config(data: Any, *, bad) -> SpectrogramConfig:
    """Spectrogram settings from an untrusted manifest (a dataset's or a bundle's), types checked.

    Parameters
    ----------
    data : object
        The manifest's ``spectrogram`` value.
    bad : callable
        ``bad(what) -> Exception``: the one-line error to raise, given what is wrong.
    """
    if not isinstance(data, dict):
        raise bad("'spectrogram' is not a JSON object")
    for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "frame_length"):
        if name in data and (not _is_int(data[name]) or not 0 < data[name] <= 1_000_000):
            raise bad(f"spectrogram.{name} {data[name]!r} is not a positive whole number")
    for name in ("power", "top_db"):
        value = data.get(name, 1.0)
        if name == "top_db" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise bad(f"spectrogram.{name} {value!r} is not a finite number >= 0")
    if "normalize" in data and not isinstance(data["normalize"], str):
        raise bad("spectrogram.normalize is not a string")
    try:
        return SpectrogramConfig.from_dict(data)
    except (TypeError, ValueError, SpotidanceError) as exc:
        raise bad(f"spectrogram: {exc}") from None


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
        broken = damaged_shards(self.path, manifest["tracks"], self.config)
        if broken:
            name, reason = next(iter(broken.items()))
            more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
            raise SpotidanceError(
                f"{self.path / SHARD_DIR / name}: {reason}{more}; rerun `spotidance prepare` with the same "
                f"inputs and --out {self.path} to repair the dataset"
            )
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
                raise SpotidanceError(
                    f"{file}: missing or damaged shard ({exc.__class__.__name__}); rerun `spotidance prepare` with "
                    f"the same inputs and --out {self.path} to repair the dataset"
                ) from None
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


def damaged_shards(path: Path, tracks: list[dict[str, Any]], config: SpectrogramConfig) -> dict[str, str]:
    """Shards the ``tracks`` need that are missing, damaged or too short, with the reason for each.

    Only each shard's ``.npy`` header and size are read: the dtype must be float32, the shape
    ``(n, n_mels, frame_length)``, ``n`` at least every track's ``offset + n_frames``, and the
    file as long as its header says.

    Parameters
    ----------
    path : pathlib.Path
        The dataset folder.
    tracks : list of dict
        Validated manifest entries (see :func:`validate_manifest`).
    config : SpectrogramConfig

    Returns
    -------
    dict
        ``shard name -> reason``; empty when every shard is sound.
    """
    need: dict[str, int] = {}
    for t in tracks:
        need[t["shard"]] = max(need.get(t["shard"], 0), int(t["offset"]) + int(t["n_frames"]))
    broken: dict[str, str] = {}
    for name, rows in need.items():
        reason = _shard_problem(Path(path) / SHARD_DIR / name, rows=rows, config=config)
        if reason:
            broken[name] = reason
    return broken


def _shard_problem(file: Path, *, rows: int, config: SpectrogramConfig) -> str | None:
    fmt = np.lib.format
    try:
        if not file.is_file():
            return "missing shard"
        with open(file, "rb") as fh:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            header_end = fh.tell()
        size = file.stat().st_size
    except (OSError, ValueError, SyntaxError) as exc:
        return f"damaged shard ({exc.__class__.__name__})"
    if dtype != np.float32 or fortran or len(shape) != 3 or tuple(shape[1:]) != (config.n_mels, config.frame_length):
        return f"damaged shard (holds {dtype} {tuple(shape)}, not float32 (n, {config.n_mels}, {config.frame_length}))"
    if shape[0] < rows:
        return f"damaged shard (holds {shape[0]} frames, the manifest needs {rows})"
    if size < header_end + int(np.prod(shape)) * 4:
        return "damaged shard (truncated)"
    return None


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The validated manifest of the dataset at ``path``, or None when there is none.

    Raises
    ------
    SpotidanceError
        If it is unreadable, not a frame dataset, newer than this spotidance, or fails
        :func:`validate_manifest`.
    """
    file = Path(path) / MANIFEST
    if not os.path.lexists(file):
        return None
    if not file.is_file():
        raise SpotidanceError(f"{file}: not a regular file")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise SpotidanceError(f"{file}: unreadable manifest ({exc.__class__.__name__}); rebuild the dataset") from None
    return validate_manifest(manifest, file=file)


def _only_leftovers(path: Path) -> bool:
    """Whether ``path`` is empty but for a ``shards/`` folder of shard files a failed first run left."""
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    if not entries:
        return True
    if [p.name for p in entries] != [SHARD_DIR] or not entries[0].is_dir() or entries[0].is_symlink():
        return False
    return all(
        p.is_file() and (SHARD_NAME.match(p.name) or (p.name.startswith(".") and p.name.endswith(".npy.tmp")))
        for p in entries[0].iterdir()
    )


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
            if self.path.exists() and not _only_leftovers(self.path):
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
        self.repaired: list[dict[str, Any]] = []
        with output_errors(self.path / SHARD_DIR):
            (self.path / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        if existing is not None:
            self._drop_damaged()
        self._remove_orphans()

    # -- what is already there -------------------------------------------------------------
    def known(self) -> dict[str, dict[str, Any]]:
        """Track entries by track id."""
        return {t["track_id"]: t for t in self.manifest["tracks"]}

    def known_skips(self) -> dict[str, dict[str, Any]]:
        """Skipped files by source key."""
        return {s["source_key"]: s for s in self.manifest["skipped"]}

    def _drop_damaged(self) -> None:
        """Forget the tracks whose shard is missing, damaged or too short, so this run frames them again.

        The entries dropped are kept in :attr:`repaired`; the manifest without them is committed
        at once, so the dataset is consistent even if the run stops before re-framing them.
        """
        broken = damaged_shards(self.path, self.manifest["tracks"], self.config)
        if not broken:
            return
        self.repaired = [t for t in self.manifest["tracks"] if t["shard"] in broken]
        manifest = json.loads(json.dumps(self.manifest))
        manifest["tracks"] = [t for t in manifest["tracks"] if t["shard"] not in broken]
        manifest["updated"] = _now()
        write_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1))
        self.manifest = manifest

    def _remove_orphans(self) -> None:
        """Delete files in ``shards/`` that no manifest names (left by an interrupted run or a full disk)."""
        named = {t["shard"] for t in self.manifest["tracks"]}
        for file in (self.path / SHARD_DIR).iterdir():
            if file.name not in named and not file.is_symlink() and file.is_file():
                with output_errors(file):
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
            try:
                with output_errors(self.path / SHARD_DIR / shard, hint="; free some space and rerun to carry on"):
                    with open(tmp, "wb") as fh:
                        np.save(fh, stack)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, self.path / SHARD_DIR / shard)
            except BaseException:  # a full disk must not stay full of a half shard
                tmp.unlink(missing_ok=True)
                raise
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
        try:
            write_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1))
        except BaseException:
            if added:  # the old manifest stays; the shard it does not name goes
                (self.path / SHARD_DIR / shard).unlink(missing_ok=True)
            raise
        old_shards = {t["shard"] for t in self.manifest["tracks"]}
        self.manifest = manifest
        for name in old_shards - {t["shard"] for t in manifest["tracks"]}:
            if SHARD_NAME.match(name):  # validated on reading; never a path outside shards/
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
