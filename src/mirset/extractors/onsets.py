"""Onsets: peak-picked spectral-flux onsets from the shared onset envelope."""

from __future__ import annotations

from typing import Any

import librosa
import pyarrow as pa

from mirset.context import TrackContext, click_context
from mirset.extractors.base import Extractor, register
from mirset.schemas.fields import FeatureField


def detect_onsets(ctx: TrackContext) -> list[float]:
    """Onset times (s) peak-picked from the context's onset envelope (librosa's picker)."""
    a = ctx.analysis
    env = ctx.onset_envelope
    if not env.size or env.max() <= 0:
        return []
    times = librosa.onset.onset_detect(
        onset_envelope=env, sr=a.sample_rate, hop_length=a.hop_length, units="time"
    )
    return [round(float(t), 6) for t in times]


@register
class Onsets(Extractor):
    """Onset times (at the envelope peaks, not backtracked), count and density."""

    name = "onsets"
    version = "1"
    fields = (
        FeatureField("onset_count", pa.int32(), "onsets", "number of onsets", (0.0, 1e6)),
        FeatureField("onset_density", pa.float64(), "1/s", "onsets per second", (0.0, 50.0)),
        FeatureField.times("onset_times", "onset", ".ONSETS"),
    )

    def setup(self) -> None:
        self.extract(click_context())  # compile librosa's numba kernels once per worker

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        times = detect_onsets(ctx)
        return {
            "onset_count": len(times),
            "onset_density": len(times) / ctx.duration_s,
            "onset_times": times,
        }
