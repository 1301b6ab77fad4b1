"""The spectrogram configuration: one small object shared by datasets and models.

Every frame dataset stores the :class:`SpectrogramConfig` it was built with, and every model
bundle stores the one it was trained on, so that training and classification can never disagree:
a bundle refuses audio framed any other way.

The defaults reproduce the binary-classifier seed exactly: librosa's defaults (``n_fft`` 2048,
``hop_length`` 512, Hann window, centred frames), 128 mel bands, power 2, ``power_to_db`` with
``ref=1.0`` (and librosa's ``amin=1e-10``, ``top_db=80``), audio decoded to mono at 22,050 Hz.
A 30 s clip gives 1,292 STFT frames; the first 1,280 make 10 non-overlapping 128x128 frames of
2.97 s each.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from spotidance.core.errors import SpotidanceError

#: Allowed values of :attr:`SpectrogramConfig.normalize`.
NORMALIZE_CHOICES: tuple[str, ...] = ("none", "frame")


@dataclasses.dataclass(frozen=True)
class SpectrogramConfig:
    """How audio becomes 128x128 log-mel frames.

    Attributes
    ----------
    sample_rate : int
        Audio is decoded to mono float32 at this rate (Hz).
    n_fft : int
        STFT window length in samples.
    hop_length : int
        STFT hop in samples.
    n_mels : int
        Number of mel bands (the frame height).
    frame_length : int
        STFT frames per output frame (the frame width).
    power : float
        Exponent of the magnitude spectrogram (2 = power).
    top_db : float or None
        ``power_to_db``'s dynamic-range floor below the clip's peak (librosa's default 80).
    normalize : {"none", "frame"}
        ``"none"`` (default) keeps the dB values as the seed did; ``"frame"`` standardises each
        frame to zero mean and unit variance, which removes level differences between sources.
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    frame_length: int = 128
    power: float = 2.0
    top_db: float | None = 80.0
    normalize: str = "none"

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_CHOICES:
            raise SpotidanceError(
                f"unknown normalisation {self.normalize!r}; choose one of {', '.join(NORMALIZE_CHOICES)}"
            )
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "frame_length"):
            if int(getattr(self, name)) <= 0:
                raise SpotidanceError(f"spectrogram setting {name} must be positive")

    @property
    def frame_seconds(self) -> float:
        """Duration covered by one output frame, in seconds (2.97 s by default)."""
        return self.frame_length * self.hop_length / self.sample_rate

    @property
    def min_samples(self) -> int:
        """Fewest decoded samples that still give one whole frame."""
        # centred STFT: n_stft_frames = 1 + n_samples // hop_length
        return (self.frame_length - 1) * self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpectrogramConfig":
        """Build from :meth:`to_dict` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpotidanceError(
                f"spectrogram configuration has unknown settings {sorted(unknown)}; "
                "it was written by a newer spotidance"
            )
        return cls(**data)

    def to_json(self) -> str:
        """The configuration as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def differences(self, other: "SpectrogramConfig") -> list[str]:
        """Human-readable list of settings that differ from ``other`` (empty if equal)."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]
