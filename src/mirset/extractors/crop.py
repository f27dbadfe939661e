"""Crop provenance (opt-in; ``mirset crops`` runs it): where a training crop comes from, read from
the ``<Folder>_<N>.INFO`` that ``mirset crops`` writes beside the crop before its build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.schemas.fields import FeatureField


@register
class CropProvenance(Extractor):
    """The crop's place in its source track; the crop's own features come from the other
    extractors, run on the crop's audio (its own bpm and beats, never the track's)."""

    name = "crop"
    version = "1"
    default = False
    fields = (
        FeatureField(
            "position", pa.float64(), "ratio", "crop start / source length (samples)", (0.0, 1.0)
        ),
        FeatureField("start_time", pa.float64(), "s", "crop start in the source"),
        FeatureField("end_time", pa.float64(), "s", "crop end in the source (exclusive)"),
        FeatureField("start_sample", pa.int64(), "samples", "first sample in the source"),
        FeatureField("end_sample", pa.int64(), "samples", "end sample in the source (exclusive)"),
        FeatureField("duration", pa.float64(), "s", "crop length"),
        FeatureField("samples", pa.int64(), "samples", "crop length"),
        FeatureField("source", pa.string(), "", "the source track's relative_path in its table"),
        FeatureField("has_stems", pa.bool_(), "", "stem crops were written beside the crop"),
        FeatureField("stem_names", pa.list_(pa.string()), "", "stems cropped with the same range"),
        FeatureField("crop_index", pa.int32(), "", "N of <Folder>_<N>"),
        FeatureField("crop_mode", pa.string(), "", "beat_aligned (downbeat starts) or sequential"),
        FeatureField("source_track_id", pa.string(), "", "track_id of the source track"),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        path = Path(ctx.path)
        info_path = path.parent / f"{path.stem}.INFO"
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if "start_sample" not in info:
            return {
                f.name: Null(f"not a crop: no provenance in {info_path.name}") for f in self.fields
            }
        return {
            f.name: info[f.name] if info.get(f.name) is not None else Null(f"no {f.name} in .INFO")
            for f in self.fields
        }
