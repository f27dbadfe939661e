"""Danceability and dynamic complexity, with Essentia's signal-processing algorithms.

``danceability`` here is Essentia's DFA-based ``Danceability`` (Streich & Herrera 2005), whose
raw value is nominally 0..3, divided by 3 (not clipped); the learned VGGish model replaces it when
its weights are present (``danceability_source`` says which). ``dynamic_complexity`` is Essentia's
``DynamicComplexity`` (average absolute deviation from the global loudness level, dB).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.extractors.essentia_algos import essentia_standard
from mirset.schemas.fields import FeatureField

DFA_SCALE = 3.0
MIN_DANCEABILITY_S = 3.0  # Essentia returns a bare 0 below ~0.3 s; below 3 s DFA has too few scales
MIN_COMPLEXITY_S = 1.0  # Essentia returns (0, -100) for too-short input


@register
class Dynamics(Extractor):
    """DFA danceability (scaled 0..1) and dynamic complexity."""

    name = "dynamics"
    version = "2"
    uses = ("essentia_danceability",)
    fields = (
        FeatureField(
            "danceability",
            pa.float64(),
            "ratio",
            "danceability 0..1: Essentia's DFA-based Danceability (nominally 0..3) divided by 3, not clipped; replaced by the learned model's P(danceable) when its weights are present",
            (0.0, 1.0),
        ),
        FeatureField(
            "danceability_source",
            pa.string(),
            "",
            "method behind `danceability`: 'essentia_dfa' or a model name",
            info_key=None,
        ),
        FeatureField(
            "dynamic_complexity",
            pa.float64(),
            "dB",
            "Essentia DynamicComplexity: average absolute deviation of short-term loudness from the track's level",
            (0.0, 40.0),
        ),
    )

    def setup(self) -> None:
        es = essentia_standard()
        self._danceability = es.Danceability(sampleRate=44100)
        self._dynamic = es.DynamicComplexity(sampleRate=44100)

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if not hasattr(self, "_danceability"):
            self.setup()
        if ctx.analysis.sample_rate != 44100:
            raise ValueError("dynamics needs analysis.sample_rate 44100")
        y = np.ascontiguousarray(ctx.analysis_mono, dtype=np.float32)
        if not np.any(y):
            silent = Null("digital silence")
            return {
                "danceability": silent,
                "danceability_source": None,
                "dynamic_complexity": silent,
            }
        out: dict[str, Any] = {}
        if ctx.duration_s < MIN_DANCEABILITY_S:
            out["danceability"] = Null(f"shorter than {MIN_DANCEABILITY_S:g} s")
            out["danceability_source"] = None  # no value, so no source
        else:
            out["danceability"] = float(self._danceability(y)[0]) / DFA_SCALE
            out["danceability_source"] = "essentia_dfa"
        learned = (ctx.results.get("essentia_danceability") or {}).get("danceability_model")
        if learned is not None:  # the learned model's P(danceable) replaces the DFA value
            out["danceability"] = float(learned)
            out["danceability_source"] = "discogs-effnet danceability"
        if ctx.duration_s < MIN_COMPLEXITY_S:
            out["dynamic_complexity"] = Null(f"shorter than {MIN_COMPLEXITY_S:g} s")
        else:
            out["dynamic_complexity"] = float(self._dynamic(y)[0])
        return out
