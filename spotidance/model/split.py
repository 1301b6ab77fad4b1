"""Track-level train / validation / test split, stratified by label, optionally grouped by artist.

Frames of one track are near-duplicates (10 consecutive 3 s slices of one 30 s preview), so a
split must assign whole tracks: a track with frames on two sides would let the model be scored
on what it has seen. With ``group_by_artist`` the unit is the artist instead, so the test set
also measures generalisation to artists the model never heard.

The method (hand-written rather than scikit-learn's ``StratifiedGroupKFold``, which gives k
equal folds, not 70/15/15, and cannot promise every label on every side):

1. The units are tracks, or artists (a track without an artist is its own unit). A unit belongs
   to the stratum of its most frequent label (ties: the label that sorts first).
2. Within each stratum, units are put in a seeded random order (from the sorted ids, so the
   input's order does not matter), then stably sorted by size, largest first.
3. The smallest unit goes to test and the next smallest to validation, so every label is on
   all three sides; then each remaining unit, largest first, goes to the side furthest below
   its target share of the stratum's tracks (ties: train, validation, test).

A stratum with fewer than three units cannot be on three sides: that is a one-line error naming
the label. The same ids, labels, artists, fractions and seed always give the same split.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Sequence

import numpy as np

from spotidance.core.errors import SpotidanceError

#: The three sides, in the order used everywhere (bundle ``split.json``, metrics).
SIDES: tuple[str, ...] = ("train", "validation", "test")

#: Default shares of the tracks per side.
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)


@dataclasses.dataclass(frozen=True)
class Split:
    """Track ids on each side of a split.

    Attributes
    ----------
    train, validation, test : list of str
        Sorted track ids.
    group_by_artist : bool
        Whether artists were kept on one side.
    seed : int
    fractions : tuple of float
    """

    train: list[str]
    validation: list[str]
    test: list[str]
    group_by_artist: bool
    seed: int
    fractions: tuple[float, float, float]

    def as_dict(self) -> dict[str, list[str]]:
        """``{"train": [...], "validation": [...], "test": [...]}`` (the bundle's ``split.json``)."""
        return {side: list(getattr(self, side)) for side in SIDES}

    def side_of(self) -> dict[str, str]:
        """Track id -> side."""
        return {t: side for side in SIDES for t in getattr(self, side)}


def split_tracks(
    track_ids: Sequence[str],
    labels: Sequence[str],
    *,
    artists: Sequence[str] | None = None,
    group_by_artist: bool = False,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Split tracks into train / validation / test (see the module docstring for the method).

    Parameters
    ----------
    track_ids : sequence of str
        Unique track ids.
    labels : sequence of str
        Each track's label.
    artists : sequence of str, optional
        Each track's artist; needed with ``group_by_artist``. Empty means unknown.
    group_by_artist : bool
        Keep all tracks of an artist on one side.
    fractions : (train, validation, test)
        Target shares of each label's tracks; positive, normalised to sum 1.
    seed : int

    Returns
    -------
    Split

    Raises
    ------
    SpotidanceError
        Duplicate track ids, mismatched lengths, bad fractions, or a label with fewer than three
        tracks (or artists, when grouping).
    """
    ids = [str(t) for t in track_ids]
    labels = [str(x) for x in labels]
    if len(labels) != len(ids) or (artists is not None and len(artists) != len(ids)):
        raise SpotidanceError("split: track ids, labels and artists must have the same length")
    dupes = [t for t, n in Counter(ids).items() if n > 1]
    if dupes:
        raise SpotidanceError(f"split: duplicate track ids ({', '.join(sorted(dupes)[:3])}); rebuild the dataset")
    shares = np.asarray(list(fractions), dtype=float)
    if shares.shape != (3,) or not np.all(shares > 0) or not np.isfinite(shares).all():
        raise SpotidanceError(f"split fractions must be three positive numbers (train, validation, test), got {list(fractions)}")
    shares = shares / shares.sum()
    if group_by_artist and artists is None:
        raise SpotidanceError("split: group_by_artist needs the tracks' artists")

    # 1. units and their strata
    unit_of: dict[str, str] = {}
    for i, t in enumerate(ids):
        artist = str(artists[i]).strip() if (group_by_artist and artists is not None) else ""
        unit_of[t] = f"artist:{artist}" if artist else f"track:{t}"
    members: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(ids):
        members[unit_of[t]].append(i)
    strata: dict[str, list[str]] = defaultdict(list)
    for unit, rows in members.items():
        counts = Counter(labels[i] for i in rows)
        top = min(counts, key=lambda lab: (-counts[lab], lab))
        strata[top].append(unit)

    # 2.-3. per stratum: seeded order, largest first, then fill the side furthest below target
    rng = np.random.default_rng(seed)
    side_units: dict[str, list[str]] = {side: [] for side in SIDES}
    kind = "artists" if group_by_artist else "tracks"
    for label in sorted(strata):
        units = sorted(strata[label])
        if len(units) < 3:
            raise SpotidanceError(
                f"label {label!r} has only {len(units)} {kind}; train, validation and test each need at least "
                f"one, so give it at least 3 {kind}" + (" (or split without --group-by-artist)" if group_by_artist else "")
            )
        units = [units[i] for i in rng.permutation(len(units))]
        units.sort(key=lambda u: -len(members[u]))
        total = sum(len(members[u]) for u in units)
        filled = np.zeros(3)
        first = [(2, units[-1]), (1, units[-2])]  # the two smallest: one each to test and validation
        rest = [(None, u) for u in units[:-2]]
        for side, unit in first + rest:
            if side is None:
                side = int(np.argmax(shares * total - filled))  # argmax: first of ties
            filled[side] += len(members[unit])
            side_units[SIDES[side]].append(unit)

    sides = {side: sorted(ids[i] for u in side_units[side] for i in members[u]) for side in SIDES}
    return Split(**sides, group_by_artist=group_by_artist, seed=int(seed), fractions=tuple(float(s) for s in shares))


def check_no_leak(split: dict[str, Sequence[str]]) -> None:
    """Raise if any track id is on more than one side (a guard used before training)."""
    seen: dict[str, str] = {}
    for side, tracks in split.items():
        for t in tracks:
            if t in seen and seen[t] != side:
                raise SpotidanceError(f"split leak: track {t!r} is on both {seen[t]} and {side}")
            seen[t] = side
