"""Audio Commons timbral models: brightness (Timbral_Brightness)."""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.signal

from mirset.extractors.timbre.constants import HOP, N_FFT, Undefined, _log10
from mirset.extractors.timbre.preprocess import butter_sos, one_sided, power_response
from mirset.extractors.timbre.views import Views


def detrended_frame_energy(x: np.ndarray, window: np.ndarray, hop: int) -> float:
    """Total energy of the mean-removed, windowed frames of ``x`` (no padding), i.e. the summed
    power of ``scipy.signal.spectrogram(..., detrend='constant')`` up to its scaling: per frame
    sum((x - m) w)^2 = sum x^2 w^2 - 2 m sum x w^2 + m^2 sum w^2, from hop-sized blocks."""
    n = window.size
    q = n // hop
    n_frames = (x.size - n) // hop + 1
    if n_frames <= 0 or n % hop:
        raise Undefined("shorter than one analysis frame")
    w2 = (window**2).reshape(q, hop).astype(np.float32)
    total = 0.0
    for f0 in range(0, n_frames, 8192):
        f1 = min(n_frames, f0 + 8192)
        blocks = np.asarray(x[f0 * hop : (f1 - 1 + q) * hop], dtype=np.float32).reshape(-1, hop)
        rows = f1 - f0
        squares = blocks * blocks
        s1 = sum((squares @ w2[j]).astype(np.float64)[j : j + rows] for j in range(q))
        s2 = sum((blocks @ w2[j]).astype(np.float64)[j : j + rows] for j in range(q))
        sums = blocks.sum(axis=1, dtype=np.float64)
        mean = sum(sums[j : j + rows] for j in range(q)) / n
        total += float(np.sum(s1 - 2 * mean * s2 + mean * mean * float(w2.sum(dtype=np.float64))))
    return total


def brightness_terms(views: Views, fs: float, hp20: np.ndarray) -> tuple[float, float]:
    """(log10 share of the energy above 2 kHz, log10 spectral centroid above 100 Hz) of the 20 Hz
    high-passed signal ``hp20``. The original's frame-wise values are power-weighted, so they
    reduce to ratios of energies: the total of its mean-removed 2048-point Hamming frames (computed
    exactly, in the time domain), and that of the 2 kHz and 100 Hz high passes, from the long-term
    power spectrum of the shared STFT with the original's -18 dB/octave filters applied as
    |H(f)|^2 (Parseval; their frame means are negligible)."""
    mag = views.magnitude
    power = np.einsum("ft,ft->f", mag, mag) * one_sided(N_FFT)
    f = np.fft.rfftfreq(N_FFT, 1.0 / fs)
    power *= power_response(butter_sos(20, fs, "high"), f, fs)
    hann = scipy.signal.get_window("hann", N_FFT)
    hamming = scipy.signal.get_window("hamming", N_FFT)
    # spectrum -> energy of the signal seen through the original's overlapping Hamming frames
    to_energy = views.scale**2 / (N_FFT * float(hann @ hann) / HOP) * float(hamming @ hamming) / HOP
    above_2k = float(power @ power_response(butter_sos(2000, fs, "high"), f, fs)) * to_energy
    hp100 = power * power_response(butter_sos(100, fs, "high"), f, fs)
    total = detrended_frame_energy(hp20, hamming, HOP)
    if not (total > 0 and hp100.sum() > 0):
        raise Undefined("no spectral energy above 20 Hz")
    return (
        _log10(above_2k / total, "the energy share above 2 kHz"),
        _log10(float(hp100 @ f / hp100.sum()), "the spectral centroid above 100 Hz"),
    )
