"""Agreement and speed of mirset's ``timbre`` extractor against the original ``timbral_models``.

Runs the ORIGINAL Audio Commons code (``timbral_models`` 0.4.1 by Andy Pearce, University of
Surrey; https://github.com/AudioCommons/timbral_models) and mirset's reimplementation on the same
decoded audio, and prints per-feature agreement (Pearson r, mean absolute difference) and the
speed of each (× real time on one core).

The original is never part of mirset: it is imported from a scratch checkout outside the repo
(``--reference``, default ``/tmp/tm_ref/timbral_models``) with the few changes that numpy 2 and
librosa 0.11 need applied to its source text in memory at import time (see ``PATCHES``). It needs
``scikit-learn`` and ``pyloudnorm`` (normal PyPI packages). Get it with e.g.::

    git clone https://github.com/AudioCommons/timbral_models /tmp/tm_ref

Usage::

    python bench/timbral_reference.py DIR [DIR ...] [--limit N] [--wesnoth 30] [--json out.json]

Like the old tool, each reference feature is one ``timbral_X`` call on the whole track (array input
instead of a path, so every format mirset decodes can be compared; the original re-read the file
each time, which is not counted here). ``reverberation`` is
``timbral_reverb(..., dev_output=True)[1] * 100``, as stored by the old tool.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

from mirset.audio import AUDIO_EXTENSIONS, decode
from mirset.config import AnalysisConfig
from mirset.context import TrackContext

FEATURES = (
    "brightness",
    "roughness",
    "hardness",
    "depth",
    "booming",
    "reverberation",
    "sharpness",
    "warmth",
)

# Source-text patches for numpy 2 / librosa 0.11 (keyword-only arguments). Nothing else changes.
PATCHES: tuple[tuple[str, str], ...] = (
    ("np.lib.pad(", "np.pad("),
    (
        "librosa.onset.onset_detect(audio_samples, fs,",
        "librosa.onset.onset_detect(y=audio_samples, sr=fs,",
    ),
    (
        "librosa.onset.onset_strength(audio_samples, fs)",
        "librosa.onset.onset_strength(y=audio_samples, sr=fs)",
    ),
    (
        "librosa.core.resample(audio_samples, fs, lowest_fs)",
        "librosa.resample(audio_samples, orig_sr=fs, target_sr=lowest_fs)",
    ),
)

WESNOTH_GLOB = "/usr/share/games/wesnoth/*/data/core/music/*.ogg"


def load_reference(package_dir: Path) -> types.ModuleType:
    """Import the original ``timbral_models`` from ``package_dir`` with ``PATCHES`` applied."""
    package_dir = Path(package_dir)
    if not (package_dir / "__init__.py").is_file():
        raise SystemExit(
            f"no timbral_models package at {package_dir}; clone "
            "https://github.com/AudioCommons/timbral_models and pass --reference"
        )
    name = "timbral_models_reference"
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(package_dir)]
    sys.modules[name] = pkg
    order = (
        "timbral_util",
        "Timbral_Brightness",
        "Timbral_Depth",
        "Timbral_Hardness",
        "Timbral_Roughness",
        "Timbral_Warmth",
        "Timbral_Sharpness",
        "Timbral_Booming",
        "Timbral_Reverb",
    )
    for mod_name in order:
        path = package_dir / f"{mod_name}.py"
        source = path.read_text(encoding="utf-8")
        for old, new in PATCHES:
            source = source.replace(old, new)
        spec = importlib.util.spec_from_loader(f"{name}.{mod_name}", loader=None)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        module.__file__ = str(path)
        module.__package__ = name
        sys.modules[f"{name}.{mod_name}"] = module
        exec(compile(source, str(path), "exec"), module.__dict__)
        setattr(pkg, mod_name, module)
    return pkg


def run_reference(ref: types.ModuleType, samples: np.ndarray, fs: int) -> tuple[dict, dict]:
    """The eight original features of (channels, n) audio, and the seconds each took."""
    audio = np.ascontiguousarray(samples.T, dtype=np.float64)  # soundfile's (n, channels)
    if audio.shape[1] == 1:
        audio = audio[:, 0]
    calls = {
        "brightness": lambda a: ref.Timbral_Brightness.timbral_brightness(a, fs=fs),
        "roughness": lambda a: ref.Timbral_Roughness.timbral_roughness(a, fs=fs),
        "hardness": lambda a: ref.Timbral_Hardness.timbral_hardness(a, fs=fs),
        "depth": lambda a: ref.Timbral_Depth.timbral_depth(a, fs=fs),
        "booming": lambda a: ref.Timbral_Booming.timbral_booming(a, fs=fs),
        "reverberation": lambda a: 100.0
        * ref.Timbral_Reverb.timbral_reverb(a, fs=fs, dev_output=True)[1],
        "sharpness": lambda a: ref.Timbral_Sharpness.timbral_sharpness(a, fs=fs),
        "warmth": lambda a: ref.Timbral_Warmth.timbral_warmth(a, fs=fs),
    }
    values: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for key, fn in calls.items():
        start = time.perf_counter()
        try:
            values[key] = float(fn(audio.copy()))
        except Exception as exc:  # the original fails on some inputs; record why
            values[key] = f"error: {type(exc).__name__}: {exc}"[:200]
        seconds[key] = time.perf_counter() - start
    return values, seconds
