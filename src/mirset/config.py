"""One typed configuration: a YAML file plus CLI overrides, hashed into every row's provenance."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


def default_workers() -> int:
    """Worker processes by default: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnalysisConfig(_Strict):
    """Shared analysis views. Changing these changes every extractor's output."""

    sample_rate: int = Field(
        44100, description="rate of the shared spectrogram and onset views (Hz)"
    )
    n_fft: int = Field(2048, description="STFT frame length (samples at sample_rate)")
    hop_length: int = Field(512, description="STFT hop (samples at sample_rate)")
    n_mels: int = Field(128, description="mel bands of the onset-strength view")


class BuildConfig(_Strict):
    """How a build runs. None of these change feature values, so they are not hashed."""

    workers: int = Field(
        default_factory=default_workers, description="worker processes (0 = in-process)"
    )
    batch_size: int = Field(32, description="tracks per table commit")
    track_timeout_s: float = Field(900.0, description="per-track time limit (s); 0 disables it")
    max_duration_s: float = Field(4 * 3600.0, description="longer tracks fail with a clear reason")
    max_decoded_mb: int = Field(6144, description="decoded float32 size above which a track fails")
    sidecars: Literal["auto", "beside", "out", "none"] = Field(
        "auto", description="auto: beside organised tracks, under OUT_DIR/tracks for flat files"
    )
    stems: Literal["auto", "out"] = Field(
        "auto",
        description="separated stems: auto = beside organised tracks, under OUT_DIR/stems for "
        "flat files; out = always under OUT_DIR/stems",
    )
    models_dir: str | None = Field(
        None, description="model weights folder (default: $MIRSET_MODELS or ~/.cache/mirset/models)"
    )
    track_batch: int = Field(
        0,
        ge=0,
        description="tracks per worker call, so GPU models batch across tracks; 0 = auto "
        "(4 when a batching extractor runs and a CUDA GPU is visible, else 1)",
    )
    extractors: list[str] | None = Field(None, description="extractors to run (None = all)")
    exclude: list[str] = Field(
        default_factory=list, description="extractors not to run (e.g. stems on a CPU-only box)"
    )
    retry_failed: bool = False
    executor: Literal["local", "ray"] = Field(
        "local", description="local: worker processes here; ray: Ray actors (local or a cluster)"
    )
    ray_address: str | None = Field(
        None, description="Ray cluster address (default: $RAY_ADDRESS, else start Ray here)"
    )
    ray_cpu_actors: int = Field(0, ge=0, description="CPU-stage actors (0 = the cluster's CPUs)")
    ray_gpu_actors: int = Field(
        0, ge=0, description="GPU-stage actors (0 = per GPU, by the models' GPU fractions)"
    )
    ray_retries: int = Field(2, ge=0, description="retries of a call whose actor died")


class MirsetConfig(_Strict):
    """The whole configuration."""

    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    extractor_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-extractor parameter overrides, by extractor name"
    )

    def config_hash(self) -> str:
        """Hash of everything that can change feature values (analysis + extractor params)."""
        payload = {"analysis": self.analysis.model_dump(), "params": self.extractor_params}
        return stable_hash(payload)


def stable_hash(obj: Any, length: int = 12) -> str:
    """A short, order-independent hash of a JSON-serialisable object."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> MirsetConfig:
    """Read a YAML config (optional) and apply dotted-key overrides such as ``build.workers``."""
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the config file must hold a mapping")
        data = loaded
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return MirsetConfig.model_validate(data)
