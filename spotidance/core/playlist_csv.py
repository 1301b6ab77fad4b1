"""The playlist CSV on disk: atomic rewrites, no duplicates, a metadata file and a resume journal.

``DIR/<label>.csv`` holds one row per track in :data:`~spotidance.core.schema.CSV_COLUMNS` order;
``DIR/<label>.csv.meta.json`` holds the schema version, the playlist it came from and the
collector's state (listing offset, skipped rows, lookups that found nothing). Both are replaced
atomically (temporary file, then ``os.replace``). Between two rewrites every new fact is appended
to ``DIR/.<label>.csv.journal`` (one JSON line each, flushed), so even a killed run loses nothing
it had learned; loading replays the journal over the CSV, and a rewrite empties it.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from spotidance.core.atomic import write_atomic
from spotidance.core.errors import SpotidanceError
from spotidance.core.schema import COLUMN_ALIASES, CSV_COLUMNS, CSV_SCHEMA_VERSION


def cell(value: Any) -> str:
    """The CSV text of a value: empty for ``None``, integers as integers, floats to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) or type(value).__module__ == "numpy":
        number = float(value)
        if number != number:  # NaN: no value
            return ""
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return format(number, ".6g")
    return str(value)


class PlaylistStore:
    """Rows of one playlist CSV in memory, kept in playlist order, keyed by ``track_id``.

    Parameters
    ----------
    out_dir : path-like
    label : str

    Attributes
    ----------
    rows : dict
        ``track_id -> {column: text}`` in insertion (playlist) order.
    state : dict
        The collector's state saved in the metadata file.
    """

    def __init__(self, out_dir: str | os.PathLike, label: str) -> None:
        self.out_dir = Path(out_dir)
        self.label = label
        self.csv_path = self.out_dir / f"{label}.csv"
        self.meta_path = self.out_dir / f"{label}.csv.meta.json"
        self.journal_path = self.out_dir / f".{label}.csv.journal"
        self.rows: dict[str, dict[str, str]] = {}
        self.state: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._journal = None

    # -- reading ----------------------------------------------------------------------------
    def load(self) -> "PlaylistStore":
        """Read the CSV, its metadata and the journal (if any) into memory."""
        if self.meta_path.exists():
            try:
                self.meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            except ValueError:
                raise SpotidanceError(f"{self.meta_path} is damaged: delete it (and {self.csv_path.name}) to collect afresh") from None
            version = int(self.meta.get("schema_version", 0) or 0)
            if version > CSV_SCHEMA_VERSION:
                raise SpotidanceError(
                    f"{self.csv_path} was written by a newer spotidance (CSV schema {version}): upgrade, or use another --out"
                )
            self.state = dict(self.meta.get("state") or {})
        if self.csv_path.exists():
            with self.csv_path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                for raw in reader:
                    row = {COLUMN_ALIASES.get(k, k): (v or "") for k, v in raw.items() if k}
                    tid = row.get("track_id", "")
                    if tid and tid not in self.rows:
                        self.rows[tid] = {c: row.get(c, "") for c in CSV_COLUMNS}
        if self.journal_path.exists():
            for line in self.journal_path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a kill: the fact is simply learned again
                self._apply(entry)
        return self

    def _apply(self, entry: dict) -> None:
        if "state" in entry:
            key, value = entry["state"]
            if entry.get("merge") and isinstance(self.state.get(key), dict) and isinstance(value, dict):
                self.state[key].update(value)
            else:
                self.state[key] = value
            return
        if "drop" in entry:
            for tid in entry["drop"]:
                self.rows.pop(tid, None)
            return
        tid = entry.get("track_id", "")
        if not tid:
            return
        row = self.rows.setdefault(tid, {c: "" for c in CSV_COLUMNS})
        for key, value in entry.items():
            if key in row:
                row[key] = value

    # -- writing ----------------------------------------------------------------------------
    def _log(self, entry: dict) -> None:
        if self._journal is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._journal = self.journal_path.open("a", encoding="utf-8")
        self._journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._journal.flush()

    def update(self, track_id: str, fields: dict[str, Any]) -> None:
        """Set ``fields`` of the track (adding it at the end if new); journaled at once."""
        entry = {"track_id": track_id, **{k: cell(v) for k, v in fields.items() if k in CSV_COLUMNS}}
        with self._lock:
            self._apply(entry)
            self._log(entry)

    def drop(self, track_ids: Iterable[str]) -> None:
        """Remove rows (journaled at once)."""
        entry = {"drop": list(track_ids)}
        with self._lock:
            self._apply(entry)
            self._log(entry)

    def set_state(self, key: str, value: Any, *, merge: bool = False) -> None:
        """Set (or, with ``merge``, update a dict in) the collector state; journaled at once."""
        with self._lock:
            if merge:
                self.state.setdefault(key, {})
            entry = {"state": [key, value], "merge": merge}
            self._apply(entry)
            self._log(entry)

    def save(self, **meta: Any) -> None:
        """Rewrite the CSV and its metadata atomically, then empty the journal."""
        with self._lock:
            lines = _csv_text(self.rows.values())
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.csv_path, lines)
            self.meta.update(meta)
            self.meta.update({
                "schema_version": CSV_SCHEMA_VERSION,
                "columns": list(CSV_COLUMNS),
                "label": self.label,
                "rows": len(self.rows),
                "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "state": self.state,
            })  # fmt: skip
            write_atomic(self.meta_path, json.dumps(self.meta, indent=1, ensure_ascii=False) + "\n")
            if self._journal is not None:
                self._journal.close()
                self._journal = None
            self.journal_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the journal file (what it holds is replayed by the next :meth:`load`)."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None


def _csv_text(rows: Iterable[dict[str, str]]) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def find_label(out_dir: str | os.PathLike, playlist_key: str) -> str | None:
    """The label of an earlier collection of ``playlist_key`` in ``out_dir`` (for resuming)."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return None
    for meta_path in sorted(folder.glob("*.csv.meta.json")):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("playlist") == playlist_key and meta.get("label"):
            return str(meta["label"])
    return None
