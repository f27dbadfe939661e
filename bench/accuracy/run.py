"""Accuracy harness: mirset vs librosa, Essentia and madmom on a rendered ground-truth corpus.

Usage::

    python bench/accuracy/run.py [--out DIR] [--quick] [-j 2] [--reuse-mirset] [--fresh-peers]

Renders (or reuses) the corpus under ``DIR/corpus`` (see ``corpus.py``), builds a mirset table of
it (``python -m mirset build``), runs the plain peers on the same files (results cached in
``DIR/peers.json``), scores everything with ``mir_eval`` and writes ``DIR/report.md`` and
``DIR/report.json``. Metrics missing from mirset's table are reported as n/a.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accuracy import corpus, metrics, peers
from accuracy.metrics import LABELS, METRICS, TARGETS, fmt

REPO = Path(__file__).resolve().parents[2]
PEER_CACHE_VERSION = "1"
# mirset build steps counted as its tempo / beat / downbeat / key work (decode and shared views too)
MIRSET_STEPS = ("decode", "beats", "downbeats", "harmony", "onsets")
MIRSET_VIEW_PREFIX = "view:"
SUBSETS: dict[str, Callable[[corpus.Truth], bool]] = {
    "generated, drums": lambda t: t.source == "generated" and t.has_drums,
    "generated, no drums": lambda t: t.source == "generated" and not t.has_drums,
    "music21 scores": lambda t: t.source == "music21",
    "3/4": lambda t: t.meter == 3,
    "4/4": lambda t: t.meter == 4,
    "lossless (wav/flac)": lambda t: t.codec in ("wav", "flac"),
    "lossy (mp3/ogg/m4a)": lambda t: t.codec in ("mp3", "ogg", "m4a"),
}
N_WORST = 5
# mirset configurations scored side by side: the default, and the one that needs no model weights
MIRSET_VARIANTS: dict[str, dict[str, Any]] = {
    "mirset": {},
    "mirset dp (no weights)": {
        "extractor_params": {"beats": {"method": "dp"}, "downbeats": {"method": "beat_sync"}}
    },
}


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- mirset


def run_mirset(
    audio_dir: Path, out: Path, workers: int, reuse: bool, name: str = "mirset"
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Build a mirset table of the corpus with configuration ``MIRSET_VARIANTS[name]``;
    estimates by relative path, and build info."""
    tag = "" if name == "mirset" else "-" + "".join(c for c in name.split()[1] if c.isalnum())
    dest, summary_path = out / f"mirset-out{tag}", out / f"mirset-summary{tag}.json"
    if not reuse and dest.exists():
        shutil.rmtree(dest)
    previous = json.loads(summary_path.read_text()) if reuse and summary_path.exists() else None
    summary_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "mirset", "build", str(audio_dir), str(dest), "--no-progress"]
    cmd += ["-j", str(workers), "--json-summary", str(summary_path)]
    if MIRSET_VARIANTS[name]:
        config = out / f"mirset-config{tag}.json"  # JSON is YAML
        config.write_text(json.dumps(MIRSET_VARIANTS[name]))
        cmd += ["--config", str(config)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=4 * 3600)
    info: dict[str, Any] = {"rc": proc.returncode, "wall_s": time.perf_counter() - t0}
    if proc.returncode not in (0, 1):
        info["error"] = (proc.stderr or proc.stdout)[-2000:]
        log(f"mirset build failed (rc {proc.returncode}):\n{info['error']}")
        return {}, info
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if previous and not summary.get("processed"):  # all reused: keep the earlier timings
            summary = previous
            summary_path.write_text(json.dumps(previous, indent=2))
        info.update({k: summary.get(k) for k in ("ok", "failed", "wall_s", "step_seconds")})
        info["failures"] = summary.get("failures", [])
    try:
        return read_mirset_table(dest / "table"), info
    except Exception as exc:  # an unreadable table: mirset rows become n/a
        info["error"] = f"table unreadable: {exc!r}"
        log(info["error"])
        return {}, info


def read_mirset_table(table: Path) -> dict[str, dict[str, Any]]:
    """Rows of mirset's Delta table as estimates; a missing column leaves its key out / None."""
    import deltalake

    tbl = deltalake.DeltaTable(str(table)).to_pyarrow_dataset().to_table()
    cols = set(tbl.schema.names)
    wanted = ["relative_path"] + [
        c for c in ("bpm", "beat_times", "downbeat_times", "meter", "key", "mode") if c in cols
    ]
    out: dict[str, dict[str, Any]] = {}
    for row in tbl.select(wanted).to_pylist():
        est: dict[str, Any] = {
            "beats": row.get("beat_times"),
            "downbeats": row.get("downbeat_times"),
            "meter": row.get("meter"),
            "key": row.get("key"),
            "mode": row.get("mode"),
        }
        if "bpm" in cols:
            est["bpm"] = row["bpm"]
        out[row["relative_path"]] = est
    return out


# --------------------------------------------------------------------------- peers


def _init_worker() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    peers.warm_up()


def _peer_task(name: str, path: str) -> tuple[dict[str, Any] | None, float, str | None]:
    t0 = time.perf_counter()
    try:
        est = peers.PEERS[name](Path(path))
        return est, time.perf_counter() - t0, None
    except Exception as exc:
        return None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"


def run_peers(
    truths: list[corpus.Truth], audio_dir: Path, out: Path, workers: int, fresh: bool
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run every peer on every file (cached by spec hash); ``{peer: {rel: {est, seconds}}}``."""
    cache_path = out / "peers.json"
    cache: dict[str, Any] = {}
    if cache_path.exists() and not fresh:
        cache = json.loads(cache_path.read_text())
    if cache.get("version") != PEER_CACHE_VERSION:
        cache = {"version": PEER_CACHE_VERSION, "results": {}}
    results: dict[str, dict[str, Any]] = cache["results"]
    todo = [
        (name, t)
        for name in peers.PEERS
        for t in truths
        if t.spec_hash not in results.get(name, {})
    ]
    if todo:
        log(f"running peers: {len(todo)} file runs on {workers} worker(s)")
        for var in (
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMBA_NUM_THREADS",
        ):
            os.environ[var] = "1"
        with ProcessPoolExecutor(
            max_workers=max(1, workers), mp_context=get_context("spawn"), initializer=_init_worker
        ) as pool:
            futs = {
                pool.submit(_peer_task, name, str(audio_dir / t.relative_path)): (name, t)
                for name, t in todo
            }
            for n, fut in enumerate(as_completed(futs), 1):
                name, t = futs[fut]
                est, secs, err = fut.result()
                results.setdefault(name, {})[t.spec_hash] = {
                    "est": est,
                    "seconds": secs,
                    "error": err,
                }
                if err:
                    log(f"  {name} failed on {t.relative_path}: {err}")
                if n % 20 == 0 or n == len(todo):
                    log(f"  {n}/{len(todo)} peer runs done")
        cache_path.write_text(json.dumps(cache))
    return {
        name: {t.relative_path: results[name][t.spec_hash] for t in truths} for name in peers.PEERS
    }


# --------------------------------------------------------------------------- evaluation


def method_estimates(
    mirset_est: dict[str, dict[str, dict[str, Any]]],
    peer_runs: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """``{method: {rel: estimate}}``; Essentia's extra key profiles become key-only methods."""
    methods: dict[str, dict[str, dict[str, Any] | None]] = {
        name: dict(est) for name, est in mirset_est.items()
    }
    for name, runs in peer_runs.items():
        methods[name if name != "essentia" else f"essentia (key {peers.ESSENTIA_PROFILES[0]})"] = {
            rel: r["est"] for rel, r in runs.items()
        }
    for profile in peers.ESSENTIA_PROFILES[1:]:
        methods[f"essentia (key {profile}, key only)"] = {
            rel: (
                None
                if r["est"] is None
                else dict(zip(("key", "mode"), r["est"]["key_variants"][profile], strict=True))
            )
            for rel, r in peer_runs["essentia"].items()
        }
    return methods


def timing(
    truths: list[corpus.Truth],
    peer_runs: dict[str, dict[str, dict[str, Any]]],
    mirset_infos: dict[str, dict[str, Any]],
) -> dict[str, dict[str, float | None]]:
    """Seconds of processing per minute of audio, and × real time, per method (one process)."""
    minutes = sum(t.duration for t in truths) / 60.0
    out: dict[str, dict[str, float | None]] = {}
    for name, mirset_info in mirset_infos.items():
        steps = mirset_info.get("step_seconds") or {}
        if not steps or not minutes:
            continue
        rel = sum(
            v for k, v in steps.items() if k in MIRSET_STEPS or k.startswith(MIRSET_VIEW_PREFIX)
        )
        out[name] = {
            "s_per_min": rel / minutes,
            "x_realtime": 60.0 * minutes / rel if rel else None,
            "s_per_min_all_steps": sum(steps.values()) / minutes,
            "build_wall_s": mirset_info.get("wall_s"),
        }
    for name, runs in peer_runs.items():
        secs = sum(r["seconds"] for r in runs.values())
        label = name if name != "essentia" else f"essentia (key {peers.ESSENTIA_PROFILES[0]})"
        out[label] = {
            "s_per_min": secs / minutes if minutes else None,
            "x_realtime": 60.0 * minutes / secs if secs else None,
        }
    return out


def evaluate(
    truths: list[corpus.Truth], methods: dict[str, dict[str, dict[str, Any] | None]]
) -> dict[str, Any]:
    """Per-file scores, overall and per-subset means for every method."""
    per_file: dict[str, dict[str, dict[str, float | None]]] = {
        m: {
            t.relative_path: metrics.score_file(asdict(t), ests.get(t.relative_path))
            for t in truths
        }
        for m, ests in methods.items()
    }
    avail = {m: metrics.available(rows.values()) for m, rows in per_file.items()}
    overall = {m: metrics.aggregate(rows.values(), avail[m]) for m, rows in per_file.items()}
    subsets: dict[str, dict[str, Any]] = {}
    for sname, pred in SUBSETS.items():
        rels = [t.relative_path for t in truths if pred(t)]
        if rels:
            subsets[sname] = {
                "n": len(rels),
                "methods": {
                    m: metrics.aggregate([rows[r] for r in rels], avail[m])
                    for m, rows in per_file.items()
                },
            }
    return {"per_file": per_file, "overall": overall, "subsets": subsets}


def checks(overall: Mapping[str, Mapping[str, float | None]]) -> list[dict[str, Any]]:
    """mirset against the targets and against the best plain peer, metric by metric."""
    rows = []
    for m in METRICS:
        mine = overall["mirset"][m]
        peer_vals = [
            (v[m], name)
            for name, v in overall.items()
            if name not in MIRSET_VARIANTS and v[m] is not None
        ]
        best_val, best_name = max(peer_vals) if peer_vals else (None, None)
        target = TARGETS.get(m)
        rows.append(
            {
                "metric": m,
                "mirset": mine,
                "target": target,
                "meets_target": None if mine is None or target is None else mine >= target - 1e-9,
                "best_peer": best_name,
                "best_peer_value": best_val,
                "not_below_best_peer": (
                    None if mine is None or best_val is None else mine >= best_val - 1e-9
                ),
            }
        )
    return rows


def worst_files(
    truths: list[corpus.Truth],
    per_file: Mapping[str, Mapping[str, float | None]],
    ests: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, list[dict[str, Any]]]:
    """mirset's lowest-scoring files per metric (scores below 1 only)."""
    by_rel = {t.relative_path: t for t in truths}
    out: dict[str, list[dict[str, Any]]] = {}
    for m in METRICS:
        if all(per_file[r][m] is None for r in per_file):
            continue
        scored = sorted(
            ((per_file[r][m] or 0.0, r) for r in per_file if (per_file[r][m] or 0.0) < 1.0),
        )[:N_WORST]
        out[m] = [
            {
                "file": r,
                "score": s,
                "truth": _truth_str(by_rel[r], m),
                "estimate": _est_str(ests.get(r), m),
            }
            for s, r in scored
        ]
    return out


def _truth_str(t: corpus.Truth, m: str) -> str:
    if m in ("acc1", "acc2", "beat_f"):
        return f"{t.bpm:g} BPM"
    if m in ("downbeat_f", "meter"):
        return f"{t.meter}/4 at {t.bpm:g} BPM"
    return f"{t.key} {t.mode}"


def _est_str(e: Mapping[str, Any] | None, m: str) -> str:
    if not e:
        return "no row"
    if m in ("acc1", "acc2", "beat_f"):
        bpm = e.get("bpm")
        n = len(e.get("beats") or [])
        return f"{'null' if bpm is None else f'{bpm:.1f}'} BPM, {n} beats"
    if m in ("downbeat_f", "meter"):
        return f"meter {e.get('meter')}, {len(e.get('downbeats') or [])} downbeats"
    return f"{e.get('key')} {e.get('mode')}"


# --------------------------------------------------------------------------- report


def _table(
    rows: Mapping[str, Mapping[str, float | None]], tim: Mapping[str, Any] | None
) -> list[str]:
    head = ["method", *(LABELS[m] for m in METRICS), LABELS["beat_offset_ms"]]
    if tim is not None:
        head += ["s / min audio", "× real time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, vals in rows.items():
        cells = [name, *(fmt(vals[m]) for m in METRICS), fmt(vals["beat_offset_ms"], 1, sign=True)]
        if tim is not None:
            t = tim.get(name, {})
            cells += [fmt(t.get("s_per_min"), 2), fmt(t.get("x_realtime"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    if tim is not None:
        tgt = ["**target**", *(f"≥ {TARGETS[m]:g}" if m in TARGETS else "" for m in METRICS)]
        tgt += ["", "", ""]
        lines.append("| " + " | ".join(tgt) + " |")
    return lines


def _counts(d: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def _decoder_table(offsets: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    names = sorted({n for row in offsets.values() for n in row}, key=lambda n: n != "mirset")
    lines = ["| codec | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for codec, row in offsets.items():
        lines.append(
            f"| {codec} | " + " | ".join(fmt(row.get(n), 1, sign=True) for n in names) + " |"
        )
    return lines


def report_markdown(res: dict[str, Any]) -> str:
    """The markdown report."""
    c = res["corpus"]
    lines = [
        "# mirset accuracy: tempo, beats, downbeats, meter, key",
        "",
        f"Corpus: {c['files']} files, {c['minutes']:.1f} min of audio "
        f"({_counts(c['by_source'])}; meters {_counts(c['by_meter'])}; "
        f"codecs {_counts(c['by_codec'])}; "
        f"{c['keys_covered']}/24 keys; tempo {c['bpm_min']:g}-{c['bpm_max']:g} BPM). "
        f"Truth shifted by {c['truth_shift_ms']:+.1f} ms (median render onset offset vs MIDI "
        f"{c['render_offset_ms_median']:+.1f} ms, range {c['render_offset_ms_range'][0]:+.0f}.."
        f"{c['render_offset_ms_range'][1]:+.0f} ms); ffmpeg-decoded codec offsets vs master "
        f"{c['codec_offset_ms_range'][0]:+.1f}..{c['codec_offset_ms_range'][1]:+.1f} ms.",
        "",
        *_table(res["overall"], res["timing"]),
        "",
        "Acc1: tempo within ±4 %; Acc2: also ×2, ×½, ×3, ×⅓ (a null bpm is a miss). Beat / downbeat "
        "F: `mir_eval.beat.f_measure`, ±70 ms, first 5 s trimmed, estimates past the final chord "
        "not scored. Key: MIREX weighted score. Beat offset: median deviation of matched beats "
        "(+ = late; diagnostic). "
        "s / min audio: one process (peers: wall per file, models preloaded; mirset: summed worker "
        f"time of its {', '.join(MIRSET_STEPS)} and view steps"
        + (
            f"; all extractors {res['timing']['mirset']['s_per_min_all_steps']:.2f} s / min, build "
            f"wall {res['timing']['mirset']['build_wall_s']:.0f} s on {res['workers']} workers"
            if "mirset" in res["timing"]
            else ""
        )
        + ").",
        "",
        "Decoded start offset against the lossless master, as each tool's own loader sees it "
        "(ms, + = later; one file per codec; truth is not shifted for it):",
        "",
        *_decoder_table(res["decoder_offsets_ms"]),
        "",
        "## mirset against the targets and the best plain peer",
        "",
        "| metric | mirset | target | meets target | best peer | peer value | mirset ≥ best peer |",
        "|---|---|---|---|---|---|---|",
    ]
    yn = {True: "yes", False: "**NO**", None: "n/a"}
    for ch in res["checks"]:
        target = "" if ch["target"] is None else f"≥ {ch['target']:g}"
        lines.append(
            f"| {LABELS[ch['metric']]} | {fmt(ch['mirset'])} | {target} | {yn[ch['meets_target']]} | "
            f"{ch['best_peer'] or ''} | {fmt(ch['best_peer_value'])} | {yn[ch['not_below_best_peer']]} |"
        )
    lines += ["", "## By subset", ""]
    for sname, sub in res["subsets"].items():
        lines += [f"### {sname} ({sub['n']} files)", "", *_table(sub["methods"], None), ""]
    lines += ["## mirset's worst files per metric", ""]
    if not res["mirset_worst"]:
        lines.append("(none below 1.0, or no mirset estimates)")
    for m, rows in res["mirset_worst"].items():
        lines += [f"**{LABELS[m]}**", ""]
        if not rows:
            lines += ["all files score 1.0", ""]
            continue
        lines += ["| file | score | truth | mirset |", "|---|---|---|---|"]
        lines += [
            f"| {r['file']} | {r['score']:.3f} | {r['truth']} | {r['estimate']} |" for r in rows
        ]
        lines.append("")
    if res["mirset_build"].get("error") or res["mirset_build"].get("failures"):
        lines += [
            "## mirset build problems",
            "",
            "```",
            str(res["mirset_build"].get("error") or ""),
            json.dumps(res["mirset_build"].get("failures"), indent=1)[:3000],
            "```",
            "",
        ]
    if res["peer_errors"]:
        lines += ["## Peer errors", ""] + [f"- {e}" for e in res["peer_errors"]] + [""]
    lines.append(f"Harness runtime: {res['runtime_s']}")
    return "\n".join(lines) + "\n"


def decoder_offsets(truths: list[corpus.Truth], out: Path) -> dict[str, dict[str, float | None]]:
    """Lag (ms) of each decoder's output behind the lossless master, one file per lossy codec."""
    loaders: dict[str, Callable[[Path], Any]] = dict(peers.LOADERS)
    try:
        from mirset.audio import decode, resample, to_mono

        def load_mirset(path: Path) -> Any:
            d = decode(path)
            return resample(to_mono(d.samples), d.sample_rate, corpus.SR)

        loaders = {"mirset": load_mirset, **loaders}
    except ImportError as exc:  # its decode API moved: measure the peers only
        log(f"  mirset.audio not usable for the decoder check: {exc!r}")
    res: dict[str, dict[str, float | None]] = {}
    for codec in ("mp3", "ogg", "m4a", "flac"):
        t = next((t for t in truths if t.codec == codec), None)
        if t is None:
            continue
        master = corpus.decode_mono(out / "render" / f"{t.name}.wav")
        res[codec] = {}
        for name, load in loaders.items():
            try:
                y = load(out / "corpus" / t.relative_path)
                res[codec][name] = corpus.lag_ms(master, y.astype("float32"))
            except Exception as exc:
                log(f"  {name} could not decode {t.relative_path}: {exc!r}")
                res[codec][name] = None
    return res


def corpus_summary(truths: list[corpus.Truth]) -> dict[str, Any]:
    """Counts, coverage and measured render/codec offsets of the corpus."""

    def count(key: Callable[[corpus.Truth], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in truths:
            out[key(t)] = out.get(key(t), 0) + 1
        return dict(sorted(out.items()))

    r_off = [t.render_offset_ms for t in truths if t.render_offset_ms is not None]
    c_off = [t.codec_offset_ms for t in truths if t.codec_offset_ms is not None]
    return {
        "files": len(truths),
        "minutes": sum(t.duration for t in truths) / 60.0,
        "by_source": count(lambda t: t.source + (" +drums" if t.has_drums else "")),
        "by_meter": count(lambda t: f"{t.meter}/4"),
        "by_codec": count(lambda t: t.codec),
        "keys_covered": len({(t.key, t.mode) for t in truths}),
        "bpm_min": min(t.bpm for t in truths),
        "bpm_max": max(t.bpm for t in truths),
        "truth_shift_ms": truths[0].extra.get("truth_shift_ms", 0.0) if truths else 0.0,
        "render_offset_ms_median": statistics.median(r_off) if r_off else 0.0,
        "render_offset_ms_range": [min(r_off, default=0.0), max(r_off, default=0.0)],
        "codec_offset_ms_range": [min(c_off, default=0.0), max(c_off, default=0.0)],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/mirset-accuracy"))
    ap.add_argument("--quick", action="store_true", help="~16 files instead of ~70")
    ap.add_argument("-j", "--workers", type=int, default=2)
    ap.add_argument("--reuse-mirset", action="store_true", help="keep an existing mirset build")
    ap.add_argument("--fresh-peers", action="store_true", help="ignore cached peer results")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}
    t0 = time.perf_counter()

    n_gen, n_m21 = (12, 4) if args.quick else (52, 16)
    log(f"corpus: {n_gen} generated + {n_m21} music21 files under {out}")
    audio_dir, truths = corpus.build_corpus(out, n_gen, n_m21, log)
    phases["corpus"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    mirset_est: dict[str, dict[str, dict[str, Any]]] = {}
    mirset_infos: dict[str, dict[str, Any]] = {}
    for name in MIRSET_VARIANTS:
        log(f"{name} build ...")
        mirset_est[name], mirset_infos[name] = run_mirset(
            audio_dir, out, args.workers, args.reuse_mirset, name
        )
    mirset_info = mirset_infos["mirset"]
    phases["mirset"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    peer_runs = run_peers(truths, audio_dir, out, args.workers, args.fresh_peers)
    phases["peers"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    decoders = decoder_offsets(truths, out)
    phases["decoder check"] = time.perf_counter() - t3

    methods = method_estimates(mirset_est, peer_runs)
    ev = evaluate(truths, methods)
    res: dict[str, Any] = {
        "out": str(out),
        "quick": args.quick,
        "workers": args.workers,
        "corpus": corpus_summary(truths),
        "decoder_offsets_ms": decoders,
        "overall": ev["overall"],
        "timing": timing(truths, peer_runs, mirset_infos),
        "targets": TARGETS,
        "checks": checks(ev["overall"]),
        "subsets": ev["subsets"],
        "mirset_worst": worst_files(truths, ev["per_file"]["mirset"], methods["mirset"]),
        "mirset_build": mirset_info,
        "peer_errors": [
            f"{name} on {rel}: {r['error']}"
            for name, runs in peer_runs.items()
            for rel, r in runs.items()
            if r.get("error")
        ],
        "per_file": {
            t.relative_path: {
                "truth": {k: v for k, v in asdict(t).items() if k != "extra"},
                "scores": {m: ev["per_file"][m][t.relative_path] for m in methods},
                "estimates": {m: _compact(methods[m].get(t.relative_path)) for m in methods},
            }
            for t in truths
        },
    }
    phases["total"] = time.perf_counter() - t0
    res["phases_s"] = {k: round(v, 1) for k, v in phases.items()}
    res["runtime_s"] = ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
    md = report_markdown(res)
    (out / "report.md").write_text(md)
    (out / "report.json").write_text(json.dumps(res, indent=1, default=str))
    print()
    print(md)
    log(f"wrote {out / 'report.md'} and {out / 'report.json'}")
    return 0


def _compact(est: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An estimate with its time lists rounded to ms (report size)."""
    if est is None:
        return None
    return {
        k: [round(float(x), 3) for x in v] if isinstance(v, list) else v for k, v in est.items()
    }


if __name__ == "__main__":
    sys.exit(main())
