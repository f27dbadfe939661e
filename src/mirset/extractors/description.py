"""``description``: Music Flamingo's text descriptions of a track, one field per prompt.

The model hears one window of the track (30 s by default, the loudest stretch of a longer track;
``start`` and ``middle`` are the other choices), recorded in ``music_flamingo_window_*`` so a
caption never claims more than the model heard. The audio is encoded once and every prompt of
the prompt set reuses it (:mod:`mirset.describe.transformers_backend`). The five default prompts
fill ``music_flamingo_<prompt>``; prompts a config adds go to ``music_flamingo_custom``. Texts
are stripped of chat and thinking tokens and made T5-safe. Backends: ``gguf`` (llama.cpp, any
quantisation; the prompts of a track generated together in one batch,
:mod:`mirset.describe.gguf_backend`) and ``transformers`` (bf16 on a GPU); ``auto`` picks by the
model's files. Sampling is seeded by the audio window, so a rebuild writes the same texts. The
weights are NVIDIA's, non-commercial.
"""

from __future__ import annotations

import zlib
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from mirset import models
from mirset.context import TrackContext
from mirset.describe.prompts import DEFAULT_PROMPTS, DescriptionPrompt
from mirset.describe.windows import choose_window
from mirset.extractors.base import Extractor, Null, Resources, register
from mirset.schemas.fields import FeatureField

SAMPLE_RATE = 16000


class DescriptionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "music-flamingo-hf"
    backend: Literal["auto", "transformers", "gguf"] = "auto"
    n_ctx: int = Field(8192, ge=1024, description="llama.cpp context (gguf backend)")
    window_s: float = Field(30.0, gt=0)
    window: Literal["start", "middle", "loudest"] = "loudest"
    device: str = "auto"
    prompts: dict[str, DescriptionPrompt] = Field(default_factory=lambda: dict(DEFAULT_PROMPTS))


def _fields() -> tuple[FeatureField, ...]:
    texts = tuple(
        FeatureField(
            f"music_flamingo_{name}",
            pa.string(),
            "",
            f"Music Flamingo's answer to the '{name}' prompt: {p.text} (T5-safe)",
        )
        for name, p in DEFAULT_PROMPTS.items()
    )
    record = pa.struct([("prompt", pa.string()), ("text", pa.string())])
    return (
        *texts,
        FeatureField(
            "music_flamingo_custom",
            pa.list_(record),
            "",
            "answers to prompts the config adds beyond the five defaults",
        ),
        FeatureField(
            "music_flamingo_model",
            pa.string(),
            "",
            "which model, backend and precision wrote the descriptions",
        ),
        FeatureField(
            "music_flamingo_window_start_s",
            pa.float64(),
            "s",
            "start of the part of the track the model heard",
        ),
        FeatureField(
            "music_flamingo_window_end_s", pa.float64(), "s", "end of the part the model heard"
        ),
        FeatureField(
            "music_flamingo_window",
            pa.string(),
            "",
            "how that part was chosen: whole, start, middle or loudest",
        ),
    )


@register
class Description(Extractor):
    """Text descriptions from Music Flamingo, the audio encoded once for all prompts."""

    name = "description"
    version = "2"
    Params = DescriptionParams
    resources = Resources(cpus=1.0, gpus=1.0, memory_mb=20000, batch_size=1)
    fields = _fields()

    @property
    def weights(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.params.model,)  # type: ignore[attr-defined]

    def backend(self) -> str:
        p: DescriptionParams = self.params  # type: ignore[assignment]
        if p.backend != "auto":
            return p.backend
        try:
            files = models.store().spec(p.model).files
        except KeyError:
            return "transformers"
        return "gguf" if any(f.path.endswith(".gguf") for f in files) else "transformers"

    def unavailable_reason(self) -> str | None:
        try:
            if self.backend() == "gguf":
                import llama_cpp.mtmd_cpp  # noqa: F401
            else:
                import torch  # noqa: F401
                from transformers import MusicFlamingoForConditionalGeneration  # noqa: F401
        except ImportError as e:
            if self.backend() == "gguf":
                return f"needs llama-cpp-python ({e.name}): pip install 'mirset[flamingo]'"
            return (
                f"needs PyTorch and transformers >= 5 ({e.name}): pip install 'mirset[flamingo-hf]'"
            )
        try:
            models.store().require(self.params.model)  # type: ignore[attr-defined]
        except (models.MissingWeights, KeyError) as e:
            return str(e.args[0])
        return None

    def setup(self) -> None:
        p: DescriptionParams = self.params  # type: ignore[assignment]
        store = models.store()
        folder = store.require(p.model)
        if self.backend() == "gguf":
            from mirset.describe.gguf_backend import GGUFDescriber, gguf_files

            names = [f.path.rsplit("/", 1)[-1] for f in store.spec(p.model).files]
            lm, mmproj = gguf_files(folder, names)
            self.describer: Any = GGUFDescriber(
                lm, mmproj, gpu=_gpu(p.device), n_ctx=p.n_ctx, max_prompts=len(p.prompts)
            )
        else:
            from mirset.describe.transformers_backend import TransformersDescriber

            device = p.device if p.device != "auto" else ("cuda" if _gpu("auto") else "cpu")
            self.describer = TransformersDescriber(folder, device)
        info = self.describer.describe_info()
        self.model_label = f"{p.model} ({self.backend()}, {info['dtype']})"

    def extract(self, ctx: TrackContext) -> dict[str, Any]:
        if not hasattr(self, "describer"):
            self.setup()
        p: DescriptionParams = self.params  # type: ignore[assignment]
        mono = np.ascontiguousarray(ctx.mono_at(SAMPLE_RATE))  # shared 16 kHz view
        if not np.any(mono):
            why = Null("digital silence: nothing to describe")
            return {f.name: why for f in self.fields}
        window = choose_window(mono, SAMPLE_RATE, p.window_s, p.window)
        lo, hi = int(window.start_s * SAMPLE_RATE), int(window.end_s * SAMPLE_RATE)
        heard = mono[lo:hi]
        answers = self.describer.describe(heard, p.prompts, seed=zlib.crc32(heard.tobytes()))
        out: dict[str, Any] = {}
        for name in DEFAULT_PROMPTS:
            out[f"music_flamingo_{name}"] = answers.get(
                name, Null(f"prompt {name!r} not in the set")
            )
        out["music_flamingo_custom"] = [
            {"prompt": name, "text": text}
            for name, text in answers.items()
            if name not in DEFAULT_PROMPTS
        ]
        out |= {
            "music_flamingo_model": self.model_label,
            "music_flamingo_window_start_s": window.start_s,
            "music_flamingo_window_end_s": window.end_s,
            "music_flamingo_window": window.policy,
        }
        return out


def _gpu(device: str) -> bool:
    """Whether ``device`` (``auto``, ``cpu``, ``cuda[:n]``, ``gpu``) means a GPU here."""
    if device == "auto":
        try:
            import torch

            return bool(torch.cuda.is_available())
        except ImportError:
            import llama_cpp

            return bool(llama_cpp.llama_supports_gpu_offload())
    return device.startswith(("cuda", "gpu"))
