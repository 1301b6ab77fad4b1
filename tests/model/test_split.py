"""The track-level split: no leaks, stratified, artists kept together, reproducible."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.model.split import SIDES, check_no_leak, split_tracks


def make_tracks(counts: dict[str, int], *, seed: int = 0, artists_per_label: int | None = None):
    """Track ids, labels and artists; artists (if asked) are shared by several tracks of a label."""
    rng = np.random.default_rng(seed)
    ids, labels, artists = [], [], []
    for label, n in counts.items():
        for i in range(n):
            ids.append(f"{label}-{rng.integers(1_000_000):06d}-{i}")
            labels.append(label)
            k = artists_per_label or n
            artists.append(f"{label}-artist-{int(rng.integers(k))}")
    return ids, labels, artists


CASES = [{"a": 10, "b": 10}, {"a": 100, "b": 40, "c": 7}, {"x": 3, "y": 25, "z": 60, "w": 13}]


@pytest.mark.parametrize("counts", CASES)
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_every_track_on_exactly_one_side_and_every_label_on_every_side(counts, seed):
    ids, labels, _ = make_tracks(counts, seed=seed)
    split = split_tracks(ids, labels, seed=seed)
    sides = split.as_dict()
    every = [t for side in SIDES for t in sides[side]]
    assert sorted(every) == sorted(ids)  # all assigned, none twice: no leak by track id
    assert len(set(every)) == len(every)
    label_of = dict(zip(ids, labels))
    for label, n in counts.items():
        per_side = {side: sum(1 for t in sides[side] if label_of[t] == label) for side in SIDES}
        assert all(v >= 1 for v in per_side.values()), per_side
        if n >= 7:  # stratified: each side within one track of its 70/15/15 share of the label
            for side, share in zip(SIDES, (0.70, 0.15, 0.15)):
                assert abs(per_side[side] - share * n) <= 1.0, (label, per_side)


@pytest.mark.parametrize("seed", [0, 7])
def test_reproducible_per_seed_and_independent_of_input_order(seed):
    ids, labels, artists = make_tracks({"a": 30, "b": 20, "c": 12})
    first = split_tracks(ids, labels, seed=seed)
    again = split_tracks(ids, labels, seed=seed)
    order = np.random.default_rng(99).permutation(len(ids))
    shuffled = split_tracks([ids[i] for i in order], [labels[i] for i in order], seed=seed)
    assert first.as_dict() == again.as_dict() == shuffled.as_dict()
    other = split_tracks(ids, labels, seed=seed + 1)
    assert other.as_dict() != first.as_dict()
    assert {side: len(v) for side, v in other.as_dict().items()} == {side: len(v) for side, v in first.as_dict().items()}


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_group_by_artist_keeps_each_artist_on_one_side(seed):
    ids, labels, artists = make_tracks({"a": 60, "b": 45, "c": 30}, seed=seed, artists_per_label=9)
    split = split_tracks(ids, labels, artists=artists, group_by_artist=True, seed=seed)
    side_of = split.side_of()
    sides_per_artist: dict[str, set[str]] = {}
    for t, artist in zip(ids, artists):
        sides_per_artist.setdefault(artist, set()).add(side_of[t])
    assert all(len(s) == 1 for s in sides_per_artist.values())
    assert sorted(side_of) == sorted(ids)
    label_of = dict(zip(ids, labels))
    for label in ("a", "b", "c"):
        assert all(any(label_of[t] == label for t in getattr(split, side)) for side in SIDES)
    # the ungrouped split of the same tracks puts some artist on two sides: grouping did something
    loose = split_tracks(ids, labels, artists=artists, seed=seed).side_of()
    assert any(len({loose[t] for t, a in zip(ids, artists) if a == artist}) > 1 for artist in sides_per_artist)


def test_tracks_without_an_artist_are_their_own_group():
    ids, labels, _ = make_tracks({"a": 9, "b": 9})
    split = split_tracks(ids, labels, artists=[""] * len(ids), group_by_artist=True)
    assert all(len(getattr(split, side)) >= 2 for side in SIDES)


def test_a_label_with_too_few_tracks_or_artists_is_a_clear_error():
    ids, labels, artists = make_tracks({"a": 10, "b": 2})
    with pytest.raises(SpotidanceError, match="label 'b' has only 2 tracks;.*at least 3 tracks"):
        split_tracks(ids, labels)
    ids, labels, artists = make_tracks({"a": 10, "b": 10}, artists_per_label=1)
    with pytest.raises(SpotidanceError, match="label 'a' has only 1 artists.*without --group-by-artist"):
        split_tracks(ids, labels, artists=artists, group_by_artist=True)


def test_bad_inputs_are_refused():
    with pytest.raises(SpotidanceError, match="duplicate track ids"):
        split_tracks(["a", "a", "b", "c"], ["x"] * 4)
    with pytest.raises(SpotidanceError, match="fractions"):
        split_tracks(["a", "b", "c"], ["x"] * 3, fractions=(0.8, 0.2, 0.0))
    with pytest.raises(SpotidanceError, match="same length"):
        split_tracks(["a", "b", "c"], ["x"] * 2)


def test_custom_fractions_are_followed():
    ids, labels, _ = make_tracks({"a": 100, "b": 100})
    split = split_tracks(ids, labels, fractions=(0.5, 0.25, 0.25), seed=5)
    counts = Counter({side: len(getattr(split, side)) for side in SIDES})
    assert counts == Counter({"train": 100, "validation": 50, "test": 50})
    assert split.fractions == (0.5, 0.25, 0.25)


def test_check_no_leak_catches_a_track_on_two_sides():
    check_no_leak({"train": ["a", "b"], "validation": ["c"], "test": ["d"]})
    with pytest.raises(SpotidanceError, match="track 'b' is on both train and test"):
        check_no_leak({"train": ["a", "b"], "validation": ["c"], "test": ["b"]})
