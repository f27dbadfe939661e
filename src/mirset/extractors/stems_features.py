"""Per-stem features, computed whenever stems exist beside ``full_mix``.

Loudness of every stem; rhythm of the drums, bass and other stems against the full mix's beat
grid; harmonic movement and variance of the bass and other stems. Without stems every field is
null with the reason, so flat tracks carry the columns but no made-up values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.extractors.harmony import HPCPParams, TonalAnalyzer, sum_normalised
from mirset.extractors.loudness import ebur128_measure
from mirset.extractors.onsets import detect_onsets
from mirset.extractors.rhythm import ioi_complexity, onset_strengths, syncopation
from mirset.schemas.fields import FeatureField

LOUDNESS_STEMS = ("drums", "bass", "other", "vocals")
RHYTHM_STEMS = ("drums", "bass", "other")
HARMONY_STEMS = ("bass", "other")
WINDOW_S, WINDOW_HOP_S = 4.0, 2.0


def _missing(ctx: TrackContext, stem: str) -> Null | None:
    if not ctx.stem_paths:
        return Null("no stems beside full_mix")
    if stem not in ctx.stem_paths:
        return Null(f"no {stem} stem")
    return None


def windowed_density(onset_times: np.ndarray, duration_s: float) -> tuple[float, float]:
    """Mean and variance of onsets per second over 4 s windows with a 2 s hop."""
    starts = np.arange(0.0, max(duration_s - WINDOW_S, 0.0) + 1e-9, WINDOW_HOP_S)
    counts = [np.count_nonzero((onset_times >= s) & (onset_times < s + WINDOW_S)) for s in starts]
    density = np.asarray(counts, dtype=np.float64) / min(WINDOW_S, duration_s)
    return float(density.mean()), float(density.var())


@register
class StemLoudness(Extractor):
    """Integrated loudness and loudness range of each stem."""

    name = "stem_loudness"
    version = "1"
    needs = ("stems",)
    fields = tuple(
        FeatureField(f"{kind}_{stem}", pa.float64(), unit, f"{what} of the {stem} stem", rng)
        for stem in LOUDNESS_STEMS
        for kind, unit, what, rng in (
            ("lufs", "LUFS", "integrated loudness (BS.1770-4)", (-70.0, 0.0)),
            ("lra", "LU", "loudness range (EBU Tech 3342)", (0.0, 40.0)),
        )
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for stem in LOUDNESS_STEMS:
            if (why := _missing(ctx, stem)) is not None:
                out |= {f"lufs_{stem}": why, f"lra_{stem}": why}
                continue
            s = ctx.stem(stem)
            lufs, lra, _ = ebur128_measure(s.samples, s.sample_rate, true_peak=False)
            silent = Null("silent stem: no block above the absolute gate")
            out[f"lufs_{stem}"] = lufs if math.isfinite(lufs) else silent
            if not math.isfinite(lufs):
                out[f"lra_{stem}"] = silent
            elif s.duration_s < 3.0:
                out[f"lra_{stem}"] = Null("shorter than the 3 s short-term window")
            else:
                out[f"lra_{stem}"] = lra
        return out


@register
class StemRhythm(Extractor):
    """Onset density, syncopation and complexity of the drums, bass and other stems."""

    name = "stem_rhythm"
    version = "1"
    needs = ("stems", "beats")
    fields = tuple(
        FeatureField(f"{key}_{stem}", pa.float64(), unit, f"{what} ({stem} stem)", rng)
        for stem in RHYTHM_STEMS
        for key, unit, what, rng in (
            (
                "onset_density_average",
                "1/s",
                "mean onsets per second over 4 s windows, 2 s hop",
                (0.0, 50.0),
            ),
            (
                "onset_density_variance",
                "1/s²",
                "variance of onsets per second over 4 s windows, 2 s hop",
                (0.0, 100.0),
            ),
            (
                "syncopation",
                "ratio",
                "share of onset strength more than 70 ms off the full mix's beats",
                (0.0, 1.0),
            ),
            (
                "rhythmic_complexity",
                "ratio",
                "normalised IOI-histogram entropy and CV, averaged",
                (0.0, 1.0),
            ),
            ("rhythmic_evenness", "ratio", "1 / (1 + CV of inter-onset intervals)", (0.0, 1.0)),
        )
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        out: dict[str, Any] = {}
        beats = np.asarray(ctx.results.get("beats", {}).get("beat_times") or [], dtype=np.float64)
        keys = (
            "onset_density_average",
            "onset_density_variance",
            "syncopation",
            "rhythmic_complexity",
            "rhythmic_evenness",
        )
        for stem in RHYTHM_STEMS:
            if (why := _missing(ctx, stem)) is not None:
                out |= {f"{k}_{stem}": why for k in keys}
                continue
            s = ctx.stem(stem)
            onsets = np.asarray(detect_onsets(s), dtype=np.float64)
            avg, var = windowed_density(onsets, s.duration_s)
            out[f"onset_density_average_{stem}"] = avg
            out[f"onset_density_variance_{stem}"] = var
            if onsets.size == 0 or beats.size < 2:
                out[f"syncopation_{stem}"] = Null("no onsets" if onsets.size == 0 else "no beats")
            else:
                a = s.analysis
                strengths = onset_strengths(s.onset_envelope, onsets, a.sample_rate, a.hop_length)
                out[f"syncopation_{stem}"] = syncopation(onsets, strengths, beats)
            if onsets.size < 3:
                why = Null(f"{onsets.size} onsets: too few for interval statistics")
                out |= {f"rhythmic_complexity_{stem}": why, f"rhythmic_evenness_{stem}": why}
            else:
                complexity, evenness = ioi_complexity(onsets)
                out |= {
                    f"rhythmic_complexity_{stem}": complexity,
                    f"rhythmic_evenness_{stem}": evenness,
                }
        return out


@register
class StemHarmony(Extractor):
    """How much and how fast the harmony moves in the bass and other stems."""

    name = "stem_harmony"
    version = "1"
    needs = ("stems",)
    fields = tuple(
        FeatureField(f"{key}_{stem}", pa.float64(), "ratio", f"{what} ({stem} stem)", rng)
        for stem in HARMONY_STEMS
        for key, what, rng in (
            (
                "harmonic_movement",
                "mean Euclidean distance between consecutive sum-normalised chroma frames, divided by √2",
                (0.0, 1.0),
            ),
            (
                "harmonic_variance",
                "mean over pitch classes of the temporal variance of sum-normalised chroma (not rescaled or capped, unlike the old tool)",
                (0.0, 0.25),
            ),
        )
    )

    def setup(self) -> None:
        self._tonal = TonalAnalyzer(HPCPParams())

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if not hasattr(self, "_tonal"):
            self.setup()
        out: dict[str, Any] = {}
        for stem in HARMONY_STEMS:
            if (why := _missing(ctx, stem)) is not None:
                out |= {f"harmonic_movement_{stem}": why, f"harmonic_variance_{stem}": why}
                continue
            peaks = self._tonal.frame_peaks(ctx.stem(stem).analysis_mono)
            tuning = self._tonal.tuning(peaks)
            frames = (
                sum_normalised(self._tonal.hpcp(peaks, tuning)) if tuning else np.empty((0, 12))
            )
            frames = frames[frames.sum(axis=1) > 0]
            if frames.shape[0] < 2:
                why = Null("fewer than two frames with pitched content")
                out |= {f"harmonic_movement_{stem}": why, f"harmonic_variance_{stem}": why}
                continue
            step = np.linalg.norm(np.diff(frames, axis=0), axis=1) / np.sqrt(2)
            out[f"harmonic_movement_{stem}"] = float(step.mean())
            out[f"harmonic_variance_{stem}"] = float(frames.var(axis=0).mean())
        return out
