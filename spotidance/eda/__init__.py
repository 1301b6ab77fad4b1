"""Stage ``eda``: compare the audio features of labelled playlist CSVs (tests, effect sizes, a report).

Modules: :mod:`~spotidance.eda.run` reads the inputs, computes the statistics and drives the run;
:mod:`~spotidance.eda.report` draws the figures and writes the self-contained HTML page. This
``__init__`` holds the stage's vocabulary, shared by both and by the CLI: which features are
categories, their units and how to show their values.
"""

from spotidance.core.schema import NON_FEATURE_COLUMNS

#: Features shown first (and large) in the report: the seed's two most telling ones.
HEADLINE_FEATURES: tuple[str, ...] = ("tempo", "instrumentalness")

#: Numeric features Spotify returned that our CSV contract does not keep, read when present.
EXTRA_AUDIO_FEATURES: tuple[str, ...] = ("liveness",)

#: Features that measure the whole track's length, not its sound: compared but not ranked
#: (techno releases are long extended mixes; a classifier of 30 s previews never sees this).
LENGTH_FEATURES: tuple[str, ...] = ("duration_ms",)

#: Nominal features (categories without order): chi-square test and Cramer's V instead of rank
#: tests, shares of each category instead of means.
NOMINAL_FEATURES: tuple[str, ...] = ("key", "mode")

#: Columns never analysed: identifiers, links, provenance and track metadata.
NOT_FEATURES: frozenset[str] = frozenset(NON_FEATURE_COLUMNS + ("index",))

#: Spotify's features on a 0..1 scale; values above 1 mean another scale (some exporters write 0-100).
UNIT_INTERVAL_FEATURES: tuple[str, ...] = (
    "acousticness", "danceability", "energy", "instrumentalness", "liveness", "speechiness", "valence",
)  # fmt: skip

#: A 0-1 feature reaching above this in some inputs but not in others is on another scale there
#: (0-100 percentages): values just above 1 are noise, values above 1.5 are not Spotify's scale.
UNIT_SCALE_LIMIT = 1.5

#: How a feature is shown: (name with unit, factor from the stored value, decimals).
DISPLAY: dict[str, tuple[str, float, int]] = {
    "tempo": ("tempo (BPM)", 1.0, 1),
    "loudness": ("loudness (dB)", 1.0, 1),
    "duration_ms": ("duration (min)", 1 / 60000, 1),
    "time_signature": ("time signature (beats per bar)", 1.0, 0),
}

#: Units appended to a shown value.
UNITS: dict[str, str] = {"tempo": "BPM", "loudness": "dB", "duration_ms": "min"}

#: Pitch classes 0..11 (Spotify's ``key``) as note names; -1 (no key detected) counts as missing.
NOTE_NAMES: tuple[str, ...] = ("C", "C♯/D♭", "D", "D♯/E♭", "E", "F", "F♯/G♭", "G", "G♯/A♭", "A", "A♯/B♭", "B")

#: Spotify's ``mode``: 0 minor, 1 major.
MODE_NAMES: dict[int, str] = {0: "minor", 1: "major"}

#: The classifier of the summary: stratified k-fold with this many folds (fewer for tiny labels).
CV_FOLDS = 5

#: A tempo within this ratio of half or double its label's median is flagged as an octave error.
OCTAVE_TOLERANCE = 0.08

#: The terminal table shows each label's median up to this many labels (the report always does).
MAX_TERMINAL_MEANS = 4


def camelot(key: int, mode: int) -> str:
    """The Camelot wheel code of a pitch class and mode (DJs' harmonic-mixing notation).

    ``camelot(0, 1)`` is ``"8B"`` (C major), ``camelot(9, 0)`` is ``"8A"`` (A minor).
    """
    number = (8 + 7 * key) % 12 if mode == 1 else (5 + 7 * key) % 12
    return f"{number or 12}{'B' if mode == 1 else 'A'}"


def feature_title(feature: str) -> str:
    """The feature's name with its unit, for headers and axes: ``tempo (BPM)``."""
    return DISPLAY.get(feature, (feature, 1.0, 0))[0]


def category_name(feature: str, value: float) -> str:
    """A nominal value in words: key 9 is ``A``, mode 1 is ``major``; others as integers."""
    if value != value:
        return ""
    number = int(round(value))
    if feature == "key" and 0 <= number < 12:
        return NOTE_NAMES[number]
    if feature == "mode" and number in MODE_NAMES:
        return MODE_NAMES[number]
    return f"{value:g}"


def format_value(feature: str, value: float, *, unit: bool = True) -> str:
    """A value in the feature's unit and precision: ``124.0 BPM``, ``−9.7 dB``, ``6.6 min``, ``0.77``."""
    if value != value:
        return "–"
    if feature in NOMINAL_FEATURES:
        return category_name(feature, value)
    _, factor, decimals = DISPLAY.get(feature, ("", 1.0, -1))
    shown = value * factor
    if decimals < 0:  # 0..1 features: two decimals; anything else: three significant digits
        text = f"{shown:.2f}" if feature in UNIT_INTERVAL_FEATURES and abs(shown) <= 1.5 else _significant(shown)
    else:
        text = f"{shown:,.{decimals}f}"
    text = text.replace("-", "−")
    return f"{text} {UNITS[feature]}" if unit and feature in UNITS else text


def _significant(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2e}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
