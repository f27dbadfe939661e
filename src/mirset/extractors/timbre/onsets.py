"""Audio Commons timbral models: onsets (timbral_util.calculate_onsets)."""

from __future__ import annotations

import librosa
import numpy as np

from mirset.extractors.timbre.constants import HOP
from mirset.extractors.timbre.kernels import _return_loop


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
