"""Stage ``collect``: a playlist's tracks, previews and audio features into a playlist CSV.

:mod:`~spotidance.collect.run` drives a run; :mod:`~spotidance.collect.http` is the paced,
rate-limit-aware HTTP session; :mod:`~spotidance.collect.previews` downloads and checks previews;
``sources/`` holds one module per web service (Spotify, Deezer, ReccoBeats).
"""
