"""Export a table version for Stable Audio Tools (``audio_dir`` dataset + custom metadata).

Layout::

    SAT_DIR/
      audio/<relative path>       the tracks (symlinks, or copies with ``copy_audio``); formats
                                  Stable Audio Tools does not scan (m4a, aiff, ...) as FLAC
      mirset_metadata.py          custom metadata module (standard library only)
      mirset_metadata.json        per file: prompts and the chosen numeric features
      dataset_config.json         {"dataset_type": "audio_dir", "datasets": [...], ...}
      model_conditioning.json     the model config's "conditioning" block and cond ids

Tracks that lack a chosen feature or any prompt are left out (Stable Audio Tools needs every
conditioner's value in every sample) and listed in ``mirset_metadata.json`` under ``left_out``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mirset import __version__
from mirset.audio import decode
from mirset.export.prompts import DEFAULT_PROMPT_SOURCES, prompt_candidates
from mirset.export.tableinfo import FieldInfo, audio_path, field_infos
from mirset.export.versions import TableVersion, resolve

# what Stable Audio Tools' audio_dir scan picks up (stable_audio_tools.data.dataset)
SAT_AUDIO_DIR_EXTS = (".wav", ".mp3", ".flac", ".ogg", ".aif", ".opus")
METADATA_MODULE = "mirset_metadata.py"
METADATA_FILE = "mirset_metadata.json"
SECONDS_MAX = 512  # Stable Audio Open's seconds_start / seconds_total range


class SatExportError(Exception):
    pass


@dataclass(frozen=True)
class NumberFeature:
    name: str
    min_val: float
    max_val: float
    range_from: str  # "schema" or "observed" (a field without a documented range)


@dataclass
class TrackEntry:
    relative_path: str
    key: str  # path under the audio folder / WebDataset key
    source: Path
    prompts: list[str]
    features: dict[str, float]
    duration_s: float
    file_hash: str | None
    track_id: str


@dataclass
class Selection:
    version: TableVersion
    numbers: list[NumberFeature]
    tracks: list[TrackEntry]
    left_out: dict[str, str] = field(default_factory=dict)


def number_features(
    infos: Sequence[FieldInfo], rows: Sequence[dict[str, Any]], names: Sequence[str]
) -> list[NumberFeature]:
    """Number conditioners for ``names``: min/max from the schema's valid range, or from the
    observed values for a field without one."""
    by_name = {f.name: f for f in infos}
    out = []
    for n in names:
        f = by_name.get(n)
        if f is None:
            raise SatExportError(f"no column {n!r} in the table")
        if not f.numeric:
            raise SatExportError(f"{n!r} is not a numeric feature ({f.type})")
        if f.range is not None:
            out.append(NumberFeature(n, f.range[0], f.range[1], "schema"))
            continue
        values = [float(r[n]) for r in rows if r.get(n) is not None]
        if not values:
            raise SatExportError(f"{n!r} has no value in any track")
        lo, hi = min(values), max(values)
        out.append(NumberFeature(n, lo, hi if hi > lo else lo + 1.0, "observed"))
    return out


def select(
    out_dir: Path,
    version: int | str | None,
    features: Sequence[str],
    prompt_sources: Sequence[str],
    music_dir: Path | None,
    include_failed: bool,
) -> Selection:
    """The tracks to export with their prompts and features (shared by ``sat`` and ``wds``)."""
    tv = resolve(out_dir, version)
    table = tv.read()
    infos = field_infos(table.schema)
    rows = table.to_pylist()
    if not include_failed:
        rows = [r for r in rows if r.get("status") == "ok"]
    numbers = number_features(infos, rows, features)
    tracks, left_out = [], {}
    for r in rows:
        prompts = prompt_candidates(r, prompt_sources)
        lacking = [n.name for n in numbers if r.get(n.name) is None]
        if not prompts:
            lacking.append("prompt")
        if lacking:
            left_out[r["relative_path"]] = "no " + ", ".join(lacking)
            continue
        tracks.append(
            TrackEntry(
                relative_path=r["relative_path"],
                key=r["relative_path"],
                source=audio_path(r, music_dir),
                prompts=prompts,
                features={n.name: float(r[n.name]) for n in numbers},
                duration_s=float(r.get("duration_s") or 0.0),
                file_hash=r.get("file_hash"),
                track_id=r.get("track_id") or "",
            )
        )
    if not tracks:
        raise SatExportError(f"no track has every chosen feature and a prompt: {left_out}")
    return Selection(tv, numbers, tracks, left_out)


def conditioning_block(
    numbers: Sequence[NumberFeature],
    max_seconds: float,
    t5_model: str = "t5-base",
    max_length: int = 128,
    cond_dim: int = 768,
) -> dict[str, Any]:
    """The ``conditioning`` block of a Stable Audio Tools model config (Stable Audio Open's
    prompt + timing conditioners, plus a number conditioner per chosen feature), and the ids
    for ``diffusion.cross_attention_cond_ids`` / ``global_cond_ids``."""
    top = max(SECONDS_MAX, math.ceil(max_seconds))
    configs: list[dict[str, Any]] = [
        {
            "id": "prompt",
            "type": "t5",
            "config": {"t5_model_name": t5_model, "max_length": max_length},
        },
        {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": top}},
        {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": top}},
    ]
    for n in numbers:
        configs.append(
            {"id": n.name, "type": "number", "config": {"min_val": n.min_val, "max_val": n.max_val}}
        )
    ids = [c["id"] for c in configs]
    return {
        "conditioning": {"configs": configs, "cond_dim": cond_dim},
        "diffusion": {
            "cross_attention_cond_ids": ids,
            "global_cond_ids": ["seconds_start", "seconds_total"],
        },
        "mirset": {
            "note": "merge 'conditioning' into model.conditioning and the ids into model.diffusion",
            "ranges": {n.name: n.range_from for n in numbers},
        },
    }


def transcode_flac(src: Path, dest: Path) -> None:
    """Decode (libsndfile or FFmpeg) and write 24-bit FLAC, for formats a consumer cannot read."""
    d = decode(src)
    tmp = dest.with_name(f".{dest.name}.tmp")
    samples = np.clip(d.samples.T, -1.0, 1.0)
    sf.write(str(tmp), samples, d.sample_rate, format="FLAC", subtype="PCM_24")
    tmp.replace(dest)


def write_metadata(
    dest_dir: Path, sel: Selection, keyed: dict[str, TrackEntry], prompt_sources: Sequence[str]
) -> None:
    shutil.copyfile(Path(__file__).with_name("sat_metadata.py"), dest_dir / METADATA_MODULE)
    payload = {
        "mirset_version": __version__,
        "table_version": sel.version.version,
        "tags": list(sel.version.tags),
        "prompt_sources": list(prompt_sources),
        "features": {
            n.name: {"min": n.min_val, "max": n.max_val, "range": n.range_from} for n in sel.numbers
        },
        "tracks": {
            key: {"relative_path": t.relative_path, "prompts": t.prompts, "features": t.features}
            for key, t in sorted(keyed.items())
        },
        "left_out": dict(sorted(sel.left_out.items())),
    }
    (dest_dir / METADATA_FILE).write_text(
        json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def write_configs(
    dest_dir: Path,
    sel: Selection,
    dataset_config: dict[str, Any],
    t5_model: str,
    max_length: int,
    cond_dim: int,
) -> None:
    (dest_dir / "dataset_config.json").write_text(json.dumps(dataset_config, indent=2) + "\n")
    block = conditioning_block(
        sel.numbers, max(t.duration_s for t in sel.tracks), t5_model, max_length, cond_dim
    )
    (dest_dir / "model_conditioning.json").write_text(json.dumps(block, indent=2) + "\n")


@dataclass
class SatExport:
    sat_dir: Path
    version: TableVersion
    tracks: int
    transcoded: list[str]
    left_out: dict[str, str]
    features: list[str]


def export_sat(
    out_dir: Path,
    sat_dir: Path,
    version: int | str | None = None,
    *,
    features: Sequence[str] = (),
    prompt_sources: Sequence[str] = DEFAULT_PROMPT_SOURCES,
    music_dir: Path | None = None,
    copy_audio: bool = False,
    include_failed: bool = False,
    dataset_id: str = "mirset",
    t5_model: str = "t5-base",
    max_length: int = 128,
    cond_dim: int = 768,
    log: Callable[[str], None] = lambda _m: None,
) -> SatExport:
    """Write ``sat_dir`` for Stable Audio Tools from one table version."""
    sat_dir = Path(sat_dir).absolute()
    sel = select(out_dir, version, features, prompt_sources, music_dir, include_failed)
    audio_dir = sat_dir / "audio"
    if audio_dir.exists():
        if not (sat_dir / METADATA_FILE).is_file() and any(audio_dir.iterdir()):
            raise SatExportError(
                f"{audio_dir} exists and was not written by `mirset export sat`: "
                "export into an empty folder (or one exported before)"
            )
        shutil.rmtree(audio_dir)
    audio_dir.mkdir(parents=True)
    keyed: dict[str, TrackEntry] = {}
    transcoded = []
    for t in sel.tracks:
        if not t.source.is_file():
            raise SatExportError(f"audio file not found: {t.source} (pass --music-dir?)")
        rel = Path(t.relative_path)
        if rel.suffix.lower() not in SAT_AUDIO_DIR_EXTS:
            rel = rel.with_name(rel.name + ".flac")
            (audio_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            transcode_flac(t.source, audio_dir / rel)
            transcoded.append(t.relative_path)
        else:
            (audio_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            if copy_audio:
                shutil.copy2(t.source, audio_dir / rel)
            else:
                os.symlink(t.source.absolute(), audio_dir / rel)
        t.key = rel.as_posix()
        keyed[t.key] = t
    write_metadata(sat_dir, sel, keyed, prompt_sources)
    dataset_config = {
        "dataset_type": "audio_dir",
        "datasets": [
            {
                "id": dataset_id,
                "path": str(audio_dir),
                "custom_metadata_module": str(sat_dir / METADATA_MODULE),
            }
        ],
        "random_crop": True,
    }
    write_configs(sat_dir, sel, dataset_config, t5_model, max_length, cond_dim)
    log(f"{len(keyed)} tracks in {audio_dir} ({len(transcoded)} transcoded to FLAC)")
    return SatExport(
        sat_dir, sel.version, len(keyed), transcoded, sel.left_out, [n.name for n in sel.numbers]
    )
