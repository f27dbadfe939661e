"""An Audiobox Aesthetics checkpoint with random weights, in the released ``checkpoint.pt`` format.

The model class fixes the WavLM encoder's size, so the stand-in has the real architecture (its
compute is the real one's) with random weights, stored in half precision to halve the file:
``{"state_dict": {"model.<param>": tensor}, "model_cfg": {...}, "target_transform": {axis:
{"mean", "std"}}}``, which the package's predictor and mirset load alike.
"""

from __future__ import annotations

from pathlib import Path

MODEL_CFG = {
    "proj_num_layer": 1,
    "proj_ln": False,
    "proj_act_fn": "gelu",
    "proj_dropout": 0.0,
    "nth_layer": 13,
    "use_weighted_layer_sum": True,
    "precision": "32",
    "normalize_embed": True,
    "output_dim": 1,
}
TARGET_TRANSFORM = {axis: {"mean": 4.0, "std": 2.0} for axis in ("CE", "CU", "PC", "PQ")}


def save_aesthetics_checkpoint(path: Path, seed: int = 0) -> Path:
    import torch
    from audiobox_aesthetics.model.aes import AesMultiOutput

    torch.manual_seed(seed)
    model = AesMultiOutput(**MODEL_CFG, target_transform=TARGET_TRANSFORM)
    state = {f"model.{k}": v.half() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": state, "model_cfg": MODEL_CFG, "target_transform": TARGET_TRANSFORM}
    torch.save(payload, path)
    return path
