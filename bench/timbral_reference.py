"""Agreement and speed of mirset's ``timbre`` extractor against the original ``timbral_models``.

Runs the ORIGINAL Audio Commons code (``timbral_models`` 0.4.1 by Andy Pearce, University of
Surrey; https://github.com/AudioCommons/timbral_models) and mirset's reimplementation on the same
decoded audio, and prints per-feature agreement (Pearson r and mean absolute difference over the
files) and the speed of each (x real time, one core).

The original is never part of mirset: it is imported from a scratch checkout outside the repository
(``--reference``, default ``/tmp/tm_ref/timbral_models``) with the few changes numpy 2 and librosa
0.11 need applied to its source text in memory at import time (``PATCHES``). It needs the PyPI
packages ``scikit-learn`` and ``pyloudnorm``. Get it with::

    git clone https://github.com/AudioCommons/timbral_models /tmp/tm_ref

Usage::

    python bench/timbral_reference.py [FILE_OR_DIR ...] [--wesnoth 30 --wesnoth-count 12]
        [--limit N] [--json out.json] [--no-reference]

Like the old tool, each reference feature is one ``timbral_X`` call on the whole track (array input
instead of a path, so every format mirset decodes can be compared; the original re-read the file
each time, which is not counted here). ``reverberation`` is
``timbral_reverb(..., dev_output=True)[1] * 100``, as the old tool stored it; the other features are
the models' unclipped outputs (``clip_output=False``, the default).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, for x-real-time-per-core figures

import argparse  # noqa: E402
import glob  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from mirset.audio import AUDIO_EXTENSIONS, Decoded, decode  # noqa: E402
from mirset.config import AnalysisConfig  # noqa: E402
from mirset.context import TrackContext  # noqa: E402
from mirset.extractors.base import Null  # noqa: E402
from mirset.extractors.timbre import FEATURES, Timbre  # noqa: E402

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
MODULES = (
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
WESNOTH_GLOB = "/usr/share/games/wesnoth/*/data/core/music/*.ogg"
CORPUS_MUSIC = Path.home() / ".cache" / "mirset" / "test-corpus" / "music"


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
    for mod_name in MODULES:
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


def run_reference(ref: types.ModuleType, audio: Decoded) -> tuple[dict[str, Any], float]:
    """The eight original features of decoded audio (errors as strings) and the seconds taken."""
    fs = audio.sample_rate
    data = np.ascontiguousarray(audio.samples.T, dtype=np.float64)  # soundfile's (n, channels)
    if data.shape[1] == 1:
        data = data[:, 0]
    calls = {
        "brightness": lambda a: ref.Timbral_Brightness.timbral_brightness(a, fs=fs),
        "roughness": lambda a: ref.Timbral_Roughness.timbral_roughness(a, fs=fs),
        "hardness": lambda a: ref.Timbral_Hardness.timbral_hardness(a, fs=fs),
        "depth": lambda a: ref.Timbral_Depth.timbral_depth(a, fs=fs),
        "booming": lambda a: ref.Timbral_Booming.timbral_booming(a, fs=fs),
        "reverberation": lambda a: (
            100.0 * ref.Timbral_Reverb.timbral_reverb(a, fs=fs, dev_output=True)[1]
        ),
        "sharpness": lambda a: ref.Timbral_Sharpness.timbral_sharpness(a, fs=fs),
        "warmth": lambda a: ref.Timbral_Warmth.timbral_warmth(a, fs=fs),
    }
    values: dict[str, Any] = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, fn in calls.items():
            try:
                values[key] = float(fn(data.copy()))
            except Exception as exc:  # the original fails on some inputs: record why
                values[key] = f"error: {type(exc).__name__}: {exc}"[:160]
    return values, time.perf_counter() - start


def run_ours(extractor: Timbre, audio: Decoded) -> tuple[dict[str, Any], float, float]:
    """mirset's eight features, the seconds taken with the shared views (STFT, mel) computed
    inside the call, and the seconds taken by the extractor alone (views computed beforehand)."""
    ctx = TrackContext(Path("<bench>"), audio, AnalysisConfig())
    start = time.perf_counter()
    out = extractor.extract(ctx)
    with_views = time.perf_counter() - start
    ctx = TrackContext(Path("<bench>"), audio, AnalysisConfig())
    ctx.spectrogram, ctx.mel_db  # noqa: B018  (shared views, paid once for all extractors)
    start = time.perf_counter()
    extractor.extract(ctx)
    alone = time.perf_counter() - start
    values = {k: (f"null: {v.reason}" if isinstance(v, Null) else float(v)) for k, v in out.items()}
    return values, with_views, alone


def wesnoth_excerpts(seconds: float, count: int, dest: Path) -> list[Path]:
    """``count`` Wesnoth recordings cut to ``seconds`` with ffmpeg (from 10 s in, or earlier for
    short recordings), in ``dest``."""
    import soundfile as sf

    sources = sorted(glob.glob(WESNOTH_GLOB))[:count]
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for src in sources:
        target = dest / f"{Path(src).stem}_{seconds:g}s.flac"
        if not target.exists():
            offset = max(0.0, min(10.0, sf.info(src).duration - seconds))
            cut = ["-ss", f"{offset:.2f}", "-t", str(seconds), "-i", src, str(target)]
            subprocess.run(
                ["ffmpeg", "-loglevel", "error", "-y", *cut],
                check=True,
                timeout=120,
            )
        out.append(target)
    return out


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.is_file():
            files.append(p)
    return files


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="audio files or folders (default: the test corpus)")
    ap.add_argument("--reference", type=Path, default=Path("/tmp/tm_ref/timbral_models"))
    ap.add_argument("--wesnoth", type=float, default=0.0, help="add Wesnoth excerpts of N s")
    ap.add_argument("--wesnoth-count", type=int, default=12)
    ap.add_argument("--excerpt-dir", type=Path, default=Path("/tmp/timbre-wesnoth"))
    ap.add_argument("--limit", type=int, default=0, help="at most N files")
    ap.add_argument("--no-reference", action="store_true", help="time mirset only")
    ap.add_argument("--json", type=Path, help="write per-file values here")
    args = ap.parse_args()

    files = collect(args.paths or [str(CORPUS_MUSIC)])
    if args.wesnoth:
        files += wesnoth_excerpts(args.wesnoth, args.wesnoth_count, args.excerpt_dir)
    if args.limit:
        files = files[: args.limit]
    ref = None if args.no_reference else load_reference(args.reference)
    extractor = Timbre()
    extractor.setup()  # numba compilation / cache load, once per worker

    rows = []
    audio_s = ours_s = ours_alone_s = ref_s = 0.0
    for path in files:
        try:
            audio = decode(path)
        except Exception as exc:
            print(f"skip {path}: {exc}")
            continue
        ours, t_with, t_alone = run_ours(extractor, audio)
        row: dict[str, Any] = {"file": str(path), "seconds": audio.duration_s, "ours": ours}
        audio_s += audio.duration_s
        ours_s += t_with
        ours_alone_s += t_alone
        line = (
            f"{path.name[:36]:36s} {audio.duration_s:6.1f}s ours {audio.duration_s / t_with:6.0f}x"
        )
        if ref is not None:
            reference, t_ref = run_reference(ref, audio)
            row["reference"] = reference
            ref_s += t_ref
            line += f"  ref {audio.duration_s / t_ref:5.1f}x"
        print(line, flush=True)
        rows.append(row)

    print(f"\n{len(rows)} files, {audio_s:.0f} s of audio, one core")
    print(f"mirset timbre, incl. shared STFT/mel views: {audio_s / ours_s:8.1f}x real time")
    print(f"mirset timbre, extractor alone:            {audio_s / ours_alone_s:8.1f}x real time")
    if ref is not None:
        print(f"timbral_models 0.4.1 (8 calls):            {audio_s / ref_s:8.1f}x real time")
        print(
            f"\n{'feature':14s} {'n':>3s} {'r':>7s} {'MAD':>7s} {'max|d|':>7s} "
            f"{'mean ref':>9s} {'mean ours':>9s}  other"
        )
        for key in FEATURES:
            pairs = [
                (r["reference"][key], r["ours"][key])
                for r in rows
                if isinstance(r["reference"][key], float) and isinstance(r["ours"][key], float)
            ]
            other = [
                f"{Path(r['file']).name[:20]}: ref {r['reference'][key]!s:.40} / ours"
                f" {r['ours'][key]!s:.40}"
                for r in rows
                if not (
                    isinstance(r["reference"][key], float) and isinstance(r["ours"][key], float)
                )
            ]
            a = np.array([p[0] for p in pairs])
            b = np.array([p[1] for p in pairs])
            d = np.abs(a - b) if pairs else np.zeros(1)
            print(
                f"{key:14s} {len(pairs):3d} {pearson(a, b):7.4f} {d.mean():7.3f} {d.max():7.3f} "
                f"{a.mean() if pairs else math.nan:9.2f} {b.mean() if pairs else math.nan:9.2f}"
                + (f"  {'; '.join(other)}" if other else "")
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
