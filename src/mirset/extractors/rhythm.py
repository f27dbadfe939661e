"""Rhythm statistics of the full mix, from the beats and onsets extractors' results.

Pure functions of onset times, onset strengths and beat times (seconds), shared with the
per-stem rhythm extractor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

BEAT_TOLERANCE_S = 0.070  # an onset within 70 ms of a beat is on the beat
IOI_BINS = 50


def onset_strengths(
    envelope: np.ndarray, onset_times: np.ndarray, sr: int, hop_length: int
) -> np.ndarray:
    """Onset-envelope value at each onset (the peak itself, not a backtracked minimum)."""
    if onset_times.size == 0:
        return np.empty(0)
    frames = np.clip(np.round(onset_times * sr / hop_length).astype(int), 0, envelope.size - 1)
    return envelope[frames].astype(np.float64)


def near_beat(
    onset_times: np.ndarray, beat_times: np.ndarray, tolerance: float = BEAT_TOLERANCE_S
) -> np.ndarray:
    """Boolean: is each onset within ``tolerance`` seconds of the nearest beat?"""
    if beat_times.size == 0:
        return np.zeros(onset_times.size, dtype=bool)
    idx = np.clip(np.searchsorted(beat_times, onset_times), 1, beat_times.size - 1)
    nearest = np.minimum(
        np.abs(onset_times - beat_times[idx - 1]), np.abs(onset_times - beat_times[idx])
    )
    if beat_times.size == 1:
        nearest = np.abs(onset_times - beat_times[0])
    return nearest <= tolerance


def syncopation(onset_times: np.ndarray, strengths: np.ndarray, beat_times: np.ndarray) -> float:
    """Share of onset strength falling off the beat grid (0 = all on beats, 1 = all off)."""
    total = strengths.sum()
    if total <= 0:
        return 0.0
    return float(strengths[~near_beat(onset_times, beat_times)].sum() / total)


def ioi_complexity(onset_times: np.ndarray) -> tuple[float, float]:
    """(rhythmic complexity 0..1, rhythmic evenness 0..1) from inter-onset intervals.

    Complexity is the mean of the IOI histogram's entropy normalised by its maximum
    (log of the bin count) and of min(CV / 2, 1); evenness is 1 / (1 + CV).
    """
    ioi = np.diff(np.sort(onset_times))
    mean = ioi.mean()
    cv = float(ioi.std() / mean) if mean > 0 else 0.0
    hist, _ = np.histogram(ioi, bins=IOI_BINS)
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * np.log(p)).sum() / np.log(IOI_BINS))
    return (entropy + min(cv / 2.0, 1.0)) / 2.0, 1.0 / (1.0 + cv)


@register
class RhythmStats(Extractor):
    """Beat regularity, onset strength, syncopation and inter-onset-interval statistics."""

    name = "rhythm"
    version = "1"
    needs = ("beats", "onsets")
    fields = (
        FeatureField(
            "beat_regularity",
            pa.float64(),
            "s",
            "standard deviation of inter-beat intervals; lower = steadier",
            (0.0, 1.0),
        ),
        FeatureField(
            "onset_strength_mean",
            pa.float64(),
            "",
            "mean onset-envelope strength at the onsets (peaks, not backtracked minima as in the old tool)",
            (0.0, 50.0),
        ),
        FeatureField(
            "onset_strength_std",
            pa.float64(),
            "",
            "standard deviation of the onset-envelope strength at the onsets",
            (0.0, 50.0),
        ),
        FeatureField(
            "syncopation",
            pa.float64(),
            "ratio",
            "share of onset strength falling more than 70 ms off the beat grid",
            (0.0, 1.0),
        ),
        FeatureField(
            "on_beat_ratio",
            pa.float64(),
            "ratio",
            "share of onsets within 70 ms of a beat",
            (0.0, 1.0),
        ),
        FeatureField(
            "rhythmic_complexity",
            pa.float64(),
            "ratio",
            "mean of the normalised entropy of the inter-onset-interval histogram (50 bins) and min(CV/2, 1)",
            (0.0, 1.0),
        ),
        FeatureField(
            "rhythmic_evenness",
            pa.float64(),
            "ratio",
            "1 / (1 + coefficient of variation of inter-onset intervals)",
            (0.0, 1.0),
        ),
        FeatureField("ioi_mean", pa.float64(), "s", "mean inter-onset interval", (0.0, 10.0)),
        FeatureField(
            "ioi_std", pa.float64(), "s", "standard deviation of inter-onset intervals", (0.0, 10.0)
        ),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        a = ctx.analysis
        beats = np.asarray(ctx.results["beats"].get("beat_times") or [], dtype=np.float64)
        onsets = np.asarray(ctx.results["onsets"].get("onset_times") or [], dtype=np.float64)
        out: dict[str, Any] = {}
        out["beat_regularity"] = (
            float(np.diff(beats).std()) if beats.size >= 3 else Null(f"{beats.size} beats: too few")
        )
        strengths = onset_strengths(ctx.onset_envelope, onsets, a.sample_rate, a.hop_length)
        if onsets.size == 0:
            none = Null("no onsets")
            out |= {"onset_strength_mean": none, "onset_strength_std": none}
        else:
            out |= {
                "onset_strength_mean": float(strengths.mean()),
                "onset_strength_std": float(strengths.std()),
            }
        if beats.size < 2 or onsets.size == 0:
            why = Null("no beats" if beats.size < 2 else "no onsets")
            out |= {"syncopation": why, "on_beat_ratio": why}
        else:
            out["syncopation"] = syncopation(onsets, strengths, beats)
            out["on_beat_ratio"] = float(near_beat(onsets, beats).mean())
        if onsets.size < 3:
            why = Null(f"{onsets.size} onsets: too few for interval statistics")
            out |= dict.fromkeys(
                ("rhythmic_complexity", "rhythmic_evenness", "ioi_mean", "ioi_std"), why
            )
        else:
            ioi = np.diff(np.sort(onsets))
            complexity, evenness = ioi_complexity(onsets)
            out |= {
                "rhythmic_complexity": complexity,
                "rhythmic_evenness": evenness,
                "ioi_mean": float(ioi.mean()),
                "ioi_std": float(ioi.std()),
            }
        return out
