"""The small core every stage stands on: errors, the playlist CSV contract and its reader/writer,
atomic writes, text tables, progress bars, worker processes and settings.

Nothing here imports a stage; every stage may import from here.
"""

from spotidance.core.errors import AudioDecodeError, SpotidanceError

__all__ = ["AudioDecodeError", "SpotidanceError"]
