"""Shared decode-once context vs every extractor decoding and transforming on its own.

Builds the same real tracks twice, one worker process each time (a per-core figure):
(a) mirset's shared TrackContext, (b) a fresh decode + STFT/mel/onset views per extractor, as the
old tool did. Prints wall time, × real time per core and the ratio.

    python bench/shared_decode.py [--tracks 12] [--workdir /tmp/mirset-bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import quiet_build, real_tracks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    args = ap.parse_args()
    music = real_tracks(args.tracks, args.workdir / f"full-{args.tracks}")
    results = {}
    for label, shared in (("shared context", True), ("per-extractor decode", False)):
        s = quiet_build(
            music,
            args.workdir / "out-shared" if shared else args.workdir / "out-own",
            workers=1,
            shared=shared,
        )
        assert s.failed == 0, s.failures
        results[label] = s
        print(
            f"{label:22s} {s.ok:3d} tracks  {s.audio_s / 60:6.1f} min audio  {s.wall_s:7.1f} s  "
            f"{s.realtime_factor:6.1f}× real time per core"
        )
        top = sorted(s.step_s.items(), key=lambda kv: -kv[1])[:6]
        print("    " + ", ".join(f"{k} {v:.1f}s" for k, v in top))
    a, b = results["shared context"], results["per-extractor decode"]
    print(f"speed-up of the shared context: {b.wall_s / a.wall_s:.2f}×")


if __name__ == "__main__":
    main()
