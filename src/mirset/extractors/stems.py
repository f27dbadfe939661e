"""``stems``: Demucs source separation into ``drums``, ``bass``, ``other``, ``vocals`` files.

A complete set of stems already beside the track (or written by an earlier build) is reused,
never recomputed. Otherwise the model (``htdemucs`` by default; weights from the model store) is
loaded once per worker, on the GPU when there is one, and :class:`~mirset.separation.
BatchedSeparator` runs it with ``shifts=0`` (deterministic) — segments batched into each forward
pass, finished samples streamed straight into the stem files, so a one-hour track separates in
bounded memory. Like the ``demucs`` command, the mix is normalised (mean and standard deviation of
its mono sum) before separation and the stems scaled back (the mean shared among the stems, so
they add up to the mix). Files are written under temporary
names and renamed into place once complete. The per-stem extractors then read these stems.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import soundfile as sf
from pydantic import BaseModel, ConfigDict, Field

from mirset import models
from mirset.audio import resample
from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, Resources, register
from mirset.schemas.fields import FeatureField

FORMATS = {"flac": ("FLAC", "PCM_24"), "wav": ("WAV", "FLOAT"), "mp3": ("MP3", "MPEG_LAYER_III")}


class StemsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "htdemucs"  # a Demucs model of the store: htdemucs, htdemucs_ft, htdemucs_6s
    format: Literal["flac", "wav", "mp3"] = "flac"
    overlap: float = Field(0.25, ge=0.0, lt=1.0)
    # segments per forward pass; 0 = 8 on a GPU, 1 on CPU, where bigger batches only cost
    # (bench/demucs_batching.py: 0.73x the speed of one segment per pass at 4, one thread)
    batch_segments: int = Field(0, ge=0)
    device: str = "auto"  # auto: cuda when available, else cpu


def demucs_import_error() -> str | None:
    try:
        import demucs.pretrained  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        return f"needs PyTorch and Demucs ({e.name} is missing): pip install 'mirset[stems]'"
    return None


def to_model_input(samples: np.ndarray, sample_rate: int, model_rate: int, channels: int):  # type: ignore[no-untyped-def]
    """(channels, n) float32 tensor at the model's rate, channels as demucs converts them."""
    import torch

    if samples.shape[0] == channels:
        x = samples
    elif channels == 1:
        x = samples.mean(axis=0, keepdims=True)
    elif samples.shape[0] == 1:
        x = np.repeat(samples, channels, axis=0)
    else:  # more channels than the model takes: the first ones, as demucs does
        x = samples[:channels]
    return torch.from_numpy(np.ascontiguousarray(resample(x, sample_rate, model_rate)))


class StemWriter:
    """Streams separated audio into one temporary file per source; ``commit`` renames them."""

    def __init__(
        self,
        folder: Path,
        sources: list[str],
        rate: int,
        channels: int,
        fmt: str,
        keep: frozenset[str] = frozenset(),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        kind, subtype = FORMATS[fmt]
        self.final = {s: folder / f"{s}.{fmt}" for s in sources if s not in keep}
        self.tmp: dict[str, Path] = {}
        self.files: dict[str, sf.SoundFile] = {}
        for s in self.final:
            fd, name = tempfile.mkstemp(prefix=f".{s}.", suffix=f".{fmt}.part", dir=folder)
            os.close(fd)
            self.tmp[s] = Path(name)
            self.files[s] = sf.SoundFile(name, "w", rate, channels, subtype, format=kind)
        self.folder, self.fmt = folder, fmt
        self.sources = sources
        self.scale = (1.0, 0.0)
        self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        """(sources, channels, n) normalised audio: scaled back, clamped to full scale. The
        mix's DC offset is shared equally among the sources so they sum to the mix (the
        ``demucs`` command adds it to every stem)."""
        std, mean = self.scale
        offset = mean / len(self.sources)
        for s, audio in zip(self.sources, block, strict=True):
            if s not in self.files:  # an existing stem file: kept, never overwritten
                continue
            y = audio * std + offset
            over = np.abs(y) > 1.0
            self.clipped += int(over.sum())
            self.files[s].write(np.clip(y, -1.0, 1.0).T)

    def folder_path(self, source: str) -> Path:
        return self.folder / f"{source}.{self.fmt}"

    def commit(self) -> dict[str, Path]:
        for f in self.files.values():
            f.close()
        for s, tmp in self.tmp.items():
            os.replace(tmp, self.final[s])
        return dict(self.final)

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        for tmp in self.tmp.values():
            tmp.unlink(missing_ok=True)


@register
class Stems(Extractor):
    """Source separation with Demucs, written into the organised layout and reused after."""

    name = "stems"
    version = "1"
    Params = StemsParams
    resources = Resources(cpus=1.0, gpus=1.0, memory_mb=4096, batch_size=8)
    fields = (
        FeatureField(
            "stems_source",
            pa.string(),
            "",
            "where the stems come from: 'existing' files, or the Demucs model that separated them",
        ),
        FeatureField(
            "stems_clipped_samples",
            pa.int64(),
            "samples",
            "separated samples beyond full scale, clamped when written (0 for existing stems)",
            (0.0, 1e12),
        ),
    )

    @property
    def weights(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.params.model,)  # type: ignore[attr-defined]

    def unavailable_reason(self) -> str | None:
        p: StemsParams = self.params  # type: ignore[assignment]
        spec = models.REGISTRY.get(p.model)
        if spec is None or spec.family != "demucs":
            return f"unknown Demucs model {p.model!r}; choose one of {list(models.REGISTRY)}"
        if (why := demucs_import_error()) is not None:
            return why
        try:
            models.store().require(p.model)
        except models.MissingWeights as e:
            return str(e)
        return None

    def setup(self) -> None:
        import torch
        from demucs.pretrained import get_model

        from mirset.separation import BatchedSeparator

        p: StemsParams = self.params  # type: ignore[assignment]
        device = (
            p.device if p.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        model = get_model(p.model, repo=models.store().require(p.model))
        self.sources: list[str] = list(model.sources)
        self.rate = int(model.samplerate)
        self.channels = int(model.audio_channels)
        batch = p.batch_segments or (8 if device.startswith("cuda") else 1)
        self.separator = BatchedSeparator(model, device, batch, p.overlap)

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        return self.extract_batch([ctx])[0]

    def extract_batch(self, ctxs: list[TrackContext]) -> list[dict[str, Any]]:  # type: ignore[override]
        if not hasattr(self, "separator"):
            self.setup()
        results: list[dict[str, Any] | None] = [None] * len(ctxs)
        jobs = []
        for i, ctx in enumerate(ctxs):
            if all(s in ctx.stem_paths for s in self.sources):
                results[i] = {"stems_source": "existing", "stems_clipped_samples": 0}
            elif ctx.stems_dir is None:
                why = Null("no folder to write stems to")
                results[i] = {"stems_source": why, "stems_clipped_samples": why}
            else:
                jobs.append((i, ctx))
        mixes, writers = [], []
        try:
            for i, ctx in jobs:
                mix = to_model_input(ctx.samples, ctx.sample_rate, self.rate, self.channels)
                ref = mix.mean(0)
                mean, std = float(ref.mean()), float(ref.std())
                if not std > 0:
                    why = Null("silent track: nothing to separate")
                    results[i] = {"stems_source": why, "stems_clipped_samples": why}
                    continue
                folder = Path(ctx.stems_dir)  # type: ignore[arg-type]
                fmt = self.params.format  # type: ignore[attr-defined]
                keep = frozenset(
                    s
                    for s in self.sources
                    if s in ctx.stem_paths or (folder / f"{s}.{fmt}").exists()
                )
                writer = StemWriter(folder, self.sources, self.rate, self.channels, fmt, keep)
                writer.scale = (std, mean)
                writers.append((i, ctx, writer))
                mixes.append((mix - mean) / std)
            self.separator.separate(mixes, [w.write for _, _, w in writers])
        except BaseException:
            for _, _, w in writers:
                w.abort()
            raise
        for i, ctx, writer in writers:
            written = writer.commit()
            for s in self.sources:  # kept files too: complete sets are reused next time
                ctx.stem_paths.setdefault(s, written.get(s, writer.folder_path(s)))
            kept = len(self.sources) - len(written)
            source = self.params.model  # type: ignore[attr-defined]
            results[i] = {
                "stems_source": source + (f" ({kept} existing kept)" if kept else ""),
                "stems_clipped_samples": writer.clipped,
            }
        return results  # type: ignore[return-value]
