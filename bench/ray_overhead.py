"""Local executor vs Ray executor on the same real tracks, side by side in one run.

1. Overhead: wall time of the local worker pool vs Ray's CPU-stage actors, same worker count.
2. Scaling: Ray with 1 vs 2 CPU actors (efficiency = t1 / (2 · t2)).
3. Memory: peak driver RSS and peak shared memory in use (/dev/shm: where Ray's object store
   lives) while building 10 vs 200 tracks — flat when nothing piles up.

Extractors: the CPU catalogue's cheap part by default (``-e``) so the run stays short; the
ratios are what matter. Each build goes to a fresh OUT_DIR.

    python bench/ray_overhead.py [--tracks 24] [--seconds 60] [--memory-tracks 10,200]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil

from common import real_tracks
from mirset.builder.build import build
from mirset.config import load_config


def shm_used() -> int:
    try:
        return shutil.disk_usage("/dev/shm").used
    except OSError:
        return 0


class Peak:
    """Samples driver RSS and /dev/shm use every 0.2 s while a build runs."""

    def __init__(self) -> None:
        self.rss = self.shm = 0
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._me = psutil.Process()
        self._shm0 = shm_used()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.rss = max(self.rss, self._me.memory_info().rss)
            self.shm = max(self.shm, shm_used() - self._shm0)
            time.sleep(0.2)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(music: Path, out: Path, extractors: str, **build_opts: object) -> tuple[float, Peak]:
    overrides = {"build.extractors": extractors.split(","), "build.sidecars": "none"}
    overrides |= {f"build.{k}": v for k, v in build_opts.items()}
    config = load_config(None, overrides)
    t = time.perf_counter()
    with Peak() as peak:
        summary = build(music, out, config, progress=False)
    peak.ok, peak.failed = summary.ok, summary.failed  # short recordings cut past their end fail
    return time.perf_counter() - t, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("-e", "--extractors", default="loudness,spectral,multiband_rms,harmony,beats")
    ap.add_argument("--memory-tracks", default="10,200")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        music = real_tracks(args.tracks, root / "music", seconds=args.seconds)
        n = 0

        def out() -> Path:
            nonlocal n
            n += 1
            return root / f"out{n}"

        import ray

        t = time.perf_counter()
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        ray_init = time.perf_counter() - t  # once per build command, not counted below
        e = args.extractors
        local1, p = run(music, out(), e, workers=1)
        assert p.failed == 0
        local2, _ = run(music, out(), e, workers=2)
        ray1, _ = run(music, out(), e, executor="ray", ray_cpu_actors=1)
        ray2, _ = run(music, out(), e, executor="ray", ray_cpu_actors=2)
        print(f"{args.tracks} tracks x {args.seconds:g} s, extractors {e}")
        print(f"starting Ray on this machine: {ray_init:.1f} s (once per build, not below)")
        print(f"local 1 worker {local1:7.1f} s   local 2 workers {local2:7.1f} s")
        print(f"ray   1 actor  {ray1:7.1f} s   ray   2 actors  {ray2:7.1f} s")
        print(f"Ray overhead (ray / local, 2 workers): {ray2 / local2:.2f}x")
        print(f"Ray scaling 1 -> 2 actors: {ray1 / ray2:.2f}x, efficiency {ray1 / (2 * ray2):.2f}")
        print(f"local scaling 1 -> 2 workers: {local1 / local2:.2f}x")

        sizes = [int(x) for x in args.memory_tracks.split(",")]
        for size in sizes:
            many = real_tracks(size, root / f"music{size}", seconds=5.0)
            wall, peak = run(many, out(), "loudness,spectral", executor="ray")
            print(
                f"{size:4d} tracks x 5 s on Ray ({peak.ok} ok, {peak.failed} empty): {wall:6.1f} s, "
                f"peak driver RSS "
                f"{peak.rss / 2**20:6.0f} MiB, peak /dev/shm in use {peak.shm / 2**20:6.1f} MiB"
            )


if __name__ == "__main__":
    main()
