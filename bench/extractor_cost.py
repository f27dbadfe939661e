"""Cost of every extractor and shared view, in seconds per minute of audio, on real music.

One worker process (a per-core figure) over full-length 44.1 kHz stereo recordings, so the
slowest extractor is visible and the whole catalogue's × real time per core is printed.

    python bench/extractor_cost.py [--tracks 8] [-e loudness,beats] [--stems]

``--stems`` lays the tracks out as ``<Track>/full_mix.flac`` with four stems each, so the per-stem
extractors run too (minutes of audio count the mix only).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from rich.console import Console

from common import organised_with_stems, real_tracks
from mirset.builder.build import build
from mirset.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=8)
    ap.add_argument("-e", "--extractors", help="comma-separated subset (default: all)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mirset-bench"))
    ap.add_argument("--stems", action="store_true", help="organised layout with four stems")
    args = ap.parse_args()
    music = real_tracks(args.tracks, args.workdir / f"full-{args.tracks}")
    if args.stems:
        music = organised_with_stems(music, args.workdir / f"stems-{args.tracks}")
    out = args.workdir / "out-cost"
    shutil.rmtree(out, ignore_errors=True)
    overrides = {"build.workers": 1}
    if args.extractors:
        overrides["build.extractors"] = args.extractors.split(",")
    with open(os.devnull, "w") as devnull:
        s = build(music, out, load_config(None, overrides), Console(file=devnull), progress=False)
    minutes = s.audio_s / 60
    stems = " (each with 4 stems)" if args.stems else ""
    print(f"{s.ok} tracks{stems}, {minutes:.1f} min of 44.1 kHz stereo audio, one worker")
    print(f"{'step':28s} {'s / min audio':>14s} {'× real time':>12s}")
    for step, sec in sorted(s.step_s.items(), key=lambda kv: -kv[1]):
        print(f"{step:28s} {sec / minutes:14.3f} {s.audio_s / sec if sec else float('inf'):12.0f}")
    total = sum(s.step_s.values())
    print(f"{'all steps':28s} {total / minutes:14.3f} {s.audio_s / total:12.1f}")
    print(
        f"wall clock incl. worker start-up and table commits: {s.realtime_factor:.1f}× real time per core"
    )


if __name__ == "__main__":
    main()
