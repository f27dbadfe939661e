"""Audio Commons timbral models: roughness (Timbral_Roughness)."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.signal
from numba import njit

from mirset.extractors.timbre.constants import BLOCK
from mirset.extractors.timbre.kernels import _mirpeaks
from mirset.extractors.timbre.preprocess import frame_signal

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
