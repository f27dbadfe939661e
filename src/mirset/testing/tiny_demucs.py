"""A tiny HTDemucs with random weights, saved exactly like the released checkpoints.

Demucs' own ``HTDemucs`` class at a tiny size, its state stored in half precision inside the
``{klass, args, kwargs, state, training_args}`` package that ``demucs.states.load_model`` reads,
named ``<signature>-<first 8 hex of its sha256>.th`` by ``demucs.states.save_with_checksum``, with
the bag ``<name>.yaml`` beside it: the layout of a local Demucs repo and of the model store.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

SOURCES = ["drums", "bass", "other", "vocals"]


def tiny_htdemucs(seed: int = 0, segment: Fraction = Fraction(2), full_size: bool = False):  # type: ignore[no-untyped-def]
    """An HTDemucs with random weights; ``full_size`` keeps the released architecture."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    if full_size:
        return HTDemucs(sources=SOURCES, segment=Fraction(39, 5), dconv_mode=3, t_layers=5)
    return HTDemucs(
        sources=SOURCES,
        channels=8,
        depth=4,
        t_layers=1,
        t_heads=2,
        t_hidden_scale=1.0,
        dconv_comp=4,
        segment=segment,
    )


def save_demucs_checkpoint(model, folder: Path, name: str, signature: str = "0d1e2f3a") -> Path:  # type: ignore[no-untyped-def]
    """Save ``model`` as ``folder/<signature>-<sha>.th`` plus ``folder/<name>.yaml``."""
    import torch
    from demucs.states import get_state, save_with_checksum

    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs
    package = {
        "klass": model.__class__,
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, None, half=True),
        "training_args": {},
    }
    save_with_checksum(package, folder / f"{signature}.th")
    (folder / f"{name}.yaml").write_text(f"models: ['{signature}']\n")
    (path,) = folder.glob(f"{signature}-*.th")
    del torch
    return path
