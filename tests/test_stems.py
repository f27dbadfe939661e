"""Demucs separation and the model store, with a tiny HTDemucs saved in the released format."""

from __future__ import annotations

import json
import os
import resource
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from demucs.apply import apply_model
from demucs.pretrained import get_model

from helpers import rows_by_path, run_mirset
from mirset import models
from mirset.extractors.stems import StemWriter
from mirset.separation import BatchedSeparator
from mirset.testing.tiny_demucs import save_demucs_checkpoint, tiny_htdemucs

SOURCES = ["drums", "bass", "other", "vocals"]
FLAT = "music/Knalgan Theme.wav"
NO_STEMS = "music/Organised/Night Walk/full_mix.flac"
WITH_STEMS = "music/Organised/Sunrise Drive/full_mix.flac"


def tiny_store(root: Path, name: str = "tiny_htdemucs") -> Path:
    """A model store holding a tiny HTDemucs, registered through the store's models.json."""
    weights = save_demucs_checkpoint(tiny_htdemucs(), root / "demucs", name)
    yaml = (root / "demucs" / f"{name}.yaml").read_text()
    entry = {
        "name": name,
        "family": "demucs",
        "description": "tiny random HTDemucs for tests",
        "source": "tests",
        "license": "MIT",
        "folder": "demucs",
        "used_by": ["stems"],
        "files": [
            {
                "path": f"demucs/{weights.name}",
                "url": weights.as_uri(),
                "sha256": models.sha256_of(weights),
                "size": weights.stat().st_size,
            },
            {"path": f"demucs/{name}.yaml", "content": yaml},
        ],
    }
    (root / "models.json").write_text(json.dumps([entry]))
    return root


class SplitEvenly(torch.nn.Module):
    """A 'separator' that gives each source a quarter of the mix: mixture-consistent by design."""

    samplerate = 44100
    segment = Fraction(1)
    audio_channels = 2
    sources = SOURCES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x / len(self.sources))[:, None].expand(-1, len(self.sources), -1, -1)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_store(tmp_path_factory.mktemp("models"))


def test_model_loads_through_the_store_like_the_released_ones(store_root: Path) -> None:
    store = models.use_store(store_root)
    folder = store.require("tiny_htdemucs")
    model = get_model("tiny_htdemucs", repo=folder)  # the loader users take
    assert list(model.sources) == SOURCES and model.samplerate == 44100
    assert [s.problem for s in store.check("tiny_htdemucs", full=True)] == [None, None]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_batched_separation_equals_apply_model(store_root: Path, batch: int) -> None:
    model = get_model("tiny_htdemucs", repo=models.use_store(store_root).require("tiny_htdemucs"))
    torch.manual_seed(0)
    # longer than several segments, shorter than one, and one exactly a segment long
    mixes = [torch.randn(2, 44100 * 7 + 123) * 0.1, torch.randn(2, 20000) * 0.1]
    mixes.append(torch.randn(2, 88200) * 0.1)
    outs: list[list[np.ndarray]] = [[] for _ in mixes]
    BatchedSeparator(model, batch_segments=batch).separate(mixes, [o.append for o in outs])
    for mix, out in zip(mixes, outs, strict=True):
        ref = apply_model(model, mix[None], shifts=0, split=True, overlap=0.25)[0].numpy()
        got = np.concatenate(out, axis=-1)
        assert got.shape == ref.shape == (4, 2, mix.shape[-1])
        np.testing.assert_allclose(got, ref, atol=1e-6 * float(np.abs(ref).max()) + 1e-7)


def test_stems_sum_to_the_mix_and_long_tracks_stream(tmp_path: Path) -> None:
    """Cross-fades, padding, de-normalisation and writing keep the mixture: with a model that
    splits evenly, the written stems add up to the mix; 20 minutes never sit in memory."""
    sr, n = 44100, 44100 * 60 * 20
    rng = np.random.default_rng(1)
    mix = (0.2 * rng.standard_normal((2, n))).astype(np.float32)
    ref = mix.mean(0)
    mean, std = float(ref.mean()), float(ref.std())
    writer = StemWriter(tmp_path, SOURCES, sr, 2, "wav")
    writer.scale = (std, mean)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    normalised = (torch.from_numpy(mix) - mean) / std
    BatchedSeparator(SplitEvenly(), batch_segments=16).separate([normalised], [writer.write])
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    paths = writer.commit()
    total = sum(sf.read(paths[s], dtype="float32")[0].T for s in SOURCES)
    assert total.shape == mix.shape
    np.testing.assert_allclose(total, mix, atol=1e-5)
    # the normalised copy is 423 MB; the four separated sources would be 1.7 GB more if held
    assert grew_mib < 1000, f"peak RSS grew {grew_mib:.0f} MiB"
    assert not list(tmp_path.glob(".*.part"))


def test_silent_track_is_null_with_a_reason(tmp_path: Path, store_root: Path) -> None:
    from mirset.config import AnalysisConfig
    from mirset.context import TrackContext
    from mirset.extractors.stems import Stems

    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros((44100 * 3, 2), np.float32), 44100)
    ctx = TrackContext.from_file(path, AnalysisConfig(), stems_dir=tmp_path / "stems")
    models.use_store(store_root)
    out = Stems({"model": "tiny_htdemucs"}).extract(ctx)
    assert out["stems_source"].reason == "silent track: nothing to separate"
    assert not (tmp_path / "stems").exists() or not list((tmp_path / "stems").iterdir())


def test_build_separates_writes_stems_and_reuses_them(
    corpus, tmp_path: Path, store_root: Path
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for rel in (FLAT, NO_STEMS, WITH_STEMS):
        src = corpus.path(rel)
        dest = music / Path(rel).relative_to("music")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if "Organised" in rel:
            shutil.copytree(src.parent, dest.parent, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"extractor_params": {"stems": {"model": "tiny_htdemucs"}}}))
    out = tmp_path / "out"
    args = ("build", str(music), str(out), "--config", str(config), "--models-dir", str(store_root))
    args += ("-e", "stems,stem_loudness,stem_rhythm", "--no-progress", "-j", "1")
    proc = run_mirset(*args)
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_path(out)

    night = rows["Organised/Night Walk/full_mix.flac"]
    assert night["stems_source"] == "tiny_htdemucs"
    assert night["stems"] == sorted(SOURCES)
    for s in SOURCES:  # written beside the organised track, full length, model rate
        info = sf.info(music / "Organised/Night Walk" / f"{s}.flac")
        mix_info = sf.info(music / "Organised/Night Walk/full_mix.flac")
        assert info.samplerate == 44100 and info.channels == 2
        assert abs(info.duration - mix_info.duration) < 0.01
    assert night["lufs_drums"] is not None and night["stem_loudness_status"].startswith("ok")

    flat = rows["Knalgan Theme.wav"]  # flat files: stems under OUT_DIR/stems/<path>/
    flat_stems = out / "stems" / "Knalgan Theme"
    assert sorted(p.stem for p in flat_stems.glob("*.flac")) == sorted(SOURCES)
    assert flat["stems"] == sorted(SOURCES) and flat["lufs_vocals"] is not None

    sunrise = rows["Organised/Sunrise Drive/full_mix.flac"]  # complete set beside: reused
    assert sunrise["stems_source"] == "existing"
    assert not list((music / "Organised/Sunrise Drive").glob(".*.part"))

    mtimes = {p: p.stat().st_mtime_ns for p in (out / "stems").rglob("*.flac")}
    mtimes |= {p: p.stat().st_mtime_ns for p in (music / "Organised").rglob("*.flac")}
    summary = tmp_path / "summary.json"
    again = run_mirset(*args, "--json-summary", str(summary))
    assert again.returncode == 0, again.stderr
    counts = json.loads(summary.read_text())
    assert counts["processed"] == 0 and counts["skipped_up_to_date"] == 3
    mtimes_now = {p: p.stat().st_mtime_ns for p in (out / "stems").rglob("*.flac")}
    mtimes_now |= {p: p.stat().st_mtime_ns for p in (music / "Organised").rglob("*.flac")}
    assert mtimes_now == mtimes

    shutil.rmtree(out / "table")  # a fresh table: the stems on disk are found, not recomputed
    third = run_mirset(*args)
    assert third.returncode == 0, third.stderr
    assert all(r["stems_source"] == "existing" for r in rows_by_path(out).values())
    mtimes_now = {p: p.stat().st_mtime_ns for p in (out / "stems").rglob("*.flac")}
    mtimes_now |= {p: p.stat().st_mtime_ns for p in (music / "Organised").rglob("*.flac")}
    assert mtimes_now == mtimes


def test_missing_weights_are_reported_up_front_and_the_rest_runs(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(FLAT), music / "a.wav")
    empty = tmp_path / "no-models"
    proc = run_mirset(
        "build", str(music), str(tmp_path / "out"), "--models-dir", str(empty),
        "-e", "stems,loudness", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "1 extractor(s) will not run" in message and "-x stems" in message
    assert f"mirset models fetch htdemucs --models-dir {empty}" in message
    row = rows_by_path(tmp_path / "out")["a.wav"]
    assert row["lufs"] is not None


def test_fetch_downloads_verifies_and_detects_corruption(tmp_path: Path, store_root: Path) -> None:
    """``fetch`` over a real URL scheme (file://) into an empty store, then ``verify``."""
    fresh = tmp_path / "store"
    fresh.mkdir()
    shutil.copy2(store_root / "models.json", fresh / "models.json")
    proc = run_mirset("models", "fetch", "tiny_htdemucs", "--models-dir", str(fresh))
    assert proc.returncode == 0, proc.stderr
    assert run_mirset("models", "verify", "--models-dir", str(fresh)).returncode == 0
    path = run_mirset("models", "path", "tiny_htdemucs", "--models-dir", str(fresh))
    assert path.returncode == 0 and path.stdout.strip() == str(fresh / "demucs")
    weights = next((fresh / "demucs").glob("*.th"))
    with open(weights, "r+b") as f:  # flip one byte
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    bad = run_mirset("models", "verify", "tiny_htdemucs", "--models-dir", str(fresh))
    assert bad.returncode == 1 and "checksum mismatch" in bad.stdout
    os.remove(weights)
    store = models.use_store(fresh)
    with pytest.raises(models.MissingWeights, match="mirset models fetch tiny_htdemucs"):
        store.require("tiny_htdemucs")


def test_excluded_stems_are_not_planned(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(FLAT), music / "a.wav")
    out = tmp_path / "out"
    proc = run_mirset(
        "build", str(music), str(out), "--models-dir", str(tmp_path / "none"),
        "-e", "stems,stem_loudness", "-x", "stems", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "will not run" not in proc.stderr
    row = rows_by_path(out)["a.wav"]
    assert "stems_source" not in row and row["stem_loudness_status"].startswith("ok")


def test_tracks_of_one_worker_call_share_forward_passes(
    corpus, tmp_path: Path, store_root: Path
) -> None:
    """process_tracks hands the stems extractor all its tracks at once: one separate() call for
    three tracks, and the same stems as separating them one by one."""
    from mirset.builder.process import TrackTask, process_tracks
    from mirset.config import AnalysisConfig
    from mirset.extractors.stems import Stems
    from mirset.separation import BatchedSeparator as Sep

    models.use_store(store_root)
    ext = Stems({"model": "tiny_htdemucs", "batch_segments": 4})
    ext.setup()
    calls: list[int] = []
    real = Sep.separate

    def counting(self, mixes, sinks):  # type: ignore[no-untyped-def]
        calls.append(len(mixes))
        return real(self, mixes, sinks)

    def tasks(dest: Path) -> list[TrackTask]:
        out = []
        for i, rel in enumerate([FLAT, NO_STEMS, "music/Siege of Laurelmor.aiff"]):
            out.append(
                TrackTask(
                    path=str(corpus.path(rel)),
                    relative_path=f"t{i}",
                    layout="flat",
                    folder_name=f"t{i}",
                    sidecar_dir=str(dest),
                    stems={},
                    music_dir=str(dest),
                    run=["stems"],
                    stale=[],
                    write_sidecars=False,
                    stems_dir=str(dest / f"t{i}"),
                )
            )
        return out

    import mirset.separation

    mirset.separation.BatchedSeparator.separate = counting  # type: ignore[method-assign]
    try:
        together = process_tracks(
            tasks(tmp_path / "a"), {"stems": ext}, AnalysisConfig(), 1e9, None
        )
        alone = [
            process_tracks([t], {"stems": ext}, AnalysisConfig(), 1e9, None)[0]
            for t in tasks(tmp_path / "b")
        ]
    finally:
        mirset.separation.BatchedSeparator.separate = real  # type: ignore[method-assign]
    assert calls == [3, 1, 1, 1]
    assert [r.row["stems_source"] for r in together] == ["tiny_htdemucs"] * 3
    assert [r.row["stems_source"] for r in alone] == ["tiny_htdemucs"] * 3
    for i in range(3):
        for s in SOURCES:
            a = sf.read(tmp_path / "a" / f"t{i}" / f"{s}.flac")[0]
            b = sf.read(tmp_path / "b" / f"t{i}" / f"{s}.flac")[0]
            np.testing.assert_allclose(a, b, atol=1e-5)  # 24-bit files, batch-size rounding
