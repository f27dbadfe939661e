"""TrackContext: one decoded track and the cached views that all extractors share.

Views are computed on first use and kept for the life of the context, so the STFT, the mel
spectrogram and the onset envelope are each computed once per track whatever the number of
extractors that read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import scipy.fft

from mirset.audio import Decoded, decode, resample, to_mono
from mirset.config import AnalysisConfig

STFT_BLOCK_FRAMES = 4096  # frames per block of the chunked STFT (bounds transient memory)


@dataclass(frozen=True)
class Spectrogram:
    """Magnitude STFT of the mono mix plus each channel's mean power spectrum."""

    magnitude: np.ndarray  # (n_bins, n_frames) float32, mono mix
    channel_power: np.ndarray  # (channels, n_bins) float64: mean |X|^2 per channel over frames
    sample_rate: int
    n_fft: int
    hop_length: int
    window_power: float  # n_fft * sum(window**2): divides |X|^2 into signal power (Parseval)

    @property
    def frequencies(self) -> np.ndarray:
        return librosa.fft_frequencies(sr=self.sample_rate, n_fft=self.n_fft)

    @property
    def times(self) -> np.ndarray:
        return librosa.frames_to_time(
            np.arange(self.magnitude.shape[1]), sr=self.sample_rate, hop_length=self.hop_length
        )


def chunked_stft(
    samples: np.ndarray, n_fft: int, hop_length: int, block_frames: int = STFT_BLOCK_FRAMES
) -> Spectrogram:
    """Centred Hann STFT of (channels, n) audio, computed block by block.

    Returns the mono-mix magnitude (the STFT is linear, so the mono spectrum is the mean of the
    channel spectra) and the per-channel mean power spectrum, without ever holding the complex
    STFT of the whole track. Equal to ``librosa.stft(center=True, pad_mode="constant")``.
    """
    channels, n = samples.shape
    pad = n_fft // 2
    n_frames = 1 + n // hop_length
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    magnitude = np.empty((n_fft // 2 + 1, n_frames), dtype=np.float32)
    power_sum = np.zeros((channels, n_fft // 2 + 1), dtype=np.float64)
    for start in range(0, n_frames, block_frames):
        stop = min(n_frames, start + block_frames)
        # samples [lo, hi) of the zero-padded signal, padded here so the track is never copied
        lo = start * hop_length - pad
        hi = (stop - 1) * hop_length + n_fft - pad
        seg = samples[:, max(lo, 0) : min(hi, n)]
        seg = np.pad(seg, ((0, 0), (max(0, -lo), max(0, hi - n))))
        frames = np.lib.stride_tricks.sliding_window_view(seg, n_fft, axis=1)[:, ::hop_length]
        spec = scipy.fft.rfft(frames * window, axis=-1)  # (channels, frames, bins)
        power_sum += (spec.real**2 + spec.imag**2).sum(axis=1)
        magnitude[:, start:stop] = np.abs(spec.mean(axis=0)).T
    return Spectrogram(
        magnitude=magnitude,
        channel_power=power_sum / n_frames,
        sample_rate=0,
        n_fft=n_fft,
        hop_length=hop_length,
        window_power=float(n_fft * np.sum(window.astype(np.float64) ** 2)),
    )


@dataclass
class TrackContext:
    """The decoded audio of one track and the views derived from it."""

    path: Path
    audio: Decoded
    analysis: AnalysisConfig
    stem_paths: dict[str, Path] = field(default_factory=dict)
    stems_dir: Path | None = None  # where separated stems of this track are written
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    view_seconds: dict[str, float] = field(default_factory=dict)
    max_decoded_bytes: int | None = None
    _nested_s: float = 0.0

    @classmethod
    def from_file(
        cls,
        path: Path,
        analysis: AnalysisConfig,
        stem_paths: dict[str, Path] | None = None,
        max_decoded_bytes: int | None = None,
        stems_dir: Path | None = None,
    ) -> TrackContext:
        return cls(
            path=Path(path),
            audio=decode(path, max_decoded_bytes),
            analysis=analysis,
            stem_paths=dict(stem_paths or {}),
            stems_dir=stems_dir,
            max_decoded_bytes=max_decoded_bytes,
        )

    # -- basic properties ------------------------------------------------------------------
    @property
    def samples(self) -> np.ndarray:
        """Native-rate float32 audio, shape (channels, n)."""
        return self.audio.samples

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def duration_s(self) -> float:
        return self.audio.duration_s

    def _timed(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` and add its time, minus nested views' time, to ``view_seconds[name]``."""
        nested_before = self._nested_s
        start = time.perf_counter()
        value = fn()
        elapsed = time.perf_counter() - start
        own = elapsed - (self._nested_s - nested_before)
        self.view_seconds[name] = self.view_seconds.get(name, 0.0) + own
        self._nested_s = nested_before + elapsed
        return value

    @property
    def views_total_s(self) -> float:
        """Seconds spent computing views so far (each view counted once)."""
        return sum(self.view_seconds.values())

    # -- cached views ------------------------------------------------------------------------
    @cached_property
    def mono(self) -> np.ndarray:
        """Native-rate mono mix (float32)."""
        return self._timed("mono", lambda: to_mono(self.samples))

    @cached_property
    def analysis_audio(self) -> np.ndarray:
        """All channels at the analysis rate, shape (channels, n)."""
        return self._timed(
            "resample",
            lambda: resample(self.samples, self.sample_rate, self.analysis.sample_rate),
        )

    @cached_property
    def analysis_mono(self) -> np.ndarray:
        """Mono mix at the analysis rate."""
        return to_mono(self.analysis_audio)

    @cached_property
    def spectrogram(self) -> Spectrogram:
        """Shared STFT at the analysis rate (see ``chunked_stft``)."""
        a = self.analysis

        def compute() -> Spectrogram:
            spec = chunked_stft(self.analysis_audio, a.n_fft, a.hop_length)
            return Spectrogram(
                spec.magnitude,
                spec.channel_power,
                a.sample_rate,
                a.n_fft,
                a.hop_length,
                spec.window_power,
            )

        return self._timed("stft", compute)

    @cached_property
    def mel_db(self) -> np.ndarray:
        """Log-power mel spectrogram (dB re max 1.0) from the shared STFT."""
        a = self.analysis

        def compute() -> np.ndarray:
            basis = librosa.filters.mel(sr=a.sample_rate, n_fft=a.n_fft, n_mels=a.n_mels)
            mag = self.spectrogram.magnitude
            mel = np.empty((a.n_mels, mag.shape[1]), dtype=np.float32)
            for i in range(0, mag.shape[1], STFT_BLOCK_FRAMES):  # blocks bound the temporaries
                block = mag[:, i : i + STFT_BLOCK_FRAMES]
                mel[:, i : i + STFT_BLOCK_FRAMES] = basis @ (block * block)
            return librosa.power_to_db(mel, ref=1.0).astype(np.float32)

        return self._timed("mel", compute)

    @cached_property
    def onset_envelope(self) -> np.ndarray:
        """Spectral-flux onset strength (librosa's definition) from the shared mel view."""
        a = self.analysis
        return self._timed(
            "onset_envelope",
            # center=False: the mel frames are already centred, so only the diff lag is
            # compensated (librosa's extra n_fft/2 shift put onsets and beats ~23 ms late)
            lambda: librosa.onset.onset_strength(
                S=self.mel_db, sr=a.sample_rate, hop_length=a.hop_length, center=False
            ).astype(np.float32),
        )

    def mono_at(self, sample_rate: int) -> np.ndarray:
        """Mono float32 signal at ``sample_rate`` (the analysis view when the rates agree)."""
        if sample_rate == self.analysis.sample_rate:
            return self.analysis_mono
        return self.derived(
            ("mono", sample_rate),
            "resample",
            lambda: resample(self.mono, self.sample_rate, sample_rate),
        )

    def derived(self, key: Hashable, name: str, fn: Callable[[], Any]) -> Any:
        """A representation shared between extractors: computed once per track under ``key``,
        timed as view ``name``."""
        cache: dict[Hashable, Any] = self.__dict__.setdefault("_derived", {})
        if key not in cache:
            cache[key] = self._timed(name, fn)
        return cache[key]

    def peek(self, key: Hashable) -> Any:
        """A shared representation if some extractor already computed it, else None."""
        return self.__dict__.get("_derived", {}).get(key)

    # -- stems -------------------------------------------------------------------------------
    @property
    def stem_names(self) -> list[str]:
        return sorted(self.stem_paths)

    def stem(self, name: str) -> TrackContext:
        """The context of a stem beside the track (decoded once on first use, with its own views)."""
        cache: dict[str, TrackContext] = self.__dict__.setdefault("_stems", {})
        if name not in cache:
            if name not in self.stem_paths:
                raise KeyError(f"no {name!r} stem for this track")
            decoded = self._timed(
                "stem decode", lambda: decode(self.stem_paths[name], self.max_decoded_bytes)
            )
            cache[name] = TrackContext(
                path=self.stem_paths[name],
                audio=decoded,
                analysis=self.analysis,
                view_seconds=self.view_seconds,
                max_decoded_bytes=self.max_decoded_bytes,
            )
        return cache[name]

    def stem_mix(self, names: tuple[str, ...]) -> np.ndarray | None:
        """Mono mix at the analysis rate of the listed stems that exist (None if fewer than 2)."""
        present = [n for n in names if n in self.stem_paths]
        if len(present) < 2:
            return None
        parts = [self.stem(n).analysis_mono for n in present]
        n = max(p.size for p in parts)
        mix = np.zeros(n, dtype=np.float32)
        for p in parts:
            mix[: p.size] += p
        return mix


def click_context(
    seconds: float = 4.0, bpm: float = 120.0, sample_rate: int = 44100
) -> TrackContext:
    """A short synthetic click track, used to warm up JIT-compiled code once per worker."""
    n = int(seconds * sample_rate)
    y = np.zeros(n, dtype=np.float32)
    burst = (np.hanning(441) * np.sin(2 * np.pi * 1000 * np.arange(441) / sample_rate)).astype(
        np.float32
    )
    for start in range(0, n - burst.size, int(sample_rate * 60 / bpm)):
        y[start : start + burst.size] += burst
    return TrackContext(
        Path("<click>"),
        Decoded(y[None, :], sample_rate, "synthetic"),
        AnalysisConfig(sample_rate=sample_rate),
    )
