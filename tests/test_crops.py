"""``mirset crops``: the old crop tool's rules, its naming, and a crops table of the crops' own
features (built with the same machinery as tracks)."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from helpers import rows_by_path, run_mirset
from mirset.builder.discover import discover
from mirset.crops.ranges import (
    beat_aligned_ranges,
    fade,
    leading_silence,
    sequential_ranges,
    zero_crossing_at_or_before,
)

SR = 1000


def test_leading_silence_and_zero_crossings() -> None:
    x = np.zeros(5000, np.float32)
    x[2345:] = 0.01
    assert leading_silence(x, SR) == 2300  # the 100 ms window holding the first loud sample
    assert leading_silence(np.zeros(100, np.float32), SR) == 100
    y = np.array([0.5, 0.4, -0.1, -0.2, 0.3, 0.2, 0.1], np.float32)
    assert zero_crossing_at_or_before(y, 6, 10) == 4  # last sign change at or before index 6
    assert zero_crossing_at_or_before(y, 3, 10) == 2
    assert zero_crossing_at_or_before(y, 6, 1) == 6  # none within reach: unchanged
    assert zero_crossing_at_or_before(y, 6, 10, floor=5) == 6


def test_sequential_ranges() -> None:
    assert sequential_ranges(10, 3) == [(0, 3), (3, 6), (6, 9)]  # trailing partial dropped
    assert sequential_ranges(10, 4, start=1, overlap=True) == [(1, 5), (3, 7), (5, 9)]


def test_beat_aligned_ranges_follow_bars() -> None:
    rng = np.random.default_rng(0)
    mono = rng.standard_normal(40 * SR).astype(np.float32)
    grid = np.arange(0.5, 40, 2.0)  # a downbeat every 2 s from 0.5 s
    # 9 s allowed, 4 bars = 8 s: consecutive 4-bar crops starting on downbeats
    crops = beat_aligned_ranges(mono, SR, 9 * SR, grid, bars_multiple=4)
    assert len(crops) == 4
    for (_, e), (s2, _) in itertools.pairwise(crops):
        assert e == s2  # consecutive: the next starts where this one ended
    for s, e in crops:
        assert 7950 <= e - s <= 8050  # 4 bars, boundaries moved back <= 50 ms to a zero crossing
        assert min(abs(s / SR - g) for g in grid) <= 0.05
        assert s == 0 or np.signbit(mono[s - 1]) != np.signbit(mono[s])
    # 7 s allowed: 3 bars fit but not 4, so nothing with bars_multiple=4; 2 bars with 2
    assert beat_aligned_ranges(mono, SR, 7 * SR, grid, bars_multiple=4) == []
    assert all(3950 <= e - s <= 4050 for s, e in beat_aligned_ranges(mono, SR, 7 * SR, grid, 2))
    # no multiple: the latest downbeat within the length (3 bars = 6 s); near the end, shorter
    # crops (to the last downbeat, then to the end: variable length as in the old tool, >= 1 s)
    free = beat_aligned_ranges(mono, SR, 7 * SR, grid, 0)
    assert all(5950 <= e - s <= 6050 for s, e in free[:6])
    assert [round((e - s) / SR, 1) for s, e in free[6:]] == [2.0, 1.5] and free[-1][1] == 40 * SR
    # overlap: starts half a length later, on a downbeat
    over = beat_aligned_ranges(mono, SR, 9 * SR, grid, bars_multiple=4, overlap=True)
    starts = [s / SR for s, _ in over]
    assert len(over) > len(crops) and all(
        3.9 <= b - a <= 4.1 for a, b in itertools.pairwise(starts)
    )
    x = np.ones((2, 100), np.float32)
    fade(x, SR)  # 10 ms = 10 samples each end
    assert x[0, 0] == 0 and x[0, 9] < 1 and x[0, 10] == 1 and x[0, -1] < 0.1


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    """Two rendered songs (one with stems), a 24-bit 96 kHz file and an mp3, built for beats."""
    base = tmp_path_factory.mktemp("crops")
    music = base / "music"
    for song in ("Sunrise Drive", "Night Walk"):
        shutil.copytree(corpus.path(f"music/Organised/{song}"), music / song)
    shutil.copy2(corpus.path("bad/hires_96k_24bit.flac"), music / "hires.flac")
    out = base / "out"
    proc = run_mirset(
        "build", str(music), str(out), "-e", "beats,downbeats", "-j", "0", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    crops = base / "crops"
    args = ["--length", "441000", "--beat-aligned", "-e", "beats,downbeats,loudness", "-j", "0"]
    proc = run_mirset("crops", str(out), str(crops), *args, "--no-progress")
    return {"base": base, "music": music, "out": out, "crops": crops, "proc": proc, "args": args}


def test_beat_aligned_crops_of_real_songs(built) -> None:
    proc, crops, music = built["proc"], built["crops"], built["music"]
    assert proc.returncode == 0, proc.stderr
    track = rows_by_path(built["out"])["Sunrise Drive/full_mix.flac"]
    folder = crops / "Sunrise Drive"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert "Sunrise Drive_0.flac" in names and "Sunrise Drive_1_drums.flac" in names
    assert "Sunrise Drive_0.INFO" in names and "Sunrise Drive_2.flac" not in names

    mix, sr = sf.read(music / "Sunrise Drive/full_mix.flac", dtype="float32", always_2d=True)
    drums, _ = sf.read(music / "Sunrise Drive/drums.flac", dtype="float32", always_2d=True)
    bar = 60 / 128 * 4
    for n in (0, 1):
        info = json.loads((folder / f"Sunrise Drive_{n}.INFO").read_text())
        s, e = info["start_sample"], info["end_sample"]
        assert info["samples"] == e - s and info["source"] == "Sunrise Drive/full_mix.flac"
        assert info["has_stems"] and info["stem_names"] == ["bass", "drums", "other", "vocals"]
        assert info["position"] == pytest.approx(s / len(mix))
        assert info["duration"] == pytest.approx(4 * bar, abs=0.06)  # 4 bars of 128 BPM
        # starts on one of the track's downbeats (moved back <= 50 ms to a zero crossing)
        assert min(abs(info["start_time"] - d) for d in track["downbeat_times"]) < 0.06
        crop, crop_sr = sf.read(folder / f"Sunrise Drive_{n}.flac", dtype="float32", always_2d=True)
        stem, _ = sf.read(folder / f"Sunrise Drive_{n}_drums.flac", dtype="float32", always_2d=True)
        assert crop_sr == sr and len(crop) == len(stem) == e - s
        inner = slice(441, e - s - 441)  # past the 10 ms fades: the source samples themselves
        assert np.abs(crop[inner] - mix[s:e][inner]).max() < 1e-4
        assert np.abs(stem[inner] - drums[s:e][inner]).max() < 1e-4
        assert np.abs(crop[0]).max() < 1e-3 and np.abs(crop[-1]).max() < 1e-3  # faded
        assert sf.info(folder / f"Sunrise Drive_{n}.flac").subtype == "PCM_16"  # as the source
        # its own features, never the track's: 16 beats in 4 bars (the track has 41)
        assert info["beat_count"] == 16 and info["bpm"] == pytest.approx(128, abs=1)
        assert info["downbeat_count"] == 4 and "lufs" in info

    night = json.loads((crops / "Night Walk/Night Walk_0.INFO").read_text())
    assert night["duration"] == pytest.approx(4 * 2.4, abs=0.06)  # 4 bars of 100 BPM
    # the 24-bit source keeps its bit depth and its rate
    hires = sorted((crops / "hires").glob("hires_*.flac"))
    assert hires and all(sf.info(p).subtype == "PCM_24" for p in hires)
    assert all(sf.info(p).samplerate == 96000 for p in hires)


def test_crops_table_rows_have_the_track_schema(built) -> None:
    rows = rows_by_path(built["crops"])
    assert {"Sunrise Drive/Sunrise Drive_0.flac", "Night Walk/Night Walk_1.flac"} <= set(rows)
    assert not [k for k in rows if "_drums" in k]  # stem crops are stems of their crop, not rows
    row = rows["Sunrise Drive/Sunrise Drive_1.flac"]
    assert row["status"] == "ok" and row["crop_status"] == "ok"
    assert row["stems"] == ["bass", "drums", "other", "vocals"]
    assert row["stem_paths"][1] == "Sunrise Drive/Sunrise Drive_1_drums.flac"
    assert row["beat_count"] == 16 and row["bpm"] == pytest.approx(128, abs=1)
    assert row["source"] == "Sunrise Drive/full_mix.flac" and row["crop_index"] == 1
    assert row["lufs"] is not None and row["sample_rate"] == 44100
    info = json.loads((built["crops"] / "Sunrise Drive/Sunrise Drive_1.INFO").read_text())
    assert row["start_sample"] == info["start_sample"] and row["bpm"] == info["bpm"]
    assert list(info)[:3] == ["position", "start_time", "end_time"]  # provenance first
    assert (built["crops"] / "Sunrise Drive/Sunrise Drive_1.BEATS_GRID").is_file()


def test_rerun_is_up_to_date_and_new_settings_replace_crops(built) -> None:
    crops, out = built["crops"], built["out"]
    first = crops / "Night Walk/Night Walk_0.flac"
    mtime = first.stat().st_mtime_ns
    proc = run_mirset("crops", str(out), str(crops), *built["args"], "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "up to date: Night Walk/full_mix.flac" in proc.stderr
    assert first.stat().st_mtime_ns == mtime
    # sequential crops of exactly 5 s (44.1 kHz), 24-bit WAV: the old beat-aligned ones go,
    # from the folder and from the crops table
    args = [
        "--length",
        "220500",
        "--format",
        "wav",
        "--bit-depth",
        "24",
        "-e",
        "loudness",
        "-j",
        "0",
    ]
    proc = run_mirset("crops", str(out), str(crops), *args, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (crops / "Night Walk").glob("*.wav"))
    assert files == [f"Night Walk_{n}.wav" for n in range(4)]
    assert not list((crops / "Night Walk").glob("*.flac"))
    for p in (crops / "Night Walk").glob("*.wav"):
        assert sf.info(p).frames == 220500 and sf.info(p).subtype == "PCM_24"
    rows = rows_by_path(crops)
    assert not [k for k in rows if k.endswith(".flac") and "hires" not in k]
    assert rows["Night Walk/Night Walk_2.wav"]["crop_mode"] == "sequential"
    assert (
        rows["Night Walk/Night Walk_2.wav"]["start_sample"]
        == 2 * 220500 + rows["Night Walk/Night Walk_0.wav"]["start_sample"]
    )
    found = {t.relative_path: t for t in discover(crops).tracks}
    assert sorted(found["Sunrise Drive/Sunrise Drive_0.wav"].stems) == [
        "bass",
        "drums",
        "other",
        "vocals",
    ]
