"""Stage ``dataset``: audio files to a memory-mapped frame dataset (``spotidance prepare``).

:mod:`~spotidance.dataset.frames` is the on-disk contract (shards + ``dataset.json``);
:mod:`~spotidance.dataset.prepare` decodes and frames audio in parallel into it.
"""

from spotidance.dataset.frames import DatasetWriter, FrameDataset

__all__ = ["DatasetWriter", "FrameDataset"]
