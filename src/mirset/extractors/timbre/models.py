"""Audio Commons timbral models: all eight."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mirset.extractors.base import Null
from mirset.extractors.timbre.brightness import brightness_terms
from mirset.extractors.timbre.constants import (
    BOOMING_COEF,
    BRIGHTNESS_COEF,
    DEPTH_COEF,
    FEATURES,
    HARDNESS_COEF,
    HARDNESS_PAD,
    ROUGHNESS_COEF,
    SHARPNESS_COEF,
    WARMTH_COEF,
    Undefined,
    _log10,
)
from mirset.extractors.timbre.depth import depth_terms
from mirset.extractors.timbre.hardness import hardness_onset_terms, percussive_share
from mirset.extractors.timbre.kernels import sample_and_hold_envelope, sos_filter
from mirset.extractors.timbre.loudness import loudness_terms, specific_loudness
from mirset.extractors.timbre.onsets import librosa_onsets, refine_onsets
from mirset.extractors.timbre.preprocess import butter_sos
from mirset.extractors.timbre.reverb import reverb_terms
from mirset.extractors.timbre.roughness import roughness_mean
from mirset.extractors.timbre.views import Views
from mirset.extractors.timbre.warmth import warmth_onset_terms


def sigmoid(x: float, offset: float = 0.2, n: int = 10) -> float:
    """timbral_util.sigmoid: x**n / (x**n + offset)."""
    return x**n / (x**n + offset)


def timbre_models(
    mono: np.ndarray, gain: float, fs: float, channels: np.ndarray, views: Views
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The eight scores of the channel sum ``mono`` loudness-normalised by ``gain`` (and of the raw
    ``channels`` for reverb), each a float or a Null with the reason, plus the intermediate
    measures (the original's ``dev_output``) for checks. Whole-track arrays are released as soon as
    the models that need them are done, so memory stays at a few copies of the track."""
    out: dict[str, Any] = {}
    terms: dict[str, Any] = {}

    def model(name: str, fn: Any) -> None:
        try:
            value = float(fn())
        except Undefined as exc:
            out[name] = Null(str(exc))
            return
        except Exception as exc:  # one model failing must not cost the other seven
            out[name] = Null(f"failed: {type(exc).__name__}: {exc}"[:200])
            return
        out[name] = value if math.isfinite(value) else Null(f"non-finite model output ({value})")

    # whole-track arrays, dropped when no model needs them any more
    big = {"y": mono * np.float32(gain)}
    big["hp20"] = sos_filter(big["y"], butter_sos(20, fs, "high"), fs)[0]  # brightness, depth

    def brightness() -> float:
        ratio, centroid = brightness_terms(views, fs, big["hp20"])
        terms["brightness"] = (ratio, centroid)
        c = BRIGHTNESS_COEF
        return c[0] * ratio + c[1] * centroid + c[2]

    def depth() -> float:
        t = depth_terms(big["hp20"], fs, views)
        terms["depth"] = t
        m2, m3 = t["ratio"], t["duration"]
        x = (t["centroid"], m2, m3, t["pitch"], m2 * m3, sigmoid(m2) * m3, 1.0)
        return float(np.dot(DEPTH_COEF, x))

    model("brightness", brightness)
    model("depth", depth)
    del big["hp20"]

    # the specific-loudness models (sharpness, booming; parts of hardness and warmth)
    try:
        loud: dict[str, float] | Exception = loudness_terms(*specific_loudness(big["y"], fs))
        terms["loudness"] = loud
    except Exception as exc:
        loud = exc

    def loudness(key: str) -> float:
        if isinstance(loud, Exception):
            raise loud
        return loud[key]

    def booming() -> float:
        c = BOOMING_COEF
        return c[0] * loudness("booming") + c[1] * loudness("booming_ll") + c[2]

    def sharpness() -> float:
        return SHARPNESS_COEF[0] * loudness("sharpness") + SHARPNESS_COEF[1]

    model("booming", booming)
    model("sharpness", sharpness)

    def roughness() -> float:
        mean = roughness_mean(big["y"], fs)
        terms["roughness"] = mean
        if not mean > 0:
            raise Undefined("no frame has two spectral peaks (the original reports 0)")
        return math.log10(mean) * ROUGHNESS_COEF[0] + ROUGHNESS_COEF[1]

    model("roughness", roughness)

    # hardness and warmth: the 100 ms-decay envelope, after the 4097 zeros hardness pads with
    big["env_p"] = np.zeros(mono.size + HARDNESS_PAD, dtype=np.float32)
    sample_and_hold_envelope(big["y"], fs, 0.1, out=big["env_p"][HARDNESS_PAD:])

    def hardness() -> float:
        t = hardness_onset_terms(big["y"], fs, big["env_p"], views)
        t["hp_ratio"] = _log10(percussive_share(views, fs), "the percussive share")
        t["midband"] = loudness("midband")
        terms["hardness"] = t
        x = (t["bandwidth"], t["attack_centroid"], t["midband"], t["hp_ratio"], t["strength"])
        x += (t["attack_time"],)
        return float(np.dot(HARDNESS_COEF[:6], x) + HARDNESS_COEF[6])

    model("hardness", hardness)
    del big["y"]

    def warmth() -> float:
        env = big["env_p"][HARDNESS_PAD:]
        onsets = refine_onsets(librosa_onsets(views.onset, fs), env, views.onset, fs, 4096)
        t = warmth_onset_terms(mono, gain, fs, [0] if len(onsets) == 1 else onsets)
        t["hf"], t["region"] = loudness("warmth_hf"), loudness("warmth_wr")
        terms["warmth"] = t
        x = (t["centroid"], t["hf"], t["region"], t["decay_score"], t["ratio"], 1.0)
        return float(np.dot(WARMTH_COEF, x))

    model("warmth", warmth)
    del big["env_p"]

    def reverberation() -> float:
        rt, probability = reverb_terms(channels, fs)
        terms["reverberation"] = (rt, probability)
        return 100.0 * probability

    model("reverberation", reverberation)
    return {name: out[name] for name in FEATURES}, terms
