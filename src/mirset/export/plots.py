"""Dataset plots for the card: feature histograms, a correlation heatmap, tempo and key counts.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state) and
saved without a timestamp or software tag, so the same table version gives the same PNG bytes.
A plot with nothing to show (no tempo computed, fewer than two numeric features) is not drawn;
the card says why instead of showing an empty figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mirset.export.tableinfo import FieldInfo, numeric_features

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MIN_ROWS_CORRELATION = 3


@dataclass(frozen=True)
class Plot:
    file: str  # relative to the repo root, e.g. "plots/tempo.png"
    title: str
    caption: str


@dataclass(frozen=True)
class Skipped:
    title: str
    reason: str


def column_values(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with nulls as NaN."""
    col = table.column(name).cast(pa.float64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def _figure(width: float, height: float):  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})


def plotted_features(table: pa.Table) -> list[FieldInfo]:
    """Numeric features with at least one value (chroma bins are drawn as one profile)."""
    out = []
    for f in numeric_features(table.schema):
        if f.name.startswith("chroma_"):
            continue
        if np.isfinite(column_values(table, f.name)).any():
            out.append(f)
    return out


def histograms(table: pa.Table, path: Path, features: Sequence[FieldInfo]) -> None:
    cols = 4
    rows = math.ceil(len(features) / cols)
    fig = _figure(cols * 3.2, rows * 2.4)
    for i, f in enumerate(features):
        ax = fig.add_subplot(rows, cols, i + 1)
        values = column_values(table, f.name)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#3b6ea8")
        unit = f" [{f.unit}]" if f.unit else ""
        ax.set_title(f"{f.name}{unit}", fontsize=8)
        ax.tick_params(labelsize=7)
        if f.range is not None:
            ax.set_xlabel(f"valid {f.range_text}; n={len(values)}", fontsize=7)
        else:
            ax.set_xlabel(f"n={len(values)}", fontsize=7)
    _save(fig, path)


def correlation_matrix(
    table: pa.Table, features: Sequence[FieldInfo]
) -> tuple[list[str], np.ndarray]:
    """Pearson correlation over pairwise-complete rows; features without variance are left out."""
    names, columns = [], []
    for f in features:
        v = column_values(table, f.name)
        ok = v[np.isfinite(v)]
        if len(ok) >= MIN_ROWS_CORRELATION and np.ptp(ok) > 0:
            names.append(f.name)
            columns.append(v)
    n = len(names)
    corr = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i, n):
            both = np.isfinite(columns[i]) & np.isfinite(columns[j])
            if both.sum() >= MIN_ROWS_CORRELATION:
                a, b = columns[i][both], columns[j][both]
                if np.ptp(a) > 0 and np.ptp(b) > 0:
                    corr[i, j] = corr[j, i] = float(np.corrcoef(a, b)[0, 1])
    return names, corr


def correlation(table: pa.Table, path: Path, names: list[str], corr: np.ndarray) -> None:
    size = max(5.0, 0.32 * len(names) + 2)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(corr), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson r")
    _save(fig, path)


def tempo(values: np.ndarray, path: Path) -> None:
    fig = _figure(6, 3)
    ax = fig.add_subplot(1, 1, 1)
    lo = 5 * math.floor(values.min() / 5)
    hi = 5 * math.ceil(values.max() / 5) + 5
    ax.hist(values, bins=np.arange(lo, hi + 5, 5), color="#3b6ea8", edgecolor="white")
    ax.set_xlabel("tempo [BPM] (5 BPM bins)")
    ax.set_ylabel("tracks")
    _save(fig, path)


def key_counts(table: pa.Table) -> dict[str, int]:
    """``{"C major": n, ...}`` over the 24 keys, in pitch-class order (majors then minors)."""
    keys = table.column("key").to_pylist()
    modes = table.column("mode").to_pylist()
    counts = {f"{pc} {m}": 0 for m in ("major", "minor") for pc in PITCH_CLASSES}
    for k, m in zip(keys, modes, strict=True):
        if k and m and f"{k} {m}" in counts:
            counts[f"{k} {m}"] += 1
    return counts


def keys(counts: dict[str, int], path: Path) -> None:
    fig = _figure(9, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    labels = list(counts)
    colors = ["#3b6ea8" if k.endswith("major") else "#a8553b" for k in labels]
    ax.bar(range(len(labels)), list(counts.values()), color=colors)
    ax.set_xticks(
        range(len(labels)), [k.replace(" major", "").replace(" minor", "m") for k in labels]
    )
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel("tracks")
    ax.set_xlabel("key (blue: major, red: minor)")
    _save(fig, path)


def chroma_profile(table: pa.Table, path: Path) -> bool:
    names = [f"chroma_{i}" for i in range(12)]
    if not all(n in table.column_names for n in names):
        return False
    matrix = np.stack([column_values(table, n) for n in names], axis=1)
    matrix = matrix[np.isfinite(matrix).all(axis=1)]
    if len(matrix) == 0:
        return False
    fig = _figure(6, 3)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(12), matrix.mean(axis=0), color="#3b6ea8")
    ax.set_xticks(range(12), PITCH_CLASSES)
    ax.set_ylabel("mean chroma")
    _save(fig, path)
    return True


def make_plots(table: pa.Table, repo_dir: Path) -> tuple[list[Plot], list[Skipped]]:
    """Draw every plot that has data into ``repo_dir/plots``; say why the others are missing."""
    plots: list[Plot] = []
    skipped: list[Skipped] = []
    out = Path(repo_dir) / "plots"
    n = table.num_rows

    features = plotted_features(table)
    if features:
        histograms(table, out / "feature_histograms.png", features)
        plots.append(
            Plot(
                "plots/feature_histograms.png",
                "Feature distributions",
                f"Histograms of the {len(features)} numeric features over the {n} tracks "
                "(valid range and count of non-null values under each).",
            )
        )
    else:
        skipped.append(Skipped("Feature distributions", "no numeric feature has a value"))

    names, corr = correlation_matrix(table, features)
    if len(names) >= 2:
        correlation(table, out / "correlation.png", names, corr)
        plots.append(
            Plot(
                "plots/correlation.png",
                "Feature correlations",
                f"Pearson correlation between {len(names)} numeric features (pairwise-complete "
                "rows; features without variance left out).",
            )
        )
    else:
        skipped.append(
            Skipped(
                "Feature correlations",
                f"needs two numeric features that vary over at least {MIN_ROWS_CORRELATION} tracks",
            )
        )

    bpm = column_values(table, "bpm") if "bpm" in table.column_names else np.array([])
    bpm = bpm[np.isfinite(bpm)]
    if len(bpm):
        tempo(bpm, out / "tempo.png")
        plots.append(
            Plot(
                "plots/tempo.png",
                "Tempo distribution",
                f"BPM of the {len(bpm)} tracks with a steady beat ({n - len(bpm)} without: "
                "no tempo is recorded for them).",
            )
        )
    else:
        skipped.append(Skipped("Tempo distribution", "no track has a tempo (beats not run?)"))

    if "key" in table.column_names and "mode" in table.column_names:
        counts = key_counts(table)
        if sum(counts.values()):
            keys(counts, out / "keys.png")
            plots.append(
                Plot(
                    "plots/keys.png",
                    "Key distribution",
                    f"Estimated key of {sum(counts.values())} tracks over the 24 major/minor keys.",
                )
            )
        else:
            skipped.append(Skipped("Key distribution", "no track has a key"))
    else:
        skipped.append(Skipped("Key distribution", "the harmony extractor did not run"))

    if chroma_profile(table, out / "chroma.png"):
        plots.append(
            Plot(
                "plots/chroma.png",
                "Mean chroma",
                "Mean pitch-class profile (chroma_0 … chroma_11, index 0 = C) over the tracks.",
            )
        )
    return plots, skipped
