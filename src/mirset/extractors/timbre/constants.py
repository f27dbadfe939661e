"""Audio Commons timbral models: published regression models (timbral_models 0.4)."""

from __future__ import annotations

import math

MIN_RATE = 44100  # the original upsamples lower rates to this
MIN_DURATION_S = 0.5  # shorter input: every feature is null
TARGET_LUFS = -24.0  # loudness normalisation target of the original (pyloudnorm)
N_FFT, HOP, N_MELS = 2048, 512, 128  # librosa defaults, used by the original's onset detection
WINDOW = 4096  # window of the specific-loudness models (sharpness, booming, warmth, hardness)
HARDNESS_PAD = 4097  # zeros the original puts before the signal for hardness
BANDWIDTH_HOP = 512  # hop of hardness' bandwidth track up to 48 kHz (the original: 128)
HPSS_BLOCKS, HPSS_BLOCK_FRAMES = 8, 48  # bounded excerpt of the harmonic/percussive split
HPSS_MAX_HZ = 11025.0  # bins of the harmonic/percussive split (energy above is negligible)
HPSS_KERNEL = 31  # librosa.decompose.hpss median kernel (frames and bins)
BLOCK = 256  # frames per block of the block-wise spectra (bounds memory)

BRIGHTNESS_COEF = (4.613128018020465, 17.378889309312974, 17.434733750553022)
DEPTH_COEF = (
    -0.0043703565847874465,
    32.83743202462131,
    4.750862716905235,
    -14.217438690256062,
    3.8782339862813924,
    -0.8544826091735516,
    66.69534393444391,
)
HARDNESS_COEF = (
    12.079781720638145,
    18.52100377170042,
    14.139883645260355,
    5.567690321917516,
    3.9346817690405635,
    -4.326890461087848,
    -85.60352209068202,
)
ROUGHNESS_COEF = (13.98779569, 48.97606571545886)
SHARPNESS_COEF = (102.50508921364404, 34.432655185001735)
BOOMING_COEF = (43.67402696195865, -10.90054738389845, 26.836530575185435)
WARMTH_COEF = (
    -4.464258317026696,
    -0.08819320850778556,
    0.29156539973575546,
    17.274733561081554,
    8.403340066029507,
    45.21212125085579,
)
REVERB_LOGIT = (2.97126461, -1.45082989)  # logistic regression on the mean RT60 (s)

FEATURES = (
    "brightness",
    "roughness",
    "hardness",
    "depth",
    "booming",
    "reverberation",
    "sharpness",
    "warmth",
)


class Undefined(Exception):
    """A model has no defined value for this input; the message says why."""


def _log10(x: float, what: str) -> float:
    """log10, or Undefined naming ``what`` where the original would produce -inf or NaN."""
    if not (x > 0 and math.isfinite(x)):
        raise Undefined(f"{what} is {x:.3g}: its logarithm is undefined")
    return math.log10(x)
