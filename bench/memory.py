"""Peak memory of a build of 100 tracks vs 10 tracks: it must not grow with the collection.

Samples the RSS of this process and its worker processes every 50 ms during each build.

    python bench/memory.py [--small 10] [--large 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from pathlib import Path

import psutil

from common import quiet_build, real_tracks


def tree_rss() -> int:
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def peak_during(fn) -> tuple[int, object]:
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss())
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    return peak, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--large", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each track")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    args = ap.parse_args()
    peaks = {}
    for n in (args.small, args.large):
        music = real_tracks(n, args.workdir / f"excerpts-{args.seconds:g}s-{n}", args.seconds)
        peak, s = peak_during(
            lambda m=music: quiet_build(m, args.workdir / "out-mem", args.workers)
        )
        peaks[n] = peak
        print(
            f"{n:4d} tracks ({s.audio_s / 3600:.2f} h): peak RSS {peak / 2**20:7.0f} MiB "
            f"(driver + {args.workers} workers), {s.realtime_factor:.1f}× real time"
        )
    print(
        f"peak RSS ratio {args.large} vs {args.small} tracks: "
        f"{peaks[args.large] / peaks[args.small]:.2f}"
    )


if __name__ == "__main__":
    main()
