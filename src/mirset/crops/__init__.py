"""Training crops from a built dataset: ``mirset crops OUT_DIR CROPS_DIR``.

For every ok track of ``OUT_DIR/table`` the crops are cut (``ranges``) from one decode of the
track and of each of its stems (the same sample range for all), faded (10 ms), and written as
``CROPS_DIR/<relative folder>/<Folder>/<Folder>_<N>.<ext>``, stems as ``<Folder>_<N>_<stem>.<ext>``,
with ``<Folder>_<N>.INFO`` holding the provenance (position, start/end time and sample, duration,
samples, source, has_stems, stem_names …). The normal build then runs on ``CROPS_DIR`` into
``CROPS_DIR/table`` with the opt-in ``crop`` extractor, so every crop is a row with its own
features — its own bpm, beats and downbeats, never the track's — in the same schema as tracks,
and its sidecars beside it.

Formats: FLAC by default (``wav``, or ``source`` to keep a lossless source's container); the
source's bit depth is kept (16 or 24; float and 32-bit sources as 24-bit FLAC or float WAV; lossy
sources, which have no bit depth, as 16-bit — the old tool's default) unless ``bit_depth`` says.
A track whose crops exist for the same source bytes and settings is skipped (a manifest per
track folder); when either changed its old crops are replaced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mirset.audio import decode, resample
from mirset.crops.ranges import (
    beat_aligned_ranges,
    crop_grid,
    fade,
    leading_silence,
    sequential_ranges,
)

MANIFEST = ".mirset-crops.json"
LOSSLESS = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF", ".aifc": "AIFF"}
STEM_SHORTFALL_S = 0.5  # a stem this much shorter than the crop end is zero-padded
TABLE_COLUMNS = (
    "relative_path",
    "source_path",
    "folder_name",
    "layout",
    "status",
    "track_id",
    "file_hash",
    "duration_s",
    "sample_rate",
    "stems",
    "stem_paths",
    "beat_times",
    "downbeat_times",
)


@dataclass(frozen=True)
class CropSettings:
    length: int  # samples
    beat_aligned: bool = False
    bars_multiple: int = 4
    overlap: bool = False
    format: str = "flac"  # flac | wav | source
    bit_depth: str = "source"  # source | 16 | 24

    def key(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "beat_aligned": self.beat_aligned,
            "bars_multiple": self.bars_multiple if self.beat_aligned else None,
            "overlap": self.overlap,
            "format": self.format,
            "bit_depth": self.bit_depth,
        }


@dataclass
class TrackCrops:
    relative_path: str
    folder: str  # crops folder, relative to CROPS_DIR
    state: str  # written | up to date | skipped | failed
    crops: list[str] = field(default_factory=list)
    note: str = ""


def output_format(source: Path, settings: CropSettings) -> tuple[str, str, str]:
    """(extension, libsndfile format, subtype) of the crops of ``source``."""
    try:
        info = sf.info(str(source))
        subtype = info.subtype
    except Exception:  # read by FFmpeg only (AAC, Opus in some builds …): lossy
        subtype = "LOSSY"
    suffix = source.suffix.lower()
    if (
        settings.format == "source"
        and suffix in LOSSLESS
        and subtype.startswith(("PCM", "FLOAT", "DOUBLE"))
    ):
        ext, fmt = suffix, LOSSLESS[suffix]
    elif settings.format == "wav":
        ext, fmt = ".wav", "WAV"
    else:
        ext, fmt = ".flac", "FLAC"
    if settings.bit_depth in ("16", "24"):
        return ext, fmt, f"PCM_{settings.bit_depth}"
    if subtype in ("PCM_24",):
        return ext, fmt, "PCM_24"
    if subtype in ("PCM_32", "FLOAT", "DOUBLE"):
        return ext, fmt, ("FLOAT" if fmt in ("WAV", "AIFF") and subtype != "PCM_32" else "PCM_24")
    return ext, fmt, "PCM_16"  # 16-bit, 8-bit and lossy sources


def _write_audio(path: Path, x: np.ndarray, sr: int, fmt: str, subtype: str) -> None:
    """Write (channels, n) audio atomically (hidden temp name, then rename)."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        sf.write(str(tmp), np.ascontiguousarray(x.T), sr, subtype=subtype, format=fmt)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _tag_copy(source: Path, crop: Path) -> None:
    """The source's tags on a FLAC crop, so crops carry the track's artist/title/album."""
    from mutagen.flac import FLAC

    from mirset.metadata.tags import read_tags

    tags = read_tags(source)
    if not tags or crop.suffix != ".flac":
        return
    f = FLAC(str(crop))
    for key in ("artist", "title", "album", "genre"):
        if tags.get(key):
            f[key.upper()] = str(tags[key])
    if tags.get("year"):
        f["DATE"] = str(tags["year"])
    f.save()


def crop_folder(row: dict[str, Any]) -> Path:
    """Where a track's crops go, relative to CROPS_DIR: its folder mirrored, then its name."""
    parent = Path(row["relative_path"]).parent
    return parent if row["layout"] == "organised" else parent / row["folder_name"]


def plan_ranges(
    mono: np.ndarray, sr: int, row: dict[str, Any], settings: CropSettings
) -> tuple[list[tuple[int, int]], str]:
    """The crops of one decoded track and the mode that made them."""
    silence = leading_silence(mono, sr)
    if settings.beat_aligned:
        grid = crop_grid(row.get("downbeat_times") or [], row.get("beat_times") or [])
        if len(grid) >= 2:
            ranges = beat_aligned_ranges(
                mono, sr, settings.length, grid, settings.bars_multiple, settings.overlap, silence
            )
            return ranges, "beat_aligned"
        mode = "sequential (no beats in the table)"
    else:
        mode = "sequential"
    return sequential_ranges(len(mono), settings.length, silence, settings.overlap), mode


def crop_track(
    row: dict[str, Any], music_dir: Path, crops_dir: Path, settings: CropSettings
) -> TrackCrops:
    """Cut, fade and write one track's crops, stems and provenance ``.INFO`` files."""
    from mirset.export.sidecars import atomic_write_text

    rel = row["relative_path"]
    folder_rel = crop_folder(row)
    folder = crops_dir / folder_rel
    result = TrackCrops(rel, folder_rel.as_posix(), "written")
    source = Path(row["source_path"])
    manifest_path = folder / MANIFEST
    wanted = {"source": rel, "file_hash": row.get("file_hash"), "settings": settings.key()}
    old: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
    if (
        old
        and {k: old.get(k) for k in wanted} == wanted
        and all((folder / f).is_file() for f in old.get("files", []))
    ):
        result.state, result.crops = "up to date", list(old.get("crops", []))
        return result
    decoded = decode(source)
    sr = decoded.sample_rate
    mono = decoded.samples.mean(axis=0)
    ranges, mode = plan_ranges(mono, sr, row, settings)
    ext, fmt, subtype = output_format(source, settings)
    stems: dict[str, np.ndarray] = {}
    for name, stem_rel in zip(row.get("stems") or [], row.get("stem_paths") or [], strict=False):
        stem_path = Path(stem_rel) if Path(stem_rel).is_absolute() else music_dir / stem_rel
        try:
            st = decode(stem_path)
        except Exception as e:  # a missing or broken stem: the crops go on without it
            result.note += f"stem {name} not used: {e}; "
            continue
        stems[name] = resample(st.samples, st.sample_rate, sr)
    folder.mkdir(parents=True, exist_ok=True)
    for f in old.get("files", []):  # the previous crops of this track (other source/settings)
        (folder / f).unlink(missing_ok=True)
    base = folder.name
    files: list[str] = []
    n_total = decoded.samples.shape[1]
    for i, (s, e) in enumerate(ranges):
        name = f"{base}_{i}"
        x = fade(decoded.samples[:, s:e].copy(), sr)
        _write_audio(folder / f"{name}{ext}", x, sr, fmt, subtype)
        files.append(f"{name}{ext}")
        if fmt == "FLAC":
            _tag_copy(source, folder / f"{name}{ext}")
        stem_names = []
        for stem, y in stems.items():
            if y.shape[1] < e:
                if e - y.shape[1] > STEM_SHORTFALL_S * sr:
                    result.note += f"{name}: stem {stem} ends before the crop; "
                    continue
                y = np.pad(y, ((0, 0), (0, e - y.shape[1])))
                stems[stem] = y
            _write_audio(
                folder / f"{name}_{stem}{ext}", fade(y[:, s:e].copy(), sr), sr, fmt, subtype
            )
            files.append(f"{name}_{stem}{ext}")
            stem_names.append(stem)
        info = {
            "position": s / n_total,
            "start_time": s / sr,
            "end_time": e / sr,
            "start_sample": int(s),
            "end_sample": int(e),
            "duration": (e - s) / sr,
            "samples": int(e - s),
            "source": rel,
            "has_stems": bool(stem_names),
            "stem_names": stem_names,
            "crop_index": i,
            "crop_mode": mode.split(" ")[0],
            "source_track_id": row.get("track_id"),
        }
        info_path = folder / f"{name}.INFO"
        atomic_write_text(info_path, json.dumps(info, indent=2, ensure_ascii=False))
        files.append(f"{name}.INFO")
        result.crops.append(f"{name}{ext}")
    if not ranges:
        result.state = "skipped"
        result.note += f"no crop fits ({mode}, {n_total / sr:.1f} s, length {settings.length})"
    elif mode.startswith("sequential (") and settings.beat_aligned:
        result.note += "no beats in the table: sequential crops; "
    manifest = wanted | {"mode": mode, "crops": result.crops, "files": files}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False))
    return result


def read_tracks(out_dir: Path) -> list[dict[str, Any]]:
    """The ok rows of a built table, with what cropping needs."""
    from mirset.builder.build import table_path
    from mirset.export.store import TrackStore

    store = TrackStore(table_path(out_dir))
    if not store.exists():
        raise FileNotFoundError(f"no mirset table in {out_dir}")
    rows = store.read(list(TABLE_COLUMNS)).to_pylist()
    return [r for r in rows if r.get("status") == "ok" and r.get("source_path")]


def music_dir_of(row: dict[str, Any]) -> Path:
    """The music folder of a build, from a row's absolute and relative paths."""
    source = Path(row["source_path"])
    depth = len(Path(row["relative_path"]).parts)
    return source.parents[depth - 1]


def prune_missing(crops_dir: Path) -> int:
    """Delete rows of the crops table whose crop file is gone (replaced by a re-crop)."""
    from deltalake import DeltaTable

    from mirset.builder.build import table_path
    from mirset.export.store import TrackStore

    store = TrackStore(table_path(crops_dir))
    if not store.exists():
        return 0
    keys = store.read(["relative_path"]).column("relative_path").to_pylist()
    gone = [k for k in keys if not (crops_dir / k).exists()]
    if gone:
        dt = DeltaTable(str(store.path))
        quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in gone)
        dt.delete(f"relative_path IN ({quoted})")
    return len(gone)
