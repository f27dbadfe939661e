"""Audio Commons timbral models: hardness (Timbral_Hardness)."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.signal
from numba import njit

from mirset.extractors.timbre.constants import (
    BANDWIDTH_HOP,
    BLOCK,
    HARDNESS_PAD,
    HOP,
    HPSS_BLOCK_FRAMES,
    HPSS_BLOCKS,
    HPSS_KERNEL,
    HPSS_MAX_HZ,
    N_FFT,
    Undefined,
    _log10,
)
from mirset.extractors.timbre.kernels import _median_rows
from mirset.extractors.timbre.onsets import librosa_onsets, refine_onsets
from mirset.extractors.timbre.preprocess import frame_signal, one_sided
from mirset.extractors.timbre.views import Views, padded_onset_strength

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
