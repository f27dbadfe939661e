"""Export a table version as a Hugging Face dataset repo.

Layout (what the Hub and ``datasets.load_dataset`` read)::

    HF_DIR/
      README.md                           YAML header (configs / data_files, features) + card
      data/train-00000-of-00003.parquet   shards of at most ``max_shard_bytes`` (500 MB default)
      plots/*.png                         feature histograms, correlations, tempo, keys
      mirset.json                         provenance: table version, tags, options, versions

With ``with_audio`` the shards carry an ``audio`` column in the ``datasets`` ``Audio`` layout
(a struct of the file's ``bytes`` and ``path``), and with ``with_stems`` one ``audio_<stem>``
column per stem; the bytes are the original files', checked against the row's ``file_hash`` so an
old version is only exported with the very files it was built from. Shards are filled in table
order and written one at a time, so memory holds one shard's audio at most.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mirset import __version__
from mirset.export import card
from mirset.export.plots import make_plots
from mirset.export.store import TrackStore
from mirset.export.tableinfo import (
    LOCAL_COLUMNS,
    STEM_NAMES,
    audio_path,
    checked_bytes,
    extractor_versions,
    stem_files,
)
from mirset.export.versions import TableVersion, resolve

DEFAULT_MAX_SHARD_BYTES = 500_000_000  # the Hub's recommended Parquet file size
# audio row groups: at most 100 rows (as `datasets` writes audio) and about 64 MB, so a reader
# that needs one track (the viewer, streaming, MirsetDataset) does not read a hundred songs
AUDIO_ROW_GROUP = 100
AUDIO_ROW_GROUP_BYTES = 64_000_000
AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
PROVENANCE_FILE = "mirset.json"


class ExportError(Exception):
    """The export cannot be made (missing audio, unreadable version, bad option)."""


@dataclass
class HfExport:
    repo_dir: Path
    version: TableVersion
    rows: int
    shards: list[str]
    audio_columns: list[str]
    excluded_failed: int
    plots: list[str] = field(default_factory=list)


def _normalise_type(t: pa.DataType) -> pa.DataType:
    """Types ``datasets`` maps one to one (views and large variants to the plain ones)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _normalise_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _normalise_type(f.type)) for f in t])
    return t


def select_rows(table: pa.Table, include_failed: bool) -> tuple[pa.Table, int]:
    if include_failed or "status" not in table.column_names:
        return table, 0
    keep = pc.equal(table.column("status"), "ok")
    kept = table.filter(keep)
    return kept, table.num_rows - kept.num_rows


def publishable(table: pa.Table) -> tuple[pa.Table, list[str]]:
    """Drop the build machine's paths and times; normalise types for ``datasets``."""
    dropped = [c for c in LOCAL_COLUMNS if c in table.column_names]
    table = table.drop_columns(dropped)
    fields = [
        pa.field(f.name, _normalise_type(f.type), nullable=True, metadata=_sorted(f.metadata))
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=_sorted(table.schema.metadata))), dropped


def _sorted(meta: dict[bytes, bytes] | None) -> dict[bytes, bytes] | None:
    """Metadata in key order: Delta returns an old version's field metadata in varying order,
    and the Parquet bytes of an export must not depend on it."""
    return dict(sorted(meta.items())) if meta else meta


def hf_features(schema: pa.Schema, audio_columns: list[str]):  # type: ignore[no-untyped-def]
    """``datasets.Features`` of the exported schema, the audio columns as ``Audio``."""
    import datasets

    feats = datasets.Features.from_arrow_schema(
        pa.schema([f for f in schema if f.name not in audio_columns])
    )
    for a in audio_columns:
        feats[a] = datasets.Audio()
    return feats


def plan_shards(sizes: list[int], max_bytes: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, end)`` row ranges whose estimated bytes stay within ``max_bytes``
    (a single row larger than that gets a shard of its own)."""
    ranges: list[tuple[int, int]] = []
    start, acc = 0, 0
    for i, s in enumerate(sizes):
        if i > start and acc + s > max_bytes:
            ranges.append((start, i))
            start, acc = i, 0
        acc += s
    if sizes:
        ranges.append((start, len(sizes)))
    return ranges


def audio_row_group(sizes: list[int]) -> int:
    """Rows per row group for a shard with these row sizes (bytes)."""
    mean = sum(sizes) / max(1, len(sizes))
    return max(1, min(AUDIO_ROW_GROUP, int(AUDIO_ROW_GROUP_BYTES // max(1.0, mean))))


def _audio_sources(
    rows: list[dict[str, Any]], with_audio: bool, with_stems: bool, music_dir: Path | None
) -> tuple[list[str], list[dict[str, Path | None]]]:
    """The audio columns and, per row, the file of each (None where a track has no stem)."""
    columns: list[str] = []
    per_row: list[dict[str, Path | None]] = [{} for _ in rows]
    if with_audio:
        columns.append("audio")
        for r, out in zip(rows, per_row, strict=True):
            out["audio"] = audio_path(r, music_dir)
    if with_stems:
        present = [s for s in STEM_NAMES if any(s in (r.get("stems") or []) for r in rows)]
        extra = sorted({s for r in rows for s in (r.get("stems") or [])} - set(STEM_NAMES))
        for s in [*present, *extra]:
            columns.append(f"audio_{s}")
        for r, out in zip(rows, per_row, strict=True):
            found = stem_files(r, music_dir)
            for s in [*present, *extra]:
                out[f"audio_{s}"] = found.get(s)
    return columns, per_row


def export_hf(
    out_dir: Path,
    hf_dir: Path,
    version: int | str | None = None,
    *,
    with_audio: bool = False,
    with_stems: bool = False,
    music_dir: Path | None = None,
    include_failed: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    license: str | None = None,
    pretty_name: str | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> HfExport:
    """Write ``hf_dir`` as a Hugging Face dataset repo from one table version."""
    import datasets

    tv = resolve(out_dir, version)
    full = tv.read()
    kept, excluded = select_rows(full, include_failed)
    if kept.num_rows == 0:
        raise ExportError(f"table version {tv.version} has no rows to export")
    source_rows = kept.to_pylist()  # with source_path, for finding the audio
    table, dropped = publishable(kept)
    audio_columns, audio_files = _audio_sources(source_rows, with_audio, with_stems, music_dir)
    if with_stems and not any(c != "audio" for c in audio_columns):
        log("no track has stems: no stem columns")

    # estimated bytes per row: the feature columns' share plus the audio files
    base = table.nbytes / max(1, table.num_rows)
    sizes = []
    for files in audio_files:
        total = base
        for p in files.values():
            if p is not None:
                if not p.is_file():
                    raise ExportError(f"audio file not found: {p} (pass --music-dir?)")
                total += p.stat().st_size
        sizes.append(int(total))
    ranges = plan_shards(sizes, max_shard_bytes)

    feats = hf_features(
        pa.schema([*table.schema, *(pa.field(a, AUDIO_TYPE) for a in audio_columns)]),
        audio_columns,
    )
    hf_meta = json.dumps({"info": {"features": feats.to_dict()}})
    schema = pa.schema(
        [*table.schema, *(pa.field(a, AUDIO_TYPE) for a in audio_columns)],
        metadata={**(table.schema.metadata or {}), b"huggingface": hf_meta.encode()},
    )

    hf_dir = Path(hf_dir)
    if not (hf_dir / PROVENANCE_FILE).is_file() and any(
        (hf_dir / d).is_dir() and any((hf_dir / d).iterdir()) for d in ("data", "plots")
    ):
        raise ExportError(
            f"{hf_dir} has data/ or plots/ that `mirset export hf` did not write: "
            "export into an empty folder (or a repo exported before)"
        )
    data = hf_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("train-*.parquet"):
        old.unlink()
    shutil.rmtree(hf_dir / "plots", ignore_errors=True)
    shards = []
    num_bytes = 0
    for i, (start, end) in enumerate(ranges):
        part = table.slice(start, end - start)
        for a in audio_columns:
            values = []
            for j in range(start, end):
                p = audio_files[j][a]
                if p is None:
                    values.append(None)
                    continue
                r = source_rows[j]
                expected = r.get("file_hash") if a == "audio" else None
                what = r["relative_path"] if a == "audio" else f"{r['relative_path']} ({a})"
                name = r["relative_path"] if a == "audio" else p.name
                values.append({"bytes": checked_bytes(p, expected, what), "path": name})
            part = part.append_column(pa.field(a, AUDIO_TYPE), pa.array(values, AUDIO_TYPE))
        part = part.cast(schema)
        name = f"train-{i:05d}-of-{len(ranges):05d}.parquet"
        tmp = data / f".{name}.tmp"
        pq.write_table(
            part,
            tmp,
            row_group_size=audio_row_group(sizes[start:end]) if audio_columns else None,
            compression="zstd",
        )
        tmp.replace(data / name)
        num_bytes += (data / name).stat().st_size
        shards.append(f"data/{name}")
        log(f"wrote {name} ({end - start} tracks)")

    plots, skipped = make_plots(table, hf_dir)
    info = datasets.DatasetInfo(features=feats)
    features_yaml = info._to_yaml_dict()["features"]
    card_input = card.CardInput(
        pretty_name=pretty_name or f"{Path(out_dir).resolve().name} (mirset)",
        version=tv,
        mirset_version=__version__,
        table=table,
        features_yaml=features_yaml,
        num_bytes=num_bytes,
        shards=shards,
        audio_columns=audio_columns,
        excluded_failed=excluded,
        dropped_columns=dropped,
        plots=plots,
        skipped_plots=skipped,
        license=license,
        extractor_versions=extractor_versions(table.schema, source_rows),
        build_configs=TrackStore(tv.table_path).build_configs(tv.version),
    )
    (hf_dir / "README.md").write_text(card.render(card_input), encoding="utf-8")
    provenance = {
        "mirset_version": __version__,
        "table_version": tv.version,
        "table_timestamp": tv.timestamp,
        "tags": list(tv.tags),
        "label": tv.label,
        "rows": table.num_rows,
        "excluded_failed": excluded,
        "with_audio": with_audio,
        "with_stems": with_stems,
        "audio_columns": audio_columns,
        "shards": shards,
    }
    (hf_dir / PROVENANCE_FILE).write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return HfExport(
        hf_dir, tv, table.num_rows, shards, audio_columns, excluded, [p.file for p in plots]
    )
