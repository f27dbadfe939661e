"""Multiband RMS: the level of four frequency bands, power averaged over channels.

Band power comes from each channel's mean power spectrum (Welch: Hann 2048 at the analysis rate,
taken from the shared STFT), summed over the band's bins (Parseval), then averaged over channels,
so stereo and multichannel input are handled correctly (the old tool mis-collapsed stereo).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from mirset.context import Spectrogram, TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

BANDS: dict[str, tuple[float, float | None]] = {
    "bass": (20.0, 120.0),
    "body": (120.0, 600.0),
    "mid": (600.0, 2500.0),
    "air": (2500.0, None),  # None: up to Nyquist
}


def band_power(spec: Spectrogram, low_hz: float, high_hz: float | None) -> np.ndarray:
    """Mean-square level per channel of the band [low_hz, high_hz) (brick-wall over STFT bins)."""
    freqs = spec.frequencies
    weights = np.full(freqs.shape, 2.0)
    weights[0] = weights[-1] = 1.0
    high = np.inf if high_hz is None else high_hz
    in_band = (freqs >= low_hz) & ((freqs < high) | (np.isinf(high) & (freqs <= freqs[-1])))
    return (spec.channel_power[:, in_band] @ weights[in_band]) / spec.window_power


@register
class MultibandRMS(Extractor):
    """RMS level (dBFS, 20·log10 RMS) of bass, body, mid and air bands."""

    name = "multiband_rms"
    version = "1"
    fields = tuple(
        FeatureField(
            f"rms_energy_{band}",
            pa.float64(),
            "dBFS",
            f"RMS level of the {lo:g}-{'Nyquist' if hi is None else f'{hi:g}'} Hz band, "
            "20·log10(RMS), power averaged over channels",
            (-100.0, 0.0),
        )
        for band, (lo, hi) in BANDS.items()
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        spec = ctx.spectrogram
        out: dict[str, Any] = {}
        for band, (lo, hi) in BANDS.items():
            power = float(band_power(spec, lo, hi).mean())
            key = f"rms_energy_{band}"
            out[key] = 10 * math.log10(power) if power > 0 else Null("no energy in the band")
        return out
