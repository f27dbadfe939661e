"""Audio Commons timbral models: reverberation (Timbral_Reverb)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mirset.extractors.timbre.constants import REVERB_LOGIT


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
