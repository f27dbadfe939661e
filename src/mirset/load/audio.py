"""Reading a crop of a track for training: seek instead of decoding the whole file when the
format allows it, resample with soxr, fit the channel count, pad to the exact length.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from mirset.audio import decode, resample


def _read_soundfile(src: Path | bytes, start: int, frames: int) -> tuple[np.ndarray, int]:
    f = sf.SoundFile(io.BytesIO(src) if isinstance(src, bytes) else str(src))
    with f:
        rate = int(f.samplerate)
        if start:
            f.seek(min(start, max(0, f.frames - 1)) if f.frames > 0 else start)
        data = f.read(frames, dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), rate


def _read_decoded(src: Path | bytes, suffix: str) -> tuple[np.ndarray, int]:
    """Whole-file decode (FFmpeg through mirset's decoder) for what libsndfile cannot seek."""
    if isinstance(src, bytes):
        with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
            tmp.write(src)
            tmp.flush()
            d = decode(Path(tmp.name))
    else:
        d = decode(Path(src))
    return d.samples, d.sample_rate


def read_segment(
    src: Path | bytes,
    offset_s: float,
    seconds: float,
    native_rate: int,
    suffix: str = "",
) -> tuple[np.ndarray, int]:
    """About ``seconds`` of audio from ``offset_s`` at the file's own rate (channels, n)."""
    start = max(0, math.floor(offset_s * native_rate))
    frames = math.ceil(seconds * native_rate) + 64
    try:
        return _read_soundfile(src, start, frames)
    except Exception:  # libsndfile cannot read or seek it (m4a, wma, ...): FFmpeg, whole file
        samples, rate = _read_decoded(src, suffix)
        start = max(0, math.floor(offset_s * rate))
        return samples[:, start : start + math.ceil(seconds * rate) + 64], rate


def fit_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """Mono -> copies, more than wanted -> the first ones (as Stable Audio Tools' ``Stereo``);
    ``channels=1`` averages."""
    if channels == 1:
        return samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if samples.shape[0] == 1:
        return np.repeat(samples, channels, axis=0)
    if samples.shape[0] >= channels:
        return samples[:channels]
    reps = math.ceil(channels / samples.shape[0])
    return np.tile(samples, (reps, 1))[:channels]


def crop(
    src: Path | bytes,
    *,
    offset_s: float,
    seconds: float,
    native_rate: int,
    sample_rate: int,
    channels: int,
    suffix: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """(audio float32 (channels, n), padding mask bool (n,)) with n = round(seconds * rate)."""
    n = round(seconds * sample_rate)
    samples, rate = read_segment(src, offset_s, seconds, native_rate, suffix)
    samples = resample(samples, rate, sample_rate)
    samples = fit_channels(samples, channels)
    out = np.zeros((channels, n), dtype=np.float32)
    have = min(n, samples.shape[1])
    out[:, :have] = samples[:, :have]
    mask = np.zeros(n, dtype=bool)
    mask[:have] = True
    return out, mask
