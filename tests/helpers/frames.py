"""Small frame datasets of numpy patterns, separable by construction (for machinery tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spotidance.audio.config import SpectrogramConfig
from spotidance.dataset.frames import DatasetWriter


def pattern_dataset(path: Path, labels: dict[str, int], *, config: SpectrogramConfig | None = None, frames: int = 3, seed: int = 0) -> Path:
    """A small frame dataset of numpy patterns: ``labels`` maps label -> number of tracks."""
    config = config or SpectrogramConfig()
    rng = np.random.default_rng(seed)
    added = []
    for k, (label, n) in enumerate(labels.items()):
        for j in range(n):
            x = rng.normal(-50, 6, (frames, config.n_mels, config.frame_length)).astype(np.float32)
            x[:, 10 + 20 * k : 20 + 20 * k, :] += 25
            entry = {"track_id": f"{label}-{j}", "label": label, "artist": f"{label}-artist-{j % 4}", "path": f"{label}/{j}.mp3", "source_key": f"{label}-{j}"}
            added.append((entry, x))
    DatasetWriter(path, config).commit(added)
    return path
