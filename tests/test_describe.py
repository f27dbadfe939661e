"""Building blocks of the description stage: prompt sets and window choice."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mirset.describe.prompts import DEFAULT_PROMPTS, PromptSet
from mirset.describe.windows import choose_window

SR = 16000


def test_default_prompts_are_the_old_tools_five() -> None:
    ps = PromptSet()
    assert list(ps.prompts) == ["full", "technical", "genre_mood", "instrumentation", "structure"]
    assert ps.field_names()[0] == "music_flamingo_full"
    assert all(p.max_tokens > 0 for p in DEFAULT_PROMPTS.values())


def test_users_add_and_drop_prompts() -> None:
    ps = PromptSet.model_validate(
        {
            "prompts": {
                "full": DEFAULT_PROMPTS["full"],
                "tags": {"text": "Ten tags.", "max_tokens": 40},
            }
        }
    )
    assert ps.field_names() == ["music_flamingo_full", "music_flamingo_tags"]
    with pytest.raises(ValidationError):
        PromptSet.model_validate({"prompts": {"Bad Name": {"text": "x"}}})
    with pytest.raises(ValidationError):
        PromptSet.model_validate({"prompts": {}})


def _track() -> np.ndarray:
    """90 s: quiet noise, with a loud stretch from 50 s to 80 s."""
    rng = np.random.default_rng(0)
    y = 0.01 * rng.standard_normal(90 * SR)
    y[50 * SR : 80 * SR] *= 30
    return y.astype(np.float32)


def test_window_policies() -> None:
    y = _track()
    w = choose_window(y, SR, 30, "start")
    assert (w.start_s, w.end_s, w.policy) == (0.0, 30.0, "start")
    w = choose_window(y, SR, 30, "middle")
    assert (w.start_s, w.end_s) == (30.0, 60.0)
    w = choose_window(y, SR, 30, "loudest")
    assert w.start_s == pytest.approx(50.0, abs=0.1) and w.duration_s == pytest.approx(30.0)


def test_short_track_is_heard_whole() -> None:
    w = choose_window(np.zeros(10 * SR, np.float32), SR, 30, "loudest")
    assert (w.start_s, w.end_s, w.policy) == (0.0, 10.0, "whole")
