"""The Ray executor on a real local Ray instance: same rows as the local executor, models loaded
once per actor, a killed worker retried, a killed driver resumed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from helpers import read_table, rows_by_path, run_mirset
from test_stems import tiny_store

CHEAP = "loudness,beats,harmony,spectral"
VOLATILE = {"built_at", "sidecar_dir", "stem_paths"}  # when built; paths under each OUT_DIR


@pytest.fixture()
def music(corpus, tmp_path: Path) -> Path:
    dest = tmp_path / "music"
    shutil.copytree(corpus.path("music"), dest)
    return dest


def _comparable(out: Path) -> dict[str, dict]:
    return {
        k: {c: v for c, v in row.items() if c not in VOLATILE}
        for k, row in rows_by_path(out).items()
    }


def _same(a: object, b: object, rel: float = 1e-7) -> bool:
    """Equal values; floats to ``rel`` (thread count changes BLAS summation order)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=rel, abs=1e-9, nan_ok=True)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], rel) for k in a)
    return a == b


def _ray_processes() -> set[int]:
    names = ("raylet", "gcs_server", "ray::", "default_worker")
    out = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(n in cmd for n in names):
            out.add(p.info["pid"])
    return out


def _kill_new_ray(before: set[int]) -> None:
    for pid in _ray_processes() - before:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_ray_build_equals_local_build(music: Path, tmp_path: Path) -> None:
    common = ("-e", CHEAP, "--no-progress", "--sidecars", "none")
    local = run_mirset("build", str(music), str(tmp_path / "local"), "-j", "0", *common)
    assert local.returncode == 0, local.stderr
    summary = tmp_path / "ray.json"
    ray = run_mirset(
        "build", str(music), str(tmp_path / "ray"), "--executor", "ray",
        "--json-summary", str(summary), *common,
    )  # fmt: skip
    assert ray.returncode == 0, ray.stderr
    ours, theirs = _comparable(tmp_path / "ray"), _comparable(tmp_path / "local")
    assert len(ours) == 9 and ours.keys() == theirs.keys()
    for path in ours:
        bad = [c for c in ours[path] if not _same(ours[path][c], theirs[path].get(c))]
        assert not bad, (path, bad)
    stages = json.loads(summary.read_text())["stages"]
    assert stages["gpu"]["actors"] == 0 and stages["cpu"]["tracks"] == 9
    again = run_mirset(
        "build", str(music), str(tmp_path / "ray"), "--executor", "ray",
        "--json-summary", str(summary), *common,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    rerun = json.loads(summary.read_text())
    assert rerun["processed"] == 0 and rerun["skipped_up_to_date"] == 9


def test_gpu_stage_actor_loads_its_model_once(
    music: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Demucs (declares a GPU; run with num_gpus=0 here) in the GPU-stage actor, the stem
    features in the CPU stage reading its stems: equal to the local executor."""
    store = tiny_store(tmp_path_factory.mktemp("models"))
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"extractor_params": {"stems": {"model": "tiny_htdemucs"}}}))
    common = (
        "-e", "stems,stem_loudness,loudness", "--models-dir", str(store), "--stems", "out",
        "--sidecars", "none", "--no-progress", "--config", str(config),
    )  # fmt: skip
    local = run_mirset("build", str(music), str(tmp_path / "local"), "-j", "0", *common)
    assert local.returncode == 0, local.stderr
    summary = tmp_path / "ray.json"
    ray = run_mirset(
        "build", str(music), str(tmp_path / "ray"), "--executor", "ray",
        "--json-summary", str(summary), *common,
    )  # fmt: skip
    assert ray.returncode == 0, ray.stderr
    stages = json.loads(summary.read_text())["stages"]
    gpu = stages["gpu"]
    assert gpu["actors"] == 1 and gpu["num_gpus"] == 0
    assert [a["setups"] for a in gpu["per_actor"]] == [1]  # loaded once for 9 tracks
    assert gpu["per_actor"][0]["tracks"] == 9 and stages["cpu"]["tracks"] == 9
    ours, theirs = _comparable(tmp_path / "ray"), _comparable(tmp_path / "local")
    for key in ("stems_status", "stem_loudness_status"):
        assert {r[key] for r in ours.values()} == {"ok"}
    assert ours.keys() == theirs.keys()
    for path in ours:  # Demucs with 1 vs 2 threads, stems through 24-bit FLAC: 1e-7 apart
        bad = [c for c in ours[path] if not _same(ours[path][c], theirs[path].get(c), 1e-5)]
        assert not bad, (path, bad)
    assert all(r["lufs_drums"] is not None for r in ours.values())


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mirset", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_killed_worker_is_retried(music: Path, tmp_path: Path) -> None:
    summary = tmp_path / "s.json"
    out = tmp_path / "out"
    before = _ray_processes()
    proc = _start(
        ["build", str(music), str(out), "--executor", "ray", "-e", CHEAP, "--no-progress",
         "--sidecars", "none", "--json-summary", str(summary)]
    )  # fmt: skip
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if "ray::_StageWorker.run" in " ".join(p.info["cmdline"] or []):
                p.kill()  # SIGKILL in the middle of a track
                killed = p.info["pid"]
                break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=600)
    _kill_new_ray(before)
    assert killed is not None, "no worker was seen running"
    assert proc.returncode == 0, summary.read_text() if summary.exists() else err
    table = read_table(out)
    paths = table.column("relative_path").to_pylist()
    assert len(paths) == len(set(paths)) == 9
    assert set(table.column("status").to_pylist()) == {"ok"}
    assert json.loads(summary.read_text())["stages"]["cpu"]["restarts"] >= 1


def test_resume_after_the_driver_is_killed(music: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = _ray_processes()
    proc = _start(
        ["build", str(music), str(out), "--executor", "ray", "-e", CHEAP, "--no-progress",
         "--sidecars", "none", "--batch-size", "2"]
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "table" / "_delta_log").is_dir() and any((out / "table").glob("*.parquet")):
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    _kill_new_ray(before)
    first = read_table(out).column("relative_path").to_pylist()
    assert 0 < len(first) < 9
    again = run_mirset(
        "build", str(music), str(out), "--executor", "ray", "-e", CHEAP, "--no-progress",
        "--sidecars", "none",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    paths = read_table(out).column("relative_path").to_pylist()
    assert len(paths) == len(set(paths)) == 9


def test_ctrl_c_commits_what_finished(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"  # three copies: far more work than the 2 s before Ctrl-C
    for i in range(3):
        shutil.copytree(corpus.path("music"), music / f"copy{i}")
    out, summary = tmp_path / "out", tmp_path / "s.json"
    before = _ray_processes()
    proc = _start(
        ["build", str(music), str(out), "--executor", "ray", "-e", CHEAP, "--no-progress",
         "--sidecars", "none", "--batch-size", "100", "--json-summary", str(summary)]
    )  # fmt: skip
    deadline = time.monotonic() + 300
    seen = False
    while not seen and proc.poll() is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["cmdline"]):
            seen = seen or "ray::_StageWorker.run" in " ".join(p.info["cmdline"] or [])
        time.sleep(0.05)
    time.sleep(2.0)  # a few tracks finish, none committed yet (batch size 100)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    _kill_new_ray(before)
    assert proc.returncode == 130, err
    done = json.loads(summary.read_text())
    assert done["interrupted"] is True
    paths = read_table(out).column("relative_path").to_pylist()
    assert len(paths) == len(set(paths)) == done["ok"] + done["failed"] > 0
    assert len(paths) < 27


def test_cluster_launcher_config_is_valid() -> None:
    """ray_cluster.yaml passes the cluster launcher's own schema, defaults filled in."""
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((Path(__file__).parents[1] / "ray_cluster.yaml").read_text())
    validate_config(config)
    full = prepare_config(config)
    validate_config(full)
    types = full["available_node_types"]
    assert types["gpu_worker"]["resources"]["GPU"] == 1
    assert types["head"]["resources"]["CPU"] == 0
    assert any("setup.sh --stems" in c for c in full["setup_commands"])
    assert "--executor ray" in (Path(__file__).parents[1] / "ray_cluster.yaml").read_text()
