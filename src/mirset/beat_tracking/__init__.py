"""Joint beat, downbeat and meter tracking: RNN activations decoded by a bar-pointer HMM.

``track_bars(mono)`` = :mod:`features` (madmom's spectral features, fast) → :mod:`network`
(madmom's downbeat BLSTM ensemble, ONNX) → :mod:`dbn` (Krebs et al.'s bar-pointer model with a
low-memory Viterbi). Chosen over librosa's DP tracker and Essentia by ``bench/accuracy``.
"""

from __future__ import annotations

import functools

import numpy as np

from mirset.beat_tracking.dbn import BarDecoder, BarGrid
from mirset.beat_tracking.features import FPS, SAMPLE_RATE, rnn_features
from mirset.beat_tracking.network import ensemble

__all__ = ["FPS", "SAMPLE_RATE", "BarGrid", "activations", "decoder", "track_bars"]


@functools.cache
def decoder(min_bpm: float, max_bpm: float, meters: tuple[int, ...] = (3, 4)) -> BarDecoder:
    return BarDecoder(meters, fps=FPS, min_bpm=min_bpm, max_bpm=max_bpm)


def activations(mono: np.ndarray, n_models: int) -> np.ndarray:
    """(frames, 2) beat and downbeat probabilities at 100 fps of a 44.1 kHz mono signal."""
    return ensemble(n_models)(rnn_features(mono))


def track_bars(activation: np.ndarray, min_bpm: float = 55.0, max_bpm: float = 215.0) -> BarGrid:
    """Beats, their numbers in the bar and the meter (3 or 4) from :func:`activations`."""
    if activation.shape[0] < 10:  # under 0.1 s
        return BarGrid.empty()
    return decoder(min_bpm, max_bpm)(activation)
