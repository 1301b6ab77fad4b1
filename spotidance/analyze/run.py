"""``spotidance analyze``: a folder of audio files into one CSV of features, incrementally.

:func:`analyze` expands files, folders and glob patterns (as ``classify`` does), analyses the new
or changed files in worker processes (one per core, results in order, memory bounded), and keeps
the output CSV up to date as it goes: the table is rewritten atomically every few seconds and on
Ctrl-C, so an interrupted run keeps what it finished and a rerun analyses only what is new or
changed. A file that cannot be analysed is skipped with its reason (and not retried until it
changes). Beside ``OUT.csv``, ``OUT.csv.meta.json`` records each file's identity (path, size,
modification time), the feature set and the tempo range.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from spotidance import __version__
from spotidance.analyze import DEFAULT_FEATURE_SET, FEATURE_SETS
from spotidance.analyze.beatport import BEATPORT2016_COLUMNS, beatport2016_features, essentia_bpm
from spotidance.analyze.features import CORE_COLUMNS, DEFAULT_TEMPO_RANGE, SAMPLE_RATE, check_tempo_range, core_features
from spotidance.audio.decode import load
from spotidance.audio.files import Skipped, find_audio_files, source_key
from spotidance.core.atomic import check_output, write_atomic
from spotidance.core.errors import SpotidanceError, short_reason
from spotidance.core.progress import bar as progress_bar
from spotidance.core.tables import format_table
from spotidance.core.workers import default_workers, map_ordered

#: Format name and version of the ``.meta.json`` beside an analysis CSV.
META_FORMAT = "spotidance-analysis"
META_VERSION = 1

#: The Beatport 2016 features are computed on at most this much audio, as Caparrini et al. did.
BEATPORT_SECONDS = 120.0

#: The table is saved at most this often (seconds) while a run goes on, and always at the end.
SAVE_EVERY = 5.0

#: With several worker processes and at least this many files, pandas (for the returned table) is
#: imported in the background while they work (:func:`_preimport_pandas`).
PREIMPORT_MIN_FILES = 8


def columns_for(feature_set: str) -> tuple[str, ...]:
    """The CSV columns of a feature set: ``path``, the core columns, then the Beatport 2016 ones."""
    check_feature_set(feature_set)
    cols = ("path",) + CORE_COLUMNS
    if feature_set in ("beatport2016", "all"):
        cols += tuple(c for c in BEATPORT2016_COLUMNS if c not in cols)
    return cols


def check_feature_set(feature_set: str) -> str:
    if feature_set not in FEATURE_SETS:
        raise SpotidanceError(f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}")
    return feature_set


def analyze_signal(y: np.ndarray, *, sample_rate: int = SAMPLE_RATE, feature_set: str = DEFAULT_FEATURE_SET,
                   tempo_range: tuple[float, float] = DEFAULT_TEMPO_RANGE,
                   columns: Iterable[str] | None = None) -> dict[str, Any]:
    """Every column of ``feature_set`` but ``path`` for mono samples at ``sample_rate`` (22,050 Hz).

    Parameters
    ----------
    y : numpy.ndarray
        Mono samples in -1..1 at :data:`~spotidance.analyze.features.SAMPLE_RATE`.
    sample_rate : int
    feature_set : {"core", "beatport2016", "all"}
        ``core``: :data:`~spotidance.analyze.features.CORE_COLUMNS`; ``beatport2016`` and ``all``
        add the 71 columns of the Beatport 2016 table (``1-ZCRm`` ... ``71-BPMessentia``),
        computed on the first :data:`BEATPORT_SECONDS` seconds.
    tempo_range : tuple of float
        ``(low, high)`` BPM bounds of the tempo answer.
    columns : iterable of str, optional
        Measure only these columns of the set (and what they need): ``classify`` asks for the
        columns its model uses. Default: all of them.

    Returns
    -------
    dict
    """
    cols = columns_for(feature_set)
    want = set(cols if columns is None else columns) & set(cols)
    if "71-BPMessentia" in want:
        want.add("tempo")
    row = core_features(y, sample_rate=sample_rate, tempo_range=tempo_range, columns=want & set(CORE_COLUMNS))
    if want & set(BEATPORT2016_COLUMNS[:70]):
        head = y[: int(BEATPORT_SECONDS * sample_rate)]
        row.update(beatport2016_features(head, sample_rate=sample_rate))
    if "71-BPMessentia" in want:
        row["71-BPMessentia"] = essentia_bpm(row["tempo"])
    return row


def analyze_file(path: str | os.PathLike, *, feature_set: str = DEFAULT_FEATURE_SET,
                 tempo_range: tuple[float, float] = DEFAULT_TEMPO_RANGE) -> dict[str, Any]:
    """:func:`analyze_signal` of one audio file, decoded to mono at 22,050 Hz, with its ``path``.

    Raises
    ------
    AudioDecodeError
        If the file cannot be decoded or is too short (the message is the reason).
    """
    y = load(path, sample_rate=SAMPLE_RATE)
    return {"path": os.fspath(path), **analyze_signal(y, feature_set=feature_set, tempo_range=tempo_range)}


def _job(path: str, *, feature_set: str, tempo_range: tuple[float, float]) -> tuple[str, Any]:
    """For worker processes: ``("ok", row)`` or ``("skip", reason)``, never an exception."""
    try:
        return "ok", analyze_file(path, feature_set=feature_set, tempo_range=tempo_range)
    except SpotidanceError as exc:
        return "skip", short_reason(exc, limit=160)
    except MemoryError:
        return "skip", "file too large to decode"
    except Exception as exc:  # an analysis bug must not end the run: report it against the file
        return "skip", f"unexpected error: {type(exc).__name__}: {short_reason(exc, limit=100)}"


@dataclasses.dataclass
class AnalyzeResult:
    """What one :func:`analyze` run did.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per analysed file (this run's and earlier runs' still in the CSV), in the CSV's order.
    out : pathlib.Path or None
        The CSV written, if any.
    analysed : int
        Files analysed by this run.
    reused : int
        Files whose row an earlier run wrote and that have not changed since.
    skipped : list of Skipped
        Inputs this run could not analyse, with the reason.
    previously_skipped : list of Skipped
        Unchanged files an earlier run could not analyse (not retried).
    seconds : float
    """

    table: Any
    out: Path | None
    analysed: int
    reused: int
    skipped: list[Skipped]
    previously_skipped: list[Skipped]
    seconds: float


class _Store:
    """The output CSV and its ``.meta.json``: rows by path, file identities, skips."""

    def __init__(self, out: Path | None, *, feature_set: str, tempo_range: tuple[float, float]) -> None:
        self.out = out
        self.columns = columns_for(feature_set)
        self.settings = {"feature_set": feature_set, "tempo_range": [float(tempo_range[0]), float(tempo_range[1])]}
        self.rows: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.skips: dict[str, dict[str, str]] = {}
        self.changed_settings = False
        if out is not None:
            self._load()

    @property
    def meta_path(self) -> Path:
        assert self.out is not None
        return self.out.with_name(self.out.name + ".meta.json")

    def _load(self) -> None:
        out = self.out
        assert out is not None
        if out.exists() and not out.is_file():
            raise SpotidanceError(f"{out}: not a regular file; give --out a CSV file path")
        if not self.meta_path.is_file() or not out.is_file():
            if out.is_file():
                raise SpotidanceError(f"{out} exists and was not written by spotidance analyze; choose another --out")
            return
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
                raise ValueError("not an analysis description")
            if int(meta.get("version", 0)) > META_VERSION:
                raise SpotidanceError(f"{out} was written by a newer spotidance; upgrade, or choose another --out")
            files = meta.get("files", {})
            skips = meta.get("skipped", {})
            if not isinstance(files, dict) or not isinstance(skips, dict):
                raise ValueError("files/skipped are not tables")
            with out.open(newline="", encoding="utf-8") as fh:
                rows = {r["path"]: r for r in csv.DictReader(fh)}
        except SpotidanceError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SpotidanceError(f"{out}: cannot resume from it ({short_reason(exc)}); choose another --out") from None
        if meta.get("settings") != self.settings:
            self.changed_settings = True  # another feature set or tempo range: everything is redone
            return
        self.rows = {p: r for p, r in rows.items() if p in files}
        self.keys = {p: str(files[p]) for p in self.rows}
        self.skips = {p: {"source_key": str(v.get("source_key", "")), "reason": str(v.get("reason", ""))}
                      for p, v in skips.items() if isinstance(v, dict)}

    def save(self) -> None:
        if self.out is None:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows.values():
            writer.writerow({k: _cell(row.get(k)) for k in self.columns})
        meta = {"format": META_FORMAT, "version": META_VERSION, "spotidance_version": __version__,
                "settings": self.settings, "files": self.keys, "skipped": self.skips}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out, buf.getvalue())
        write_atomic(self.meta_path, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not np.isfinite(value) else repr(round(value, 6)) if abs(value) < 1e15 else repr(value)
    return value


def analyze(
    inputs: Iterable[str | os.PathLike],
    *,
    out: str | os.PathLike | None = None,
    feature_set: str = DEFAULT_FEATURE_SET,
    tempo_range: tuple[float, float] = DEFAULT_TEMPO_RANGE,
    workers: int | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
    save_every: float = SAVE_EVERY,
) -> AnalyzeResult:
    """Analyse audio files into a table (and ``out``, a CSV kept up to date incrementally).

    Parameters
    ----------
    inputs : iterable of path-like
        Files, folders (searched recursively) and glob patterns, as for ``classify``.
    out : path-like, optional
        The CSV to write. An existing one written by ``analyze`` is resumed: only new or changed
        files are analysed (with other settings, everything is redone).
    feature_set : {"core", "beatport2016", "all"}
    tempo_range : tuple of float
        ``(low, high)`` BPM bounds of the tempo answer.
    workers : int, optional
        Worker processes (default: one per core; 1 analyses inline).
    progress : bool
        A progress bar on stderr.
    clock : callable
        Seconds, for when to save (injected by tests).
    save_every : float
        Seconds between saves of the table while the run goes on.

    Returns
    -------
    AnalyzeResult
        ``table`` is a pandas DataFrame with one row per file.

    Raises
    ------
    SpotidanceError
        On bad settings, an unusable ``out``, or no input at all.
    """
    start = clock()
    check_feature_set(feature_set)
    tempo_range = check_tempo_range(tempo_range)
    out_path = Path(out) if out is not None else None
    files, problems = find_audio_files(inputs)
    if out_path is not None:
        targets = {out_path.resolve(), out_path.with_name(out_path.name + ".meta.json").resolve()}
        if any(Path(f).resolve() in targets for f in files):
            raise SpotidanceError(f"{out_path} is one of the inputs; choose another --out")
        check_output(out_path, inputs=files, what="--out", make_parents=True)
    store = _Store(out_path, feature_set=feature_set, tempo_range=tempo_range)
    skipped: list[Skipped] = list(problems)
    previously: list[Skipped] = []
    todo: list[str] = []
    keys: dict[str, str] = {}
    reused = 0
    for f in files:
        keys[f] = key = source_key(f)
        if store.keys.get(f) == key and f in store.rows:
            reused += 1
        elif store.skips.get(f, {}).get("source_key") == key:
            previously.append(Skipped(f, store.skips[f]["reason"]))
        else:
            todo.append(f)
    if not files and not store.rows:
        reasons = "; ".join(f"{p.path}: {p.reason}" for p in problems[:3])
        raise SpotidanceError(f"no audio files to analyse ({reasons})" if reasons else "no audio files to analyse")

    n_workers = max(1, min(workers or default_workers(), len(todo) or 1))
    job = functools.partial(_job, feature_set=feature_set, tempo_range=tuple(tempo_range))
    analysed = 0
    last_save = clock()
    bar = progress_bar(enabled=progress and len(todo) > 1, total=len(todo), desc="analysing", unit="file")
    try:
        for i, (path, (status, result)) in enumerate(zip(todo, map_ordered(job, todo, workers=n_workers))):
            if i == 0 and n_workers > 1 and len(todo) >= PREIMPORT_MIN_FILES:
                _preimport_pandas()  # after the first result: the worker processes exist (forked before this thread)
            if status == "ok":
                store.rows[path] = result
                store.keys[path] = keys[path]
                store.skips.pop(path, None)
                analysed += 1
            else:
                store.skips[path] = {"source_key": keys[path], "reason": result}
                store.rows.pop(path, None)
                store.keys.pop(path, None)
                skipped.append(Skipped(path, result))
            bar.update(1)
            if clock() - last_save >= save_every:
                store.save()
                last_save = clock()
    finally:
        bar.close()
        store.save()  # also on Ctrl-C and errors: what was finished stays
    return AnalyzeResult(_frame(store), out_path, analysed, reused, skipped, previously, clock() - start)


def _preimport_pandas() -> None:
    """Import pandas (about 0.3 s of CPU) in a background thread while the workers analyse.

    :func:`analyze` returns its table as a DataFrame, built once every file is done; importing
    pandas then would be a serial tail of every run. This process mostly waits for results while
    the worker processes run, so the import is done meanwhile. Started only after the first result,
    when the worker processes have been forked (never fork a process while a thread imports).
    """
    import contextlib
    import sys
    import threading

    if "pandas" in sys.modules:
        return

    def work() -> None:
        with contextlib.suppress(Exception):  # _frame's own import reports a problem
            import pandas  # noqa: F401

    threading.Thread(target=work, name="spotidance-import-pandas", daemon=True).start()


def _frame(store: _Store):
    import pandas as pd

    frame = pd.DataFrame([{k: r.get(k) for k in store.columns} for r in store.rows.values()], columns=list(store.columns))
    for col in frame.columns:
        if col not in ("path", "key_name", "camelot"):
            frame[col] = pd.to_numeric(frame[col].replace("", None), errors="coerce")
    return frame


def format_summary(result: AnalyzeResult) -> str:
    """The closing summary: counts, and every skipped file with its reason."""
    rows = [["analysed now", result.analysed], ["unchanged since the last run", result.reused],
            ["skipped", len(result.skipped)], ["skipped before (unchanged, not retried)", len(result.previously_skipped)],
            ["rows in the table", len(result.table)]]
    text = format_table(rows, headers=["files", "count"]).rstrip("\n") + "\n"
    if result.out is not None:
        text += f"table: {result.out}\n"
    if result.skipped:
        text += format_table([[s.path, s.reason] for s in result.skipped], headers=["skipped", "reason"])
    return text
