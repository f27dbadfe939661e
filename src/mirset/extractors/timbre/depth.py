"""Audio Commons timbral models: depth (Timbral_Depth)."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.signal

from mirset.extractors.timbre.constants import BLOCK, Undefined, _log10
from mirset.extractors.timbre.kernels import mirpeaks, sample_and_hold_envelope
from mirset.extractors.timbre.onsets import librosa_onsets, refine_onsets
from mirset.extractors.timbre.preprocess import butter_sos, frame_signal, one_sided, power_response
from mirset.extractors.timbre.views import Views


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
