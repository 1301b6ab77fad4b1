"""Stage ``collect``: a playlist's tracks, previews and audio features into a playlist CSV.

:mod:`~spotidance.collect.run` drives a run over one shared
:class:`~spotidance.collect.context.RunContext`: :mod:`~spotidance.collect.listing` lists the
playlist, :mod:`~spotidance.collect.preview_step` finds and fetches previews,
:mod:`~spotidance.collect.features` runs the feature chain and :mod:`~spotidance.collect.summary`
closes with a table. :mod:`~spotidance.collect.http` is the paced, rate-limit-aware HTTP session;
:mod:`~spotidance.collect.previews` downloads and checks one preview; ``sources/`` holds one module
per web service (Spotify, Deezer, ReccoBeats).

The vocabulary below is the one place the CLI (``spotidance collect``) takes its choices and
defaults from.
"""

#: Where audio features may come from (``auto``: spotify, then reccobeats, then local).
FEATURE_CHOICES = ("auto", "spotify", "reccobeats", "local", "none")
#: Default of ``features``.
DEFAULT_FEATURES = "auto"
#: Default and largest number of concurrent lookups/downloads.
DEFAULT_WORKERS = 8
MAX_WORKERS = 64
#: Default cap on a ``Retry-After`` wait, in seconds (``collect --max-wait``), and the largest cap.
DEFAULT_MAX_WAIT = 60.0
LONGEST_MAX_WAIT = 86400
