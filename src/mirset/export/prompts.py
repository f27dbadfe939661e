"""Training prompts of a track: the feature-built prompt, its variants and the descriptions.

Shared by the Stable Audio Tools export, the WebDataset export and :class:`MirsetDataset`, so
every consumer draws from the same candidates. The long descriptions (``full``, ``structure``)
are left out by default: they run past a T5 encoder's 128 tokens; name them to use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_PROMPT_SOURCES = (
    "prompt",
    "prompt_variants",
    "music_flamingo_genre_mood",
    "music_flamingo_technical",
    "music_flamingo_instrumentation",
    "genre_mood+prompt",  # the description followed by the feature tags (tempo, key, ...)
)
COMBINED = {"genre_mood+prompt": ("music_flamingo_genre_mood", "prompt")}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def prompt_columns(sources: Sequence[str] = DEFAULT_PROMPT_SOURCES) -> list[str]:
    """The table columns the sources read."""
    cols: list[str] = []
    for s in sources:
        for c in COMBINED.get(s, (s,)):
            if c not in cols:
                cols.append(c)
    return cols


def prompt_candidates(
    row: Mapping[str, Any], sources: Sequence[str] = DEFAULT_PROMPT_SOURCES
) -> list[str]:
    """Every distinct non-empty prompt the sources give for this row, in source order."""
    out: list[str] = []
    for s in sources:
        if s in COMBINED:
            parts = [_text(row.get(c)) for c in COMBINED[s]]
            texts = [f"{parts[0].rstrip('.')}. {parts[1]}"] if all(parts) else []  # type: ignore[union-attr]
        else:
            value = row.get(s)
            if isinstance(value, list | tuple):
                texts = [t for t in (_text(v) for v in value) if t]
            else:
                texts = [t] if (t := _text(value)) else []
        for t in texts:
            if t not in out:
                out.append(t)
    return out
