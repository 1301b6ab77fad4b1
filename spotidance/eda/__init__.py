"""Stage ``eda``: compare the audio features of labelled playlist CSVs (tests, effect sizes, a report).

Modules: :mod:`~spotidance.eda.run` reads the inputs, computes the statistics and drives the run;
:mod:`~spotidance.eda.report` draws the figures and writes the self-contained HTML page. This
``__init__`` holds the stage's vocabulary, shared by both and by the CLI.
"""

from spotidance.core.schema import PROVENANCE_COLUMNS, SEED_COLUMNS

#: Features shown first (and large) in the report: the seed's two most telling ones.
HEADLINE_FEATURES: tuple[str, ...] = ("tempo", "instrumentalness")

#: Numeric features Spotify returned that our CSV contract does not keep, read when present.
EXTRA_AUDIO_FEATURES: tuple[str, ...] = ("liveness",)

#: Features that measure the whole track's length, not its sound: compared but not ranked
#: (techno releases are long extended mixes; a classifier of 30 s previews never sees this).
LENGTH_FEATURES: tuple[str, ...] = ("duration_ms",)

#: Nominal features (no order): chi-square test and Cramer's V instead of rank tests.
NOMINAL_FEATURES: tuple[str, ...] = ("key",)

#: Columns never analysed: identifiers, links, provenance and track metadata.
NOT_FEATURES: frozenset[str] = frozenset(SEED_COLUMNS + PROVENANCE_COLUMNS + ("index",))

#: A tempo within this ratio of half or double its label's median is flagged as an octave error.
OCTAVE_TOLERANCE = 0.08

#: The terminal table shows each label's mean up to this many labels (the report always does).
MAX_TERMINAL_MEANS = 4
