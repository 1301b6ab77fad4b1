"""Data contract of the playlist CSV that ``collect`` writes and ``eda``/``prepare`` read.

One row per track. The header is versioned: :data:`CSV_SCHEMA_VERSION` bumps whenever a column
is added, renamed or changes meaning, and ``docs/data-contracts.md`` documents every column.
A value that no source gave stays empty: nothing is invented.
"""

from __future__ import annotations

#: Version of the CSV header below (written to ``<label>.csv.meta.json`` beside each CSV).
#: 2 added ``playlist_ids``, ``album_name``, ``added_at`` and ``artist_genres``; files of version 1
#: load as they are (the new cells empty, ``playlist_ids`` taken from ``playlist_id``).
CSV_SCHEMA_VERSION = 2

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
    "playlist_ids",
    "artist_id",
    "isrc",
    "deezer_id",
    "preview_source",
    "preview_path",
    "features_source",
)

#: What playlist exporters give beside the seed's columns (empty when the service does not say).
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "album_name",
    "added_at",
    "artist_genres",
)

#: The full header, in order.
CSV_COLUMNS: tuple[str, ...] = SEED_COLUMNS + AUDIO_FEATURES + PROVENANCE_COLUMNS + CATALOGUE_COLUMNS

#: Columns that are not audio features (identifiers, links, provenance, track metadata).
NON_FEATURE_COLUMNS: tuple[str, ...] = SEED_COLUMNS + PROVENANCE_COLUMNS + CATALOGUE_COLUMNS

#: Cells holding several values (``playlist_ids``, ``artist_genres``) separate them with this.
LIST_SEPARATOR = ";"

#: Numeric columns, typed in a Parquet file (the CSV holds text): whole numbers, then real numbers.
INTEGER_COLUMNS: tuple[str, ...] = ("track_length", "track_popularity", "duration_ms", "key", "mode", "time_signature")
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in AUDIO_FEATURES if c not in INTEGER_COLUMNS)

#: File formats ``collect --format`` writes (``<label>.csv`` or ``<label>.parquet``).
TABLE_FORMATS: tuple[str, ...] = ("csv", "parquet")

#: Allowed values of ``preview_source`` ("" = no preview; "synthetic" = rendered by spotidance.synth.render).
PREVIEW_SOURCES: tuple[str, ...] = ("spotify", "deezer", "synthetic", "")

#: Allowed values of ``features_source`` ("" = no features; "synthetic" = the renderer's ground truth).
FEATURES_SOURCES: tuple[str, ...] = ("spotify", "reccobeats", "local", "synthetic", "")

#: Old names some historical CSV exports use, mapped to ours.
COLUMN_ALIASES: dict[str, str] = {"track_pop": "track_popularity"}
