"""Music Flamingo through Hugging Face ``transformers``: the audio encoded once per track.

``MusicFlamingoForConditionalGeneration`` (or Audio Flamingo 3's class for the older checkpoint)
is loaded once per worker from a folder of the model store, in bfloat16 on a GPU. For a track,
the processor turns the chosen window into mel features and the model's audio tower and
projector run **once** (``get_audio_features``); every prompt then only embeds its own tokens,
puts the cached audio embeddings in the ``<sound>`` placeholders — as the model's own forward
does — and the prompts that share a sampling setting are generated together from those
embeddings in one left-padded ``generate`` call. The old tool re-encoded the audio (and reloaded a
7.6 GB model) for each of its five prompts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mirset.describe.prompts import DescriptionPrompt
from mirset.text import strip_structural_tokens, t5_safe

SAMPLE_RATE = 16000


class TransformersDescriber:
    """One loaded model and processor; ``describe`` answers several prompts about one audio."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        import torch
        from transformers import AutoConfig, AutoProcessor

        config = AutoConfig.from_pretrained(folder)
        if config.model_type == "audioflamingo3":
            from transformers import AudioFlamingo3ForConditionalGeneration as Model
        else:
            from transformers import MusicFlamingoForConditionalGeneration as Model
        self.device = device
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = Model.from_pretrained(folder, dtype=dtype).to(device).eval()
        self.audio_token_id = int(self.model.config.audio_token_id)
        self.encodes = 0  # audio encodings so far (one per described track)

    def _chat(self, prompt: str) -> str:
        messages = [{"role": "user", "content": f"<sound> {prompt}"}]
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def describe(
        self, audio16k: np.ndarray, prompts: dict[str, DescriptionPrompt], seed: int = 0
    ) -> dict[str, str]:
        """Each prompt's answer, cleaned (chat tokens stripped, T5-safe); sampling seeded."""
        import torch

        devices = [self.device] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._describe(audio16k, prompts)

    def _describe(
        self, audio16k: np.ndarray, prompts: dict[str, DescriptionPrompt]
    ) -> dict[str, str]:
        import torch

        names = list(prompts)
        first = self.processor(
            text=[self._chat(prompts[names[0]].text)],
            audio=[audio16k.astype(np.float32)],
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
        ).to(self.device)
        n_audio = int((first["input_ids"] == self.audio_token_id).sum())
        expanded_sound = None
        with torch.inference_mode():
            audio_embeds = self.model.model.get_audio_features(
                first["input_features"].to(self.model.dtype),
                first["input_features_mask"],
                input_ids=first["input_ids"],
                return_dict=True,
            ).pooler_output
            self.encodes += 1
            ids_of: dict[str, Any] = {names[0]: first["input_ids"][0]}
            for name in names[1:]:
                if expanded_sound is None:
                    tok = self.processor
                    expanded_sound = (
                        tok.audio_bos_token + tok.audio_token * n_audio + tok.audio_eos_token
                    )
                text = self._chat(prompts[name].text).replace(
                    self.processor.audio_token, expanded_sound, 1
                )
                enc = self.processor.tokenizer([text], return_tensors="pt").to(self.device)
                ids_of[name] = enc["input_ids"][0]
            groups: dict[tuple[float, float], list[str]] = {}
            for name in names:  # one generate call per sampling setting
                p = prompts[name]
                key = (p.temperature, p.top_p if p.temperature > 0 else 1.0)
                groups.setdefault(key, []).append(name)
            out: dict[str, str] = {}
            for group in groups.values():
                out |= self._generate(group, prompts, ids_of, audio_embeds)
        return {name: out[name] for name in names}

    def _generate(
        self,
        names: list[str],
        prompts: dict[str, DescriptionPrompt],
        ids_of: dict[str, Any],
        audio_embeds: Any,
    ) -> dict[str, str]:
        """Answer prompts of one sampling setting in one left-padded ``generate`` call, each
        answer then cut to its own token limit."""
        import torch

        pad = self.processor.tokenizer.pad_token_id
        pad = pad if pad is not None else self.processor.tokenizer.eos_token_id
        width = max(len(ids_of[n]) for n in names)
        ids = torch.full((len(names), width), pad, dtype=torch.long, device=self.device)
        mask = torch.zeros((len(names), width), dtype=torch.long, device=self.device)
        for row, name in enumerate(names):
            n = len(ids_of[name])
            ids[row, width - n :] = ids_of[name]
            mask[row, width - n :] = 1
        embeds = self.model.get_input_embeddings()(ids)
        slots = (ids == self.audio_token_id).unsqueeze(-1).expand_as(embeds)
        source = audio_embeds.to(embeds.dtype).repeat(len(names), 1)
        embeds = embeds.masked_scatter(slots, source)
        p = prompts[names[0]]
        generated = self.model.generate(
            inputs_embeds=embeds,
            attention_mask=mask,
            max_new_tokens=max(prompts[n].max_tokens for n in names),
            do_sample=p.temperature > 0,
            temperature=p.temperature if p.temperature > 0 else None,
            top_p=p.top_p if p.temperature > 0 else None,
            pad_token_id=pad,
        )
        out = {}
        for row, name in enumerate(names):
            tokens = generated[row, : prompts[name].max_tokens]
            text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True)
            out[name] = t5_safe(strip_structural_tokens(text))
        return out

    def describe_info(self) -> dict[str, Any]:
        return {"dtype": str(self.model.dtype).replace("torch.", ""), "device": self.device}
