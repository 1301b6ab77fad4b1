"""Stage ``synth``: labelled synthetic genre clips (techno, EDM, drum and bass) with known ground truth."""

from spotidance.synth.render import GENRES, SAMPLE_RATE, render_clip, render_collection

__all__ = ["GENRES", "SAMPLE_RATE", "render_clip", "render_collection"]
