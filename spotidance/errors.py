"""Temporary alias of :mod:`spotidance.core.errors` while the analyze modules land (removed after)."""

from spotidance.core.errors import AudioDecodeError, SpotidanceError  # noqa: F401
