"""Stage ``synth``: labelled synthetic genre clips (techno, EDM, drum and bass) with known ground truth.

The vocabulary and defaults ``spotidance synth`` takes (written once, in :mod:`spotidance.synth.render`).
"""

from spotidance.synth.render import (
    DEFAULT_DURATION,
    DEFAULT_GENRES,
    DEFAULT_PER_GENRE,
    GENRES,
    SAMPLE_RATE,
    render_clip,
    render_collection,
)

__all__ = ["DEFAULT_DURATION", "DEFAULT_GENRES", "DEFAULT_PER_GENRE", "GENRES", "SAMPLE_RATE", "render_clip", "render_collection"]
