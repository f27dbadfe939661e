"""The questions put to the description model, with per-prompt token limits and sampling.

The five prompts of the old tool (``full``, ``technical``, ``genre_mood``, ``instrumentation``,
``structure``), reworded, are the defaults; a config may change any of them, drop some, or add
its own under new names (each becomes a ``music_flamingo_<name>`` field).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DescriptionPrompt(BaseModel):
    """One question, how long the answer may be and how it is sampled."""

    model_config = ConfigDict(extra="forbid")
    text: str
    max_tokens: int = Field(300, ge=1, le=4096)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)


DEFAULT_PROMPTS: dict[str, DescriptionPrompt] = {
    "full": DescriptionPrompt(
        text="Describe this track in detail: first its genre, tempo and key, then the instruments, "
        "the production style and the overall mood.",
        max_tokens=500,
    ),
    "technical": DescriptionPrompt(
        text="Break this track down like a critic: tempo, key and chord movement, then textures, "
        "dynamics and the most salient production choices. Use fewer than 20 words.",
        max_tokens=100,
    ),
    "genre_mood": DescriptionPrompt(
        text="State the genre and mood of this track for a text-to-music prompt, with specific "
        "subgenres and emotional character, in fewer than 30 words.",
        max_tokens=100,
    ),
    "instrumentation": DescriptionPrompt(
        text="Name the instruments and sounds you hear and their timbre, in fewer than 15 words.",
        max_tokens=60,
    ),
    "structure": DescriptionPrompt(
        text="Describe the arrangement: the sections, the transitions and how the energy evolves.",
        max_tokens=400,
    ),
}


class PromptSet(BaseModel):
    """The prompts of a build: defaults unless the config names its own."""

    model_config = ConfigDict(extra="forbid")
    prompts: dict[str, DescriptionPrompt] = Field(default_factory=lambda: dict(DEFAULT_PROMPTS))

    @field_validator("prompts")
    @classmethod
    def _names_are_field_safe(
        cls, value: dict[str, DescriptionPrompt]
    ) -> dict[str, DescriptionPrompt]:
        if not value:
            raise ValueError("at least one prompt")
        for name in value:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
                raise ValueError(f"prompt name {name!r}: use lower-case letters, digits and _")
        return value

    def field_names(self) -> list[str]:
        return [f"music_flamingo_{name}" for name in self.prompts]
