"""The dataset card (``README.md``) of an exported Hugging Face dataset repo.

The YAML header is what the Hub and ``datasets`` read: ``configs`` / ``data_files`` point at the
Parquet shards and ``dataset_info`` declares every feature (the ``Audio`` columns included), so
``load_dataset(HF_DIR)`` gets the right types. The body documents every column from the schema
metadata stored in the table (unit, valid range, description, extractor and version), the
provenance of the export, statistics computed from the exported rows, and the plots.
Nothing in it depends on when the export ran: the same table version gives the same card.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from mirset.export.plots import Plot, Skipped, column_values
from mirset.export.tableinfo import FieldInfo, field_infos
from mirset.export.versions import TableVersion


@dataclass
class CardInput:
    """Everything the card shows; built by :func:`mirset.export.hf.export_hf`."""

    pretty_name: str
    version: TableVersion
    mirset_version: str
    table: pa.Table  # exported rows, without the audio columns
    features_yaml: list[dict[str, Any]]
    num_bytes: int
    shards: list[str]
    audio_columns: list[str]
    excluded_failed: int
    dropped_columns: list[str]
    plots: list[Plot] = field(default_factory=list)
    skipped_plots: list[Skipped] = field(default_factory=list)
    license: str | None = None
    extractor_versions: Mapping[str, str] = field(default_factory=dict)
    build_configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # hash -> config


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def yaml_header(c: CardInput) -> str:
    head: dict[str, Any] = {"pretty_name": c.pretty_name}
    if c.license:
        head["license"] = c.license
    head["tags"] = ["music", "audio", "mirset"]
    if c.audio_columns:
        head["task_categories"] = ["text-to-audio", "audio-classification"]
    head["size_categories"] = [size_category(c.table.num_rows)]
    head["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*.parquet"}],
        }
    ]
    head["dataset_info"] = {
        "features": c.features_yaml,
        "splits": [{"name": "train", "num_bytes": c.num_bytes, "num_examples": c.table.num_rows}],
        "download_size": c.num_bytes,
        "dataset_size": c.num_bytes,
    }
    text = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{text}---\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return ""
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:.4g}"


def numeric_stats(table: pa.Table, fields: Sequence[FieldInfo]) -> list[list[str]]:
    """Per numeric field: values, nulls, min, mean, median, max, values outside the valid range."""
    rows = []
    for f in fields:
        v = column_values(table, f.name)
        ok = v[np.isfinite(v)]
        if len(ok) == 0:
            rows.append([f"`{f.name}`", "0", str(len(v)), "", "", "", "", ""])
            continue
        outside = ""
        if f.range is not None:
            outside = str(int(((ok < f.range[0]) | (ok > f.range[1])).sum()))
        rows.append(
            [
                f"`{f.name}`",
                str(len(ok)),
                str(len(v) - len(ok)),
                _fmt(float(ok.min())),
                _fmt(float(ok.mean())),
                _fmt(float(np.median(ok))),
                _fmt(float(ok.max())),
                outside,
            ]
        )
    return rows


def _status_counts(table: pa.Table, fields: Sequence[FieldInfo]) -> list[list[str]]:
    out = []
    for f in fields:
        if not (f.bookkeeping and f.name == f"{f.extractor}_status"):
            continue
        states = Counter(
            (s or "not run").split(":")[0].split(";")[0] for s in table.column(f.name).to_pylist()
        )
        out.append(
            [
                f.extractor,
                str(states.get("ok", 0)),
                str(states.get("failed", 0)),
                str(states.get("unavailable", 0)),
                str(states.get("not run", 0)),
            ]
        )
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return lines


def _counter_text(values: Sequence[Any]) -> str:
    counts = Counter(str(v) for v in values if v is not None)
    return ", ".join(
        f"{k} ({n})" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def render(c: CardInput) -> str:
    t = c.table
    infos = field_infos(t.schema)
    numeric = [f for f in infos if f.numeric]
    n = t.num_rows
    hours = (
        float(np.nansum(column_values(t, "duration_s"))) / 3600
        if "duration_s" in t.column_names
        else 0.0
    )
    v = c.version
    tag_text = f" (tag{'s' if len(v.tags) > 1 else ''} {', '.join(v.tags)})" if v.tags else ""
    lines = [yaml_header(c), f"# {c.pretty_name}", ""]
    lines += [
        f"{n} music tracks ({hours:.2f} hours of audio) analysed by mirset into"
        f" {len(numeric)} numeric features and "
        f"{len(infos) - len(numeric)} other columns: one row per track, keyed by `relative_path`. "
        f"Table version {v.version}{tag_text}, committed {v.timestamp or 'at an unknown time'}.",
        "",
    ]
    if c.audio_columns:
        lines += [
            "The audio is embedded as `datasets` `Audio` columns ("
            + ", ".join(f"`{a}`" for a in c.audio_columns)
            + "): the original files' bytes, unchanged (checked against the build's file hash).",
            "",
        ]
    else:
        lines += ["Features only: the audio is not included (export with `--with-audio`).", ""]
    lines += [
        "## Usage",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/or/hub-id", split="train")',
        "",
        "# or, for training (audio crops + conditioning, works with DataLoader workers):",
        "from mirset.load import MirsetDataset",
        'train = MirsetDataset("path/to/this/repo", seconds=10.0, sample_rate=44100, features=["bpm"])',
        "```",
        "",
    ]

    # -------------------------------------------------------------- statistics
    lines += ["## Dataset statistics", ""]
    stats = [
        ["tracks", str(n)],
        ["hours of audio", f"{hours:.2f}"],
        ["tracks left out (failed analysis)", str(c.excluded_failed)],
        ["Parquet shards", str(len(c.shards))],
        ["size of the shards", f"{c.num_bytes / 1e6:.1f} MB"],
    ]
    for col, what in (
        ("layout", "layouts"),
        ("codec", "codecs"),
        ("sample_rate", "sample rates (Hz)"),
        ("channels", "channels"),
    ):
        if col in t.column_names:
            stats.append([what, _counter_text(t.column(col).to_pylist())])
    lines += [*_md_table(["", ""], stats), ""]
    status_rows = _status_counts(t, infos)
    if status_rows:
        lines += [
            "Extractor outcomes per track (a null value always has its reason in the "
            "`<extractor>_status` column):",
            "",
        ]
        lines += _md_table(["extractor", "ok", "failed", "unavailable", "not run"], status_rows)
        lines += [""]
    if numeric:
        lines += [
            "Numeric features (`outside` counts values beyond the documented valid range; "
            "they are kept as computed, never clipped):",
            "",
        ]
        lines += _md_table(
            ["feature", "values", "nulls", "min", "mean", "median", "max", "outside"],
            numeric_stats(t, numeric),
        )
        lines += [""]

    # -------------------------------------------------------------- plots
    lines += ["## Plots", ""]
    for p in c.plots:
        lines += [f"### {p.title}", "", f"![{p.title}]({p.file})", "", p.caption, ""]
    for s in c.skipped_plots:
        lines += [f"*{s.title}: not drawn ({s.reason}).*", ""]

    # -------------------------------------------------------------- fields
    lines += [
        "## Fields",
        "",
        "Every column, with the metadata the mirset schema gives it (also stored on each field of "
        "the Parquet schema). `range` is the valid range; values outside it are flagged, not "
        "clipped. Per-extractor `_version`, `_params` (parameter hash) and `_status` columns "
        "record how each value was computed.",
        "",
    ]
    rows = []
    for f in infos:
        ext = f"{f.extractor} ({f.version})" if f.extractor and f.version else f.extractor
        rows.append([f"`{f.name}`", f.type, f.unit, f.range_text, ext, f.description])
    for a in c.audio_columns:
        what = "the track" if a == "audio" else f"the {a.removeprefix('audio_')} stem"
        rows.append([f"`{a}`", "Audio", "", "", "export", f"{what}: original file bytes and path"])
    lines += _md_table(
        ["column", "type", "unit", "range", "extractor (version)", "description"], rows
    )
    lines += [""]
    if c.dropped_columns:
        lines += [
            "Left out of the export (paths and times of the build machine): "
            + ", ".join(f"`{d}`" for d in c.dropped_columns)
            + ".",
            "",
        ]

    # -------------------------------------------------------------- provenance
    config_hashes = (
        _counter_text(t.column("config_hash").to_pylist())
        if "config_hash" in t.column_names
        else ""
    )
    built_with = (
        _counter_text(t.column("mirset_version").to_pylist())
        if "mirset_version" in t.column_names
        else ""
    )
    prov = [
        ["exported by", f"mirset {c.mirset_version}"],
        ["rows built by", f"mirset {built_with}"],
        ["table version", str(v.version)],
        ["tags", ", ".join(v.tags) or "none"],
        ["table version committed", v.timestamp or ""],
        ["config hash (tracks)", config_hashes],
    ]
    prov += [[f"extractor `{k}`", val] for k, val in c.extractor_versions.items()]
    lines += ["## Provenance", ""]
    lines += _md_table(["", ""], prov)
    lines += [
        "",
        "Re-create this export exactly from the same table with "
        f"`mirset export hf OUT_DIR HF_DIR --version {v.spec}`"
        + (" --with-audio" if "audio" in c.audio_columns else "")
        + (" --with-stems" if any(a != "audio" for a in c.audio_columns) else "")
        + ". Each extractor's parameters are hashed per row in `<extractor>_params`.",
        "",
    ]
    used = set(t.column("config_hash").to_pylist()) if "config_hash" in t.column_names else set()
    configs = {h: cfg for h, cfg in c.build_configs.items() if h in used}
    if configs:
        lines += [
            "### Build configuration",
            "",
            "The analysis settings and extractor parameters the rows were built with, by "
            "`config_hash` (recorded in the table's commits):",
            "",
        ]
        for h, cfg in sorted(configs.items()):
            lines += [
                f"`{h}`:",
                "",
                "```json",
                json.dumps(cfg, indent=2, sort_keys=True),
                "```",
                "",
            ]
    return "\n".join(lines)
