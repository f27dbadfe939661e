"""T5-safe text and the feature-built prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirset.context import click_context
from mirset.extractors.base import Null
from mirset.extractors.prompt import Prompt
from mirset.text import strip_structural_tokens, t5_safe


def test_t5_safe_maps_typography_and_keeps_letters() -> None:
    raw = "Nordic\u00a0folk \u2014 \u201cdark\u201d, \u2018warm\u2019 \u2013 s\u00e4mi\u2026 \ufb01ddle\u202fsolo"
    assert t5_safe(raw) == "Nordic folk -- \"dark\", 'warm' - sämi... fiddle solo"
    assert t5_safe(raw).isascii() is False  # ä is kept
    assert all(ord(c) < 128 or c.isalpha() for c in t5_safe(raw))


def test_t5_safe_drops_control_bytes_a_model_emits() -> None:
    raw = "warm\x11 pads\ufffd and\u200d\x00 bass\n\tline\ue000"
    assert t5_safe(raw) == "warm pads and bass line"


def test_structural_tokens_are_stripped() -> None:
    text = "<think>plan the answer</think><|im_start|>assistant A calm piano piece.<|im_end|>"
    assert t5_safe(strip_structural_tokens(text)) == "assistant A calm piano piece."


def _ctx(results: dict) -> object:
    ctx = click_context()
    ctx.path = Path("song.flac")
    ctx.results.update(results)
    return ctx


FEATURES = {
    "essentia_genre": {
        "essentia_genre": [
            {"label": "Electronic---Techno", "probability": 0.8},
            {"label": "Electronic---Minimal", "probability": 0.4},
        ]
    },
    "essentia_mood": {"essentia_mood": [{"label": "dark", "probability": 0.5}]},
    "essentia_instrument": {
        "essentia_instrument": [
            {"label": "drums", "probability": 0.9},
            {"label": "synthesizer", "probability": 0.7},
        ]
    },
    "essentia_voice": {"voice_probability": 0.1, "instrumental_probability": 0.9},
    "beats": {"bpm": 127.96},
    "harmony": {"key": "A", "mode": "minor"},
    "downbeats": {"meter": 4},
    "loudness": {"lufs": -7.5},
    "dynamics": {"danceability": 0.7},
}


def test_prompt_from_features_in_training_style() -> None:
    out = Prompt().extract(_ctx(FEATURES))
    assert out["prompt"] == (
        "Electronic, Techno, Minimal, dark, drums, synthesizer, instrumental, 128 BPM, A minor, "
        "loud, danceable"
    )
    variants = out["prompt_variants"]
    assert 1 <= len(variants) <= 4 and len(set(variants)) == len(variants)
    assert all(v.startswith("Electronic, Techno, Minimal") for v in variants)
    again = Prompt().extract(_ctx(FEATURES))["prompt_variants"]
    assert again == variants  # seeded: a rebuild gives the same variants
    other = Prompt({"seed": 1}).extract(_ctx(FEATURES))["prompt_variants"]
    assert other != variants


def test_word_budget_drops_whole_tags() -> None:
    out = Prompt({"max_words": 6, "variants": 3}).extract(_ctx(FEATURES))
    assert out["prompt"] == "Electronic, Techno, Minimal, dark, drums, synthesizer"
    assert all(len(v.split()) <= 6 for v in out["prompt_variants"])


def test_only_what_was_computed_is_described() -> None:
    out = Prompt().extract(_ctx({"beats": {"bpm": None}, "harmony": {"key": "C", "mode": "major"}}))
    assert out["prompt"] == "C major"
    empty = Prompt().extract(_ctx({}))
    assert isinstance(empty["prompt"], Null)


@pytest.mark.parametrize("extra", [{"essentia_gender": {"female_probability": 0.8}}])
def test_vocals_tag(extra: dict) -> None:
    feats = FEATURES | {"essentia_voice": {"voice_probability": 0.9}} | extra
    assert "female vocals" in Prompt().extract(_ctx(feats))["prompt"]
