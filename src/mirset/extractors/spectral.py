"""Spectral shape: flatness, flux, skewness, kurtosis, centroid, rolloff, bandwidth, ZCR.

Pure functions of a magnitude spectrogram (librosa conventions: ``S`` is (bins, frames)), applied
to the shared STFT. Frames quieter than ``SILENCE_DB`` are left out of every mean, so silence
inside a track does not pull the averages; a track with no audible frame gets nulls.
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import pyarrow as pa

from mirset.context import Spectrogram, TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

SILENCE_DB = -80.0  # frame RMS level (dBFS) under which a frame counts as silent


def frame_power(spec: Spectrogram) -> np.ndarray:
    """Mean-square signal level of each frame (Parseval over the one-sided spectrum)."""
    weights = np.full(spec.magnitude.shape[0], 2.0)
    weights[0] = weights[-1] = 1.0
    return (weights @ (spec.magnitude.astype(np.float64) ** 2)) / spec.window_power


def audible_frames(spec: Spectrogram, silence_db: float = SILENCE_DB) -> np.ndarray:
    """Boolean mask of frames louder than ``silence_db`` dBFS (RMS)."""
    power = frame_power(spec)
    return power > 10 ** (silence_db / 10)


def spectral_flux(S: np.ndarray) -> np.ndarray:
    """Frame-to-frame change of the L1-normalised magnitude spectrum (total variation, 0..1).

    Normalising each frame to unit sum makes the value independent of level and of n_fft scaling;
    returns one value per consecutive pair of frames.
    """
    total = S.sum(axis=0, keepdims=True)
    p = S / np.maximum(total, 1e-20)
    return 0.5 * np.abs(np.diff(p, axis=1)).sum(axis=0)


def spectral_moments(S: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame skewness and (non-excess) kurtosis of the magnitude spectrum over frequency (Hz)."""
    p = S / np.maximum(S.sum(axis=0, keepdims=True), 1e-20)
    mu = freqs @ p
    d = freqs[:, None] - mu[None, :]
    var = np.maximum((d**2 * p).sum(axis=0), 1e-20)
    skew = (d**3 * p).sum(axis=0) / var**1.5
    kurt = (d**4 * p).sum(axis=0) / var**2
    return skew, kurt


def zero_crossing_rate(y: np.ndarray) -> float:
    """Zero crossings per sample of a mono signal (librosa's sign convention: 0 counts as +)."""
    if y.size < 2:
        return 0.0
    signs = np.signbit(y)
    return float(np.count_nonzero(signs[1:] != signs[:-1]) / (y.size - 1))


@register
class Spectral(Extractor):
    """Spectral shape statistics, mean over audible frames of the shared STFT."""

    name = "spectral"
    version = "1"
    fields = (
        FeatureField(
            "spectral_flatness",
            pa.float64(),
            "ratio",
            "mean per-frame spectral flatness (geometric / arithmetic mean of the power spectrum); 1 = white noise",
            (0.0, 1.0),
        ),
        FeatureField(
            "spectral_flux",
            pa.float64(),
            "ratio",
            "mean frame-to-frame change of the L1-normalised magnitude spectrum (total-variation distance); level-independent, unlike the old unnormalised flux that saturated",
            (0.0, 1.0),
        ),
        FeatureField(
            "spectral_skewness",
            pa.float64(),
            "",
            "mean per-frame skewness of the magnitude spectrum over frequency (Hz)",
            (-5.0, 50.0),
        ),
        FeatureField(
            "spectral_kurtosis",
            pa.float64(),
            "",
            "mean per-frame kurtosis (non-excess) of the magnitude spectrum over frequency (Hz)",
            (1.0, 2500.0),
        ),
        FeatureField(
            "spectral_centroid_hz",
            pa.float64(),
            "Hz",
            "mean spectral centroid (magnitude-weighted mean frequency)",
            (0.0, 22050.0),
        ),
        FeatureField(
            "spectral_rolloff_hz",
            pa.float64(),
            "Hz",
            "mean frequency below which 85 % of the spectral magnitude lies",
            (0.0, 22050.0),
        ),
        FeatureField(
            "spectral_bandwidth_hz",
            pa.float64(),
            "Hz",
            "mean spectral bandwidth (magnitude-weighted standard deviation around the centroid)",
            (0.0, 11025.0),
        ),
        FeatureField(
            "zero_crossing_rate",
            pa.float64(),
            "1/sample",
            "zero crossings per sample of the mono mix at the analysis rate",
            (0.0, 1.0),
        ),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        spec = ctx.spectrogram
        zcr = zero_crossing_rate(ctx.analysis_mono)
        mask = audible_frames(spec)
        if not mask.any():
            silent = Null(f"no frame above {SILENCE_DB:.0f} dBFS (silent)")
            return {f.name: silent for f in self.fields} | {"zero_crossing_rate": zcr}
        S = spec.magnitude[:, mask]
        sr = spec.sample_rate
        freqs = spec.frequencies
        flatness = librosa.feature.spectral_flatness(S=S, power=2.0)[0]
        centroid = librosa.feature.spectral_centroid(S=S, sr=sr, n_fft=spec.n_fft, freq=freqs)[0]
        rolloff = librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=spec.n_fft, freq=freqs)[0]
        bandwidth = librosa.feature.spectral_bandwidth(S=S, sr=sr, n_fft=spec.n_fft, freq=freqs)[0]
        skew, kurt = spectral_moments(S, freqs)
        pairs = mask[1:] & mask[:-1]
        flux = spectral_flux(spec.magnitude)[pairs] if pairs.any() else None
        return {
            "spectral_flatness": float(flatness.mean()),
            "spectral_flux": float(flux.mean())
            if flux is not None
            else Null("fewer than two consecutive audible frames"),
            "spectral_skewness": float(skew.mean()),
            "spectral_kurtosis": float(kurt.mean()),
            "spectral_centroid_hz": float(centroid.mean()),
            "spectral_rolloff_hz": float(rolloff.mean()),
            "spectral_bandwidth_hz": float(bandwidth.mean()),
            "zero_crossing_rate": zcr,
        }
