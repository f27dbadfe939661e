"""Training-side loading: `mirset.load.features` (polars) and `MirsetDataset` (torch)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader

from export_helpers import built_dataset
from mirset.audio import decode, resample
from mirset.export.hf import export_hf
from mirset.export.versions import VersionError
from mirset.load import MirsetDataset, features


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    return built_dataset(corpus, tmp_path_factory)


@pytest.fixture(scope="module")
def hf_repo(built, tmp_path_factory):
    repo = tmp_path_factory.mktemp("load-hf") / "repo"
    export_hf(built.out, repo, with_audio=True)
    return repo


def test_features_lazyframe_versions_and_filters(built, hf_repo) -> None:
    lf = features(built.out)
    assert isinstance(lf, pl.LazyFrame)
    assert lf.select(pl.len()).collect().item() == 6
    assert features(built.out, version="v1").select(pl.len()).collect().item() == 3
    assert features(built.out, version=built.v1).collect().height == 3
    fast = (
        lf.filter(pl.col("status") == "ok", pl.col("bpm") > 100)
        .select("relative_path", "bpm", "key", "mode")
        .sort("relative_path")
        .collect()
    )
    assert fast.height >= 1 and (fast["bpm"] > 100).all()
    keys = lf.group_by("mode").agg(pl.len()).collect()
    assert set(keys["mode"].drop_nulls()) <= {"major", "minor"}
    joined = lf.join(features(built.out, "v1").select("relative_path", "lufs"), on="relative_path")
    assert joined.collect().height == 3
    # the exported repo: the rows it was exported with, audio column included
    hf = features(hf_repo)
    assert hf.select(pl.len()).collect().item() == 5 and "audio" in hf.collect_schema().names()
    assert features(hf_repo, version=built.latest).collect().height == 5
    with pytest.raises(VersionError, match="export that version again"):
        features(hf_repo, version="v1")
    with pytest.raises(FileNotFoundError):
        features(built.base)


def _expected_crop(path, offset_s, seconds, sr, channels):
    d = decode(path)
    start = math.floor(offset_s * d.sample_rate)
    seg = d.samples[:, start : start + math.ceil(seconds * d.sample_rate) + 64]
    seg = resample(seg, d.sample_rate, sr)
    if seg.shape[0] == 1:
        seg = np.repeat(seg, channels, axis=0)
    n = round(seconds * sr)
    out = np.zeros((channels, n), np.float32)
    out[:, : min(n, seg.shape[1])] = seg[:, :n]
    return out


def test_item_audio_and_conditioning(built) -> None:
    ds = MirsetDataset(
        built.out, seconds=3.0, sample_rate=32000, crop=5.0, features=["bpm", "lufs"], seed=0
    )
    paths = [r["relative_path"] for r in ds.rows]
    assert paths == sorted(paths) and "corrupt.flac" not in paths
    assert ds.dropped == [("silence.wav", "bpm, lufs, prompt")]  # no tempo, no loudness
    for rel in ("Knalgan Theme.wav", "mono_8k.wav", "Singles/Journeys End.m4a"):
        audio, info = ds[paths.index(rel)]
        assert audio.dtype == torch.float32 and audio.shape == (2, 96000)
        want = _expected_crop(built.music / rel, 5.0, 3.0, 32000, 2)
        np.testing.assert_allclose(audio.numpy(), want, atol=1e-5 if rel.endswith("wav") else 2e-2)
        assert info["seconds_start"] == 5 and info["seconds_total"] in (10, 20, 21)
        assert info["padding_mask"].all() and info["relative_path"] == rel
        row = features(built.out).filter(pl.col("relative_path") == rel).collect().to_dicts()[0]
        assert info["bpm"] == row["bpm"] and info["lufs"] == row["lufs"]
        assert info["prompt"] in ds.rows[paths.index(rel)]["prompts"]
        assert row["prompt"] in ds.rows[paths.index(rel)]["prompts"]


def test_padding_crops_channels_and_seed(built) -> None:
    long = MirsetDataset(built.out, seconds=30.0, sample_rate=16000, crop="start", channels=1)
    audio, info = long[[r["relative_path"] for r in long.rows].index("Knalgan Theme.wav")]
    assert audio.shape == (1, 480000)
    assert info["padding_mask"].sum().item() == pytest.approx(20 * 16000, abs=2)
    assert float(audio[0, 20 * 16000 + 10 :].abs().max()) == 0.0  # zero padding after the track
    rand = MirsetDataset(built.out, seconds=2.0, crop="random", seed=7)
    a1, i1 = rand[0]
    a2, i2 = rand[0]
    assert torch.equal(a1, a2) and i1["prompt"] == i2["prompt"]  # reproducible with a seed
    starts = set()
    for epoch in range(6):
        rand.set_epoch(epoch)
        starts.add(rand[0][1]["seconds_start"])
    assert len(starts) > 1  # a new crop each epoch
    centre = MirsetDataset(built.out, seconds=4.0, crop="center", prompt="first")
    _, info = centre[0]
    assert info["prompt"] == centre.rows[0]["prompts"][0]
    with pytest.raises(ValueError, match="crop must be"):
        MirsetDataset(built.out, crop="middle")
    with pytest.raises(KeyError, match="nope"):
        MirsetDataset(built.out, features=["nope"])


def test_filter_and_missing_values(built) -> None:
    fast = MirsetDataset(built.out, features=["bpm"], filter=pl.col("bpm") > 100)
    assert len(fast) >= 1 and all(r["features"]["bpm"] > 100 for r in fast.rows)
    nan = MirsetDataset(built.out, features=["bpm"], missing="nan", seconds=1.0)
    silent = [r["relative_path"] for r in nan.rows].index("silence.wav")
    _, info = nan[silent]
    assert math.isnan(info["bpm"]) and info["prompt"] == ""
    with pytest.raises(ValueError, match=r"silence\.wav: no value"):
        MirsetDataset(built.out, features=["bpm"], missing="error")
    everything = MirsetDataset(built.out, include_failed=True, missing="nan")
    assert everything.dropped == [("corrupt.flac", "no decodable audio")]
    assert len(everything) == 5


def test_dataloader_with_workers(built) -> None:
    ds = MirsetDataset(built.out, seconds=2.0, sample_rate=22050, features=["lufs"])
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    seen = []
    for audio, info in loader:
        assert audio.shape[1:] == (2, 44100) and audio.dtype == torch.float32
        assert info["lufs"].dtype == torch.float64 and isinstance(info["prompt"], list)
        assert info["padding_mask"].shape == (audio.shape[0], 44100)
        seen += info["relative_path"]
    assert seen == [r["relative_path"] for r in ds.rows]


def test_hf_repo_gives_the_same_items_as_the_table(built, hf_repo) -> None:
    kw = {"seconds": 2.0, "sample_rate": 24000, "features": ["bpm"], "seed": 3}
    table, repo = MirsetDataset(built.out, **kw), MirsetDataset(hf_repo, **kw)
    assert [r["relative_path"] for r in table.rows] == [r["relative_path"] for r in repo.rows]
    assert repo.embedded
    for i in range(len(table)):
        a, ia = table[i]
        b, ib = repo[i]
        assert ia["prompt"] == ib["prompt"] and ia["bpm"] == ib["bpm"]
        assert ia["seconds_start"] == ib["seconds_start"]
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-2)
    batch = next(iter(DataLoader(repo, batch_size=3, num_workers=2)))
    assert batch[0].shape == (3, 2, 48000)
    features_only = hf_repo.parent / "features-only"
    export_hf(built.out, features_only)
    with pytest.raises(ValueError, match="pass music_dir"):
        MirsetDataset(features_only)
    moved = MirsetDataset(features_only, music_dir=built.music, **kw)
    np.testing.assert_allclose(moved[0][0].numpy(), table[0][0].numpy(), atol=1e-6)
