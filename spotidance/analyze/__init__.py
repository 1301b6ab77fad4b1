"""Stage ``analyze``: tempo, key, loudness and the Beatport 2016 feature set from audio.

:mod:`~spotidance.analyze.run` (``spotidance analyze``: files to an incremental CSV, returning a
pandas DataFrame), :mod:`~spotidance.analyze.features` (the core columns of one clip, also used by
``collect --features local``), and one module per feature: :mod:`~spotidance.analyze.tempo`,
:mod:`~spotidance.analyze.key`, :mod:`~spotidance.analyze.loudness`,
:mod:`~spotidance.analyze.beatport` (the 71 columns of Caparrini et al.'s Beatport 2016 table).
This ``__init__`` holds the stage's vocabulary for the CLI.
"""

#: ``--set`` choices: the core columns, plus the Beatport 2016 columns, or everything.
FEATURE_SETS: tuple[str, ...] = ("core", "beatport2016", "all")

#: The default ``--set``.
DEFAULT_FEATURE_SET = "core"
