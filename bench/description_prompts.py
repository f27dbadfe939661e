"""Music Flamingo (GGUF backend): what five prompts cost against one, side by side in one run.

Four ways to describe the same 30 s windows of real tracks:

- ``one``: a single prompt (``full``) — the yardstick;
- ``mirset``: all five prompts, the audio encoded and prefilled once, answers generated
  together in one batch (what the extractor does);
- ``sequential``: the five prompts one after another, each evaluated from scratch (audio
  re-encoded), model loaded once;
- ``per-process``: the old tool — a new process loads the model for every prompt of every file.

Weights are random (a Q8_0 Qwen2 language model + Whisper-style projector, written by llama.cpp's
converter) unless ``--model`` names a fetched GGUF model. Every prompt generates exactly its
token limit (end-of-text is ignored via ``--fixed-length``), so the four ways do the same work.

    python bench/description_prompts.py [--tracks 2] [--hidden 896 --layers 12] [--gpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import real_tracks
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.describe.gguf_backend import GGUFDescriber, gguf_files
from mirset.describe.prompts import DEFAULT_PROMPTS, DescriptionPrompt

PER_PROCESS = """
import sys, numpy as np
from pathlib import Path
from mirset.describe.gguf_backend import GGUFDescriber
from mirset.describe.prompts import DescriptionPrompt
d = GGUFDescriber(Path(sys.argv[1]), Path(sys.argv[2]), gpu=sys.argv[3] == "1")
d.ignore_eog = True
audio = np.load(sys.argv[4])
d.describe(audio, {"p": DescriptionPrompt.model_validate_json(sys.argv[5])})
"""


def prompts(tokens: int) -> dict[str, DescriptionPrompt]:
    return {
        k: v.model_copy(update={"max_tokens": min(v.max_tokens, tokens)})
        for k, v in DEFAULT_PROMPTS.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64, help="cap on each prompt's token limit")
    ap.add_argument("--hidden", type=int, default=896, help="random model width (Qwen2-0.5B)")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--audio-hidden", type=int, default=512)
    ap.add_argument("--audio-layers", type=int, default=6)
    ap.add_argument("--model-dir", type=Path, help="a folder with a real GGUF + mmproj instead")
    ap.add_argument("--gpu", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if args.model_dir:
            lm, mmproj = gguf_files(args.model_dir)
        else:
            from mirset.testing.tiny_flamingo_gguf import save_tiny_flamingo_gguf

            lm, mmproj = save_tiny_flamingo_gguf(
                tmpdir / "model", hidden=args.hidden, layers=args.layers,
                audio_hidden=args.audio_hidden, audio_layers=args.audio_layers,
            )  # fmt: skip
        music = real_tracks(args.tracks, tmpdir / "music", seconds=60)
        windows = []
        for f in sorted(music.iterdir()):
            ctx = TrackContext.from_file(f, AnalysisConfig())
            windows.append(np.ascontiguousarray(ctx.mono_at(16000)[16000 * 15 : 16000 * 45]))
        t0 = time.perf_counter()
        d = GGUFDescriber(lm, mmproj, gpu=args.gpu)
        load_s = time.perf_counter() - t0
        d.ignore_eog = True
        five = prompts(args.tokens)
        one = {"full": five["full"]}
        d.describe(windows[0][: 16000 * 5], one)  # warm-up

        def timed(fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
            t, n = time.perf_counter(), 0
            for w in windows:
                n += fn(w)
            return (time.perf_counter() - t) / len(windows), n

        def run(p: dict[str, DescriptionPrompt]):  # type: ignore[no-untyped-def]
            def go(w: np.ndarray) -> int:
                d.describe(w, p)
                return sum(len(t) for t in d.last_tokens.values())

            return go

        def sequential(w: np.ndarray) -> int:
            n = 0
            for name, p in five.items():
                d.describe(w, {name: p})
                n += len(d.last_tokens[name])
            return n

        results = {
            "one": timed(run(one)),
            "mirset": timed(run(five)),
            "sequential": timed(sequential),
        }
        np.save(tmpdir / "w.npy", windows[0])
        t = time.perf_counter()
        for p in five.values():
            subprocess.run(
                [sys.executable, "-c", PER_PROCESS, str(lm), str(mmproj), "1" if args.gpu else "0",
                 str(tmpdir / "w.npy"), p.model_dump_json()],
                check=True,
            )  # fmt: skip
        results["per-process"] = (time.perf_counter() - t, results["sequential"][1] // len(windows))

    print(f"model: {d.description}; load {load_s:.2f} s; {args.tracks} tracks, 30 s windows")
    print(f"{'way':<12} {'s/track':>8} {'tokens/s':>9} {'× one':>7}")
    base = results["one"][0]
    for name, (s, n) in results.items():
        per_track = n / (len(windows) if name != "per-process" else 1)
        print(f"{name:<12} {s:8.2f} {per_track / s:9.1f} {s / base:7.2f}")
    print(
        f"five prompts / one: {results['mirset'][0] / base:.2f}x; "
        f"sequential fresh / mirset: {results['sequential'][0] / results['mirset'][0]:.2f}x; "
        f"old tool (process per prompt) / mirset: "
        f"{results['per-process'][0] / results['mirset'][0]:.2f}x"
    )
    print(json.dumps({k: round(v[0], 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
