"""Loudness: integrated loudness (ITU-R BS.1770-4), loudness range (EBU Tech 3342), true peak.

Measured with libebur128 (through ``pyebur128``), the reference implementation used by FFmpeg,
on all channels at the native rate (5.1 channel weights per BS.1770 when there are 6 channels).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyebur128 as ebu

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

CHUNK_FRAMES = 1 << 20


def ebur128_measure(
    samples: np.ndarray, sample_rate: int, true_peak: bool = True
) -> tuple[float, float, float | None]:
    """(integrated LUFS, LRA in LU, max true peak as linear amplitude or None when not asked
    for) of (channels, n) audio. The 4x-oversampled true peak is most of the cost."""
    channels, n = samples.shape
    mode = ebu.MeasurementMode.MODE_I | ebu.MeasurementMode.MODE_LRA
    if true_peak:
        mode |= ebu.MeasurementMode.MODE_TRUE_PEAK
    state = ebu.R128State(channels, sample_rate, mode)
    for start in range(0, n, CHUNK_FRAMES):
        chunk = np.ascontiguousarray(samples[:, start : start + CHUNK_FRAMES].T, dtype=np.float32)
        state.add_frames(chunk.ravel(), chunk.shape[0])
    integrated = ebu.get_loudness_global(state)
    lra = ebu.get_loudness_range(state)
    peak = max(ebu.get_true_peak(state, c) for c in range(channels)) if true_peak else None
    return integrated, lra, peak


@register
class Loudness(Extractor):
    """BS.1770-4 integrated loudness, EBU Tech 3342 loudness range and 4x-oversampled true peak."""

    name = "loudness"
    version = "1"
    fields = (
        FeatureField(
            "lufs",
            pa.float64(),
            "LUFS",
            "integrated loudness, ITU-R BS.1770-4 (K-weighted, 400 ms blocks, absolute and relative gating), full mix",
            (-70.0, 0.0),
        ),
        FeatureField(
            "lra",
            pa.float64(),
            "LU",
            "loudness range per EBU Tech 3342 (3 s short-term loudness, gated, P95 - P10); replaces the old 400 ms approximation",
            (0.0, 40.0),
        ),
        FeatureField(
            "true_peak_dbtp",
            pa.float64(),
            "dBTP",
            "maximum true peak over channels (oversampled, libebur128)",
            (-70.0, 12.0),
        ),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        integrated, lra, peak = ebur128_measure(ctx.samples, ctx.sample_rate)
        out: dict[str, Any] = {}
        if math.isfinite(integrated):
            out["lufs"] = integrated
        elif ctx.duration_s < 0.4:
            out["lufs"] = Null("shorter than one 400 ms gating block")
        else:
            out["lufs"] = Null("silent: no block above the -70 LUFS absolute gate")
        if ctx.duration_s < 3.0:
            out["lra"] = Null("shorter than the 3 s short-term window")
        elif not math.isfinite(integrated):
            out["lra"] = Null("silent: no short-term block above the gates")
        else:
            out["lra"] = lra
        out["true_peak_dbtp"] = 20 * math.log10(peak) if peak > 0 else Null("digital silence")
        return out
