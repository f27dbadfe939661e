"""Audio Commons timbral models: specific loudness (ISO 532 B / DIN 45631 via Zwicker's BASIC program, as timbral_util ports it)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal
from numba import njit

from mirset.extractors.timbre.constants import BLOCK, WINDOW, Undefined, _log10
from mirset.extractors.timbre.kernels import _sos_decimate, _sos_energy

# fmt: off
_RAP = np.array([45, 55, 65, 71, 80, 90, 100, 120], dtype=np.float64)
_DLL = np.array(
    [
        [-32, -24, -16, -10, -5, 0, -7, -3, 0, -2, 0],
        [-29, -22, -15, -10, -4, 0, -7, -2, 0, -2, 0],
        [-27, -19, -14, -9, -4, 0, -6, -2, 0, -2, 0],
        [-25, -17, -12, -9, -3, 0, -5, -2, 0, -2, 0],
        [-23, -16, -11, -7, -3, 0, -4, -1, 0, -1, 0],
        [-20, -14, -10, -6, -3, 0, -4, -1, 0, -1, 0],
        [-18, -12, -9, -6, -2, 0, -3, -1, 0, -1, 0],
        [-15, -10, -8, -4, -2, 0, -3, -1, 0, -1, 0],
    ],
    dtype=np.float64,
)
_LTQ = np.array([30, 18, 12, 8, 7, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], dtype=np.float64)
_A0 = np.array(
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5, -1.6, -3.2, -5.4, -5.6, -4, -1.5, 2, 5, 12],
    dtype=np.float64,
)
_DCB = np.array(
    [-0.25, -0.6, -0.8, -0.8, -0.5, 0, 0.5, 1.1, 1.5, 1.7, 1.8, 1.8, 1.7, 1.6, 1.4, 1.2, 0.8,
     0.5, 0, -0.5],
    dtype=np.float64,
)
_ZUP = np.array(
    [0.9, 1.8, 2.8, 3.5, 4.4, 5.4, 6.6, 7.9, 9.2, 10.6, 12.3, 13.8, 15.2, 16.7, 18.1, 19.3, 20.6,
     21.8, 22.7, 23.6, 24],
    dtype=np.float64,
)
_RNS = np.array(
    [21.5, 18, 15.1, 11.5, 9, 6.1, 4.4, 3.1, 2.13, 1.36, 0.82, 0.42, 0.30, 0.22, 0.15, 0.10,
     0.035, 0],
    dtype=np.float64,
)
_USL = np.array(
    [
        [13.0, 8.2, 6.3, 5.5, 5.5, 5.5, 5.5, 5.5],
        [9.0, 7.5, 6.0, 5.1, 4.5, 4.5, 4.5, 4.5],
        [7.8, 6.7, 5.6, 4.9, 4.4, 3.9, 3.9, 3.9],
        [6.2, 5.4, 4.6, 4.0, 3.5, 3.2, 3.2, 3.2],
        [4.5, 3.8, 3.6, 3.2, 2.9, 2.7, 2.7, 2.7],
        [3.7, 3.0, 2.8, 2.35, 2.2, 2.2, 2.2, 2.2],
        [2.9, 2.3, 2.1, 1.9, 1.8, 1.7, 1.7, 1.7],
        [2.4, 1.7, 1.5, 1.35, 1.3, 1.3, 1.3, 1.3],
        [1.95, 1.45, 1.3, 1.15, 1.1, 1.1, 1.1, 1.1],
        [1.5, 1.2, 0.94, 0.86, 0.82, 0.82, 0.82, 0.82],
        [0.72, 0.67, 0.64, 0.63, 0.62, 0.62, 0.62, 0.62],
        [0.59, 0.53, 0.51, 0.50, 0.42, 0.42, 0.42, 0.42],
        [0.40, 0.33, 0.26, 0.24, 0.24, 0.22, 0.22, 0.22],
        [0.27, 0.21, 0.20, 0.18, 0.17, 0.17, 0.17, 0.17],
        [0.16, 0.15, 0.14, 0.12, 0.11, 0.11, 0.11, 0.11],
        [0.12, 0.11, 0.10, 0.08, 0.08, 0.08, 0.08, 0.08],
        [0.09, 0.08, 0.07, 0.06, 0.06, 0.06, 0.06, 0.05],
        [0.06, 0.05, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02],
    ],
    dtype=np.float64,
)
# fmt: on


@lru_cache(maxsize=8)
def _band_sos(fs: float) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The original's one-third-octave filters (fourth-order Butterworth band passes around the
    exact base-2 midbands of 6.3-12.5 kHz) and its Chebyshev anti-aliasing low pass, as SOS."""
    ff = 1000.0 * 2.0 ** (np.arange(-16, 12) / 3.0)
    bands = {}
    for i in range(24, 28):
        f1 = 2.0 ** (-1.0 / 6) * ff[i] / (fs / 2.0)
        f2 = min(2.0 ** (1.0 / 6) * ff[i] / (fs / 2.0), 0.9999999999)
        bands[i] = scipy.signal.butter(4, [f1, f2], "bandpass", output="sos").astype(np.float32)
    return bands, scipy.signal.cheby1(2, 0.1, 0.4, output="sos").astype(np.float32)


def third_octave_levels(windows: np.ndarray, fs: float) -> np.ndarray:
    """(n_windows, 28) one-third-octave levels (dB + Pref 100) of 25 Hz..12.5 kHz, each window
    filtered on its own from rest as timbral_util.filter_third_octaves_downsample does: the four top
    bands directly, the others by eight stages of Chebyshev low pass, decimation by two and the
    same three band filters. -inf where a band's output never rises above zero."""
    bands, cheby = _band_sos(fs)
    levels = np.empty((windows.shape[0], 28))

    def put(i: int, x: np.ndarray, sos: np.ndarray) -> None:
        energy, peak = _sos_energy(x, sos)
        with np.errstate(divide="ignore"):
            levels[:, i] = np.where(peak > 0, 10 * np.log10(energy / x.shape[0]), -np.inf)

    x = np.ascontiguousarray(windows.T, dtype=np.float32)  # float32: within 1e-3 dB of float64
    for i in range(27, 23, -1):
        put(i, x, bands[i])
    for i in range(23, 1, -3):
        x = _sos_decimate(x, cheby)
        for offset, source in enumerate((26, 25, 24)):
            put(i - offset, x, bands[source])
    return levels + 100.0


@njit(cache=True)
def _zwicker(levels: np.ndarray, out: np.ndarray) -> float:
    """Total loudness (sone) of 28 one-third-octave levels, writing the specific loudness (240
    values, 0.1 Bark steps) to ``out``: Zwicker's procedure (ISO 532 B, free field) as
    timbral_util.specific_loudness transcribes C. Churchill's MATLAB code, rounding included."""
    ti = np.zeros(11)
    for i in range(11):
        j = 0
        while levels[i] > _RAP[j] - _DLL[j, i] and j < 7:
            j += 1
        ti[i] = 10.0 ** ((levels[i] + _DLL[j, i]) / 10.0)
    gi = np.array([ti[0:6].sum(), ti[6:9].sum(), ti[9:11].sum()])
    nm = np.zeros(21)
    for i in range(20):
        le = levels[i + 8]
        if i <= 2:
            le = 10.0 * np.log10(gi[i]) if gi[i] > 0 else 0.0
        lk = le - _A0[i]
        if le > _LTQ[i]:
            le = lk - _DCB[i]
            mp1 = 0.0635 * 10.0 ** (0.025 * _LTQ[i])
            mp2 = (1 - 0.25 + 0.25 * 10.0 ** (0.1 * (le - _LTQ[i]))) ** 0.25 - 1
            nm[i] = max(mp1 * mp2, 0.0)
    nm[0] *= min(0.4 + 0.32 * nm[0] ** 0.2, 1.0)

    ns_len = 0
    total = 0.0
    z1 = 0.0
    n1 = 0.0
    n2 = 0.0
    z2 = 0.0
    j = 17
    iz = 0
    z = 0.1
    k = 0.0
    for i in range(21):
        ig = min(i - 1, 7) if i > 0 else 7  # Python's USL[j, -1] for the first band
        control = 1
        while z1 < _ZUP[i] or control == 1:
            if n1 < nm[i]:
                j = 0
                while _RNS[j] > nm[i]:
                    j += 1
            if n1 <= nm[i]:  # flat part: the main loudness of this band
                z2 = _ZUP[i]
                n2 = nm[i]
                total += n2 * (z2 - z1)
                for c in range(max(int(np.ceil((z2 + 0.01 - z) / 0.1)), 0)):
                    k = z + c * 0.1
                    if iz == ns_len:
                        out[ns_len] = n2
                        ns_len += 1
                    elif iz < ns_len:
                        out[iz] = n2
                    if k < z2 - 0.05:
                        iz += 1
                z = np.rint(k * 10) * 0.1
            if n1 > nm[i]:  # upper slope of the masking pattern
                n2 = max(_RNS[j], nm[i])
                dz = np.rint((n1 - n2) / _USL[j, ig] * 10) * 0.1
                if dz == 0:
                    dz = 0.1
                z2 = z1 + dz
                if z2 > _ZUP[i]:
                    z2 = _ZUP[i]
                    dz = z2 - z1
                    n2 = n1 - dz * _USL[j, ig]
                total += dz * (n1 + n2) / 2.0
                for c in range(max(int(np.ceil((z2 + 0.01 - z) / 0.1)), 0)):
                    k = z + c * 0.1
                    value = n1 - (k - z1) * _USL[j, ig]
                    if iz == ns_len:
                        out[ns_len] = value
                        ns_len += 1
                    elif iz < ns_len:
                        out[iz] = value
                    if k < z2 - 0.05:
                        iz += 1
                z = np.rint(k * 10) * 0.1
            if n2 == _RNS[j]:
                j += 1
            if j > 17:
                j = 17
            n1 = n2
            z1 = np.rint(z2 * 10) * 0.1
            control += 1
    total = max(total, 0.0)
    if total <= 16:
        return np.floor(total * 1000 + 0.5) / 1000.0
    return np.floor(total * 100 + 0.05) / 100.0


@njit(cache=True)
def _zwicker_all(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_zwicker`` for every row of ``levels``: (total (n,), specific (n, 240))."""
    n = levels.shape[0]
    totals = np.empty(n)
    specific = np.zeros((n, 240))
    buf = np.zeros(400)
    for w in range(n):
        buf[:] = 0.0
        totals[w] = _zwicker(levels[w], buf)
        specific[w] = buf[:240]
    return totals, specific


def specific_loudness(y: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total loudness, specific loudness (n, 240; sone/Bark) and RMS of the consecutive 4096-sample
    windows of ``y``, the last zero-padded (a whole window of zeros when the length divides exactly,
    as timbral_util.window_audio does)."""
    n_win = y.size // WINDOW + 1
    totals, specific, rms = np.empty(n_win), np.empty((n_win, 240)), np.empty(n_win)
    for b in range(0, n_win, BLOCK):
        seg = y[b * WINDOW : (b + BLOCK) * WINDOW]
        rows = min(BLOCK, n_win - b)
        windows = np.zeros((rows, WINDOW), dtype=np.float32)
        windows.ravel()[: seg.size] = seg
        rms[b : b + rows] = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=1))
        levels = third_octave_levels(windows, fs)
        totals[b : b + rows], specific[b : b + rows] = _zwicker_all(levels)
    return totals, specific, rms


def _normal_weights(lo: int, hi: int) -> np.ndarray:
    """The original's band weighting over the 240 specific-loudness bands: a (very flat) Gaussian
    over bands lo..hi-1, min-max scaled to 0..1, zero elsewhere (normal_dist, theta 0.01)."""
    x = np.arange(lo, hi, dtype=np.float64)
    g = np.exp(-((x - (lo + hi) / 2.0) ** 2) / 2.0 * 0.01**2)
    g = (g - g.min()) / (g - g.min()).max()
    w = np.zeros(240)
    w[lo:hi] = g
    return w


BARK = np.arange(1, 241) / 10.0  # 0.1 .. 24.0 Bark
_Z = np.arange(141, 241) / 10.0
FASTL_G = np.concatenate(
    (np.ones(140), 0.00012 * _Z**4 - 0.0056 * _Z**3 + 0.1 * _Z**2 - 0.81 * _Z + 3.5)
)  # Fastl's sharpness weighting g(z)
_F_BARK = 600 * np.sinh(BARK / 6.0)
_FR_INDEX = (np.log10(_F_BARK) - np.log10(25.0)) / (np.log10(31.5) - np.log10(25.0)) + 1
BOOMING_W = np.concatenate(((0.8, 1.05, 1.10, 1.18), 2.13 * np.exp(-0.151 * _FR_INDEX[4:])))
BELOW_280 = int(np.nonzero(_F_BARK >= 280)[0][0])  # first band at or above 280 Hz
W_BOOM_LL, W_MIDBAND = _normal_weights(0, 70), _normal_weights(70, 140)
W_WARM_REGION, W_WARM_HF = _normal_weights(10, 40), _normal_weights(80, 240)


def loudness_terms(total: np.ndarray, specific: np.ndarray, rms: np.ndarray) -> dict[str, float]:
    """Measures on the specific loudness of the 4096-sample windows: Fastl's sharpness and Hatano &
    Hashimoto's booming index (each RMS^2-weighted over windows), and the weighted band levels used
    by booming (0-7 Bark, mean), hardness (7-14 Bark, RMS-weighted) and warmth."""
    loud = specific.sum(axis=1)
    ok = (total > 0) & (loud > 0)
    sharp = np.zeros(total.size)
    sharp[ok] = 0.11 * (specific[ok] @ (FASTL_G * BARK * 0.1)) / (loud[ok] * 0.1)
    boom = np.zeros(total.size)
    with np.errstate(over="ignore"):
        band_sum = 10 * np.log10((10 ** (specific[ok] * BOOMING_W / 10.0)).sum(axis=1))
    boom[ok] = band_sum * specific[ok, :BELOW_280].sum(axis=1) / loud[ok]
    w2 = rms * rms
    if not rms.sum() > 0:
        raise Undefined("every 4096-sample window is silent")
    return {
        "sharpness": _log10(float(sharp @ w2 / w2.sum()), "the RMS^2-weighted sharpness"),
        "booming": _log10(float(boom @ w2 / w2.sum()), "the RMS^2-weighted booming index"),
        "booming_ll": _log10(float((specific @ W_BOOM_LL).mean()), "the 0-7 Bark loudness"),
        "midband": _log10(float((specific @ W_MIDBAND) @ rms / rms.sum()), "the mid-band loudness"),
        "warmth_wr": float((specific @ W_WARM_REGION).mean()),
        "warmth_hf": float((specific @ W_WARM_HF) @ rms / rms.sum()),
    }
