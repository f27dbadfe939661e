"""Online metadata (opt-in: ``mirset build --lookup`` or ``-e metadata_lookup``): release year
and date, artists, label, genres, popularity, Spotify / MusicBrainz ids and ISRC, from Spotify
and MusicBrainz, matched by score and cached (``mirset.metadata.lookup``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mirset.config import stable_hash
from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, register
from mirset.metadata import lookup as lk
from mirset.schemas.fields import FeatureField


class LookupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[Literal["spotify", "musicbrainz"]] = Field(
        default_factory=lambda: ["spotify", "musicbrainz"],
        description="services in order: the first fills a field, later ones fill gaps",
    )
    min_score: float = Field(0.75, ge=0.0, le=1.0, description="lowest accepted match score")
    # operational settings below: they do not change what a match is, so they are not hashed
    cache_dir: str | None = Field(
        None, description="answer cache (default $MIRSET_LOOKUP_CACHE or ~/.cache/mirset/lookup)"
    )
    contact: str | None = Field(
        None, description="e-mail or URL for the MusicBrainz user agent (default $MIRSET_CONTACT)"
    )
    spotify_api_url: str = lk.SPOTIFY_API_URL
    spotify_token_url: str = lk.SPOTIFY_TOKEN_URL
    spotify_interval_s: float = Field(0.1, ge=0.0)
    musicbrainz_host: str = lk.MUSICBRAINZ_HOST
    musicbrainz_https: bool = True
    musicbrainz_interval_s: float = Field(1.0, ge=0.0)
    max_retry_after_s: float = Field(60.0, ge=0.0)
    timeout_s: float = Field(10.0, gt=0.0)

    @model_validator(mode="after")
    def _polite(self) -> LookupParams:
        if self.musicbrainz_host == lk.MUSICBRAINZ_HOST and self.musicbrainz_interval_s < 1.0:
            raise ValueError("musicbrainz.org allows at most 1 request per second")
        return self


@register
class MetadataLookup(Extractor):
    """Spotify then MusicBrainz; the best candidate by title/artist/duration score."""

    name = "metadata_lookup"
    version = "1"
    default = False  # online: only when asked for
    needs = ("track_metadata",)
    Params = LookupParams
    fields = (
        FeatureField(
            "release_year",
            pa.int32(),
            "year",
            "earliest release year any source reports (original release)",
            (1000.0, 2999.0),
        ),
        FeatureField(
            "release_date", pa.string(), "", "earliest release date (YYYY, YYYY-MM or YYYY-MM-DD)"
        ),
        FeatureField("artists", pa.list_(pa.string()), "", "every credited artist of the match"),
        FeatureField("label", pa.string(), "", "record label (Spotify album, else MusicBrainz)"),
        FeatureField(
            "genres",
            pa.list_(pa.string()),
            "",
            "Spotify genres of the first artist, else MusicBrainz tags by votes",
        ),
        FeatureField("popularity", pa.int32(), "score", "Spotify popularity", (0.0, 100.0)),
        FeatureField("spotify_id", pa.string(), "", "Spotify track id of the match"),
        FeatureField("musicbrainz_id", pa.string(), "", "MusicBrainz recording MBID of the match"),
        FeatureField("isrc", pa.string(), "", "ISRC of the matched recording"),
        FeatureField(
            "lookup_sources",
            pa.list_(pa.string()),
            "",
            "services whose match filled the fields",
            info_key=None,
        ),
        FeatureField(
            "lookup_score",
            pa.float64(),
            "ratio",
            "lowest accepted match score (title 0.5, artist 0.3, duration 0.2)",
            (0.0, 1.0),
            info_key=None,
        ),
    )

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self._clients: list[Any] | None = None

    @property
    def params_hash(self) -> str:
        return stable_hash(
            {
                "services": self.configured(),
                "min_score": self.params.min_score,
            }
        )

    def contact(self) -> str | None:
        return self.params.contact or os.environ.get("MIRSET_CONTACT") or None

    def configured(self) -> list[str]:
        """The services that can be asked here (credentials / contact present)."""
        out = []
        for s in self.params.services:
            if (s == "spotify" and lk.spotify_credentials()) or (
                s == "musicbrainz" and self.contact()
            ):
                out.append(s)
        return out

    def unavailable_reason(self) -> str | None:
        try:
            import musicbrainzngs  # noqa: F401
            import spotipy  # noqa: F401
        except ImportError:
            return "needs the lookup clients: pip install 'mirset[lookup]'"
        if not self.configured():
            return (
                "no lookup service configured: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET "
                "for Spotify, and/or MIRSET_CONTACT (an e-mail or URL for the user agent, as "
                "MusicBrainz asks) for MusicBrainz"
            )
        return None

    def setup(self) -> None:
        p = self.params
        folder = Path(p.cache_dir).expanduser() if p.cache_dir else lk.default_cache_dir()
        cache = lk.Cache(folder)
        clients: list[Any] = []
        for s in self.configured():
            if s == "spotify":
                creds = lk.spotify_credentials()
                assert creds is not None
                clients.append(
                    lk.SpotifyClient(
                        creds,
                        cache,
                        lk.RateLimiter(folder, "spotify", p.spotify_interval_s),
                        p.spotify_api_url,
                        p.spotify_token_url,
                        p.timeout_s,
                        lk.Backoff(max_wait_s=p.max_retry_after_s),
                    )
                )
            else:
                contact = self.contact()
                assert contact is not None
                clients.append(
                    lk.MusicBrainzClient(
                        contact,
                        cache,
                        lk.RateLimiter(folder, "musicbrainz", p.musicbrainz_interval_s),
                        p.musicbrainz_host,
                        p.musicbrainz_https,
                    )
                )
        self._clients = clients

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if self._clients is None:
            self.setup()
        assert self._clients is not None
        tags_row = ctx.results.get("track_metadata") or {}
        tags = {
            k: tags_row.get(f"track_metadata_{k}")
            for k in ("artist", "title", "album")
            if tags_row.get(f"track_metadata_{k}")
        }
        path = Path(ctx.path)
        name = path.parent.name if path.stem == "full_mix" else path.stem
        q = lk.query_for(tags, name, ctx.duration_s)
        if q is None:
            return {f.name: Null("no title in the tags or the file name") for f in self.fields}
        res = lk.lookup(q, self._clients, self.params.min_score)
        if res.errors and not res.sources:
            # transient (network, rate limit): the track's lookup failed, --retry-failed retries
            raise RuntimeError("; ".join(res.errors))
        out: dict[str, Any] = {
            k: res.values.get(k, Null(res.reasons.get(k, "?"))) for k in lk.OUTPUT_KEYS
        }
        out["lookup_sources"] = res.sources if res.sources else Null("no match")
        out["lookup_score"] = res.score if res.score is not None else Null("no match")
        return out
