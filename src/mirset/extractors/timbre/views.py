"""Audio Commons timbral models: shared spectral views."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import scipy.signal

from mirset.context import chunked_stft
from mirset.extractors.timbre.constants import HARDNESS_PAD, HOP, N_FFT, N_MELS


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
