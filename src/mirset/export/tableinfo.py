"""What the exporters need to know about a table: field metadata, numeric features, audio files.

The Arrow fields of the table carry the schema's metadata (unit, range, description, extractor,
version); everything here reads it from the table itself, so an export describes the columns
exactly as they were when that table version was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

IDENTITY = "identity"
# columns that describe the build machine, not the music: left out of published datasets
LOCAL_COLUMNS = ("source_path", "sidecar_dir", "sidecar_status", "file_mtime_ns")
STEM_NAMES = ("drums", "bass", "other", "vocals")


@dataclass(frozen=True)
class FieldInfo:
    """One column of the table with the metadata the schema gave it."""

    name: str
    type: str
    unit: str
    range: tuple[float, float] | None
    description: str
    extractor: str
    version: str
    bookkeeping: bool  # <extractor>_version / _params / _status
    numeric: bool  # a scalar int/float feature (plots, statistics, number conditioners)

    @property
    def range_text(self) -> str:
        if self.range is None:
            return ""
        lo, hi = self.range
        return f"{lo:g}..{hi:g}"


def _meta(field: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}


def _is_scalar_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def field_info(field: pa.Field) -> FieldInfo:
    meta = _meta(field)
    rng = None
    if meta.get("range"):
        try:
            lo, hi = json.loads(meta["range"])
            rng = (float(lo), float(hi))
        except (ValueError, TypeError):
            rng = None
    bookkeeping = "unit" not in meta and meta.get("extractor", IDENTITY) != IDENTITY
    extractor = meta.get("extractor", "")
    numeric = (
        _is_scalar_number(field.type)
        and not bookkeeping
        and (extractor != IDENTITY or field.name == "duration_s")
    )
    return FieldInfo(
        name=field.name,
        type=str(field.type),
        unit=meta.get("unit", ""),
        range=rng,
        description=meta.get("description", ""),
        extractor=extractor,
        version=meta.get("version", ""),
        bookkeeping=bookkeeping,
        numeric=numeric,
    )


def field_infos(schema: pa.Schema) -> list[FieldInfo]:
    return [field_info(f) for f in schema]


def numeric_features(schema: pa.Schema) -> list[FieldInfo]:
    """Scalar numeric feature columns (and ``duration_s``), in table order."""
    return [f for f in field_infos(schema) if f.numeric]


def extractor_versions(schema: pa.Schema, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``{extractor: "version 2, parameters 1a2b3c4d"}`` from the rows' ``<extractor>_version``
    and ``<extractor>_params`` columns (several values when rows were built differently)."""
    out: dict[str, str] = {}
    names = set(schema.names)
    for f in field_infos(schema):
        if f.bookkeeping and f.name == f"{f.extractor}_version":
            seen = sorted({str(r.get(f.name)) for r in rows if r.get(f.name) is not None})
            if not seen:
                out[f.extractor] = "not run"
                continue
            text = "version " + ", ".join(seen)
            params_col = f"{f.extractor}_params"
            if params_col in names:
                params = sorted({str(r[params_col]) for r in rows if r.get(params_col)})
                if params:
                    text += ", parameters " + ", ".join(params)
            out[f.extractor] = text
    return out


# --------------------------------------------------------------------------- audio files


class AudioMissingError(Exception):
    """A track's audio file is gone or is no longer the file the row describes."""


def music_dir_of(row: Mapping[str, Any]) -> Path | None:
    """The music folder of a build, from a row's absolute ``source_path`` and ``relative_path``."""
    src, rel = row.get("source_path"), row.get("relative_path")
    if not src or not rel:
        return None
    src_p, rel_parts = Path(src), Path(rel).parts
    if src_p.parts[-len(rel_parts) :] != rel_parts:
        return None
    return Path(*src_p.parts[: -len(rel_parts)]) if len(src_p.parts) > len(rel_parts) else None


def audio_path(row: Mapping[str, Any], music_dir: Path | None = None) -> Path:
    """The track's audio file: under ``music_dir`` when given, else where it was built from."""
    if music_dir is not None:
        return Path(music_dir) / row["relative_path"]
    if row.get("source_path"):
        return Path(row["source_path"])
    raise AudioMissingError(f"{row['relative_path']}: no source path in the row; pass music_dir")


def stem_files(row: Mapping[str, Any], music_dir: Path | None = None) -> dict[str, Path]:
    """``{stem name: file}`` for the stems the row records (relative to the music folder, or
    absolute for stems separated into OUT_DIR)."""
    base = Path(music_dir) if music_dir is not None else music_dir_of(row)
    out: dict[str, Path] = {}
    for name, p in zip(row.get("stems") or [], row.get("stem_paths") or [], strict=False):
        path = Path(p)
        if not path.is_absolute():
            if base is None:
                raise AudioMissingError(f"{row['relative_path']}: stem {p} needs the music folder")
            path = base / path
        out[name] = path
    return out


def checked_bytes(path: Path, expected_hash: str | None, what: str) -> bytes:
    """The file's bytes, refusing a file that changed since the build (``file_hash``)."""
    if not path.is_file():
        raise AudioMissingError(f"{what}: audio file not found: {path}")
    data = path.read_bytes()
    if expected_hash and hashlib.blake2b(data, digest_size=16).hexdigest() != expected_hash:
        raise AudioMissingError(
            f"{what}: {path} changed since the table version was built (file hash differs); "
            "rebuild, or export the version that matches the files"
        )
    return data
