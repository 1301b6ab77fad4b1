"""Stage ``audio``: decoding any audio file to mono samples, and log-mel frames.

:mod:`~spotidance.audio.decode` (mp3, ogg, wav, flac, m4a at any rate and channel count),
:mod:`~spotidance.audio.spectrogram` (the seed's log-mel spectrogram cut into 128x128 frames) and
:mod:`~spotidance.audio.config` (the spectrogram settings every dataset and model keeps).
"""

from spotidance.audio.config import SpectrogramConfig
from spotidance.audio.decode import ffmpeg_exe, is_audio_path, load

__all__ = ["SpectrogramConfig", "ffmpeg_exe", "is_audio_path", "load"]
