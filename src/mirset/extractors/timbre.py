"""Audio Commons timbral models: brightness, roughness, hardness, depth, booming, reverberation,
sharpness and warmth (nominally 0..100).

A reimplementation of ``timbral_models`` 0.4 (Andy Pearce, Institute of Sound Recording, University
of Surrey; Audio Commons deliverables D5.2, D5.6 and D5.8;
https://github.com/AudioCommons/timbral_models). The regression coefficients and constants are the
published models'. The signal processing follows the original step by step, but all eight models
come from one decode of the track (the original read the file eight times), computed on whole
arrays with numpy and scipy and with numba for the sequential parts (envelopes, onset walks, peak
picking, Zwicker loudness, filter banks run across windows at once, RT60 frames). Every part is
linear in the track length or bounded, and memory stays at a few copies of the track (block-wise
spectra).

Preprocessing, as in the original: the channels are summed to mono (the first three of more than
two), loudness-normalised to -24 LUFS (BS.1770 K-weighting and gating, as pyloudnorm measures it)
and scaled down to peak 1 when that would clip; audio below 44.1 kHz is upsampled to 44.1 kHz,
other rates are used as they are. Reverberation uses the raw first two channels, as the original
does.

Departures from the original, chosen for speed and measured against it
(``bench/timbral_reference.py``): hardness' harmonic/percussive split runs on a bounded excerpt and
its bandwidth track on a coarser hop; brightness takes its high-passed energies from the long-term
spectrum of the shared STFT; depth's low passes are applied to the spectra and its onsets come from
the shared mel view. Nothing is clipped to 0..100 (the original only clips on request); where the
original has no defined value (silence, the logarithm of zero, a crash) the field is null with the
reason, and roughness keeps its regression below the original's floor (see the field
descriptions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import librosa
import numpy as np
import pyarrow as pa
import scipy.fft
import scipy.signal
from numba import njit

from mirset.audio import resample
from mirset.context import TrackContext, chunked_stft, click_context
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField

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

# ----------------------------------------------------------------------------------------------
# Published regression models (timbral_models 0.4)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Sequential kernels (numba)
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _sample_and_hold(x: np.ndarray, decay: float, hold: float, env: np.ndarray) -> None:
    """Peak-hold envelope of |x| into ``env``: follows rises at once, holds ``hold`` samples, then
    falls by ``decay`` per sample (timbral_util.sample_and_hold_envelope_calculation)."""
    prev = 0.0
    count = 0
    for i in range(x.size):
        s = abs(x[i])
        if s >= prev:
            prev = s
            count = 0
        elif count < hold:
            count += 1
        else:
            out = prev - decay
            prev = out if out > s else s
        env[i] = prev


def sample_and_hold_envelope(
    x: np.ndarray, fs: float, decay_time: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Sample-and-hold envelope of ``|x|`` (float32) falling by peak/(decay_time*fs) per sample
    after a 10 ms hold; written to ``out`` when given."""
    peak = max(float(x.max()), -float(x.min())) if x.size else 0.0
    env = np.empty(x.size, dtype=np.float32) if out is None else out
    _sample_and_hold(x, peak / (decay_time * fs), 0.01 * fs, env)
    return env


@njit(cache=True)
def _return_loop(
    loc: int, env: np.ndarray, look: int, hyst_thresh: float, hyst_len: int, nperseg: int
) -> int:
    """Walk back from a detected onset to where the envelope stops falling, with a level and time
    hysteresis (timbral_util.return_loop). ``loc`` decreases at every step, so the loop ends; 0
    means no valid onset."""
    while True:
        current = env[loc]
        lo = loc - look - 1 if loc - look > 0 else 0
        hi = loc if loc - look > 0 else loc - 1
        best = lo
        for i in range(lo, hi):
            if env[i] < env[best]:
                best = i
        if env[best] - current <= 0:
            new_loc = best - lo + loc - look - 1
            if new_loc > nperseg:
                loc = new_loc
            else:
                return 0
        else:
            h_lo = loc - hyst_len - 1 if loc - hyst_len - 1 > 0 else 0
            last = -1
            for i in range(loc - 1, h_lo - 1, -1):
                if env[i] < current:
                    last = i
                    break
            if last < 0:
                return loc
            top = env[last]
            bottom = env[last]
            for i in range(last, loc):
                top = max(top, env[i])
                bottom = min(bottom, env[i])
            if top - bottom >= hyst_thresh:
                return loc
            if last >= nperseg:
                loc = last
            else:
                return 0


@njit(cache=True)
def _mirpeaks(
    array: np.ndarray, values: np.ndarray, freq: np.ndarray, cthr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MIRtoolbox's ``mirpeaks`` as timbral_util.detect_peaks ports it: local maxima of ``array``
    at least ``cthr`` high and separated by a notch of at least ``cthr``, loudest first, with
    parabolic interpolation of their position (``freq``) and value (``values``).
    Returns (positions, values, indices)."""
    n = array.size
    app = np.empty(n + 2)
    app[0] = -2.0
    app[n + 1] = -2.0
    vap = np.empty(n + 2)
    vap[0] = -2.0
    vap[n + 1] = -2.0
    fap = np.empty(n + 2)
    fap[0] = -1.0
    fap[n + 1] = -1.0
    for i in range(n):
        app[i + 1] = array[i]
        vap[i + 1] = values[i]
        fap[i + 1] = freq[i]
    mx = np.empty(n, dtype=np.int64)
    n_mx = 0
    for i in range(n):
        if array[i] >= cthr and app[i + 1] - app[i] > 0 and app[i + 2] - app[i + 1] <= 0:
            mx[n_mx] = i + 1
            n_mx += 1
    final = np.empty(n_mx, dtype=np.int64)
    n_final = 0
    if n_mx > 0:
        j = 0
        mxj = mx[0]
        bufmin = 2.0
        bufmax = app[mxj]
        oldbufmin = app[0]
        for i in range(mxj - 1):
            oldbufmin = min(oldbufmin, app[i])
        for jj in range(1, n_mx):
            if mx[jj - 1] + 1 == mx[jj] - 1:
                bufmin = min(bufmin, app[mx[jj - 1]])
            else:
                for i in range(mx[jj - 1], mx[jj] - 1):
                    bufmin = min(bufmin, app[i])
            if bufmax - bufmin < cthr:
                if app[mx[jj]] > bufmax:
                    j = jj
                    mxj = mx[j]
                    bufmax = app[mxj]
                    oldbufmin = min(oldbufmin, bufmin)
                    bufmin = 2.0
                elif app[mx[jj]] - bufmax <= 0:
                    bufmax = max(bufmax, app[mx[jj]])
                    oldbufmin = min(oldbufmin, bufmin)
            else:
                if bufmax - oldbufmin < cthr:
                    oldbufmin = min(oldbufmin, bufmin)
                else:
                    final[n_final] = mxj
                    n_final += 1
                    oldbufmin = bufmin
                bufmax = app[mx[jj]]
                j = jj
                mxj = mx[j]
                bufmin = 2.0
        tail_min = 2.0
        for i in range(mx[j] + 1, n + 2):
            tail_min = min(tail_min, app[i])
        if bufmax - oldbufmin >= cthr and bufmax - tail_min >= cthr:
            final[n_final] = mx[j]
            n_final += 1
    final = final[:n_final]
    final = final[np.argsort(app[final])[::-1]]
    pos = np.empty(n_final)
    val = np.empty(n_final)
    for k in range(n_final):
        p = final[k]
        if 1 < p < n:
            y0 = vap[p]
            ym = vap[p - 1]
            yp = vap[p + 1]
            den = 2 * (2 * y0 - yp - ym)
            d = (yp - ym) / den if den != 0 else 0.0
            val[k] = y0 - 0.25 * (ym - yp) * d
            if d >= 0:
                pos[k] = (1 - d) * fap[p] + d * fap[p + 1]
            else:
                pos[k] = (1 + d) * fap[p] - d * fap[p - 1]
        else:
            val[k] = vap[p]
            pos[k] = fap[p]
    return pos, val, final - 1


def mirpeaks(
    array: np.ndarray, values: np.ndarray, freq: np.ndarray, cthr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, values, bin indices) of the peaks of ``array``, loudest first (``_mirpeaks``)."""
    return _mirpeaks(
        np.ascontiguousarray(array, dtype=np.float64),
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(freq, dtype=np.float64),
        float(cthr),
    )


@njit(cache=True)
def _biquads(v: np.ndarray, sos: np.ndarray, z1: np.ndarray, z2: np.ndarray) -> None:
    """One sample through the cascade of second-order sections (transposed direct form II),
    for every column of ``v`` at once, in place; ``z1``, ``z2`` (sections, columns) hold state."""
    for s in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
        for c in range(v.size):
            y = b0 * v[c] + z1[s, c]
            z1[s, c] = b1 * v[c] - a1 * y + z2[s, c]
            z2[s, c] = b2 * v[c] - a2 * y
            v[c] = y


@njit(cache=True)
def _sos_energy(x: np.ndarray, sos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter every column of ``x`` (samples, columns) from rest with a cascade of second-order
    sections; returns each column's output energy and maximum. The recursion runs across columns
    at once, so it vectorises."""
    m, w_n = x.shape
    n_sec = sos.shape[0]
    z1 = np.zeros((n_sec, w_n), dtype=x.dtype)
    z2 = np.zeros((n_sec, w_n), dtype=x.dtype)
    tmp = np.empty(w_n, dtype=x.dtype)
    energy = np.zeros(w_n)
    peak = np.full(w_n, -np.inf)
    for n in range(m):
        for w in range(w_n):
            tmp[w] = x[n, w]
        _biquads(tmp, sos, z1, z2)
        for w in range(w_n):
            energy[w] += np.float64(tmp[w]) * tmp[w]
            peak[w] = max(peak[w], tmp[w])
    return energy, peak


@njit(cache=True)
def _sos_decimate(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Filter every column of ``x`` from rest and keep the odd samples (decimation by two)."""
    m, w_n = x.shape
    n_sec = sos.shape[0]
    z1 = np.zeros((n_sec, w_n), dtype=x.dtype)
    z2 = np.zeros((n_sec, w_n), dtype=x.dtype)
    tmp = np.empty(w_n, dtype=x.dtype)
    out = np.empty((m // 2, w_n), dtype=x.dtype)
    for n in range(m):
        for w in range(w_n):
            tmp[w] = x[n, w]
        _biquads(tmp, sos, z1, z2)
        if n % 2 == 1:
            for w in range(w_n):
                out[n // 2, w] = tmp[w]
    return out


LANES = 16  # chunks of a long signal filtered in lockstep (vectorised across chunks)
WARM_UP_S = 0.5  # each chunk but the first starts this early from rest (see ``_sos_lanes``)


@njit(cache=True)
def _sos_lanes(
    x: np.ndarray, sos: np.ndarray, warm: int, store: bool, marks: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """``scipy.signal.sosfilt`` of a 1-D signal from rest, computed as ``LANES`` consecutive chunks
    in lockstep (so the recursion vectorises across chunks): each chunk but the first is started
    from rest ``warm`` samples early, which is exact once the filter has forgotten its start (the
    callers' filters decay by far more than double precision within ``WARM_UP_S``). Returns the
    output (float32, when ``store``), its energy, and its cumulative energy before each of the
    sorted sample indices ``marks``."""
    n = x.size
    n_sec = sos.shape[0]
    k = LANES
    chunk = max((n + k - 1) // k, 1)
    z1 = np.zeros((n_sec, k))
    z2 = np.zeros((n_sec, k))
    v = np.zeros(k)
    out = np.empty(n if store else 0, dtype=np.float32)
    energy = np.zeros(k)
    # marks: per chunk, the running energy before each mark's sample
    col = np.minimum(marks // chunk, k - 1)
    local = marks - col * chunk
    ptr = np.zeros(k, dtype=np.int64)
    stop = np.zeros(k, dtype=np.int64)
    for j in range(marks.size):
        stop[col[j]] = j + 1
    for j in range(marks.size - 1, -1, -1):
        ptr[col[j]] = j
    for c in range(k):
        if stop[c] == 0:
            ptr[c] = 0
    before = np.zeros(marks.size)
    for t in range(-warm, chunk):
        for c in range(k):
            i = c * chunk + t
            v[c] = np.float64(x[i]) if 0 <= i < n and (t >= 0 or c > 0) else 0.0
        _biquads(v, sos, z1, z2)
        if t < 0:
            continue
        for c in range(k):
            while ptr[c] < stop[c] and local[ptr[c]] <= t:
                before[ptr[c]] = energy[c]
                ptr[c] += 1
            if c * chunk + t < n:
                if store:
                    out[c * chunk + t] = v[c]
                energy[c] += v[c] * v[c]
    for c in range(k):  # marks at or past the end of their chunk
        while ptr[c] < stop[c]:
            before[ptr[c]] = energy[c]
            ptr[c] += 1
    offset = np.zeros(k)
    for c in range(1, k):
        offset[c] = offset[c - 1] + energy[c - 1]
    cum = np.empty(marks.size)
    for j in range(marks.size):
        cum[j] = offset[col[j]] + before[j]
    return out, energy.sum(), cum


def sos_filter(x: np.ndarray, sos: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    """(output, energy) of ``scipy.signal.sosfilt(sos, x)`` (see ``_sos_lanes``)."""
    marks = np.zeros(0, dtype=np.int64)
    out, energy, _ = _sos_lanes(x, sos, int(WARM_UP_S * fs), True, marks)
    return out, energy


@njit(cache=True)
def _median_rows(x: np.ndarray, k: int) -> np.ndarray:
    """Running median of odd length ``k`` along each row, with scipy.ndimage's "reflect" edges
    (equal to ``median_filter(x, size=(1, k), mode='reflect')``): a sorted window updated by one
    replacement per step."""
    rows, cols = x.shape
    half = k // 2
    out = np.empty_like(x)
    ext = np.empty(cols + 2 * half, dtype=x.dtype)
    win = np.empty(k, dtype=x.dtype)
    for r in range(rows):
        for i in range(cols + 2 * half):
            j = i - half
            while j < 0 or j >= cols:
                if j < 0:
                    j = -j - 1
                if j >= cols:
                    j = 2 * cols - j - 1
            ext[i] = x[r, j]
        for i in range(k):
            win[i] = ext[i]
        win.sort()
        out[r, 0] = win[half]
        for i in range(1, cols):
            old = ext[i - 1]
            new = ext[i + k - 1]
            lo = 0
            hi = k - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if win[mid] < old:
                    lo = mid + 1
                else:
                    hi = mid
            p = lo
            if new > old:
                while p + 1 < k and win[p + 1] < new:
                    win[p] = win[p + 1]
                    p += 1
            else:
                while p > 0 and win[p - 1] > new:
                    win[p] = win[p - 1]
                    p -= 1
            win[p] = new
            out[r, i] = win[half]
    return out


# ----------------------------------------------------------------------------------------------
# Onsets (timbral_util.calculate_onsets)
# ----------------------------------------------------------------------------------------------
def librosa_onsets(strength: np.ndarray, fs: float) -> np.ndarray:
    """Backtracked librosa onsets (in samples) of an onset-strength envelope (hop 512), as
    ``librosa.onset.onset_detect(y, sr, backtrack=True, units='samples')`` finds them."""
    if strength.size == 0:
        return np.zeros(0, dtype=np.int64)
    return librosa.onset.onset_detect(
        onset_envelope=strength.astype(np.float64),
        sr=fs,
        hop_length=HOP,
        backtrack=True,
        units="samples",
    ).astype(np.int64)


def refine_onsets(
    raw_onsets: np.ndarray, env: np.ndarray, strength: np.ndarray, fs: float, nperseg: int
) -> list[int]:
    """Onsets in samples as timbral_util.calculate_onsets refines librosa's: each walked back on
    the envelope, then those in noise (< 10 % of the envelope range before the segment peak),
    closer than 100 ms to the previous, or whose onset strength stays under 3 are dropped.
    Returns [0] when none remains."""
    look = int(20 * 0.001 * fs)
    hyst_len = int(300 * fs * 0.001)
    env_range = float(env.max() - env.min()) if env.size else 0.0
    if raw_onsets.size == 0:
        return [0]
    corrected: list[int] = []
    for onset in raw_onsets.tolist():
        if onset > 0:
            if not corrected or onset + 511 < env.size:
                loc = _return_loop(onset, env, look, env_range * 0.1, hyst_len, nperseg)
                corrected.append(int(loc))
        else:
            corrected.append(0)
    corrected = [c for i, c in enumerate(corrected) if c != 0 or i == 0]  # 0: walk found none
    corrected = list(dict.fromkeys(corrected))
    if len(corrected) > 1:
        threshold = 0.1 * env_range
        for i in reversed(range(len(corrected))):
            stop = corrected[i + 1] if i + 1 < len(corrected) else env.size
            segment = env[corrected[i] : stop]
            keep = False
            if segment.size > 1:
                peak = int(np.argmax(segment))
                keep = peak > 0 and segment[peak] - segment[:peak].min() >= threshold
            if not keep:
                del corrected[i]
    if len(corrected) > 1:
        min_sep = fs * 0.001 * 100
        arr = np.asarray(corrected)
        while arr.size > 1 and np.diff(arr).min() < min_sep:
            too_close = np.nonzero(np.abs(np.diff(arr)) < min_sep)[0] + 1
            if too_close.size == 0:  # unsorted onsets: the original loops forever here
                break
            arr = np.delete(arr, too_close)
        corrected = arr.tolist()
    frames = [int(c / HOP) for c in corrected]
    out: list[int] = []
    for i in reversed(range(len(corrected))):
        start = frames[i]
        seg = strength[start:] if start == frames[-1] else strength[start : frames[i + 1]]
        if seg.size == 0 or seg.max() < 3:
            del frames[i]
        else:
            out.append(corrected[i])
    out.sort()
    return out or [0]


# ----------------------------------------------------------------------------------------------
# Shared spectral views
# ----------------------------------------------------------------------------------------------
@dataclass
class Views:
    """Hann STFT magnitude (2048/512, centred), mel dB and onset strength of a mono signal at the
    working rate, as librosa computes them (shared from the context when compatible). Their scale
    may differ from the loudness-normalised signal's: every use is scale-free."""

    magnitude: np.ndarray  # (1025, frames)
    mel_db: np.ndarray  # (128, frames)
    onset: np.ndarray  # (frames,)
    mono: np.ndarray  # the signal they describe
    scale: float = 1.0  # the loudness-normalised signal is mono * scale


def views_of(x: np.ndarray, fs: float, scale: float) -> Views:
    """Compute the views of ``x`` (when the context's cannot be used)."""
    magnitude = chunked_stft(x[None, :].astype(np.float32), N_FFT, HOP).magnitude
    mel_db = mel_db_of(magnitude, fs)
    onset = librosa.onset.onset_strength(S=mel_db, sr=fs, n_fft=N_FFT, hop_length=HOP)
    return Views(magnitude, mel_db, onset.astype(np.float32), x, scale)


@lru_cache(maxsize=8)
def _mel_basis(fs: float) -> np.ndarray:
    return librosa.filters.mel(sr=fs, n_fft=N_FFT, n_mels=N_MELS)


def mel_db_of(magnitude: np.ndarray, fs: float) -> np.ndarray:
    """librosa's log mel power (``power_to_db(ref=1.0)``, 80 dB range) of STFT magnitudes."""
    basis = _mel_basis(fs)
    mel = np.empty((N_MELS, magnitude.shape[1]), dtype=np.float32)
    for i in range(0, magnitude.shape[1], 4096):
        block = magnitude[:, i : i + 4096]
        mel[:, i : i + 4096] = basis @ (block * block)
    return librosa.power_to_db(mel, ref=1.0).astype(np.float32)


def padded_onset_strength(views: Views, fs: float, pad: int = HARDNESS_PAD) -> np.ndarray:
    """librosa's onset strength of ``pad`` zeros followed by the signal, from the signal's views:
    a frame of the padded signal is a frame of the signal shifted by ``pad mod 512`` samples, except
    the leading silent frames, the frame straddling the start and possibly one more at the end,
    which are computed here."""
    q = pad // HOP
    mono = views.mono
    n = mono.size
    n_frames = 1 + (n + pad) // HOP
    extra = n_frames - (views.mel_db.shape[1] + q)
    window = scipy.signal.get_window("hann", N_FFT).astype(np.float32)

    def frame_db(centre: int) -> np.ndarray:  # one frame of the signal centred at ``centre``
        lo, hi = centre - N_FFT // 2, centre + N_FFT // 2
        seg = np.zeros(N_FFT, dtype=np.float32)
        a, b = max(lo, 0), min(hi, n)
        if b > a:
            seg[a - lo : b - lo] = mono[a:b]
        power = np.abs(np.fft.rfft(seg * window)) ** 2
        with np.errstate(divide="ignore"):
            return 10 * np.log10(np.maximum(_mel_basis(fs) @ power, 1e-10))

    new = [frame_db((q - 1) * HOP - pad)] + [
        frame_db((views.mel_db.shape[1] + q + e) * HOP - pad) for e in range(max(extra, 0))
    ]
    # power_to_db's 80 dB range below the loudest bin (the silent frames sit at its floor)
    floor = max(float(views.mel_db.max()), max(float(f.max()) for f in new)) - 80.0
    silent = np.full((N_MELS, q - 1), max(-100.0, floor), dtype=np.float32)
    parts = [silent, new[0][:, None], views.mel_db, *(f[:, None] for f in new[1:])]
    mel_db = np.maximum(np.concatenate(parts, axis=1)[:, :n_frames], floor)
    return librosa.onset.onset_strength(S=mel_db, sr=fs, n_fft=N_FFT, hop_length=HOP).astype(
        np.float32
    )


# ----------------------------------------------------------------------------------------------
# Specific loudness (ISO 532 B / DIN 45631 via Zwicker's BASIC program, as timbral_util ports it)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Brightness (Timbral_Brightness)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Depth (Timbral_Depth)
# ----------------------------------------------------------------------------------------------
def rms_envelope(x: np.ndarray, step: int = 256) -> np.ndarray:
    """RMS of consecutive ``step``-sample blocks plus the remainder, scaled to peak 1
    (timbral_util.calculate_rms_enveope with equal step and hop)."""
    n_full = max(0, math.ceil((x.size - step) / step))
    blocks = x[: n_full * step].reshape(n_full, step)
    tail = x[n_full * step :].astype(np.float64)
    squares = np.einsum("ij,ij->i", blocks, blocks, dtype=np.float64) / step
    env = np.append(np.sqrt(squares), math.sqrt(np.mean(tail * tail)))
    top = env.max()
    return env / top if top > 0 else env


def depth_terms(hp20: np.ndarray, fs: float, views: Views) -> dict[str, float]:
    """Timbral_Depth's measures of the 20 Hz high-passed, peak-normalised signal: power-weighted
    centroid below 2 kHz (limited to 2 kHz), energy share below 500 Hz (4096-point Hamming frames,
    hop 1024, the low passes applied as |H(f)|^2), log mean decay time to -40 dB after each onset
    (RMS envelope of 256-sample blocks), log frequency of the lowest peak of the long-term spectrum.
    ``hp20`` is the signal after the 20 Hz high pass; the original scales it to peak 1, which only
    the -60 dB frame threshold sees (the envelopes and onsets are scale-free), so the spectra are
    scaled instead of the signal."""
    a = hp20
    peak = max(float(a.max()), -float(a.min()))
    if not peak > 0:
        raise Undefined("no signal above 20 Hz")
    n_fft, hop = 4096, 1024
    f = np.fft.rfftfreq(n_fft, 1.0 / fs)
    win = scipy.signal.get_window("hamming", n_fft).astype(np.float32)
    scale = one_sided(n_fft) / float(win.astype(np.float64).sum()) ** 2 / peak**2
    w_c = power_response(butter_sos(2000, fs, "low"), f, fs) * scale
    w_r = power_response(butter_sos(500, fs, "low"), f, fs) * scale
    frames = frame_signal(a, n_fft, hop)
    if frames.shape[0] == 0:
        raise Undefined("shorter than one 4096-sample frame")
    weights = np.stack([scale, w_c, w_c * f, w_r], axis=1).astype(np.float32)
    dc = np.fft.rfft(win)[:16]  # the per-frame mean removal only touches the lowest bins
    q = n_fft // hop
    block_sums = a[: (frames.shape[0] - 1 + q) * hop].reshape(-1, hop).sum(axis=1, dtype=np.float64)
    means = sum(block_sums[j : j + frames.shape[0]] for j in range(q)) / n_fft
    rows = []
    long_term = np.zeros(f.size)
    for b in range(0, frames.shape[0], BLOCK):
        fr = frames[b : b + BLOCK]
        spec = scipy.fft.rfft(fr * win, axis=1)
        spec[:, :16] -= means[b : b + BLOCK, None].astype(np.float32) * dc
        p = spec.real**2 + spec.imag**2
        rows.append(p @ weights)
        long_term += p.sum(axis=0) * scale
    tpower, low_c, low_cf, low_r = np.concatenate(rows).astype(np.float64).T
    above = tpower > 10 ** (-60 / 20)
    ok = above & (low_c > 0)
    centroid = np.zeros_like(tpower)
    centroid[ok] = low_cf[ok] / low_c[ok]
    if not tpower.sum() > 0:
        raise Undefined("no spectral energy")
    m1 = min(float(tpower @ centroid / tpower.sum()), 2000.0)
    m2 = float(low_r[above].sum() / tpower.sum())
    # decay time after each onset, until the RMS envelope falls 40 dB below its peak
    env = sample_and_hold_envelope(a, fs, 0.2)
    onsets = refine_onsets(librosa_onsets(views.onset, fs), env, views.onset, fs, nperseg=512)
    rms = rms_envelope(a, 256)
    starts = (np.asarray(onsets) / 256.0).astype(np.int64)
    durations = []
    for i, start in enumerate(starts):
        seg = rms[start : starts[i + 1]] if i + 1 < starts.size else rms[start:]
        if seg.size == 0:
            continue
        post = seg[int(np.argmax(seg)) :]
        below = np.nonzero(post < 10 ** (-40 / 20))[0]
        durations.append((below[0] if below.size else post.size) / (fs / 256.0))
    m3 = _log10(float(np.mean(durations)) if durations else 0.0, "the mean decay time")
    # frequency of the lowest peak of the long-term spectrum
    norm = (long_term - long_term.min()) / (long_term.max() - long_term.min())
    pos, _, _ = mirpeaks(norm, norm, f, 0.01)
    m4 = _log10(float(pos.min()), "the lowest peak") if pos.size and pos[0] > 0 else 0.0
    return {"centroid": m1, "ratio": m2, "duration": m3, "pitch": m4}


# ----------------------------------------------------------------------------------------------
# Roughness (Timbral_Roughness)
# ----------------------------------------------------------------------------------------------
PAIR_CUTOFF = 16.0  # pairs with exp(-3.51 s d) < exp(-16) (1e-7) are left out


@njit(cache=True)
def _pair_roughness(pos: np.ndarray, val: np.ndarray) -> float:
    """Vassilakis roughness of one frame's peaks (loudest first): the sum over pairs of
    (v1 v2)^0.1 * 0.5 (2 v2 / (v1 + v2))^3.11 * (exp(-3.51 s d) - exp(-5.75 s d)),
    s = 0.24 / (0.0207 f_min + 18.96), d = |f2 - f1|, v2 the louder peak (Plomp-Levelt curve as
    Sethares parametrises it). Pairs whose curve is below 1e-7 of its scale are skipped; the terms
    are taken in logarithms."""
    order = np.argsort(pos)
    logv = np.log(val)
    total = 0.0
    for a in range(order.size):
        ia = order[a]
        s = 0.24 / (0.0207 * pos[ia] + 18.96)
        for b in range(a + 1, order.size):
            ib = order[b]
            x = s * (pos[ib] - pos[ia])
            if 3.51 * x > PAIR_CUTOFF:
                break
            quiet, loud = (ia, ib) if ia > ib else (ib, ia)
            log_y = math.log(2.0) + logv[loud] - math.log(val[quiet] + val[loud])
            log_amp = math.log(0.5) + 0.1 * (logv[quiet] + logv[loud]) + 3.11 * log_y
            total += math.exp(log_amp - 3.51 * x) - math.exp(log_amp - 5.75 * x)
    return total


@njit(cache=True)
def _roughness_frames(spec: np.ndarray, lo: float, hi: float, freq: np.ndarray) -> float:
    """Sum over frames (rows) of the roughness of the peaks picked on the spectrum normalised by the
    spectrogram's range (``lo``, ``hi``), valued on the raw spectrum."""
    total = 0.0
    norm = np.empty(spec.shape[1])
    raw = np.empty(spec.shape[1])
    for t in range(spec.shape[0]):
        for i in range(spec.shape[1]):
            raw[i] = spec[t, i]
            norm[i] = (raw[i] - lo) / (hi - lo)
        pos, val, _ = _mirpeaks(norm, raw, freq, 0.01)
        if pos.size > 1:
            total += _pair_roughness(pos, val)
    return total


def frames_after_zeros(
    y: np.ndarray, zeros: int, offset: int, hop: int, length: int, count: int
) -> list[np.ndarray]:
    """The ``count`` frames of ``zeros`` zeros followed by ``y`` starting at ``offset + k * hop``,
    as a small array for those that overlap the zeros and a strided view of ``y`` for the rest
    (no copy of the signal)."""
    inside = min(count, max(0, -(-(zeros - offset) // hop)))  # first frame entirely in y
    parts = []
    if inside:
        head = np.zeros(offset + (inside - 1) * hop + length, dtype=np.float32)
        n = max(0, min(head.size - zeros, y.size))
        head[zeros : zeros + n] = y[:n]
        parts.append(frame_signal(head[offset:], length, hop)[:inside])
    if count > inside:
        parts.append(
            frame_signal(y[offset + inside * hop - zeros :], length, hop)[: count - inside]
        )
    return parts


def roughness_mean(y: np.ndarray, fs: float) -> float:
    """Mean Vassilakis roughness over 50 ms Hamming frames (25 ms hop, 4096-point FFT) of the signal
    after 512 zeros, peaks picked (MIRtoolbox style, threshold 0.01) on the spectrogram normalised
    to its range (Timbral_Roughness); frames past the last whole one count as zero, as there."""
    step = int(fs * 0.05)
    size = y.size + 512
    n_frames = int(size / (step - step / 2))
    n_fft = 2 ** int(np.log(step) / np.log(2) + 1)
    window = np.hamming(step + 2)[1:-1].astype(np.float32)
    starts = (np.arange(n_frames + 2) * (step / 2.0)).astype(np.int64)
    n_full = int(np.count_nonzero(starts + step <= size))  # whole frames; the rest are zeros
    freq = fs / 2 * np.linspace(0, 1, n_fft // 2 + 1)
    # frames start at int(i * step / 2) in the padded signal: with an odd step, even and odd i form
    # two regular grids
    hop = step // 2 if step % 2 == 0 else step
    grids = [(0, n_full)] if step % 2 == 0 else [(0, (n_full + 1) // 2), (step // 2, n_full // 2)]
    views = [
        v for offset, count in grids for v in frames_after_zeros(y, 512, offset, hop, step, count)
    ]

    def spectra(frames: np.ndarray) -> np.ndarray:
        return np.abs(scipy.fft.rfft(frames * window, n=n_fft, axis=1))

    # the spectrogram's largest bin, which the original normalises by before picking peaks: a
    # frame's largest magnitude is at most sum |x w|, so frames are examined loudest-bound first
    # until no remaining bound can beat the maximum found
    bounds = np.concatenate([np.abs(frames) @ window for frames in views])
    grid = np.repeat(np.arange(len(views)), [frames.shape[0] for frames in views])
    index = np.concatenate([np.arange(frames.shape[0]) for frames in views])
    order = np.argsort(-bounds, kind="stable")
    hi = 0.0
    for k in range(0, order.size, 64):
        if bounds[order[k]] <= hi:
            break
        chunk = order[k : k + 64]
        for g, frames in enumerate(views):
            rows = index[chunk[grid[chunk] == g]]
            if rows.size:
                hi = max(hi, float(spectra(frames[rows]).max()))
    if not hi > 0:
        return 0.0
    # the minimum: 0 from the original's unfilled last frame(s), else over every spectrum
    lo = 0.0
    if n_full >= n_frames:
        lo = min(
            float(spectra(f[b : b + BLOCK]).min())
            for f in views
            for b in range(0, f.shape[0], BLOCK)
        )
    total = 0.0
    for frames in views:
        for b in range(0, frames.shape[0], BLOCK):
            total += _roughness_frames(spectra(frames[b : b + BLOCK]), lo, hi, freq)
    return total / n_frames


# ----------------------------------------------------------------------------------------------
# Warmth (Timbral_Warmth)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# Hardness (Timbral_Hardness)
# ----------------------------------------------------------------------------------------------
EFFORT_LEVELS = np.linspace(0.1, 0.9, 9)  # CUIDADO thresholds (8 steps, 0 and 100 % excluded)


def attack_min_effort(
    env: np.ndarray, fs: float, max_attack: float = 0.1
) -> tuple[float, int] | None:
    """(log10 attack time, attack start index) of an envelope segment by the CUIDADO "minimum
    effort" thresholds (timbral_util.calculate_attack_time); None where the original fails (the
    segment's peak is its first sample, or it is silent)."""
    top = float(env.max()) if env.size else 0.0
    if not top > 0:
        return None
    e = env / top
    peak = int(np.argmax(e))
    if peak == 0:
        return None
    pre = e[:peak]
    start = int(np.nonzero(pre == pre.min())[0][-1])
    e = e[start : peak + 1]
    lo = e.min()
    levels = EFFORT_LEVELS * (e.max() - lo) + lo
    # first sample reaching each level: where the running maximum first reaches it
    idx = np.minimum(np.searchsorted(np.maximum.accumulate(e), levels), e.size - 1)
    effort = np.diff(idx)
    thr = effort.mean() * 3
    th_start = int(np.argmax(effort <= thr))
    th_end = int(np.argmax(effort[th_start:] >= thr))
    if th_end == 0:
        th_end = effort.size - th_start - 1
    th_end += th_start
    s, e_idx = int(idx[th_start]), int(idx[th_end])
    if s == e_idx:
        s, e_idx = int(idx[0]), int(idx[-1])
    attack = 1.0 / fs if s == e_idx else (e_idx - s + 1.0) / fs
    if max_attack > 0 and attack > max_attack:
        attack = (int(fs * max_attack) + 1.0) / fs
    return math.log10(attack), s + start


def attack_start_fixed(seg: np.ndarray) -> int | None:
    """Start of the attack of a segment: where it first reaches 20 % of the rise from its pre-peak
    minimum to its peak (calculate_attack_time, 'fixed_threshold'); None when the peak comes first."""
    peak = int(np.argmax(seg))
    if peak == 0:
        return None
    pre = seg[:peak]
    start = int(np.nonzero(pre == pre.min())[0][-1])
    e = seg[start : peak + 1]
    lower = 0.2 * (e.max() - e.min()) + e.min()
    return int(np.argmax(e >= lower)) + start


@njit(cache=True)
def _bandwidth_rows(spec: np.ndarray, freq: np.ndarray, scale: float, thresh: float) -> np.ndarray:
    """(level, bandwidth) of each row of a spectrum given as interleaved (real, imaginary) floats
    and scaled by ``scale``: the summed magnitude, and the frequency from the first bin where the
    cumulative magnitude reaches 5 % of that sum to the last bin at or above ``thresh`` (0 when
    none is)."""
    rows = spec.shape[0]
    n = spec.shape[1] // 2
    out = np.zeros((rows, 2))
    mag = np.empty(n, dtype=np.float32)
    for r in range(rows):
        for k in range(n):
            re = spec[r, 2 * k]
            im = spec[r, 2 * k + 1]
            mag[k] = math.sqrt(re * re + im * im)
        total = 0.0
        for k in range(n):
            total += mag[k]
        total *= scale
        out[r, 0] = total
        top = -1
        for k in range(n - 1, -1, -1):
            if mag[k] * scale >= thresh:
                top = k
                break
        if top < 0:
            continue
        cum = 0.0
        on = n - 1
        for k in range(n):
            cum += mag[k] * scale
            if cum >= 0.05 * total:
                on = k
                break
        out[r, 1] = freq[top] - freq[on]
    return out


def _padded_frames(y: np.ndarray, pad: int, first: int, rows: int, hop: int, n: int) -> np.ndarray:
    """(rows, n) frames of ``pad`` zeros followed by ``y``, the first starting at ``first`` (in the
    padded signal), every ``hop`` samples; zeros past the end."""
    lo = first - pad
    hi = lo + (rows - 1) * hop + n
    seg = np.zeros(hi - lo, dtype=np.float32)
    a0, a1 = max(lo, 0), min(hi, y.size)
    if a1 > a0:
        seg[a0 - lo : a1 - lo] = y[a0:a1]
    return frame_signal(seg, n, hop)[:rows]


def _bandwidth_of(frames: np.ndarray, fs: float) -> np.ndarray:
    """(level, bandwidth) of rectangular frames (``_bandwidth_rows``), mean removed: for a
    rectangular window that only zeroes the DC bin."""
    n = frames.shape[1]
    spec = scipy.fft.rfft(frames, axis=1)
    spec[:, 0] = 0.0
    f = np.fft.rfftfreq(n, 1.0 / fs)
    return _bandwidth_rows(spec.view(np.float32), f, math.sqrt(1.0 / (fs * n)), 10 ** (-75 / 20))


def bandwidth_track(y: np.ndarray, fs: float, hop: int, pad: int, n: int = 4096) -> np.ndarray:
    """Per-frame bandwidth (Hz) of ``pad`` zeros followed by ``y``: from the 5 % spectral roll-on to
    the highest bin at or above -75 dB (density-scaled magnitude of mean-removed rectangular frames
    of ``n`` samples every ``hop``), zero in frames below 10 % of the frame-level range
    (timbral_util.get_bandwidth_array). Computed block by block."""
    total = y.size + pad
    n_frames = (total - n) // hop + 1 if total >= n else 0
    result = np.empty((n_frames, 2))
    for b in range(0, n_frames, BLOCK):
        rows = min(BLOCK, n_frames - b)
        result[b : b + rows] = _bandwidth_of(_padded_frames(y, pad, b * hop, rows, hop, n), fs)
    if n_frames == 0:
        return np.zeros(0)
    levels = result[:, 0]
    threshold = 0.1 * (levels.max() - levels.min()) + levels.min()
    return np.where(levels > threshold, result[:, 1], 0.0)


def percussive_share(views: Views, fs: float) -> float:
    """Percussive share of the energy after librosa's HPSS (31-frame and 31-bin median filters,
    Wiener masks of power 2) as timbral_util.get_percussive_audio measures it, but on a bounded
    excerpt: ``HPSS_BLOCKS`` blocks of ``HPSS_BLOCK_FRAMES`` STFT frames spread over the track (the
    whole track when shorter), bins below ``HPSS_MAX_HZ``, and frame energies from the STFT
    (sum of sqrt(percussive) / sum of sqrt(percussive) + sqrt(harmonic)) instead of an inverse STFT
    and 1024-sample RMS frames."""
    mag = views.magnitude
    n_bins = int(HPSS_MAX_HZ / (fs / N_FFT)) + 1 + HPSS_KERNEL // 2
    n_bins = min(n_bins, mag.shape[0])
    keep_bins = n_bins - HPSS_KERNEL // 2 if n_bins < mag.shape[0] else n_bins
    n_frames = mag.shape[1]
    half = HPSS_KERNEL // 2
    if n_frames <= HPSS_BLOCKS * HPSS_BLOCK_FRAMES:
        starts, length = [0], n_frames
    else:
        length = HPSS_BLOCK_FRAMES
        starts = np.linspace(0, n_frames - length, HPSS_BLOCKS).astype(int).tolist()
    weights = one_sided(N_FFT)[:keep_bins, None]
    perc = total = 0.0
    for s in starts:
        lo, hi = max(0, s - half), min(n_frames, s + length + half)
        context = np.ascontiguousarray(mag[:n_bins, lo:hi])
        harm = _median_rows(context, HPSS_KERNEL)[:keep_bins, s - lo : s - lo + length]
        block = np.ascontiguousarray(mag[:n_bins, s : s + length].T)
        pm = _median_rows(block, HPSS_KERNEL).T[:keep_bins]
        sb = block.T[:keep_bins].astype(np.float64)
        h2, p2 = harm.astype(np.float64) ** 2, pm.astype(np.float64) ** 2
        den = h2 + p2
        zero = den == 0
        den[zero] = 1.0
        mh = np.where(zero, 0.5, h2 / den)
        mp = np.where(zero, 0.5, p2 / den)
        e_h = np.sqrt((weights * (sb * mh) ** 2).sum(axis=0))
        e_p = np.sqrt((weights * (sb * mp) ** 2).sum(axis=0))
        perc += float(e_p.sum())
        total += float((e_p + e_h).sum())
    if not total > 0:
        raise Undefined("no spectral energy for the percussive share")
    return perc / total


def attack_centroid(seg: np.ndarray, fs: float) -> float | None:
    """Spectral centroid (Hz, bins from 20 Hz) of the magnitude FFT of an attack, zero-padded to a
    power of two (timbral_util.get_spectral_features); None for silence."""
    n2 = int(2 ** math.ceil(math.log2(seg.size)))
    spec = np.abs(scipy.fft.rfft(seg.astype(np.float64), n2))
    if not spec.sum() > 0:
        return None
    freq = np.arange(spec.size) * (fs / (2.0 * (spec.size - 1)))
    lf = int(np.nonzero(freq >= 20)[0][0])
    s = spec[lf:]
    return float(s @ freq[lf:] / s.sum()) if s.sum() > 0 else None


def padded_slice(y: np.ndarray, pad: int, start: int, stop: int) -> np.ndarray:
    """``np.concatenate((np.zeros(pad), y))[start:stop]`` without building the padded signal."""
    if stop <= start:
        return y[:0]
    lead = max(0, min(pad, stop) - start)
    body = y[max(start - pad, 0) : max(stop - pad, 0)]
    return np.concatenate((np.zeros(lead, dtype=y.dtype), body)) if lead else body


def bandwidth_hop(fs: float) -> int:
    """Hop of the bandwidth track: ``BANDWIDTH_HOP`` up to 48 kHz, then smaller in proportion (in
    multiples of the original's 128), since the 4096-sample frames get shorter and the track
    jumpier at higher rates."""
    return max(128, int(BANDWIDTH_HOP * 48000 / fs) // 128 * 128)


def hardness_onset_terms(
    y: np.ndarray, fs: float, env_p: np.ndarray, views: Views, bw_hop: int | None = None
) -> dict[str, float]:
    """Per-onset measures of Timbral_Hardness on the signal after 4097 zeros: mean log attack time
    (minimum effort, at most 100 ms), log mean onset strength, log mean attack centroid (first
    125 ms of each attack, at least 200 Hz), and the onset-strength-weighted mean of the bandwidth
    maximum in the first 100 ms of each bandwidth attack (at least fs/512). ``env_p`` is the
    100 ms-decay sample-and-hold envelope of the padded signal."""
    pad = HARDNESS_PAD
    bw_hop = bw_hop or bandwidth_hop(fs)
    strength = padded_onset_strength(views, fs, pad)
    onsets = refine_onsets(librosa_onsets(strength, fs), env_p, strength, fs, nperseg=4096)
    if len(onsets) == 1:
        onsets = [0]
    size = y.size + pad
    bandwidth = bandwidth_track(y, fs, bw_hop, pad)
    bw_onsets = np.maximum(np.asarray(onsets) - 4096, 0) // bw_hop
    max_bw_len = int(0.1 * fs / bw_hop)  # 100 ms of frames
    attack_times, strengths, bw_max, bw_strengths, centroids = [], [], [], [], []
    for c, onset in enumerate(onsets):
        last = c + 1 == len(onsets)
        nxt = size if last else onsets[c + 1]
        attack = attack_min_effort(env_p[onset:nxt], fs, 0.1)
        s0 = int(onset / HOP)
        seg_strength = strength[s0:] if last else strength[s0 : int(nxt / HOP)]
        if attack is None or seg_strength.size == 0:
            continue  # the original fails on such a segment
        attack_times.append(attack[0])
        strengths.append(float(seg_strength.max()))
        b0 = int(bw_onsets[c])
        bseg = bandwidth[b0:] if last else bandwidth[b0 : int(bw_onsets[c + 1])]
        if bseg.size and bseg.max() > 0:
            start = attack_start_fixed(bseg)
            if start is not None:
                # the original's test compares the remaining length with start + 100 ms
                stop = start + max_bw_len if bseg.size - start > start + max_bw_len else None
                peak = float(bseg[start:stop].max())
                bw_max.append(peak)
                bw_strengths.append(strengths[-1])
        start = onset + attack[1]
        audio = padded_slice(y, pad, start, min(start + int(0.125 * fs), nxt))
        if audio.size > 512:
            centroid = attack_centroid(audio, fs)
            if centroid is not None:
                centroids.append(centroid)
    if not attack_times:
        raise Undefined("no onset segment with an attack")
    if bw_max and sum(bw_strengths) > 0:
        bw = float(np.average(bw_max, weights=bw_strengths))
        bw = fs / 512.0 if bw <= 512.0 else bw
    else:
        bw = fs / 512.0
    centroid = float(np.mean(centroids)) if centroids else 200.0
    return {
        "bandwidth": math.log10(bw),
        "attack_centroid": math.log10(max(centroid, 200.0)),
        "strength": _log10(float(np.mean(strengths)), "the mean onset strength"),
        "attack_time": float(np.mean(attack_times)),
    }


# ----------------------------------------------------------------------------------------------
# Reverberation (Timbral_Reverb)
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _rt_histogram(rt_ml: np.ndarray, tquant: np.ndarray, buffer_size: int) -> float:
    """Order statistics and recursive smoothing of the frame-wise ML estimates (Loellmann's
    rt_estimate_frame as Timbral_Reverb ports it, buffer quirks included): the histogram mode of
    the recent estimates, smoothed with alpha 0.995 from 0.3 s; returns the mean smoothed RT over
    the frames that gave an estimate, or the smallest RT when none did."""
    hist = np.zeros(tquant.size)
    history = np.empty(rt_ml.size, dtype=np.int64)
    counter = 0
    rt_raw = 0.3
    rt_last = 0.3
    total = 0.0
    n_est = 0
    for t in range(rt_ml.size):
        if rt_ml[t] >= 0:
            index = int(np.argmin(np.abs(tquant - rt_ml[t])))
            history[counter] = index
            counter += 1
            hist[index] += 1
            if counter > buffer_size + 1:  # the oldest buffered estimate leaves the histogram
                hist[history[counter - 1 - buffer_size]] -= 1
            rt_raw = tquant[np.argmax(hist)]
        rt_last = 0.995 * rt_last + 0.005 * rt_raw
        if rt_ml[t] > 0:
            total += rt_last
            n_est += 1
    return total / n_est if n_est else tquant[0]


STATS_BLOCK = 64  # block size of the summarised reverb statistics


@njit(cache=True)
def _block_stats(s: np.ndarray, g: int) -> np.ndarray:
    """(sum, sum of squares, maximum, minimum) of each whole ``g``-sample block of ``s``."""
    nb = s.size // g
    out = np.empty((nb, 4))
    for b in range(nb):
        total = 0.0
        squares = 0.0
        top = -np.inf
        bottom = np.inf
        for i in range(b * g, b * g + g):
            v = np.float64(s[i])
            total += v
            squares += v * v
            top = max(top, v)
            bottom = min(bottom, v)
        out[b, 0] = total
        out[b, 1] = squares
        out[b, 2] = top
        out[b, 3] = bottom
    return out


@njit(cache=True)
def _subframe_stats(
    s: np.ndarray, blocks: np.ndarray, g: int, lo: int, w: int
) -> tuple[float, float, float]:
    """(variance, maximum, minimum) of s[lo:lo + w], from the whole blocks inside it and the
    samples at either end."""
    hi = lo + w
    b0 = (lo + g - 1) // g
    b1 = hi // g
    total = 0.0
    squares = 0.0
    top = -np.inf
    bottom = np.inf
    if b0 >= b1:
        b0 = b1 = hi  # no whole block: every sample directly
        edges = ((lo, hi), (hi, hi))
    else:
        edges = ((lo, b0 * g), (b1 * g, hi))
        for b in range(b0, b1):
            total += blocks[b, 0]
            squares += blocks[b, 1]
            top = max(top, blocks[b, 2])
            bottom = min(bottom, blocks[b, 3])
    for a, e in edges:
        for i in range(a, e):
            v = np.float64(s[i])
            total += v
            squares += v * v
            top = max(top, v)
            bottom = min(bottom, v)
    mean = total / w
    return squares / w - mean * mean, top, bottom


@njit(cache=True)
def _rt_frames(
    s: np.ndarray, q: np.ndarray, n_sub: int, table: np.ndarray, tquant: np.ndarray
) -> np.ndarray:
    """Frame-wise ML reverberation times of Loellmann's rt_estimate_frame (-1: no estimate) on the
    decimated signal ``s`` for frames starting at ``q``: sub-frames (the later ones one sample
    longer) are compared while variance and maximum fall and minimum rises; after 3 or 4 such
    decaying sub-frames followed by one that is not, the maximum of the Laplacian log-likelihood
    over the decay rates of ``tquant`` (``table[n, i]`` = a_i^-n) gives the estimate (5 decaying
    sub-frames end the original's loop without one)."""
    n_rt = tquant.size
    rt = np.full(q.size, -1.0)
    log_a = np.empty(n_rt)
    for i in range(n_rt):
        log_a[i] = -np.log(table[1, i])
    sums = np.empty(n_rt)
    g = STATS_BLOCK
    blocks = _block_stats(s, g)
    for f in range(q.size):
        base = q[f]
        var_pre, max_pre, min_pre = _subframe_stats(s, blocks, g, base, n_sub)
        cnt = 0
        for k in range(2, 7):
            var_cur, max_cur, min_cur = _subframe_stats(
                s, blocks, g, base + (k - 1) * n_sub, n_sub + 1
            )
            if var_pre > var_cur and max_pre > max_cur and min_pre < min_cur:
                cnt += 1
                var_pre, max_pre, min_pre = var_cur, max_cur, min_cur
                continue
            if cnt >= 3:
                n = cnt * n_sub
                sums[:] = 0.0
                for t in range(n):
                    h = abs(np.float64(s[base + t]))
                    for i in range(n_rt):
                        sums[i] += table[t, i] * h
                best = -np.inf
                for i in range(n_rt):  # log-likelihood up to terms equal for every rate
                    ll = -n * np.log(sums[i] / n) - log_a[i] * (n * (n - 1) / 2.0)
                    if ll > best:
                        best = ll
                        rt[f] = tquant[i]
            break
    return rt


def rt60_estimate(x: np.ndarray, fs: float) -> float:
    """Blind reverberation time (s) of one channel by Jan & Wang's Laplacian maximum-likelihood
    method on sound decays (EUSIPCO 2012, after Loellmann et al., IWAENC 2010) as Timbral_Reverb
    implements it: frames of 7 sub-frames of the 2x-decimated signal every 200 samples (at 24 kHz,
    scaled), ML estimates among 0.2, 0.3, ..., 1.1 s from the frames that start with a decay, then
    histogram order statistics and smoothing. Linear time (the original takes minutes on long
    tracks)."""
    no = fs / 24000.0
    down = 2 if fs > 8e3 else 1
    n_sub = round(no * 700 / down)
    n_shift = round(no * 200 / down)
    tquant = np.arange(0.2, 1.1 + 0.05, 0.1)
    decay = np.exp(-3.0 * np.log(10) / (tquant * (fs / down)))
    span = 7 * n_sub * down
    if span >= x.size:
        return float(tquant[0])
    starts = np.arange(0, x.size - span + 1, n_shift)
    table = decay[None, :] ** -np.arange(4 * n_sub)[:, None]
    rt_ml = np.full(starts.size, -1.0)
    for parity in range(down):
        sel = np.nonzero(starts % down == parity)[0]
        if sel.size:
            rt_ml[sel] = _rt_frames(x[parity::down], starts[sel] // down, n_sub, table, tquant)
    return float(_rt_histogram(rt_ml, tquant, round(no * 800 / down)))


def reverb_terms(channels: np.ndarray, fs: float) -> tuple[float, float]:
    """(mean RT60 (s) of the first two channels, logistic probability of sounding reverberant)."""
    rts = [rt60_estimate(channels[c], fs) for c in range(min(2, channels.shape[0]))]
    rt = float(np.mean(rts))
    return rt, 1.0 / (1.0 + math.exp(-(REVERB_LOGIT[0] * rt + REVERB_LOGIT[1])))


# ----------------------------------------------------------------------------------------------
# All eight
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# The extractor
# ----------------------------------------------------------------------------------------------
_NOMINAL = (
    " Nominal range 0..100 (the original's regression); values outside are kept as computed (the"
    " original clips to 0..100 only on request, which the old tool did not use). Null, with the"
    " reason, for silence, input under 0.5 s or where the model is undefined."
)
_PREP = (
    " Input as in timbral_models 0.4: channel sum, loudness-normalised to -24 LUFS (peak at most"
    " 1), below 44.1 kHz upsampled to 44.1 kHz."
)


def _field(name: str, description: str) -> FeatureField:
    return FeatureField(name, pa.float64(), "score", description, (0.0, 100.0))


@register
class Timbre(Extractor):
    """The eight Audio Commons timbral models (timbral_models 0.4) in one pass over the track."""

    name = "timbre"
    version = "1"
    fields = (
        _field(
            "brightness",
            "apparent brightness (Audio Commons timbral model, A. Pearce, Univ. of Surrey):"
            " regression on the log share of the energy above 2 kHz and the log spectral centroid"
            " above 100 Hz, power-weighted over 2048-point frames of the 20 Hz high-passed track"
            " (-18 dB/octave filters). The energy of the original's mean-removed Hamming frames is"
            " computed exactly; the parts above 2 kHz and 100 Hz come from the long-term spectrum"
            " of the shared Hann STFT with the filters applied as |H(f)|^2." + _PREP + _NOMINAL,
        ),
        _field(
            "roughness",
            "apparent roughness: Vassilakis' model (SRA, 2007) - spectral peaks of 50 ms Hamming"
            " frames every 25 ms picked as MIRtoolbox's mirpeaks (threshold 0.01 of the largest"
            " bin), amplitude-weighted Plomp-Levelt dissonance of every pair, mean over frames,"
            " log-linear regression. The original reports 0 when the mean roughness is below 0.01;"
            " here the regression is kept (values below 21); null when no frame has two peaks."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "hardness",
            "apparent hardness: regression on the log onset-strength-weighted bandwidth maximum"
            " (5 % roll-on to the -75 dB roll-off of 4096-sample frames) in the first 100 ms of"
            " each attack, the log spectral centroid of the first 125 ms of each attack, the log"
            " 7-14 Bark specific loudness, the log percussive energy share (HPSS), the log mean"
            " onset strength and the mean log attack time (minimum-effort thresholds); onsets are"
            " librosa's, refined on a sample-and-hold envelope as in the original. Bounded"
            f" excerpts: the percussive share from {HPSS_BLOCKS} blocks of {HPSS_BLOCK_FRAMES}"
            f" STFT frames (~{HPSS_BLOCK_FRAMES * HOP / 44100:.2f} s each) spread over the track,"
            " bins below 11 kHz, STFT frame energies (the original: the whole track, inverse STFT);"
            f" the bandwidth track every {BANDWIDTH_HOP} samples up to 48 kHz, 256 at 96 kHz (the"
            " original: 128; its maximum reads slightly low)." + _PREP + _NOMINAL,
        ),
        _field(
            "depth",
            "apparent depth: regression on the power-weighted spectral centroid below 2 kHz"
            " (limited to 2 kHz), the energy share below 500 Hz, the log mean decay time to -40 dB"
            " after each onset, the log frequency of the lowest peak of the long-term spectrum,"
            " and two interactions; 20 Hz high-passed, peak-normalised track, mean-removed"
            " 4096-point Hamming frames (the -18 dB/octave low passes applied as |H(f)|^2; the"
            " onset strength from the shared mel spectrogram, i.e. before the high pass)."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "booming",
            "apparent boominess: Hatano & Hashimoto's booming index (2000) on the Zwicker specific"
            " loudness (ISO 532 B, one-third-octave filter bank per 4096-sample window), RMS^2-"
            "weighted over windows, with the log 0-7 Bark loudness; log-linear regression."
            + _PREP
            + _NOMINAL,
        ),
        _field(
            "reverberation",
            "probability x 100 that the track sounds reverberant (Audio Commons reverb model):"
            " logistic regression on the mean of the first two channels' blind RT60 (Jan & Wang's"
            " Laplacian maximum-likelihood estimate on detected sound decays, 0.2-1.1 s) - the"
            " old tool's timbral_reverb(dev_output=True) probability x 100. Raw channels at the"
            " native rate (upsampled to 44.1 kHz below that), no loudness normalisation; about 30"
            " (RT60 0.2 s) to 86 (1.1 s) by construction. Null for silence or input under 0.5 s.",
        ),
        _field(
            "sharpness",
            "apparent sharpness: Fastl's sharpness (acum weighting g(z), 0.11 factor) of the"
            " Zwicker specific loudness (ISO 532 B) of 4096-sample windows, RMS^2-weighted over"
            " windows; log-linear regression." + _PREP + _NOMINAL,
        ),
        _field(
            "warmth",
            "apparent warmth: regression on the log mean spectral centroid of the onset segments,"
            " the RMS-weighted 8-24 Bark and mean 1-4 Bark specific loudness (Zwicker, 4096-sample"
            " windows), the mean R^2 of the log-log spectral decay above 3.5x the lowest spectral"
            " peak, and the RMS-weighted energy share from that peak to 260 Hz." + _PREP + _NOMINAL,
        ),
    )

    def setup(self) -> None:
        self.extract(click_context())  # compile (or load) the numba kernels once per worker

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if ctx.duration_s < MIN_DURATION_S:
            short = Null(f"shorter than {MIN_DURATION_S} s")
            return dict.fromkeys(FEATURES, short)
        samples, fs = work_audio(ctx)
        mono = samples[:3].sum(axis=0, dtype=np.float32) if samples.shape[0] > 1 else samples[0]
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if not np.any(mono):
            return dict.fromkeys(
                FEATURES, Null("digital silence (of the channel sum, as analysed)")
            )
        gain = normalisation_gain(mono, fs)
        if gain is None:
            return dict.fromkeys(
                FEATURES, Null("too quiet: no 400 ms block above the -70 LUFS gate")
            )
        out, _ = timbre_models(mono, gain, fs, samples, shared_views(ctx, fs, mono, gain))
        return out


def work_audio(ctx: TrackContext) -> tuple[np.ndarray, int]:
    """(channels, n) audio at the original's working rate: native, or 44.1 kHz below that."""
    if ctx.sample_rate >= MIN_RATE:
        return ctx.samples, ctx.sample_rate
    if ctx.analysis.sample_rate == MIN_RATE:
        return ctx.analysis_audio, MIN_RATE
    return resample(ctx.samples, ctx.sample_rate, MIN_RATE), MIN_RATE


def shared_views(ctx: TrackContext, fs: int, mono: np.ndarray, gain: float) -> Views:
    """The context's STFT and mel views when they describe the same mono mix at the same rate with
    librosa's defaults (2048/512, 128 mels), else views of ``mono`` (the channel sum, which ``gain``
    turns into the loudness-normalised signal). The onset strength is always librosa's default
    (``center=True``) one, as the original uses, computed from the mel view."""
    a = ctx.analysis
    if (
        a.sample_rate == fs
        and (a.n_fft, a.hop_length, a.n_mels) == (N_FFT, HOP, N_MELS)
        and ctx.audio.channels <= 2
    ):
        mel_db = ctx.mel_db
        onset = librosa.onset.onset_strength(S=mel_db, sr=fs, n_fft=N_FFT, hop_length=HOP)
        scale = gain * ctx.audio.channels  # the context's mono mix is the channel mean
        return Views(
            ctx.spectrogram.magnitude, mel_db, onset.astype(np.float32), ctx.analysis_mono, scale
        )
    return views_of(mono, fs, gain)
