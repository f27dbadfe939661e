"""Incremental builds: resume, new files, changed files, bumped extractors, retries, SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from helpers import read_table, rows_by_path, run_mirset
from mirset.builder.build import build
from mirset.config import load_config
from mirset.extractors.beats import Beats


def _music_files(corpus, n: int) -> list[Path]:
    files = sorted(
        p
        for p in corpus.music.rglob("*")
        if p.is_file()
        and p.suffix in {".flac", ".ogg", ".mp3", ".wav", ".aiff", ".opus"}
        and p.stem != "full_mix"
        and p.stem not in {"drums", "bass", "other", "vocals"}
    )
    assert len(files) >= n
    return files[:n]


@pytest.fixture
def small(corpus, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    for i, src in enumerate(_music_files(corpus, 3)):
        shutil.copy2(src, music / f"t{i}{src.suffix}")
    return music, tmp_path / "out"


def _build(music: Path, out: Path, **overrides):
    config = load_config(
        None, {"build.workers": 0, **{f"build.{k}": v for k, v in overrides.items()}}
    )
    return build(music, out, config, Console(file=open(os.devnull, "w")), progress=False)


def test_rerun_recomputes_nothing_and_new_files_only_them(small, corpus) -> None:
    music, out = small
    first = _build(music, out)
    assert (first.ok, first.failed) == (3, 0)
    version = read_table(out).num_rows
    t0 = time.perf_counter()
    again = _build(music, out)
    assert again.planned == 0 and again.up_to_date == 3
    assert time.perf_counter() - t0 < 10
    assert read_table(out).num_rows == version
    shutil.copy2(_music_files(corpus, 4)[3], music / "added.flac")
    added = _build(music, out)
    assert added.planned == 1 and added.ok == 1 and added.up_to_date == 3
    assert len(rows_by_path(out)) == 4


def test_changed_content_recomputes_only_that_track(small, corpus) -> None:
    music, out = small
    _build(music, out)
    before = rows_by_path(out)
    target = sorted(music.iterdir())[0]
    shutil.copy2(_music_files(corpus, 5)[4], target.with_suffix(".tmp"))
    os.replace(target.with_suffix(".tmp"), target)
    changed = _build(music, out)
    assert changed.planned == 1 and changed.up_to_date == 2
    after = rows_by_path(out)
    key = target.name
    assert after[key]["file_hash"] != before[key]["file_hash"]
    assert after[key]["lufs"] != before[key]["lufs"]
    for other in set(after) - {key}:
        assert after[other]["built_at"] == before[other]["built_at"]


def test_touched_but_identical_file_is_not_recomputed(small) -> None:
    music, out = small
    _build(music, out)
    before = rows_by_path(out)
    target = sorted(music.iterdir())[0]
    os.utime(target, ns=(time.time_ns(), time.time_ns()))
    touched = _build(music, out)
    assert touched.planned == 1 and touched.step_s.get("decode", 0) == 0
    after = rows_by_path(out)[target.name]
    assert after["lufs"] == before[target.name]["lufs"]
    assert after["file_mtime_ns"] != before[target.name]["file_mtime_ns"]


def test_bumped_extractor_runs_alone_on_every_track(small, monkeypatch) -> None:
    music, out = small
    _build(music, out)
    before = rows_by_path(out)
    monkeypatch.setattr(Beats, "version", "999")
    bumped = _build(music, out)
    assert bumped.planned == 3
    assert set(bumped.step_s) & {"beats", "loudness", "spectral", "onsets"} == {"beats"}
    after = rows_by_path(out)
    for path, row in after.items():
        assert row["beats_version"] == "999"
        assert row["loudness_version"] == before[path]["loudness_version"]
        assert row["lufs"] == before[path]["lufs"]
        assert row["bpm"] == before[path]["bpm"]
        assert len(after) == 3


def test_changed_params_rerun_that_extractor(small, tmp_path) -> None:
    music, out = small
    _build(music, out)
    config_file = tmp_path / "mirset.yaml"
    config_file.write_text("extractor_params:\n  beats:\n    tightness: 400\n")
    summary = tmp_path / "s.json"
    proc = run_mirset(
        "build",
        str(music),
        str(out),
        "-j",
        "0",
        "--no-progress",
        "--config",
        str(config_file),
        "--json-summary",
        str(summary),
    )
    assert proc.returncode == 0, proc.stderr
    steps = json.loads(summary.read_text())["step_seconds"]
    assert "beats" in steps and "loudness" not in steps


def test_failures_are_skipped_until_retried(small) -> None:
    music, out = small
    (music / "broken.flac").write_bytes(b"fLaC" + os.urandom(2000))
    first = _build(music, out)
    assert first.failed == 1 and first.failures[0][0] == "broken.flac"
    second = _build(music, out)
    assert second.planned == 0 and second.failed_skipped == 1
    assert second.skipped_failures[0][0] == "broken.flac"
    retried = _build(music, out, retry_failed=True)
    assert retried.planned == 1 and retried.failed == 1


def test_runaway_track_is_stopped_by_the_time_limit(corpus, tmp_path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    hour = next(corpus.bad.glob("one_hour*"))
    shutil.copy2(hour, music / hour.name)
    summary = _build(music, tmp_path / "out", workers=1, track_timeout_s=2)
    assert summary.failed == 1
    assert "timed out after 2 s" in summary.failures[0][1]


def test_sigkill_midway_then_rerun_loses_nothing(corpus, tmp_path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    sources = _music_files(corpus, 3)
    for i in range(8):
        shutil.copy2(sources[i % 3], music / f"copy{i}{sources[i % 3].suffix}")  # 8 paths, 8 rows
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mirset",
            "build",
            str(music),
            str(out),
            "-j",
            "1",
            "--batch-size",
            "1",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = out / "table" / "_delta_log"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(log.glob("*.json")) if log.exists() else []) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = rows_by_path(out)
    assert 0 < len(partial) < 8, "the build was not killed midway"
    summary = _build(music, out)
    rows = read_table(out).to_pylist()
    paths = [r["relative_path"] for r in rows]
    assert len(paths) == len(set(paths)) == 8
    assert all(r["status"] == "ok" for r in rows)
    assert summary.up_to_date == len(partial)
    infos = list((out / "tracks").glob("*.INFO"))
    assert len(infos) == 8
    for info in infos:
        assert json.loads(info.read_text())["lufs"] is not None
