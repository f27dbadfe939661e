"""Which part of a long track a description model hears.

Audio-language models hear a bounded stretch (Music Flamingo: 30 s windows up to a cap). For a
longer track the window is chosen by policy — ``start``, ``middle`` or ``loudest`` (the stretch
with the most energy, from the mean-square level in 100 ms blocks) — and recorded with the
description, so a caption never claims to describe audio the model did not hear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Policy = Literal["start", "middle", "loudest"]
BLOCK_S = 0.1


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    policy: str  # the policy used, or "whole" when the track fits

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def choose_window(mono: np.ndarray, sample_rate: int, seconds: float, policy: Policy) -> Window:
    """The ``seconds``-long stretch of ``mono`` to describe (the whole track when it fits)."""
    duration = mono.size / sample_rate
    if duration <= seconds:
        return Window(0.0, duration, "whole")
    if policy == "start":
        start = 0.0
    elif policy == "middle":
        start = (duration - seconds) / 2
    elif policy == "loudest":
        block = max(1, int(BLOCK_S * sample_rate))
        n = mono.size // block
        power = np.square(mono[: n * block].astype(np.float64)).reshape(n, block).mean(axis=1)
        span = max(1, round(seconds / BLOCK_S))
        sums = np.convolve(power, np.ones(span), mode="valid")  # energy of every candidate
        start = min(float(np.argmax(sums)) * BLOCK_S, duration - seconds)
    else:
        raise ValueError(f"unknown window policy {policy!r}")
    return Window(round(start, 3), round(start + seconds, 3), policy)
