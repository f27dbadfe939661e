"""Where training crops start and end: pure functions on numpy arrays and beat times.

The old crop tool's rules (upstream-spec §5.6): skip leading silence (the first 100 ms window whose
mono peak exceeds -72 dBFS), then either

* sequential: consecutive windows of exactly ``length`` samples (half-length hop with
  ``overlap``), the trailing partial window dropped; or
* beat-aligned: starts on downbeats (every 4th beat when fewer than 2 downbeats), ends on the
  latest downbeat within ``length`` — with ``bars_multiple`` the crop spans a multiple of that
  many bars — starts and ends snapped back to the last zero crossing within 50 ms, crops under
  1 s dropped, the next crop starting where this one ended (or half a length later with
  ``overlap``, snapped to a downbeat).

Crops are ``(start_sample, end_sample)`` pairs, end exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SILENCE_PEAK = 10 ** (-72 / 20)  # -72 dBFS
SILENCE_WINDOW_S = 0.1
ZERO_CROSSING_S = 0.05
MIN_CROP_S = 1.0
MIN_END_AFTER_START_S = 0.1
FADE_S = 0.01


def leading_silence(mono: np.ndarray, sr: int, window_s: float = SILENCE_WINDOW_S) -> int:
    """First sample of the first ``window_s`` window whose peak exceeds -72 dBFS (``len`` if
    none does)."""
    win = max(1, round(window_s * sr))
    n_win = len(mono) // win
    if n_win:
        peaks = np.abs(mono[: n_win * win]).reshape(n_win, win).max(axis=1)
        loud = np.flatnonzero(peaks > SILENCE_PEAK)
        if loud.size:
            return int(loud[0] * win)
    tail = mono[n_win * win :]
    if tail.size and np.abs(tail).max() > SILENCE_PEAK:
        return n_win * win
    return len(mono)


def zero_crossing_at_or_before(mono: np.ndarray, index: int, max_back: int, floor: int = 0) -> int:
    """The last index ``i`` in ``[max(floor, index - max_back), index]`` where the signal changes
    sign between ``i - 1`` and ``i`` (``index`` itself when there is none)."""
    lo = max(floor, index - max_back, 1)
    if index < lo or index >= len(mono):
        return min(index, len(mono))
    seg = mono[lo - 1 : index + 1]
    signs = np.signbit(seg)
    change = np.flatnonzero(signs[1:] != signs[:-1])
    return int(lo + change[-1]) if change.size else index


def sequential_ranges(
    n: int, length: int, start: int = 0, overlap: bool = False
) -> list[tuple[int, int]]:
    """Consecutive exact-length windows from ``start`` (hop length/2 with overlap)."""
    hop = length // 2 if overlap else length
    out = []
    s = start
    while s + length <= n:
        out.append((s, s + length))
        s += hop
    return out


def crop_grid(downbeats: Sequence[float], beats: Sequence[float]) -> np.ndarray:
    """The start/end grid: downbeats, else every 4th beat, else the beats (seconds)."""
    if len(downbeats) >= 2:
        return np.asarray(sorted(downbeats), dtype=np.float64)
    if len(beats) >= 4:
        return np.asarray(sorted(beats), dtype=np.float64)[::4]
    return np.asarray(sorted(beats), dtype=np.float64)


def beat_aligned_ranges(
    mono: np.ndarray,
    sr: int,
    length: int,
    grid: np.ndarray,
    bars_multiple: int = 0,
    overlap: bool = False,
    start_sample: int = 0,
) -> list[tuple[int, int]]:
    """Crops starting on grid points and ending on the latest grid point within ``length``
    samples; with ``bars_multiple`` > 0 the number of bars (grid intervals) in a crop is a
    positive multiple of it. Boundaries snap back to a zero crossing within 50 ms."""
    n = len(mono)
    duration = n / sr
    span = length / sr
    eps = 1e-6
    if len(grid) < 2:
        return []
    silence = start_sample / sr
    start = float(grid[np.argmin(np.abs(grid - silence))])
    zc = round(ZERO_CROSSING_S * sr)
    out: list[tuple[int, int]] = []

    def advance(current: float, by: float) -> float:
        target = current + by
        later = grid[grid > current + eps]
        if later.size == 0:
            return target
        return float(later[np.argmin(np.abs(later - target))])

    while start + MIN_CROP_S < duration:
        target = min(start + span, duration)
        ends = grid[(grid > start + MIN_CROP_S) & (grid <= target + eps)]
        if bars_multiple > 0:
            bars = np.array(
                [np.count_nonzero((grid >= start - eps) & (grid < e - eps)) for e in ends]
            )
            ends = ends[(bars >= bars_multiple) & (bars % bars_multiple == 0)]
            if ends.size == 0:
                start = advance(start, span / 2 if overlap else 1.0)
                continue
            end = float(ends.max())
        else:
            end = float(ends.max()) if ends.size else target
        s = min(round(start * sr), n)
        s = zero_crossing_at_or_before(mono, s, zc)
        e = min(round(end * sr), n)
        e = zero_crossing_at_or_before(mono, e, zc, floor=s + round(MIN_END_AFTER_START_S * sr))
        if e - s >= MIN_CROP_S * sr:
            out.append((s, e))
        nxt = advance(start, span / 2) if overlap else end
        if nxt <= start + eps:
            nxt = advance(start, 1.0)
        start = nxt
    return out


def fade(x: np.ndarray, sr: int, seconds: float = FADE_S) -> np.ndarray:
    """Linear fade-in and fade-out of (channels, n) audio, in place; returns it."""
    n = min(x.shape[-1] // 2, round(seconds * sr))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
        x[..., :n] *= ramp
        x[..., -n:] *= ramp[::-1]
    return x
