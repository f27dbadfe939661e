"""Audiobox Aesthetics throughput: tracks per minute and × real time, one by one vs batched.

The model is the released architecture with random weights (its compute is the real one's),
saved in the released checkpoint format and loaded through the model store; real tracks. On a
GPU it also prints the peak GPU memory per batch size.

    python bench/aesthetics_throughput.py [--tracks 4] [--seconds 30] [--batches 1,4,8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from common import real_tracks
from mirset import models
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors.aesthetics import Aesthetics
from mirset.testing.tiny_audiobox import save_aesthetics_checkpoint


def store_with_random_model(root: Path) -> None:
    ckpt = save_aesthetics_checkpoint(root / "audiobox-bench" / "checkpoint.pt")
    entry = {
        "name": "bench-aesthetics",
        "family": "audiobox",
        "description": "random weights",
        "source": "bench",
        "license": "CC BY 4.0",
        "folder": "audiobox-bench",
        "files": [{"path": "audiobox-bench/checkpoint.pt", "size": ckpt.stat().st_size}],
    }
    (root / "models.json").write_text(json.dumps([entry]))
    models.use_store(root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--batches", default="1,4,8", help="windows per forward pass to compare")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(1)
    clips = real_tracks(args.tracks, args.workdir / f"clips-{args.seconds:g}s", args.seconds)
    ctxs = [TrackContext.from_file(p, AnalysisConfig()) for p in sorted(clips.iterdir())]
    ctxs = ctxs[: args.tracks]
    audio_s = sum(c.duration_s for c in ctxs)
    device = "cuda" if cuda else "cpu (1 thread)"
    print(f"{len(ctxs)} real tracks, {audio_s:.0f} s of audio, {device}")
    with tempfile.TemporaryDirectory() as tmp:
        store_with_random_model(Path(tmp))
        for batch in (int(b) for b in args.batches.split(",")):
            ext = Aesthetics({"model": "bench-aesthetics", "batch_windows": batch})
            ext.setup()
            ext.extract_batch(ctxs[:1])  # warm-up
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            ext.extract_batch(ctxs)
            if cuda:
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            mem = (
                f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
                if cuda
                else ""
            )
            print(
                f"{batch:3d} windows / pass: {dt:6.1f} s  {audio_s / dt:6.1f}× real time  "
                f"{60 * len(ctxs) / dt:6.1f} tracks/min ({args.seconds:g} s each){mem}"
            )


if __name__ == "__main__":
    main()
