"""Audio Commons timbral models: preprocessing."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.signal

from mirset.extractors.timbre.constants import TARGET_LUFS
from mirset.extractors.timbre.kernels import WARM_UP_S, _sos_lanes


def k_weighting_sos(fs: float) -> np.ndarray:
    """BS.1770 K-weighting as pyloudnorm designs it (RBJ high shelf +4 dB at 1.5 kHz, Q 1/sqrt 2;
    high pass at 38 Hz, Q 0.5), as second-order sections."""
    sections = []
    for gain_db, q, fc, kind in ((4.0, 1 / math.sqrt(2), 1500.0, "shelf"), (0.0, 0.5, 38.0, "hp")):
        g = 10 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * fc / fs
        alpha = math.sin(w0) / (2.0 * q)
        c = math.cos(w0)
        if kind == "shelf":
            b = [
                g * ((g + 1) + (g - 1) * c + 2 * math.sqrt(g) * alpha),
                -2 * g * ((g - 1) + (g + 1) * c),
                g * ((g + 1) + (g - 1) * c - 2 * math.sqrt(g) * alpha),
            ]
            a = [
                (g + 1) - (g - 1) * c + 2 * math.sqrt(g) * alpha,
                2 * ((g - 1) - (g + 1) * c),
                (g + 1) - (g - 1) * c - 2 * math.sqrt(g) * alpha,
            ]
        else:
            b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
            a = [1 + alpha, -2 * c, 1 - alpha]
        sections.append([*(np.array(b) / a[0]), *(np.array(a) / a[0])])
    return np.array(sections)


def integrated_loudness(x: np.ndarray, fs: float) -> float:
    """Gated integrated loudness (LUFS) of a mono signal as pyloudnorm's ``Meter`` measures it:
    K-weighting, 400 ms blocks every 100 ms, -70 LUFS absolute and -10 LU relative gates; a signal
    shorter than one block is zero-padded to 400 ms, as the original does. -inf when no block
    passes the gates."""
    n_block = 0.4 * fs
    if x.size < n_block:
        x = np.pad(x, (0, int(n_block) - x.size))
    n_blocks = round((x.size / fs - 0.4) / 0.1) + 1
    j = np.arange(n_blocks)
    lo = np.minimum((0.4 * (j * 0.25) * fs).astype(np.int64), x.size)
    hi = np.minimum((0.4 * (j * 0.25 + 1) * fs).astype(np.int64), x.size)
    marks = np.concatenate((lo, hi))
    order = np.argsort(marks, kind="stable")
    cum = np.empty(marks.size)
    sos = k_weighting_sos(fs)
    cum[order] = _sos_lanes(x, sos, int(WARM_UP_S * fs), False, marks[order])[2]
    lo, hi = np.arange(n_blocks), np.arange(n_blocks, 2 * n_blocks)
    z = (cum[hi] - cum[lo]) / n_block
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(z)
    above = block_lufs >= -70.0
    if not above.any():
        return -math.inf
    gamma_r = -0.691 + 10 * math.log10(z[above].mean()) - 10.0
    gated = (block_lufs > gamma_r) & above
    return -0.691 + 10 * math.log10(z[gated].mean()) if gated.any() else -math.inf


def normalisation_gain(x: np.ndarray, fs: float) -> float | None:
    """The original's preprocessing gain of the mono sum: to -24 LUFS, then down to peak 1 if that
    would clip. None when no 400 ms block reaches the -70 LUFS gate (the original yields NaN)."""
    lufs = integrated_loudness(x, fs)
    if not math.isfinite(lufs):
        return None
    gain = 10 ** ((TARGET_LUFS - lufs) / 20.0)
    peak = max(float(x.max()), -float(x.min())) * gain
    return gain / peak if peak > 1.0 else gain


def loudness_normalise(x: np.ndarray, fs: float) -> tuple[np.ndarray, float] | None:
    """(loudness-normalised signal, gain) of the mono sum (see ``normalisation_gain``)."""
    gain = normalisation_gain(x, fs)
    return None if gain is None else (x * np.float32(gain), gain)


def butter_sos(fc: float, fs: float, btype: str, times: int = 3) -> np.ndarray:
    """The original's -18 dB/octave filters: a second-order Butterworth applied ``times`` times."""
    return np.tile(scipy.signal.butter(2, fc / (0.5 * fs), btype, output="sos"), (times, 1))


def power_response(sos: np.ndarray, freqs: np.ndarray, fs: float) -> np.ndarray:
    """|H(f)|^2 of a filter at ``freqs`` (Hz)."""
    _, h = scipy.signal.sosfreqz(sos, worN=freqs, fs=fs)
    return np.abs(h) ** 2


def frame_signal(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(n_frames, length) strided view of the frames of ``x`` that fit entirely (no padding)."""
    if x.size < length:
        return np.empty((0, length), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop]


def one_sided(n_fft: int) -> np.ndarray:
    """scipy's one-sided power factors: 2 for every bin but DC (and Nyquist for even n_fft)."""
    w = np.full(n_fft // 2 + 1, 2.0)
    w[0] = 1.0
    if n_fft % 2 == 0:
        w[-1] = 1.0
    return w
