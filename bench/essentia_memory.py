"""Memory of the Essentia heads over many tracks: peak RSS after every 20 tracks, one worker.

The old tool ran TensorFlow inside its worker pools and watched workers grow to 4-7 GB. mirset
runs the Discogs-EffNet models with ONNX Runtime, one session per model loaded once per worker;
this prints the resident memory as tracks go by, which must stay flat. Without fetched weights
it uses the tiny stand-ins of the tests (same code path; the sessions are smaller than the real
ones, so this shows growth per track, not the real models' footprint).

    python bench/essentia_memory.py [--tracks 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psutil

from common import real_tracks
from mirset import models
from mirset.audio import DecodeError
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors import essentia_models as em
from mirset.testing.tiny_essentia import save_effnet, save_head

HEADS = (em.EssentiaGenre, em.EssentiaMood, em.EssentiaInstrument)


def stand_in_store(root: Path) -> None:
    entries = []
    paths = [save_effnet(root / "essentia" / f"{em.EMBEDDING_MODEL}.onnx")]
    for cls in HEADS:
        paths.append(save_head(root / "essentia" / f"{cls.head}.onnx", len(em.labels(cls.head))))
    for name, path in zip((em.EMBEDDING_MODEL, *(c.head for c in HEADS)), paths, strict=True):
        entries.append(
            {
                "name": name, "family": "essentia", "description": "stand-in", "source": "bench",
                "license": "CC BY-NC-SA 4.0", "folder": "essentia",
                "files": [{"path": f"essentia/{path.name}", "size": path.stat().st_size}],
            }
        )  # fmt: skip
    (root / "models.json").write_text(json.dumps(entries))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    args = ap.parse_args()
    clips = sorted(
        real_tracks(args.tracks, args.workdir / f"clips-{args.seconds:g}s", args.seconds).iterdir()
    )
    with tempfile.TemporaryDirectory() as tmp:
        real = all(
            models.store().present(n) for n in (em.EMBEDDING_MODEL, *(c.head for c in HEADS))
        )
        if not real:
            stand_in_store(Path(tmp))
            models.use_store(Path(tmp))
        heads = [cls() for cls in HEADS]
        for h in heads:
            h.setup()
        proc = psutil.Process()
        print(f"{'tracks':>6s} {'RSS MiB':>8s}   ({'real' if real else 'stand-in'} models)")
        start, t0 = None, time.perf_counter()
        for i, clip in enumerate(clips[: args.tracks], 1):
            try:
                ctx = TrackContext.from_file(clip, AnalysisConfig())
            except DecodeError:  # an excerpt past the end of a short recording
                continue
            for h in heads:
                h.extract(ctx)
            if i % 20 == 0:
                rss = proc.memory_info().rss / 2**20
                start = start or rss
                print(f"{i:6d} {rss:8.0f}")
        rss = proc.memory_info().rss / 2**20
        dt = time.perf_counter() - t0
        print(f"growth from track 20 to {args.tracks}: {rss - (start or rss):+.0f} MiB; "
              f"{args.tracks / dt * 60:.0f} tracks/min of {args.seconds:g} s")  # fmt: skip


if __name__ == "__main__":
    main()
