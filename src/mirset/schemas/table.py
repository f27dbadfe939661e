"""The track table's Arrow schema: identity and provenance, then each extractor's columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from mirset.schemas.fields import FeatureField

if TYPE_CHECKING:
    from mirset.extractors.base import Extractor

KEY = "relative_path"

_IDENTITY = (
    FeatureField(
        KEY,
        pa.string(),
        "",
        "path of the audio file relative to MUSIC_DIR (row key)",
        info_key=None,
    ),
    FeatureField(
        "track_id",
        pa.string(),
        "",
        "content hash of the decoded audio (blake2b-128 of the float32 samples and rate): equal for the same audio in any file",
        info_key=None,
    ),
    FeatureField(
        "source_path", pa.string(), "", "absolute path of the audio file when built", info_key=None
    ),
    FeatureField(
        "folder_name",
        pa.string(),
        "",
        "track folder name (organised) or file stem (flat): the sidecar base name",
        info_key=None,
    ),
    FeatureField(
        "layout", pa.string(), "", "'organised' (<Track>/full_mix.<ext>) or 'flat'", info_key=None
    ),
    FeatureField(
        "stems",
        pa.list_(pa.string()),
        "",
        "stem names found beside full_mix (drums, bass, other, vocals)",
        info_key=None,
    ),
    FeatureField(
        "stem_paths",
        pa.list_(pa.string()),
        "",
        "stem file paths relative to MUSIC_DIR, aligned with `stems`",
        info_key=None,
    ),
    FeatureField(
        "sidecar_dir",
        pa.string(),
        "",
        "folder holding this track's .INFO and text sidecars",
        info_key=None,
    ),
    FeatureField(
        "sidecar_status",
        pa.string(),
        "",
        "'ok', 'off' or 'failed: <reason>' for the last sidecar write",
        info_key=None,
    ),
    FeatureField(
        "duration_s",
        pa.float64(),
        "s",
        "duration of the decoded audio",
        (0.0, 86400.0),
        info_key=None,
    ),
    FeatureField(
        "sample_rate", pa.int32(), "Hz", "native sample rate", (1000.0, 768000.0), info_key=None
    ),
    FeatureField("channels", pa.int16(), "", "channel count", (1.0, 64.0), info_key=None),
    FeatureField(
        "codec", pa.string(), "", "container/codec as reported by the decoder", info_key=None
    ),
    FeatureField("file_bytes", pa.int64(), "B", "file size", info_key=None),
    FeatureField(
        "file_mtime_ns",
        pa.int64(),
        "ns",
        "file modification time (change detection)",
        info_key=None,
    ),
    FeatureField("file_hash", pa.string(), "", "blake2b-128 of the file bytes", info_key=None),
    FeatureField(
        "mirset_version", pa.string(), "", "mirset version that last wrote the row", info_key=None
    ),
    FeatureField(
        "config_hash",
        pa.string(),
        "",
        "hash of the analysis config and extractor parameters",
        info_key=None,
    ),
    FeatureField(
        "built_at", pa.timestamp("us", tz="UTC"), "", "when the row was last written", info_key=None
    ),
    FeatureField(
        "status",
        pa.string(),
        "",
        "'ok', or 'failed: <reason>' when decoding or an extractor failed",
        info_key=None,
    ),
)


def identity_fields() -> tuple[FeatureField, ...]:
    """Identity and provenance columns, present in every row."""
    return _IDENTITY


def bookkeeping_columns(name: str) -> tuple[str, str, str]:
    """Per-extractor columns: version, parameter hash, status."""
    return f"{name}_version", f"{name}_params", f"{name}_status"


def extractor_arrow_fields(cls: type[Extractor]) -> list[pa.Field]:
    """The Arrow fields one extractor contributes (its features plus bookkeeping)."""
    version, params, status = bookkeeping_columns(cls.name)
    meta = {"extractor": cls.name, "version": cls.version}
    out = [f.arrow(cls.name, cls.version) for f in cls.fields]
    out += [
        pa.field(version, pa.string(), metadata={**meta, "description": f"version of {cls.name}"}),
        pa.field(
            params,
            pa.string(),
            metadata={**meta, "description": f"hash of {cls.name}'s parameters"},
        ),
        pa.field(
            status,
            pa.string(),
            metadata={
                **meta,
                "description": f"{cls.name}: 'ok', 'ok; <field>: <why null>', 'failed: <reason>' or 'unavailable: <reason>'",
            },
        ),
    ]
    return out


def table_schema(extractors: Sequence[type[Extractor]]) -> pa.Schema:
    """The whole table schema for a set of extractor classes."""
    fields = [f.arrow("identity", "1") for f in _IDENTITY]
    for cls in extractors:
        fields += extractor_arrow_fields(cls)
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"columns defined twice: {dupes}")
    return pa.schema(fields, metadata={"mirset.schema": "1"})
