"""Run Stable Audio Tools' own data loaders and conditioners on a mirset export (a subprocess of
tests/test_export_sat.py, so its imports stay out of the test process).

    python sat_consumer.py TORCHAUDIO_DIR EXPORT_DIR {audio_dir,wds} SAMPLE_RATE

Real: ``stable_audio_tools`` 0.0.19 as released (``create_dataloader_from_config``,
``SampleDataset`` / ``WebDatasetDataLoader``, ``create_multi_conditioner_from_conditioning_config``,
``MultiConditioner``, ``NumberConditioner``), ``webdataset`` at the version it pins, and
torchaudio 2.11's Python code (``torchaudio.load`` -> torchcodec, ``transforms.Resample``) from its
wheel. Replaced: the compiled torchaudio extension (left out: it links CUDA libraries, and these
loaders do not call it) and ``T5Conditioner``, whose weights come from the Hub: a stand-in
records the prompts it receives. Prints one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import ClassVar


def plain(value):
    """A metadata value as JSON, unwrapped as MultiConditioner unwraps it (one-element lists)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if hasattr(value, "numel") and value.numel() == 1:
        value = value.item()
    return value if isinstance(value, (str, int, float, list)) else None


def main() -> None:
    torchaudio_dir, export_dir, mode, sample_rate = sys.argv[1:5]
    sys.path.insert(0, torchaudio_dir)
    import torch
    import torchaudio
    from stable_audio_tools.data import dataset as sat_dataset
    from stable_audio_tools.models import conditioners

    class RecordingT5(torch.nn.Module):  # stands in for T5Conditioner (weights from the Hub)
        seen: ClassVar[list[str]] = []

        def __init__(self, output_dim, t5_model_name="t5-base", max_length=128, **_):
            super().__init__()
            self.output_dim, self.max_length = output_dim, max_length

        def forward(self, texts, device):
            assert all(isinstance(t, str) and t for t in texts), texts
            RecordingT5.seen.extend(texts)
            return [torch.zeros(len(texts), 1, self.output_dim), torch.ones(len(texts), 1)]

    conditioners.T5Conditioner = RecordingT5

    with open(f"{export_dir}/dataset_config.json") as f:
        config = json.load(f)
    with open(f"{export_dir}/model_conditioning.json") as f:
        block = json.load(f)
    sr = int(sample_rate)
    out: dict = {"torchaudio": torchaudio.__version__, "mode": mode, "items": []}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        if mode == "wds":
            config["resampled_shards"] = False  # one deterministic pass over the shards
        loader = sat_dataset.create_dataloader_from_config(
            config, batch_size=2, sample_size=sr * 4, sample_rate=sr, audio_channels=2,
            num_workers=1, shuffle=False,
        )  # fmt: skip
        multi = conditioners.create_multi_conditioner_from_conditioning_config(
            block["conditioning"]
        )
        for batch in loader:
            audio, infos = batch[0], list(batch[1])
            if audio.ndim == 4 and audio.shape[0] == 1:  # WebLoader adds a batch of one around
                audio = audio[0]  # the wds batch; Stable Audio Tools' training unwraps it so
            out["audio_shape"] = list(audio.shape)
            cond = multi(infos, "cpu")  # unwraps one-element lists itself
            out["conditioner_outputs"] = {k: list(v[0].shape) for k, v in cond.items()}
            for info in infos:
                item = {
                    k: plain(v)
                    for k, v in info.items()
                    if k not in ("audio", "padding_mask", "timestamps")
                }
                out["items"].append(item)
            # the number conditioners normalise with the exported ranges
            for c in block["conditioning"]["configs"]:
                if c["type"] != "number":
                    continue
                values = torch.tensor([float(i[c["id"]]) for i in infos])
                lo, hi = c["config"]["min_val"], c["config"]["max_val"]
                norm = (values.clamp(lo, hi) - lo) / (hi - lo)
                embedder = multi.conditioners[c["id"]].embedder
                want = embedder(norm).unsqueeze(1)
                assert torch.allclose(cond[c["id"]][0], want), c["id"]
    out["prompts_seen"] = RecordingT5.seen
    out["loader_output"] = printed.getvalue()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
