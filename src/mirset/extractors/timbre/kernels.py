"""Audio Commons timbral models: sequential kernels (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


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
