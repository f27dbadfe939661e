"""Demucs: stock ``apply_model`` (one segment per forward pass) vs mirset's batched separator.

Same model, same real tracks, same device, side by side in one run; prints × real time of each,
their ratio and the largest difference between the outputs. The model is a full-size HTDemucs
with random weights by default (the compute is the same as the released weights'), saved and
loaded through the model store like the real one; ``--model htdemucs`` uses fetched weights.

    python bench/demucs_batching.py [--tracks 3] [--seconds 20] [--batch 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model

from common import real_tracks
from mirset import models
from mirset.audio import decode, resample
from mirset.separation import BatchedSeparator
from mirset.testing.tiny_demucs import save_demucs_checkpoint, tiny_htdemucs


def load(model_name: str | None, workdir: Path):  # type: ignore[no-untyped-def]
    if model_name:
        return get_model(model_name, repo=models.store().require(model_name))
    folder = workdir / "demucs"
    save_demucs_checkpoint(tiny_htdemucs(full_size=True), folder, "random_htdemucs")
    return get_model("random_htdemucs", repo=folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=4, help="segments per forward pass")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", help="a Demucs model in the store (default: random full size)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    args = ap.parse_args()
    torch.set_num_threads(1) if args.device == "cpu" else None
    files = sorted(
        real_tracks(args.tracks, args.workdir / f"clips-{args.seconds:g}s", args.seconds).iterdir()
    )
    mixes = []
    for f in files[: args.tracks]:
        d = decode(f)
        x = resample(d.samples, d.sample_rate, 44100)
        x = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]
        t = torch.from_numpy(np.ascontiguousarray(x))
        mixes.append((t - t.mean(0).mean()) / t.mean(0).std())
    audio_s = sum(m.shape[-1] for m in mixes) / 44100
    with tempfile.TemporaryDirectory() as tmp:
        model = load(args.model, Path(tmp))
    model.to(args.device)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    stock = [
        apply_model(model, m[None], shifts=0, split=True, device=args.device)[0] for m in mixes
    ]
    sync()
    t_stock = time.perf_counter() - t0

    outs: list[list[np.ndarray]] = [[] for _ in mixes]
    sep = BatchedSeparator(model, args.device, args.batch)
    sync()
    t0 = time.perf_counter()
    sep.separate(mixes, [o.append for o in outs])
    sync()
    t_batched = time.perf_counter() - t0
    diff = max(
        float(np.abs(np.concatenate(o, -1) - s.cpu().numpy()).max())
        for o, s in zip(outs, stock, strict=True)
    )
    threads = "1 thread" if args.device == "cpu" else args.device
    print(f"{len(mixes)} real tracks, {audio_s:.0f} s of audio, {args.device} ({threads})")
    print(f"stock apply_model      {t_stock:7.1f} s   {audio_s / t_stock:6.2f}× real time")
    print(
        f"batched ({args.batch:2d} / pass)   {t_batched:7.1f} s   {audio_s / t_batched:6.2f}× real time"
    )
    print(f"speed-up {t_stock / t_batched:.2f}×, largest output difference {diff:.1e}")


if __name__ == "__main__":
    main()
