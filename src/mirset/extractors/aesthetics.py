"""``aesthetics``: Audiobox Aesthetics scores (Tjandra et al. 2025), 1..10 on four axes.

The model is the ``audiobox-aesthetics`` package's ``AesMultiOutput`` (a WavLM encoder with one
head per axis) built from the released ``checkpoint.pt`` exactly as the package's predictor
builds it. The package's inference module imports ``torchaudio`` only to load and resample
files, and no ``torchaudio`` build matches every PyTorch: mirset installs the package without
its dependencies (``pip install --no-deps audiobox-aesthetics``), imports only the model, and
resamples to 16 kHz mono with its own resampler (soxr) from the decoded track. As the package
does, the track is cut into 10 s windows (the last zero-padded and masked), each window is
scored, and the track's score is the mean over windows weighted by their length. Windows of
several tracks share a forward pass (``extract_batch``); on a GPU the forward pass runs in
bfloat16 autocast (the package's own autocast switch never turns on). Without the model the
fields are null and the status says why — never a placeholder (the old tool wrote 5.5).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from mirset import models
from mirset.context import TrackContext
from mirset.extractors.base import Extractor, Null, Resources, register
from mirset.schemas.fields import FeatureField

SAMPLE_RATE = 16000
WINDOW_S = 10
AXES = {
    "CE": ("content_enjoyment", "content enjoyment"),
    "CU": ("content_usefulness", "content usefulness (as material for production)"),
    "PC": ("production_complexity", "production complexity"),
    "PQ": ("production_quality", "production quality"),
}
CONFIG_KEYS = (
    "proj_num_layer",
    "proj_ln",
    "proj_act_fn",
    "proj_dropout",
    "nth_layer",
    "use_weighted_layer_sum",
    "precision",
    "normalize_embed",
    "output_dim",
)
INSTALL = "pip install --no-deps audiobox-aesthetics==0.0.4 (mirset does not need its torchaudio)"


class AestheticsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "audiobox-aesthetics"
    # windows per forward pass; 0 = 16 on a GPU, 1 on CPU (bench/aesthetics_throughput.py: 5.4x
    # real time at 1, 4.4x at 8 on one CPU thread)
    batch_windows: int = Field(0, ge=0)
    device: str = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on a GPU, fp32 on CPU


def load_model(checkpoint: Path, device: str):  # type: ignore[no-untyped-def]
    """``AesMultiOutput`` from a released-format checkpoint, as the package's predictor loads it."""
    import torch
    from audiobox_aesthetics.model.aes import AesMultiOutput

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {re.sub("^model.", "", k): v for k, v in ckpt["state_dict"].items()}
    cfg = {k: ckpt["model_cfg"][k] for k in CONFIG_KEYS}
    model = AesMultiOutput(**cfg, target_transform=ckpt["target_transform"])
    model.load_state_dict(state)
    return model.to(device).eval()


def windows(mono16k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows, valid lengths, weights): 10 s windows, hop 10 s, the last zero-padded."""
    win = WINDOW_S * SAMPLE_RATE
    starts = list(range(0, max(mono16k.size, 1), win))
    out = np.zeros((len(starts), win), dtype=np.float32)
    lengths = np.zeros(len(starts), dtype=np.int64)
    for i, s in enumerate(starts):
        piece = mono16k[s : s + win]
        out[i, : piece.size] = piece
        lengths[i] = piece.size
    return out, lengths, lengths / win


@register
class Aesthetics(Extractor):
    """Audiobox Aesthetics: content enjoyment / usefulness, production complexity / quality."""

    name = "aesthetics"
    version = "1"
    Params = AestheticsParams
    resources = Resources(cpus=1.0, gpus=1.0, memory_mb=3072, batch_size=16)
    fields = tuple(
        FeatureField(
            column,
            pa.float64(),
            "score",
            f"Audiobox Aesthetics {what}: length-weighted mean over 10 s windows",
            (1.0, 10.0),
        )
        for column, what in AXES.values()
    )

    @property
    def weights(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.params.model,)  # type: ignore[attr-defined]

    def unavailable_reason(self) -> str | None:
        try:
            import audiobox_aesthetics.model.aes  # noqa: F401
            import torch  # noqa: F401
        except ImportError as e:
            return f"needs PyTorch and the audiobox model code ({e.name} is missing): {INSTALL}"
        try:
            models.store().require(self.params.model)  # type: ignore[attr-defined]
        except (models.MissingWeights, KeyError) as e:
            return str(e.args[0])
        return None

    def setup(self) -> None:
        import torch

        p: AestheticsParams = self.params  # type: ignore[assignment]
        cuda = torch.cuda.is_available()
        self.device = p.device if p.device != "auto" else ("cuda" if cuda else "cpu")
        on_gpu = self.device.startswith("cuda")
        self.bf16 = p.precision == "bf16" or (p.precision == "auto" and on_gpu)
        self.batch = p.batch_windows or (16 if on_gpu else 1)
        spec = models.store().spec(p.model)
        folder = models.store().require(p.model)
        checkpoint = folder / Path(spec.files[0].path).name
        self.model = load_model(checkpoint, self.device)

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        return self.extract_batch([ctx])[0]

    def extract_batch(self, ctxs: list[TrackContext]) -> list[dict[str, Any]]:  # type: ignore[override]
        if not hasattr(self, "model"):
            self.setup()
        per_track = []
        for ctx in ctxs:
            mono = ctx.mono_at(SAMPLE_RATE)  # shared 16 kHz view
            per_track.append(windows(np.ascontiguousarray(mono, dtype=np.float32)))
        all_windows = np.concatenate([w for w, _, _ in per_track])
        all_lengths = np.concatenate([n for _, n, _ in per_track])
        scores = self.score_windows(all_windows, all_lengths)  # {axis: (n_windows,)}
        out, start = [], 0
        for ctx, (w, _, weight) in zip(ctxs, per_track, strict=True):
            stop = start + len(w)
            if ctx.duration_s * SAMPLE_RATE < 1:
                why = Null("no audio")
                out.append({column: why for column, _ in AXES.values()})
            else:
                out.append(
                    {
                        column: float(np.sum(scores[axis][start:stop] * weight) / weight.sum())
                        for axis, (column, _) in AXES.items()
                    }
                )
            start = stop
        return out

    def score_windows(self, wins: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
        """Each window's score on every axis (the model's output mapped back to 1..10)."""
        import torch

        results: dict[str, list[np.ndarray]] = {axis: [] for axis in AXES}
        for lo in range(0, len(wins), self.batch):
            wav = torch.from_numpy(wins[lo : lo + self.batch]).to(self.device)[:, None, :]
            idx = torch.arange(wav.shape[-1], device=self.device)
            n = torch.from_numpy(lengths[lo : lo + self.batch]).to(self.device)
            mask = (idx[None, :] < n[:, None])[:, None, :]
            with (
                torch.inference_mode(),
                torch.autocast(self.device.split(":")[0], torch.bfloat16, enabled=self.bf16),
            ):
                preds = self.model({"wav": wav, "mask": mask})
            for axis in AXES:
                t = self.model.target_transform[axis]
                value = preds[axis].float().reshape(-1) * t["std"] + t["mean"]
                results[axis].append(value.cpu().numpy())
        return {axis: np.concatenate(v) for axis, v in results.items()}
