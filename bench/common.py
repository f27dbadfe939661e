"""Helpers shared by the benchmarks: a folder of real tracks and a quiet build call."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from rich.console import Console

from mirset.builder.build import build
from mirset.builder.report import BuildSummary
from mirset.config import load_config

WESNOTH = sorted(glob.glob("/usr/share/games/wesnoth/*/data/core/music/*.ogg"))


def real_tracks(n: int, dest: Path, seconds: float | None = None) -> Path:
    """``n`` real recordings (Wesnoth soundtrack) in ``dest``; cut to ``seconds`` when given.

    Past the number of recordings, excerpts at different offsets keep every file distinct.
    """
    if not WESNOTH:
        raise SystemExit("install the Debian package wesnoth-1.16-music first")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src = WESNOTH[i % len(WESNOTH)]
        target = dest / f"{i:04d}_{Path(src).stem}.ogg"
        if target.exists():
            continue
        if seconds is None and i < len(WESNOTH):
            shutil.copy2(src, target)
            continue
        offset = 5 + 7 * (i // len(WESNOTH))
        length = seconds or 60
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-ss",
                str(offset),
                "-t",
                str(length),
                "-i",
                src,
                "-c:a",
                "libvorbis",
                "-q:a",
                "4",
                str(target),
            ],
            check=True,
            timeout=120,
        )
    return dest


STEMS = ("drums", "bass", "other", "vocals")


def organised_with_stems(tracks: Path, dest: Path) -> Path:
    """The organised layout ``<Track>/full_mix.flac`` + four stems for every track in ``tracks``.

    The "stems" are other real recordings cut or looped to the mix's length: for speed figures
    only (every extractor's cost depends on the audio's length and content, not on its origin).
    """
    import numpy as np
    import soundfile as sf

    from mirset.audio import decode

    files = sorted(tracks.iterdir())
    for i, f in enumerate(files):
        folder = dest / f.stem
        if (folder / "vocals.flac").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        mix = decode(f)
        sf.write(folder / "full_mix.flac", mix.samples.T, mix.sample_rate)
        for k, stem in enumerate(STEMS):
            other = decode(files[(i + k + 1) % len(files)])
            y = np.resize(other.samples, mix.samples.shape)  # loops or cuts to the mix's length
            sf.write(folder / f"{stem}.flac", 0.5 * y.T, mix.sample_rate)
    return dest


def quiet_build(music: Path, out: Path, workers: int, shared: bool = True) -> BuildSummary:
    """A full build into a fresh ``out`` with no console output."""
    shutil.rmtree(out, ignore_errors=True)
    config = load_config(None, {"build.workers": workers})
    with open(os.devnull, "w") as devnull:
        return build(
            music, out, config, Console(file=devnull), progress=False, shared_context=shared
        )
