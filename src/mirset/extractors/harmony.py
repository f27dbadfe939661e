"""Harmony: mean chroma (index 0 = C), key, mode, key strength and tuning frequency.

Chroma is Essentia's HPCP (spectral peaks mapped to pitch classes, tuning-corrected reference),
which resolves low notes better than an STFT chroma and ran ~6× faster than librosa's CQT chroma
here. The key comes from Essentia's ``KeyExtractor`` (bgate profile, chosen with
``bench/accuracy``) at the estimated tuning. When stems exist, chroma and key are taken from the
bass+other+vocals mix (drums removed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.extractors.essentia_algos import essentia_standard
from mirset.schemas.fields import FeatureField

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
CHROMA_STEMS = ("bass", "other", "vocals")


class HPCPParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frame_size: int = 4096
    hop_size: int = 2048
    min_hz: float = 40.0
    max_hz: float = 5000.0
    max_peaks: int = 100
    harmonics: int = 0  # > 0 credits subharmonics and pulled keys a fifth down in our tests
    # bench/accuracy (68 rendered files, all 24 keys): KeyExtractor bgate 0.978 MIREX, edma 0.922,
    # temperley 0.900; librosa Krumhansl-Schmuckler 0.875; madmom CNN 0.894
    key_profile: str = "bgate"


class TonalAnalyzer:
    """Essentia algorithms for HPCP frames, built once per worker."""

    def __init__(self, p: HPCPParams, sample_rate: int = 44100) -> None:
        es = essentia_standard()
        self.p = p
        self.sample_rate = sample_rate
        self.window = es.Windowing(type="blackmanharris62", size=p.frame_size)
        self.spectrum = es.Spectrum(size=p.frame_size)
        self.peaks = es.SpectralPeaks(
            sampleRate=sample_rate,
            minFrequency=p.min_hz,
            maxFrequency=p.max_hz,
            maxPeaks=p.max_peaks,
            magnitudeThreshold=1e-5,
            orderBy="magnitude",
        )
        self._es = es

    def frame_peaks(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Spectral peaks (frequencies, magnitudes) of every frame of mono ``y``."""
        p = self.p
        out = []
        if y.size < p.frame_size:
            y = np.pad(y, (0, p.frame_size - y.size))
        for frame in self._es.FrameGenerator(
            np.ascontiguousarray(y, dtype=np.float32),
            frameSize=p.frame_size,
            hopSize=p.hop_size,
            startFromZero=True,
        ):
            freqs, mags = self.peaks(self.spectrum(self.window(frame)))
            out.append((freqs, mags))
        return out

    def tuning(self, peaks: list[tuple[np.ndarray, np.ndarray]]) -> float | None:
        """Tuning frequency (Hz of A4) from all frames' peaks; None without peaks."""
        tf = self._es.TuningFrequency(resolution=1.0)
        found = False
        hz = 440.0
        for freqs, mags in peaks:
            if freqs.size:
                hz, _ = tf(freqs, mags)
                found = True
        return float(hz) if found else None

    def hpcp(self, peaks: list[tuple[np.ndarray, np.ndarray]], tuning_hz: float) -> np.ndarray:
        """Per-frame 12-bin HPCP with index 0 = C (tuned), each frame max-normalised; (T, 12)."""
        algo = self._es.HPCP(
            size=12,
            referenceFrequency=tuning_hz * 2 ** (-9 / 12),
            sampleRate=self.sample_rate,
            minFrequency=self.p.min_hz,
            maxFrequency=self.p.max_hz,
            bandPreset=False,
            harmonics=self.p.harmonics,
            weightType="cosine",
            nonLinear=False,
            normalized="unitMax",
        )
        frames = [algo(f, m) if f.size else np.zeros(12, np.float32) for f, m in peaks]
        return np.asarray(frames, dtype=np.float64).reshape(-1, 12)

    def key(self, y: np.ndarray, tuning_hz: float) -> tuple[str, str, float]:
        """(tonic with sharps, 'major'/'minor', strength) of mono ``y`` with Essentia's
        KeyExtractor (its own HPCP settings, our tuning estimate)."""
        algo = self._es.KeyExtractor(
            profileType=self.p.key_profile, tuningFrequency=tuning_hz, sampleRate=self.sample_rate
        )
        tonic, scale, strength = algo(np.ascontiguousarray(y, dtype=np.float32))
        return _FLATS.get(tonic, tonic), scale, float(strength)


def sum_normalised(frames: np.ndarray) -> np.ndarray:
    """Each chroma frame scaled to sum 1 (all-zero frames stay zero)."""
    total = frames.sum(axis=1, keepdims=True)
    return np.divide(frames, total, out=np.zeros_like(frames), where=total > 0)


@register
class Harmony(Extractor):
    """Mean chroma (sums to 1, index 0 = C), key, mode, key strength and tuning."""

    name = "harmony"
    version = "1"
    Params = HPCPParams
    needs = ("stems",)
    fields = (
        *(
            FeatureField(
                f"chroma_{i}",
                pa.float64(),
                "ratio",
                f"mean chroma of pitch class {pc} (index 0 = C; the 12 values sum to 1); HPCP of the bass+other+vocals stems when present, else the full mix",
                (0.0, 1.0),
            )
            for i, pc in enumerate(PITCH_CLASSES)
        ),
        FeatureField(
            "key",
            pa.string(),
            "",
            "key tonic, C..B with sharps (Essentia KeyExtractor, bgate profile, at the estimated tuning)",
        ),
        FeatureField("mode", pa.string(), "", "'major' or 'minor'"),
        FeatureField(
            "key_strength",
            pa.float64(),
            "ratio",
            "correlation of the track's HPCP with the key profile",
            (0.0, 1.0),
        ),
        FeatureField(
            "tuning_hz", pa.float64(), "Hz", "estimated tuning frequency of A4", (400.0, 480.0)
        ),
        FeatureField(
            "chroma_source",
            pa.string(),
            "",
            "'full_mix' or 'stems:bass+other+vocals'",
            info_key=None,
        ),
    )

    def setup(self) -> None:
        self._tonal = TonalAnalyzer(self.params)  # type: ignore[arg-type]

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if not hasattr(self, "_tonal"):
            self.setup()
        mix = ctx.stem_mix(CHROMA_STEMS)
        source = (
            "stems:" + "+".join(n for n in CHROMA_STEMS if n in ctx.stem_paths)
            if mix is not None
            else "full_mix"
        )
        y = ctx.analysis_mono if mix is None else mix
        peaks = self._tonal.frame_peaks(y)
        tuning = self._tonal.tuning(peaks)
        if tuning is None:
            none = Null("no spectral peaks (silent or no pitched content)")
            return {f.name: none for f in self.fields} | {"chroma_source": source}
        frames = self._tonal.hpcp(peaks, tuning)
        voiced = frames.sum(axis=1) > 0
        mean = frames[voiced].mean(axis=0)
        chroma = mean / mean.sum()
        tonic, mode, strength = self._tonal.key(y, tuning)
        out: dict[str, Any] = {f"chroma_{i}": float(v) for i, v in enumerate(chroma)}
        return out | {
            "key": tonic,
            "mode": mode,
            "key_strength": strength,
            "tuning_hz": tuning,
            "chroma_source": source,
        }
