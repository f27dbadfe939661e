"""``prompt``: a training prompt built from the other fields, plus seeded variants.

Tags in the order training prompts use them — genre and style, mood, instruments, vocals, tempo,
key, meter, loudness and feel, e.g. ``"Electronic, Techno, dark, energetic, drums, synthesizer,
128 BPM, A minor, loud"`` — from whichever extractors ran (nothing is invented: a missing field
just leaves its tag out). ``prompt_variants`` are reorderings and subsets with alternative
wordings, seeded by the file name and ``seed`` so a rebuild gives the same ones, for caption
augmentation. Every prompt is T5-safe and fits the word budget (tags are dropped whole from the
end, never cut).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField
from mirset.text import t5_safe

LIKELY = 0.5


class PromptParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_words: int = Field(40, ge=3)
    variants: int = Field(4, ge=0, le=32)
    seed: int = 0
    genres: int = 2
    moods: int = 2
    instruments: int = 3


def _get(ctx: TrackContext, extractor: str, field: str) -> Any:
    """A computed value of another extractor, None when it is missing or null."""
    value = (ctx.results.get(extractor) or {}).get(field)
    return None if isinstance(value, Null) else value


def _labels(records: Any, n: int) -> list[str]:
    return [r["label"] for r in (records or [])[:n]]


def tag_groups(ctx: TrackContext, p: PromptParams) -> dict[str, list[str]]:
    """Tags by kind, each list in the order it should appear; empty kinds are left out."""
    groups: dict[str, list[str]] = {}
    genre: list[str] = []
    for label in _labels(_get(ctx, "essentia_genre", "essentia_genre"), p.genres):
        for part in label.split("---"):  # "Electronic---Techno": parent genre, then style
            if part not in genre:
                genre.append(part)
    groups["genre"] = genre
    groups["mood"] = _labels(_get(ctx, "essentia_mood", "essentia_mood"), p.moods)
    groups["instrument"] = _labels(
        _get(ctx, "essentia_instrument", "essentia_instrument"), p.instruments
    )
    voice = _get(ctx, "essentia_voice", "voice_probability")
    if voice is not None:
        female = _get(ctx, "essentia_gender", "female_probability")
        if voice >= LIKELY:
            who = "" if female is None else ("female " if female >= LIKELY else "male ")
            groups["vocals"] = [f"{who}vocals"]
        else:
            groups["vocals"] = ["instrumental"]
    bpm = _get(ctx, "beats", "bpm")
    if bpm:
        groups["tempo"] = [f"{round(bpm)} BPM"]
    key, mode = _get(ctx, "harmony", "key"), _get(ctx, "harmony", "mode")
    if key and mode:
        groups["key"] = [f"{key} {mode}"]
    if _get(ctx, "downbeats", "meter") == 3:
        groups["meter"] = ["3/4"]
    feel = []
    lufs = _get(ctx, "loudness", "lufs")
    if lufs is not None:
        feel.append("loud" if lufs >= -10 else "quiet" if lufs <= -22 else "")
    dance = _get(ctx, "dynamics", "danceability")
    if dance is not None and dance >= 0.6:
        feel.append("danceable")
    atonal = _get(ctx, "essentia_tonality", "atonality")
    if atonal is not None and atonal >= LIKELY:
        feel.append("atonal")
    groups["feel"] = [f for f in feel if f]
    said = _get(ctx, "description", "music_flamingo_genre_mood")
    if said:  # the model's own short genre/mood line, last (dropped whole if over budget)
        groups["description"] = [said.rstrip(".")]
    return {k: v for k, v in groups.items() if v}


ALTERNATIVES = {  # other wordings a variant may use
    "tempo": lambda t: [t, t.replace("BPM", "bpm"), "tempo " + t.split()[0]],
    "key": lambda t: [t, "in " + t, t.replace("major", "maj").replace("minor", "min")],
    "meter": lambda t: [t, "waltz time", "triple meter"],
}


def fit(tags: list[str], max_words: int) -> str:
    """Join tags with commas, dropping whole tags from the end to stay within ``max_words``."""
    kept: list[str] = []
    words = 0
    for tag in tags:
        n = len(tag.split())
        if words + n > max_words:
            break
        kept.append(tag)
        words += n
    return t5_safe(", ".join(kept))


def variants(groups: dict[str, list[str]], n: int, rng: random.Random, max_words: int) -> list[str]:
    """Up to ``n`` distinct prompts: genre first, other kinds shuffled, thinned, reworded."""
    out: list[str] = []
    kinds = [k for k in groups if k != "genre"]
    for _ in range(n * 4):
        if len(out) == n:
            break
        order = kinds[:]
        rng.shuffle(order)
        tags = list(groups.get("genre", []))
        for kind in order:
            if rng.random() < 0.3:  # leave this kind out
                continue
            for tag in groups[kind]:
                alt = ALTERNATIVES.get(kind)
                tags.append(rng.choice(alt(tag)) if alt else tag)
        text = fit(tags, max_words)
        if text and text not in out:
            out.append(text)
    return out


@register
class Prompt(Extractor):
    """A text prompt and seeded variants built from the other features."""

    name = "prompt"
    version = "1"
    Params = PromptParams
    uses = (
        "beats",
        "downbeats",
        "harmony",
        "loudness",
        "dynamics",
        "essentia_genre",
        "essentia_mood",
        "essentia_instrument",
        "essentia_voice",
        "essentia_gender",
        "essentia_tonality",
        "description",
    )
    fields = (
        FeatureField(
            "prompt",
            pa.string(),
            "",
            "training prompt from the features (genre, mood, instruments, vocals, tempo, key, "
            "meter, feel), T5-safe, within the word budget",
        ),
        FeatureField(
            "prompt_variants",
            pa.list_(pa.string()),
            "",
            "seeded reorderings, subsets and rewordings of the prompt, for caption augmentation",
        ),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        p: PromptParams = self.params  # type: ignore[assignment]
        groups = tag_groups(ctx, p)
        if not groups:
            why = Null("no features to describe (silent, or no describing extractor ran)")
            return {"prompt": why, "prompt_variants": why}
        main = fit([t for tags in groups.values() for t in tags], p.max_words)
        digest = hashlib.sha256(f"{p.seed}:{ctx.path.name}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        return {"prompt": main, "prompt_variants": variants(groups, p.variants, rng, p.max_words)}
