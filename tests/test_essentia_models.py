"""Essentia Discogs-EffNet heads through the model store, with tiny ONNX stand-ins that carry the
real tensor names, saved under the real model names (a store's models.json replaces entries)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import rows_by_path, run_mirset
from mirset import models
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors import essentia_models as em
from mirset.testing.tiny_essentia import save_effnet, save_head

HEADS = {
    "essentia_genre": ("genre_discogs400-discogs-effnet-1", 400, 17),
    "essentia_mood": ("mtg_jamendo_moodtheme-discogs-effnet-1", 56, None),
    "essentia_instrument": ("mtg_jamendo_instrument-discogs-effnet-1", 40, None),
}
BINARY = {  # head: favoured class index (labels: danceable | atonal | instrumental | female)
    "danceability-discogs-effnet-1": 0,
    "tonal_atonal-discogs-effnet-1": 0,
    "voice_instrumental-discogs-effnet-1": 0,
    "gender-discogs-effnet-1": 1,
}
TRACK = "music/Knalgan Theme.wav"


def _entry(name: str, path: Path) -> dict:
    return {
        "name": name,
        "family": "essentia",
        "description": "tiny stand-in",
        "source": "tests",
        "license": "CC BY-NC-SA 4.0",
        "folder": "essentia",
        "files": [
            {
                "path": f"essentia/{path.name}",
                "sha256": models.sha256_of(path),
                "size": path.stat().st_size,
            }
        ],
    }


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    entries = [
        _entry(em.EMBEDDING_MODEL, save_effnet(root / "essentia" / f"{em.EMBEDDING_MODEL}.onnx"))
    ]
    for head, classes, favour in HEADS.values():
        entries.append(
            _entry(head, save_head(root / "essentia" / f"{head}.onnx", classes, favour=favour))
        )
    for head, favour in BINARY.items():
        path = save_head(root / "essentia" / f"{head}.onnx", 2, softmax=True, favour=favour)
        entries.append(_entry(head, path))
    (root / "models.json").write_text(json.dumps(entries))
    return root


def test_embeddings_are_computed_once_and_shared(corpus, store_root: Path, monkeypatch) -> None:
    models.use_store(store_root)
    calls = []
    real = em.mel_patches
    monkeypatch.setattr(em, "mel_patches", lambda y: calls.append(1) or real(y))
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    outs = {}
    for cls in (em.EssentiaGenre, em.EssentiaMood, em.EssentiaInstrument):
        ext = cls()
        assert ext.unavailable_reason() is None
        ext.setup()
        outs[cls.name] = ext.extract(ctx)
    assert len(calls) == 1
    emb = ctx.peek(("discogs_effnet", em.EMBEDDING_MODEL))
    frames = int(np.ceil(ctx.duration_s * em.SAMPLE_RATE / em.HOP)) + 1
    assert emb.shape == (1 + (frames - em.PATCH) // em.PATCH_HOP, 1280)
    for name, (head, classes, _) in HEADS.items():
        out = outs[name]
        probs = out[f"{name}_probabilities"]
        assert len(probs) == classes == len(em.labels(head))
        top = out[name]
        assert len(top) <= em.TOP_K
        assert all(r["probability"] >= em.MIN_PROBABILITY for r in top)
        assert [r["probability"] for r in top] == sorted(
            (r["probability"] for r in top), reverse=True
        )
        best = int(np.argmax(probs))
        if top:
            assert top[0]["label"] == em.labels(head)[best]
    # the favoured genre class comes back under its own label
    assert (
        outs["essentia_genre"]["essentia_genre"][0]["label"]
        == em.labels(HEADS["essentia_genre"][0])[17]
    )
    assert em.labels(HEADS["essentia_genre"][0])[0] == "Blues---Boogie Woogie"


def test_batched_patches_equal_one_by_one(corpus, store_root: Path) -> None:
    models.use_store(store_root)
    model = em.onnx_model(str(em.model_file(em.EMBEDDING_MODEL)))
    mono = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig()).mono
    from mirset.audio import resample

    patches = em.mel_patches(resample(mono, 44100, em.SAMPLE_RATE))
    batched = model(patches, batch=64)["embeddings"]
    single = np.concatenate(
        [model(patches[i : i + 1], batch=1)["embeddings"] for i in range(len(patches))]
    )
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-5)  # float32 sums


def test_build_table_info_and_short_tracks(corpus, tmp_path: Path, store_root: Path) -> None:
    music = tmp_path / "music"
    (music / "Song").mkdir(parents=True)
    shutil.copy2(corpus.path(TRACK), music / "Song" / "full_mix.wav")
    shutil.copy2(corpus.path("bad/tiny.wav"), music / "tiny.wav")  # 0.1 s: no patch
    out = tmp_path / "out"
    proc = run_mirset(
        "build", str(music), str(out), "--models-dir", str(store_root), "--no-progress",
        "-e", "essentia_genre,essentia_mood,essentia_instrument", "-j", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_path(out)
    row = rows["Song/full_mix.wav"]
    assert len(row["essentia_genre_probabilities"]) == 400
    info = json.loads((music / "Song" / "Song.INFO").read_text())
    assert isinstance(info["essentia_genre"], dict)
    assert info["essentia_genre"] == {r["label"]: r["probability"] for r in row["essentia_genre"]}
    assert "essentia_genre_probabilities" not in info
    tiny = rows["tiny.wav"]
    assert tiny["essentia_genre"] is None and "patch" in tiny["essentia_genre_status"]


def test_missing_embedding_model_is_reported(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(TRACK), music / "a.wav")
    proc = run_mirset(
        "build", str(music), str(tmp_path / "out"), "--models-dir", str(tmp_path / "none"),
        "-e", "essentia_mood,loudness", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "1 extractor(s) will not run" in message and "not in" in message
    assert "essentia_mood" in message and "-x essentia_mood" in message
    assert f"mirset models fetch {em.EMBEDDING_MODEL}" in message


def test_two_class_heads_map_labels_and_replace_danceability(
    corpus, tmp_path: Path, store_root: Path
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(TRACK), music / "a.wav")
    out = tmp_path / "out"
    heads = "essentia_danceability,essentia_tonality,essentia_voice,essentia_gender"
    proc = run_mirset(
        "build", str(music), str(out), "--models-dir", str(store_root), "--no-progress",
        "-e", f"dynamics,{heads}", "-j", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = rows_by_path(out)["a.wav"]
    # each column is looked up by its label, whatever the head's output order
    assert row["danceability_model"] > 0.99 and row["atonality"] > 0.99
    assert row["instrumental_probability"] > 0.99 and row["voice_probability"] < 0.01
    assert row["voice_probability"] + row["instrumental_probability"] == pytest.approx(1.0)
    assert row["danceability"] == row["danceability_model"]
    assert row["danceability_source"] == "discogs-effnet danceability"
    assert row["female_probability"] is None
    assert "no singing voice likely" in row["essentia_gender_status"]
    info = json.loads((out / "tracks" / "a.INFO").read_text())
    assert info["atonality"] == row["atonality"] and "danceability_model" not in info
