"""The playlist table on disk: atomic rewrites, no duplicates, a metadata file and a resume journal.

``DIR/<label>.csv`` (or ``DIR/<label>.parquet`` with ``collect --format parquet``) holds one row per
track in :data:`~spotidance.core.schema.CSV_COLUMNS` order; ``DIR/<label>.csv.meta.json`` (or
``.parquet.meta.json``) holds the schema version, the playlists it came from and the collector's
state (listing offsets, skipped rows, lookups that found nothing). Both are replaced atomically
(temporary file, then ``os.replace``). Between two rewrites every new fact is appended to
``DIR/.<label>.csv.journal`` (one JSON line each, flushed; a listed page is one line), so even a
killed run loses nothing it had learned; loading replays the journal over the table, and a rewrite
empties it.
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
from spotidance.core.extras import require
from spotidance.core.schema import (
    COLUMN_ALIASES,
    CSV_COLUMNS,
    CSV_SCHEMA_VERSION,
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    LIST_SEPARATOR,
    TABLE_FORMATS,
)


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


def split_list(text: str) -> list[str]:
    """The values of a list cell (``"a;b"`` -> ``["a", "b"]``; ``""`` -> ``[]``)."""
    return [v for v in (text or "").split(LIST_SEPARATOR) if v]


def join_list(values: Iterable[str]) -> str:
    """A list cell: the values in order, each once, joined by :data:`~spotidance.core.schema.LIST_SEPARATOR`."""
    return LIST_SEPARATOR.join(dict.fromkeys(v for v in values if v))


class PlaylistStore:
    """Rows of one playlist table in memory, kept in playlist order, keyed by ``track_id``.

    Parameters
    ----------
    out_dir : path-like
    label : str
    fmt : {"csv", "parquet"}
        The table's file format (Parquet needs pyarrow).

    Attributes
    ----------
    rows : dict
        ``track_id -> {column: text}`` in insertion (playlist) order.
    state : dict
        The collector's state saved in the metadata file.
    """

    def __init__(self, out_dir: str | os.PathLike, label: str, *, fmt: str = "csv") -> None:
        if fmt not in TABLE_FORMATS:
            raise SpotidanceError(f"format must be one of {', '.join(TABLE_FORMATS)}, not {fmt!r}")
        self.out_dir = Path(out_dir)
        self.label = label
        self.fmt = fmt
        #: The table file (named ``csv_path`` for history; ``<label>.parquet`` in Parquet format).
        self.csv_path = self.out_dir / f"{label}.{fmt}"
        self.meta_path = self.out_dir / f"{label}.{fmt}.meta.json"
        self.journal_path = self.out_dir / f".{label}.{fmt}.journal"
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
            _, raw_rows = read_table(self.csv_path)
            for row in raw_rows:
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
        for row in self.rows.values():  # schema 1: one playlist per file
            if not row["playlist_ids"] and row["playlist_id"]:
                row["playlist_ids"] = row["playlist_id"]
        return self

    def _apply(self, entry: dict) -> None:
        if "batch" in entry:  # one line: all of it was written, or none
            for part in entry["batch"]:
                self._apply(part)
            return
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

    def update_many(self, updates: Iterable[tuple[str, dict[str, Any]]], *, state: tuple[str, Any] | None = None,
                    merge: bool = False) -> None:  # fmt: skip
        """Several :meth:`update` (and a :meth:`set_state`) journaled as one line: a kill keeps all or none."""
        batch: list[dict] = [{"track_id": tid, **{k: cell(v) for k, v in fields.items() if k in CSV_COLUMNS}} for tid, fields in updates]
        if state is not None:
            batch.append({"state": list(state), "merge": merge})
        entry = {"batch": batch}
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
            data = _csv_text(self.rows.values()) if self.fmt == "csv" else parquet_bytes(self.rows.values())
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.csv_path, data)
            self.meta.update(meta)
            self.meta.update({
                "schema_version": CSV_SCHEMA_VERSION,
                "columns": list(CSV_COLUMNS),
                "label": self.label,
                "format": self.fmt,
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


def parquet_bytes(rows: Iterable[dict[str, str]]) -> bytes:
    """A Parquet file of ``rows``: numbers typed (nullable integers, floats), everything else text.

    A number column holding a value that is not a number stays text, so nothing is lost.
    """
    import io

    require("pyarrow", extra="parquet", purpose="write Parquet files")
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(CSV_COLUMNS), dtype=object).fillna("")
    for column in INTEGER_COLUMNS + FLOAT_COLUMNS:
        values = pd.to_numeric(frame[column], errors="coerce")  # "" (no value) -> missing
        if bool((values.isna() & (frame[column].astype(str).str.strip() != "")).any()):
            continue  # text that is not a number: the column stays text (below) rather than lose it
        whole = column in INTEGER_COLUMNS and bool(((values.dropna() % 1) == 0).all())
        frame[column] = values.astype("Int64") if whole else values.astype("float64")
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def read_table(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a playlist CSV or Parquet file, every cell as text (``""`` = no value).

    Old column names (:data:`~spotidance.core.schema.COLUMN_ALIASES`) are renamed. Parquet needs
    pyarrow (a one-line error names the extra when it is missing).
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        require("pyarrow", extra="parquet", purpose="read Parquet files")
        import pandas as pd

        import pyarrow

        try:
            frame = pd.read_parquet(path, engine="pyarrow")
            header = [COLUMN_ALIASES.get(str(c), str(c)) for c in frame.columns]
            records = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
            return header, [{h: _parquet_cell(v, column=h, path=path) for h, v in zip(header, record)} for record in records]
        except (OSError, ValueError, TypeError, NotImplementedError, pyarrow.ArrowException) as exc:
            raise SpotidanceError(f"cannot read {path}: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from None
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = [{COLUMN_ALIASES.get(k, k): (v or "") for k, v in raw.items() if k} for raw in reader]
        header = [COLUMN_ALIASES.get(k, k) for k in (reader.fieldnames or []) if k]
    return header, rows


def _parquet_cell(value: Any, *, column: str, path: Path) -> str:
    """The text of a Parquet value: a list's items joined by :data:`~spotidance.core.schema.LIST_SEPARATOR`.

    A record (struct or map column), or a list of lists or records, has no text form here: a
    one-line error names the column.
    """
    if isinstance(value, (dict, list, tuple)) or hasattr(value, "tolist") and getattr(value, "ndim", 0):
        items = list(value.values()) if isinstance(value, dict) else list(value)
        nested = any(isinstance(v, (dict, list, tuple)) or getattr(v, "ndim", 0) for v in items)
        if isinstance(value, dict) or nested:
            raise SpotidanceError(f"cannot read {path}: column {column!r} holds records or nested lists: "
                                  "make it text or numbers first")  # fmt: skip
        return LIST_SEPARATOR.join(text for v in items if (text := cell(v)))
    return cell(value)


def find_label(out_dir: str | os.PathLike, playlist_key: str) -> str | None:
    """The label of an earlier collection holding ``playlist_key`` in ``out_dir`` (for resuming)."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return None
    for meta_path in sorted([*folder.glob("*.csv.meta.json"), *folder.glob("*.parquet.meta.json")]):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and playlist_key in playlist_keys(meta) and meta.get("label"):
            return str(meta["label"])
    return None


def playlist_keys(meta: dict) -> list[str]:
    """The playlists (``service:playlist:ID``) a table's metadata says it holds, in collection order."""
    keys = [str(k) for k in (meta.get("playlists") or []) if k]
    if not keys and meta.get("playlist"):  # schema 1: one playlist
        keys = [str(meta["playlist"])]
    return keys
