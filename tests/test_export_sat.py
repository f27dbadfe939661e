"""`mirset export sat` / `wds`: checked with Stable Audio Tools' own loaders and conditioners.

Stable Audio Tools pins an old training stack (pytorch-lightning 2.1, pandas 2.0.2, ...) that
cannot be installed beside this environment, so `scripts/setup.sh --dev` installs the released
package without its dependencies and downloads torchaudio's wheel; `sat_consumer.py` runs the
released loader code in a subprocess (what is real and what is replaced: see its docstring).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from export_helpers import built_dataset
from helpers import run_mirset
from mirset.export.sat import SatExportError, conditioning_block, export_sat, number_features
from mirset.export.tableinfo import field_infos
from mirset.export.versions import resolve
from mirset.export.wds import export_wds

TORCHAUDIO_WHEEL = "torchaudio-2.11.0-*.whl"
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    return built_dataset(corpus, tmp_path_factory)


@pytest.fixture(scope="module")
def torchaudio_dir(tmp_path_factory) -> Path:
    """torchaudio's Python package from its wheel, without the CUDA-linked extension."""
    pytest.importorskip("stable_audio_tools", reason="scripts/setup.sh --dev installs it")
    wheels = sorted((Path(sys.prefix) / "consumer-wheels").glob(TORCHAUDIO_WHEEL))
    if not wheels:
        pytest.skip("torchaudio wheel missing: run scripts/setup.sh --dev")
    dest = tmp_path_factory.mktemp("torchaudio")
    with zipfile.ZipFile(wheels[-1]) as z:
        for name in z.namelist():
            if name.startswith("torchaudio/") and not name.endswith(".so"):
                z.extract(name, dest)
    return dest


def consume(torchaudio_dir: Path, export_dir: Path, mode: str, sr: int = 44100) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE / "sat_consumer.py"), str(torchaudio_dir), str(export_dir),
         mode, str(sr)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sat_dir(built, tmp_path_factory) -> Path:
    sat = tmp_path_factory.mktemp("sat") / "export"
    proc = run_mirset("export", "sat", str(built.out), str(sat), "-f", "bpm,lufs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "silence.wav: no bpm" in proc.stderr  # no tempo, so no bpm conditioning value
    return sat


def test_sat_layout(sat_dir, built) -> None:
    config = json.loads((sat_dir / "dataset_config.json").read_text())
    assert config["dataset_type"] == "audio_dir"
    (ds,) = config["datasets"]
    assert ds["path"] == str(sat_dir / "audio")
    assert ds["custom_metadata_module"] == str(sat_dir / "mirset_metadata.py")
    audio = sorted(
        p.relative_to(sat_dir / "audio").as_posix()
        for p in (sat_dir / "audio").rglob("*")
        if p.is_file()
    )
    assert audio == [
        "Knalgan Theme.wav",
        "Organised/Sunrise Drive/full_mix.flac",  # its stems are not training items
        "Singles/Journeys End.m4a.flac",  # m4a: Stable Audio Tools' folder scan skips it
        "mono_8k.wav",
    ]
    assert (sat_dir / "audio" / "Knalgan Theme.wav").resolve() == built.music / "Knalgan Theme.wav"
    meta = json.loads((sat_dir / "mirset_metadata.json").read_text())
    assert set(meta["tracks"]) == set(audio) and "silence.wav" in meta["left_out"]
    assert (
        meta["tracks"]["Singles/Journeys End.m4a.flac"]["relative_path"]
        == "Singles/Journeys End.m4a"
    )
    block = json.loads((sat_dir / "model_conditioning.json").read_text())
    configs = {c["id"]: c for c in block["conditioning"]["configs"]}
    assert configs["prompt"]["type"] == "t5"
    assert configs["bpm"] == {
        "id": "bpm",
        "type": "number",
        "config": {"min_val": 40.0, "max_val": 300.0},
    }
    assert configs["lufs"]["config"] == {"min_val": -70.0, "max_val": 0.0}
    assert configs["seconds_total"]["config"] == {"min_val": 0, "max_val": 512}
    assert block["diffusion"]["cross_attention_cond_ids"] == list(configs)


def test_metadata_module_is_standalone(sat_dir) -> None:
    """It runs with the standard library alone (`-I -S`: no site-packages, so no mirset)."""
    code = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('m', sys.argv[1])\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(json.dumps([m.get_custom_metadata({'relpath': 'mono_8k.wav'}, None),\n"
        "                  m.get_custom_metadata({'relpath': 'not/there.wav'}, None),\n"
        "                  sorted(sys.modules)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(sat_dir / "mirset_metadata.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    hit, miss, modules = json.loads(proc.stdout)
    assert isinstance(hit["prompt"], str) and hit["prompt"]
    assert isinstance(hit["bpm"], float) and isinstance(hit["lufs"], float)
    assert miss == {"__reject__": True}
    assert not any(m.split(".")[0] in {"mirset", "numpy", "torch", "pyarrow"} for m in modules)


def test_stable_audio_tools_audio_dir_loader(sat_dir, torchaudio_dir) -> None:
    out = consume(torchaudio_dir, sat_dir, "audio_dir")
    assert "Couldn't load" not in out["loader_output"], out["loader_output"]
    assert "Found 4 files" in out["loader_output"]
    assert out["audio_shape"] == [2, 2, 44100 * 4]
    meta = json.loads((sat_dir / "mirset_metadata.json").read_text())["tracks"]
    assert sorted(i["relpath"] for i in out["items"]) == sorted(meta)  # 8 kHz one resampled too
    for item in out["items"]:
        track = meta[item["relpath"]]
        assert item["prompt"] in track["prompts"]
        assert item["bpm"] == track["features"]["bpm"] and item["lufs"] == track["features"]["lufs"]
        assert isinstance(item["seconds_start"], int) and item["seconds_total"] >= 10
    assert out["conditioner_outputs"]["bpm"][0] == 2
    assert set(out["conditioner_outputs"]) == {
        "prompt",
        "seconds_start",
        "seconds_total",
        "bpm",
        "lufs",
    }
    assert out["prompts_seen"] == [i["prompt"] for i in out["items"]]


@pytest.fixture(scope="module")
def wds_dir(built, tmp_path_factory) -> Path:
    wds = tmp_path_factory.mktemp("wds") / "shards"
    export_wds(built.out, wds, features=["lufs"], shard_bytes=4_000_000)
    return wds


def test_wds_shards_layout(wds_dir, built) -> None:
    manifest = json.loads((wds_dir / "manifest.json").read_text())
    shards = sorted(wds_dir.glob("shard-*.tar"))
    assert [s.name for s in shards] == [s["file"] for s in manifest["shards"]] and len(shards) >= 2
    assert manifest["samples"] == 4 == sum(s["samples"] for s in manifest["shards"])
    assert manifest["left_out"] == {"silence.wav": "no lufs, prompt"}  # silent: no loudness
    keys = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            names = tar.getnames()
            assert all(m.mtime == m.mtime and m.uid == 0 for m in tar.getmembers())
        for name in names:
            key, ext = name.split(".", 1)  # WebDataset splits at the first dot
            keys.setdefault(key, set()).add(ext)
    assert all(len(exts) == 2 and "json" in exts for exts in keys.values()), keys
    assert {e for exts in keys.values() for e in exts} == {"json", "wav", "flac", "m4a"}
    table = resolve(built.out).read(["track_id", "status", "relative_path"]).to_pylist()
    kept = {
        r["track_id"] for r in table if r["status"] == "ok" and r["relative_path"] != "silence.wav"
    }
    assert set(keys) == kept


def test_webdataset_reads_the_shards(wds_dir) -> None:
    import webdataset as wds

    urls = [str(p) for p in sorted(wds_dir.glob("shard-*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode())
    assert len(samples) == 4
    for s in samples:
        meta = s["json"]
        assert meta["mirset_key"] == s["__key__"] and meta["prompt"] in meta["prompts"]
        assert isinstance(meta["lufs"], float)
        audio = next(v for k, v in s.items() if k in ("flac", "wav", "m4a"))
        assert isinstance(audio, bytes) and len(audio) > 10_000


def test_stable_audio_tools_wds_loader(wds_dir, torchaudio_dir) -> None:
    out = consume(torchaudio_dir, wds_dir, "wds")
    assert "Handling webdataset error" not in out["loader_output"], out["loader_output"]
    assert len(out["items"]) == 4  # 5 samples, batches of 2 without a partial last one
    meta = json.loads((wds_dir / "mirset_metadata.json").read_text())["tracks"]
    for item in out["items"]:
        track = meta[item["mirset_key"]]
        assert item["prompt"] in track["prompts"] and item["lufs"] == track["features"]["lufs"]
    assert set(out["conditioner_outputs"]) == {"prompt", "seconds_start", "seconds_total", "lufs"}


def test_number_ranges_and_errors(built, tmp_path) -> None:
    tv = resolve(built.out)
    table = tv.read()
    infos = field_infos(table.schema)
    rows = table.to_pylist()
    (beat_count,) = number_features(infos, rows, ["beat_count"])
    assert beat_count.range_from in ("schema", "observed")
    with pytest.raises(SatExportError, match="not a numeric feature"):
        number_features(infos, rows, ["key"])
    with pytest.raises(SatExportError, match="no column"):
        number_features(infos, rows, ["nope"])
    block = conditioning_block([], max_seconds=700.2)
    assert block["conditioning"]["configs"][1]["config"]["max_val"] == 701
    with pytest.raises(SatExportError, match="no track has every chosen feature"):
        export_sat(built.out, tmp_path / "s", features=["stems_clipped_samples"])


def test_exports_never_delete_what_they_did_not_write(built, tmp_path) -> None:
    from mirset.export.hf import ExportError, export_hf

    (tmp_path / "hf" / "plots").mkdir(parents=True)
    (tmp_path / "hf" / "plots" / "mine.png").write_bytes(b"x")
    with pytest.raises(ExportError, match="did not write"):
        export_hf(built.out, tmp_path / "hf")
    (tmp_path / "sat" / "audio").mkdir(parents=True)
    (tmp_path / "sat" / "audio" / "song.wav").write_bytes(b"x")
    with pytest.raises(SatExportError, match="not written by"):
        export_sat(built.out, tmp_path / "sat")
    (tmp_path / "wds").mkdir()
    (tmp_path / "wds" / "shard-000000.tar").write_bytes(b"x")
    with pytest.raises(SatExportError, match="did not write"):
        export_wds(built.out, tmp_path / "wds")
    assert (tmp_path / "sat" / "audio" / "song.wav").exists()
    # a second export into its own folder replaces the first
    export_sat(built.out, tmp_path / "sat2")
    export_sat(built.out, tmp_path / "sat2", features=["lufs"])
    assert (
        "silence.wav"
        in json.loads((tmp_path / "sat2" / "mirset_metadata.json").read_text())["left_out"]
    )
