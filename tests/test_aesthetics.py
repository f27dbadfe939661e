"""Audiobox Aesthetics through the model store, with a random-weight checkpoint in the released
format, against the package's own predictor."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import rows_by_path, run_mirset
from mirset import models
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors.aesthetics import AXES, SAMPLE_RATE, Aesthetics
from mirset.testing.tiny_audiobox import save_aesthetics_checkpoint

TRACKS = [
    "music/Knalgan Theme.wav",
    "music/Siege of Laurelmor.aiff",
    "music/Tëst Sông – ünïcode.flac",
]


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    ckpt = save_aesthetics_checkpoint(root / "audiobox-test" / "checkpoint.pt")
    entry = {
        "name": "test-aesthetics",
        "family": "audiobox",
        "description": "random-weight Audiobox Aesthetics for tests",
        "source": "tests",
        "license": "CC BY 4.0",
        "folder": "audiobox-test",
        "used_by": ["aesthetics"],
        "files": [
            {
                "path": "audiobox-test/checkpoint.pt",
                "url": ckpt.as_uri(),
                "sha256": models.sha256_of(ckpt),
                "size": ckpt.stat().st_size,
            }
        ],
    }
    (root / "models.json").write_text(json.dumps([entry]))
    return root


@pytest.fixture(scope="module")
def extractor(store_root: Path) -> Aesthetics:
    models.use_store(store_root)
    ext = Aesthetics({"model": "test-aesthetics", "batch_windows": 3})
    assert ext.unavailable_reason() is None
    ext.setup()
    return ext


def contexts(corpus, seconds: float) -> list[TrackContext]:
    out = []
    for rel in TRACKS:
        ctx = TrackContext.from_file(corpus.path(rel), AnalysisConfig())
        n = int(seconds * ctx.sample_rate)
        ctx.audio = dataclasses.replace(ctx.audio, samples=ctx.audio.samples[:, :n])
        out.append(ctx)
    return out


def test_batched_equals_one_by_one(corpus, extractor: Aesthetics) -> None:
    ctxs = contexts(corpus, 23.0)  # 3 windows each, the last one padded
    one = [extractor.extract(c) for c in ctxs]
    batched = extractor.extract_batch(ctxs)  # 9 windows in passes of 3, across tracks
    for a, b in zip(one, batched, strict=True):
        assert set(a) == {column for column, _ in AXES.values()}
        for k in a:
            assert np.isfinite(a[k]) and a[k] == pytest.approx(b[k], abs=1e-4)


def test_equals_the_packages_predictor(
    corpus, extractor: Aesthetics, store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's ``AesPredictor`` on the same 16 kHz mono audio gives the same scores (its
    module imports torchaudio only to load and resample files: a stand-in is enough here)."""
    stub = types.ModuleType("torchaudio")
    stub.functional = types.SimpleNamespace(resample=lambda wav, orig_freq, new_freq: wav)  # type: ignore[attr-defined]
    if "torchaudio" not in sys.modules:
        monkeypatch.setitem(sys.modules, "torchaudio", stub)
    from audiobox_aesthetics.infer import AesPredictor

    from mirset.audio import resample

    ckpt = store_root / "audiobox-test" / "checkpoint.pt"
    predictor = AesPredictor(checkpoint_pth=str(ckpt), precision="32")
    ctxs = contexts(corpus, 14.0)
    ours = extractor.extract_batch(ctxs)
    for ctx, mine in zip(ctxs, ours, strict=True):
        mono = resample(ctx.mono, ctx.sample_rate, SAMPLE_RATE)
        ref = predictor.forward(
            [{"path": torch.from_numpy(mono)[None], "sample_rate": SAMPLE_RATE}]
        )
        for axis, (column, _) in AXES.items():
            assert mine[column] == pytest.approx(ref[0][axis], abs=1e-4)


def test_build_scores_tracks_and_reports_missing_weights(
    corpus, tmp_path: Path, store_root: Path
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path("known/tone_1khz.wav"), music / "tone.wav")
    config = tmp_path / "c.yaml"
    config.write_text(
        json.dumps({"extractor_params": {"aesthetics": {"model": "test-aesthetics"}}})
    )
    out = tmp_path / "out"
    proc = run_mirset(
        "build", str(music), str(out), "--config", str(config), "--models-dir", str(store_root),
        "-e", "aesthetics", "--no-progress", "-j", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = rows_by_path(out)["tone.wav"]
    assert row["aesthetics_status"] == "ok"
    assert all(1.0 < row[c] < 10.0 for c, _ in AXES.values())

    missing = run_mirset(
        "build", str(music), str(tmp_path / "out2"), "--models-dir", str(tmp_path / "none"),
        "-e", "aesthetics,loudness", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert missing.returncode == 0, missing.stderr
    message = " ".join(missing.stderr.split())
    assert (
        "will not run" in message
        and "-x aesthetics" in message
        and "mirset models fetch audiobox-aesthetics" in message
    )
    row = rows_by_path(tmp_path / "out2")["tone.wav"]
    assert row.get("content_enjoyment") is None and row["lufs"] is not None
