"""Data contract of the playlist CSV that ``collect`` writes and ``eda``/``prepare`` read.

One row per track. The header is versioned: :data:`CSV_SCHEMA_VERSION` bumps whenever a column
is added, renamed or changes meaning, and ``docs/data-contracts.md`` documents every column.
A value that no source gave stays empty: nothing is invented.
"""

from __future__ import annotations

#: Version of the CSV header below (written to ``<label>.csv.meta.json`` beside each CSV).
CSV_SCHEMA_VERSION = 1

#: The binary seed's own columns (``track_popularity`` was ``track_pop`` there).
SEED_COLUMNS: tuple[str, ...] = (
    "track_id",
    "track_name",
    "artist_name",
    "album_date",
    "track_length",
    "track_popularity",
    "mp3",
)

#: The 12 Spotify-style audio features, in Spotify's alphabetical order.
AUDIO_FEATURES: tuple[str, ...] = (
    "acousticness",
    "danceability",
    "duration_ms",
    "energy",
    "instrumentalness",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "tempo",
    "time_signature",
    "valence",
)

#: Provenance and linking columns.
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "label",
    "playlist_id",
    "artist_id",
    "isrc",
    "deezer_id",
    "preview_source",
    "preview_path",
    "features_source",
)

#: The full header, in order.
CSV_COLUMNS: tuple[str, ...] = SEED_COLUMNS + AUDIO_FEATURES + PROVENANCE_COLUMNS

#: Allowed values of ``preview_source`` ("" = no preview; "synthetic" = rendered by spotidance.synth.render).
PREVIEW_SOURCES: tuple[str, ...] = ("spotify", "deezer", "synthetic", "")

#: Allowed values of ``features_source`` ("" = no features; "synthetic" = the renderer's ground truth).
FEATURES_SOURCES: tuple[str, ...] = ("spotify", "reccobeats", "local", "synthetic", "")

#: Old names some historical CSV exports use, mapped to ours.
COLUMN_ALIASES: dict[str, str] = {"track_pop": "track_popularity"}
