"""spotidance: dance-music playlists to datasets, reports and genre classifiers.

Importing the package is light on purpose: NumPy, librosa, TensorFlow and matplotlib
load only inside the modules and commands that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
