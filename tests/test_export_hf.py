"""`mirset export hf`: checked with the consumer's own code (`datasets.load_dataset`, offline)."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from export_helpers import built_dataset
from helpers import run_mirset
from mirset.audio import decode
from mirset.export.hf import ExportError, audio_row_group, export_hf, plan_shards
from mirset.export.tableinfo import AudioMissingError
from mirset.export.versions import resolve


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    return built_dataset(corpus, tmp_path_factory)


@pytest.fixture(scope="module")
def repo(built, tmp_path_factory):
    """The real command: latest version, audio and stems embedded."""
    hf = tmp_path_factory.mktemp("hf") / "repo"
    proc = run_mirset(
        "export", "hf", str(built.out), str(hf), "--with-audio", "--with-stems", "--license", "cc-by-4.0"
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 failed tracks left out" in proc.stderr
    return hf


@pytest.fixture(scope="module", autouse=True)
def offline():
    """The consumer runs offline: no Hub lookups for a local repo."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("HF_DATASETS_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def loaded(repo, tmp_path_factory):
    import datasets

    cache = tmp_path_factory.mktemp("hf-cache")
    return datasets.load_dataset(str(repo), split="train", cache_dir=str(cache))


def test_layout_and_yaml_header(repo) -> None:
    assert sorted(p.name for p in (repo / "data").iterdir()) == ["train-00000-of-00001.parquet"]
    text = (repo / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/train-*.parquet"}],
        }
    ]
    assert header["license"] == "cc-by-4.0"
    feats = {f["name"]: f for f in header["dataset_info"]["features"]}
    assert feats["audio"]["dtype"] == "audio" and feats["audio_drums"]["dtype"] == "audio"
    assert feats["bpm"]["dtype"] == "float64" and feats["prompt_variants"]["list"] == "string"
    assert header["dataset_info"]["splits"][0]["num_examples"] == 5
    # the Hub's own card parser reads the same header
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(repo / "README.md")
    assert card.data.configs[0]["data_files"][0]["path"] == "data/train-*.parquet"


def test_load_dataset_types_rows_and_audio(loaded, built, repo) -> None:
    import datasets

    ds = loaded
    assert ds.num_rows == 5  # the corrupt track's failed row is left out
    f = ds.features
    assert isinstance(f["audio"], datasets.Audio) and isinstance(f["audio_vocals"], datasets.Audio)
    assert f["bpm"] == datasets.Value("float64") and f["beat_count"] == datasets.Value("int32")
    assert f["built_at"].dtype.startswith("timestamp[us")
    assert f["beat_times"] == datasets.List(datasets.Value("float64"))
    assert "source_path" not in f and "sidecar_dir" not in f  # build-machine paths left out
    rows = {r["relative_path"]: i for i, r in enumerate(ds.select_columns(["relative_path"]))}
    assert list(rows) == sorted(rows)
    for rel in ("Knalgan Theme.wav", "Organised/Sunrise Drive/full_mix.flac", "mono_8k.wav"):
        got = ds[rows[rel]]["audio"].get_all_samples()
        want = decode(built.music / rel)
        assert got.sample_rate == want.sample_rate
        assert got.data.shape == want.samples.shape, rel
        np.testing.assert_allclose(got.data.numpy(), want.samples, atol=1e-4)  # lossless files
    m4a = ds[rows["Singles/Journeys End.m4a"]]["audio"].get_all_samples()
    assert m4a.sample_rate == 44100 and abs(m4a.data.shape[1] / 44100 - 20.0) < 0.1


def test_stems_are_audio_columns(loaded, built) -> None:
    ds = loaded
    by_path = {r["relative_path"]: r for r in ds}
    organised = by_path["Organised/Sunrise Drive/full_mix.flac"]
    for stem in ("drums", "bass", "other", "vocals"):
        samples = organised[f"audio_{stem}"].get_all_samples()
        want = decode(built.music / "Organised/Sunrise Drive" / f"{stem}.flac")
        assert samples.data.shape == want.samples.shape
    assert by_path["Knalgan Theme.wav"]["audio_drums"] is None


def test_card_documents_every_field_from_the_schema(repo, built) -> None:
    text = (repo / "README.md").read_text(encoding="utf-8")
    exported = pq.read_schema(repo / "data" / "train-00000-of-00001.parquet")
    schema = resolve(built.out).schema()
    fields_section = text.split("## Fields")[1].split("## Provenance")[0]
    rows = {}
    for line in fields_section.splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*)\|$", line)
        if m:
            rows.setdefault(m.group(1), line)
    for name in exported.names:
        assert name in rows, f"column {name} not documented"
        if name.startswith("audio"):
            continue
        meta = {k.decode(): v.decode() for k, v in (schema.field(name).metadata or {}).items()}
        line = rows[name]
        assert meta["description"].replace("|", "\\|").replace("\n", " ") in line, name
        if meta.get("unit"):
            assert f"| {meta['unit']} |" in line, name
        if meta.get("range"):
            lo, hi = json.loads(meta["range"])
            assert f"{lo:g}..{hi:g}" in line, name
        if meta.get("extractor") and meta.get("version"):
            assert f"{meta['extractor']} ({meta['version']})" in line, name
    # and the Parquet fields carry the same metadata for programmatic use
    assert exported.field("bpm").metadata[b"unit"] == b"BPM"
    assert b"huggingface" in exported.metadata


def test_card_statistics_provenance_and_plots(repo, built) -> None:
    text = (repo / "README.md").read_text(encoding="utf-8")
    assert "| tracks | 5 |" in text and "| tracks left out (failed analysis) | 1 |" in text
    assert f"| table version | {built.latest} |" in text
    assert re.search(r"\| extractor `beats` \| version 2, parameters [0-9a-f]{6,} \|", text)
    assert "| extractor `stems` | not run |" in text
    m = re.search(r"\| `bpm` \| (\d+) \| (\d+) \|", text)
    assert m and int(m.group(1)) == 4 and int(m.group(2)) == 1  # silence has no tempo
    images = re.findall(r"!\[[^\]]*\]\((plots/[^)]+\.png)\)", text)
    assert {"plots/feature_histograms.png", "plots/correlation.png", "plots/tempo.png",
            "plots/keys.png"} <= set(images)  # fmt: skip
    for img in images:
        data = (repo / img).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, img
    prov = json.loads((repo / "mirset.json").read_text())
    assert prov["table_version"] == built.latest and prov["rows"] == 5
    # the configuration every exported row was built with, from the table's commits
    block = re.search(r"### Build configuration.*?```json\n(.*?)```", text, re.S)
    assert block, "no build configuration in the card"
    config = json.loads(block.group(1))
    assert config["analysis"]["sample_rate"] > 0 and config["extractors"]["beats"] == "2"


def test_shards_are_sized_and_all_load(built, tmp_path) -> None:
    import datasets

    hf = tmp_path / "sharded"
    result = export_hf(built.out, hf, with_audio=True, max_shard_bytes=3_000_000)
    names = sorted(p.name for p in (hf / "data").glob("*.parquet"))
    n = len(names)
    assert n >= 3 and names == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    assert result.shards == [f"data/{x}" for x in names]
    ds = datasets.load_dataset(str(hf), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == 5
    assert [r["relative_path"] for r in ds.select_columns(["relative_path"])] == sorted(
        r["relative_path"] for r in ds.select_columns(["relative_path"])
    )
    for name in names:  # audio row groups stay small: one track per read, not a hundred
        meta = pq.ParquetFile(hf / "data" / name).metadata
        assert all(
            meta.row_group(g).total_byte_size < 70_000_000 for g in range(meta.num_row_groups)
        )
    assert audio_row_group([40_000_000] * 10) == 1 and audio_row_group([1_000_000] * 500) == 64
    assert audio_row_group([1000] * 500) == 100
    assert plan_shards([5, 5, 5], 10) == [(0, 2), (2, 3)]
    assert plan_shards([50, 1], 10) == [(0, 1), (1, 2)]  # one big track gets its own shard


def test_include_failed_and_features_only(built, tmp_path) -> None:
    result = export_hf(built.out, tmp_path / "all", include_failed=True)
    assert result.rows == 6 and result.audio_columns == []
    table = pq.read_table(tmp_path / "all" / "data" / "train-00000-of-00001.parquet")
    assert any(s.startswith("failed") for s in table.column("status").to_pylist())
    assert "Features only" in (tmp_path / "all" / "README.md").read_text()


def test_changed_or_missing_audio_is_refused(built, tmp_path) -> None:
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(built.music, moved)
    data = bytearray((moved / "Knalgan Theme.wav").read_bytes())
    data[-100] ^= 0xFF
    (moved / "Knalgan Theme.wav").write_bytes(bytes(data))
    with pytest.raises(AudioMissingError, match="changed since the table version was built"):
        export_hf(built.out, tmp_path / "x", with_audio=True, music_dir=moved)
    (moved / "Knalgan Theme.wav").unlink()
    with pytest.raises(ExportError, match="audio file not found"):
        export_hf(built.out, tmp_path / "y", with_audio=True, music_dir=moved)
    proc = run_mirset("export", "hf", str(built.out), str(tmp_path / "z"), "--version", "nope")
    assert proc.returncode == 3 and "no table version or tag 'nope'" in proc.stderr
