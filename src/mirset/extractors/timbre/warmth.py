"""Audio Commons timbral models: warmth (Timbral_Warmth)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal

from mirset.extractors.timbre.constants import Undefined, _log10
from mirset.extractors.timbre.kernels import mirpeaks
from mirset.extractors.timbre.preprocess import frame_signal, one_sided


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares line through (x, y) (what the original's sklearn
    ``LinearRegression(fit_intercept=False)`` on [x, 1] scores); 0 when undefined."""
    if x.size < 3:
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    return float(dx @ dy) ** 2 / (sxx * syy) if sxx > 0 and syy > 0 else 0.0


@lru_cache(maxsize=64)
def _tukey(n: int) -> np.ndarray:
    return scipy.signal.get_window(("tukey", 0.25), n)


def segment_spectrum(
    seg: np.ndarray, fs: float, n_fft: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.spectrogram(seg, fs, nperseg=min(len, n_fft), nfft=n_fft)`` summed over its
    frames: Tukey (0.25) windows overlapping by 1/8, mean removed, one-sided power density."""
    nper = min(seg.size, n_fft)
    win = _tukey(nper)
    frames = frame_signal(seg, nper, nper - nper // 8)
    spec = scipy.fft.rfft((frames - frames.mean(axis=1, keepdims=True)) * win, n=n_fft, axis=1)
    power = (spec.real**2 + spec.imag**2).sum(axis=0)
    return np.fft.rfftfreq(n_fft, 1.0 / fs), power * one_sided(n_fft) / (fs * float(win @ win))


def warmth_onset_terms(
    mono: np.ndarray, gain: float, fs: float, onsets: list[int]
) -> dict[str, float]:
    """Per-onset-segment measures of Timbral_Warmth on 8192-point Tukey spectra (summed over frames):
    log10 of the mean spectral centroid, mean R^2 of the log-log spectral decay above the warmth
    region (3.5x the lowest spectral peak, at most 12 kHz), RMS-weighted energy share from the
    lowest peak to 260 Hz (when that peak is below 260 Hz). The segments are taken in float64 from
    the channel sum ``mono`` times ``gain``, as the original's, since the decay fit reaches far down
    the spectrum."""
    rms_all, ratios, centroids, scores = [], [], [], []
    for i, onset in enumerate(onsets):
        seg = mono[onset : onsets[i + 1]] if i + 1 < len(onsets) else mono[onset:]
        seg = seg.astype(np.float64) * gain
        if seg.size < 2:
            continue
        freq, spec = segment_spectrum(seg, fs)
        top = np.max(np.abs(spec))
        if not top > 0:
            continue
        spec = spec / top
        pos, _, idx = mirpeaks(spec, spec, freq, 0.2)
        if pos.size == 0:
            continue
        rms_all.append(math.sqrt(float(np.mean(seg * seg))))
        fundamental = float(pos.min())
        wr_idx = int(np.nonzero(freq > min(fundamental * 3.5, 12000.0))[0][0])
        if fundamental < 260:
            high = int(np.nonzero(freq > 260)[0][0])
            ratios.append(float(spec[int(idx.min()) : high].sum() / spec.sum()))
        else:
            ratios.append(0.0)
        centroids.append(float(freq @ spec / spec.sum()))
        above = spec[wr_idx:]
        good = above > 0  # the original's regression fails on log(0)
        lx, ly = np.log10(freq[wr_idx:][good]), np.log10(above[good])
        scores.append(r_squared(lx, ly))
    if not centroids:
        raise Undefined("no onset segment with a spectrum")
    w = np.asarray(rms_all)
    return {
        "centroid": _log10(float(np.mean(centroids)), "the mean spectral centroid"),
        "decay_score": float(np.mean(scores)),
        "ratio": float(np.average(ratios, weights=w)) if w.sum() > 0 else 0.0,
    }
