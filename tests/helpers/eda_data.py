"""Synthetic playlist CSVs for the ``eda`` tests (written into a test's tmp folder)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FEATURES = ("danceability", "energy", "instrumentalness", "tempo", "valence")


def write_csv(path: Path, columns: dict[str, list], *, header: list[str] | None = None) -> Path:
    """Write columns (equal lengths) as a CSV; ``header`` overrides the names (repeats allowed)."""
    names = header or list(columns)
    rows = zip(*columns.values())
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerows(rows)
    return path


def playlist(rng: np.random.Generator, n: int, *, shift: dict[str, float] | None = None) -> dict[str, list]:
    """Random features on their natural scales; ``shift`` moves some features' centres."""
    shift = shift or {}
    centre = {"danceability": 0.6, "energy": 0.7, "instrumentalness": 0.5, "tempo": 125.0, "valence": 0.4}
    spread = {"danceability": 0.1, "energy": 0.1, "instrumentalness": 0.2, "tempo": 3.0, "valence": 0.15}
    columns = {"track_id": [f"id{rng.integers(1 << 40):x}" for _ in range(n)], "track_name": [f"t{i}" for i in range(n)]}
    for f in FEATURES:
        columns[f] = list(np.round(rng.normal(centre[f] + shift.get(f, 0.0), spread[f], n), 4))
    return columns


def three_genres(folder: Path, *, n: int = 60, seed: int = 0) -> list[Path]:
    """Three labels that differ in tempo (techno 126, edm 128, dnb 174 BPM) and instrumentalness, with key and mode."""
    rng = np.random.default_rng(seed)
    paths = []
    for name, tempo, instrumental in (("techno", 1.0, 0.3), ("edm", 3.0, -0.3), ("dnb", 49.0, 0.0)):
        columns = playlist(rng, n, shift={"tempo": tempo, "instrumentalness": instrumental})
        columns["instrumentalness"] = list(np.clip(columns["instrumentalness"], 0, 1))
        columns["key"] = list(rng.integers(0, 12, n))
        columns["mode"] = list(rng.integers(0, 2, n))
        columns["label"] = [name] * n
        paths.append(write_csv(folder / f"{name}.csv", columns))
    return paths


def ranking_rows(text: str) -> list[list[str]]:
    """The rows of the terminal ranking table printed by ``format_ranking`` (split on spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("----")) + 1
    rows = []
    for line in lines[start:]:
        if not line[:5].strip().isdigit():
            break
        rows.append(line.split())
    return rows
