"""Embedded tags: artist, title, album, year and genre of the file (``.INFO`` keys
``track_metadata_*``, as the old tool's stage 1c wrote them), from every common format."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.metadata.tags import read_tags
from mirset.schemas.fields import FeatureField


@register
class TrackMetadata(Extractor):
    """The file's own tags through mutagen (ID3, Vorbis comments, MP4, APEv2, ASF) plus the
    RIFF INFO chunk of WAV files and the AIFF text chunks; the first value of each tag."""

    name = "track_metadata"
    version = "1"
    fields = (
        FeatureField("track_metadata_artist", pa.string(), "", "artist tag (first value)"),
        FeatureField("track_metadata_title", pa.string(), "", "title tag (first value)"),
        FeatureField("track_metadata_album", pa.string(), "", "album tag (first value)"),
        FeatureField(
            "track_metadata_year",
            pa.int32(),
            "year",
            "year of the date tag (first four-digit year in it; ID3 TDRC, then TYER)",
            (1000.0, 2999.0),
        ),
        FeatureField(
            "track_metadata_genre",
            pa.string(),
            "",
            "genre tag (first value; ID3 numeric genres resolved to names)",
        ),
    )

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        tags = read_tags(ctx.path)
        out: dict[str, Any] = {}
        for key in ("artist", "title", "album", "year", "genre"):
            value = tags.get(key)
            if value is not None:
                out[f"track_metadata_{key}"] = value
            elif not tags:
                out[f"track_metadata_{key}"] = Null("no tags in the file")
            else:
                out[f"track_metadata_{key}"] = Null(f"no {key} tag")
        return out
