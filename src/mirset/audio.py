"""Decoding and resampling: every track is decoded exactly once, into float32 (channels, samples)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".flac",
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".mp4",
        ".aiff",
        ".aif",
        ".aifc",
        ".wma",
        ".wv",
        ".ape",
        ".caf",
        ".w64",
        ".webm",
        ".mka",
    }
)


class DecodeError(Exception):
    """The file could not be decoded into audio; the message says why."""


@dataclass(frozen=True)
class Decoded:
    """Decoded audio: ``samples`` is float32 with shape (channels, n), values nominally in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    codec: str

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def decode(path: Path, max_decoded_bytes: int | None = None) -> Decoded:
    """Decode ``path`` with libsndfile, falling back to FFmpeg (PyAV) for what libsndfile lacks.

    Raises DecodeError with both decoders' reasons when neither can read the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DecodeError("not a regular file (missing, dangling link or special file)")
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        decoded = _decode_soundfile(path, max_decoded_bytes)
    except DecodeError:
        raise
    except Exception as sf_error:  # libsndfile cannot read it: try FFmpeg
        try:
            decoded = _decode_pyav(path, max_decoded_bytes)
        except DecodeError:
            raise
        except Exception as av_error:
            raise DecodeError(
                f"not decodable audio (libsndfile: {_short(sf_error)}; ffmpeg: {_short(av_error)})"
            ) from av_error
    if decoded.samples.shape[1] == 0:
        raise DecodeError("no audio samples in the file")
    if not np.isfinite(decoded.samples).all():
        samples = np.nan_to_num(decoded.samples, nan=0.0, posinf=0.0, neginf=0.0)
        decoded = Decoded(samples, decoded.sample_rate, decoded.codec)
    return decoded


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


def _check_size(frames: int, channels: int, max_bytes: int | None) -> None:
    size = frames * channels * 4
    if max_bytes is not None and size > max_bytes:
        raise DecodeError(
            f"too large to decode in memory ({size / 2**20:.0f} MiB as float32 > limit "
            f"{max_bytes / 2**20:.0f} MiB; raise build.max_decoded_mb)"
        )


def _decode_soundfile(path: Path, max_bytes: int | None) -> Decoded:
    with sf.SoundFile(str(path)) as f:
        if f.frames > 0:
            _check_size(f.frames, f.channels, max_bytes)
        data = f.read(dtype="float32", always_2d=True)
        codec = f"{f.format}/{f.subtype}".lower()
        rate = int(f.samplerate)
    return Decoded(np.ascontiguousarray(data.T), rate, codec)


def _decode_pyav(path: Path, max_bytes: int | None) -> Decoded:
    import av  # imported lazily: only files libsndfile cannot read need FFmpeg

    with av.open(str(path), metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise DecodeError("no audio stream in the file")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        rate = int(ctx.sample_rate or 0)
        channels = int(ctx.channels or 0)
        if rate <= 0 or channels <= 0:
            raise DecodeError("audio stream without sample rate or channels")
        if stream.duration and stream.time_base:
            _check_size(int(stream.duration * stream.time_base * rate), channels, max_bytes)
        resampler = av.AudioResampler(format="fltp", layout=ctx.layout, rate=rate)
        chunks: list[np.ndarray] = []
        total = 0
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                arr = out.to_ndarray()
                chunks.append(arr)
                total += arr.shape[1]
                _check_size(total, channels, max_bytes)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
        codec = f"{container.format.name}/{ctx.name}"
    if not chunks:
        raise DecodeError("no audio frames decoded")
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return Decoded(np.ascontiguousarray(data), rate, codec)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample float32 (channels, n) or (n,) audio with soxr (high quality); no copy if equal."""
    if sr_in == sr_out:
        return samples
    if samples.ndim == 1:
        return soxr.resample(samples, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)
    out = soxr.resample(samples.T, sr_in, sr_out, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of (channels, n) audio."""
    if samples.shape[0] == 1:
        return samples[0]
    return samples.mean(axis=0, dtype=np.float32)
