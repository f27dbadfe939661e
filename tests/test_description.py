"""Music Flamingo descriptions with a tiny model saved by save_pretrained, through the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import rows_by_path, run_mirset
from mirset import models
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.describe.prompts import DEFAULT_PROMPTS
from mirset.extractors.description import Description
from mirset.testing.tiny_flamingo import save_tiny_flamingo

TRACK = "music/Knalgan Theme.wav"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    folder = save_tiny_flamingo(root / "flamingo-tiny")
    files = [
        {"path": f"flamingo-tiny/{p.name}", "size": p.stat().st_size, "sha256": models.sha256_of(p)}
        for p in sorted(folder.iterdir())
    ]
    entry = {
        "name": "tiny-flamingo", "family": "flamingo", "description": "tiny random Music Flamingo",
        "source": "tests", "license": "test", "folder": "flamingo-tiny", "files": files,
    }  # fmt: skip
    (root / "models.json").write_text(json.dumps([entry]))
    return root


@pytest.fixture(scope="module")
def extractor(store_root: Path) -> Description:
    models.use_store(store_root)
    prompts = {
        k: v.model_copy(update={"max_tokens": 6, "temperature": 0.0})
        for k, v in DEFAULT_PROMPTS.items()
    }
    prompts["tags"] = DEFAULT_PROMPTS["instrumentation"].model_copy(update={"max_tokens": 4})
    ext = Description({"model": "tiny-flamingo", "prompts": prompts, "window_s": 5})
    assert ext.unavailable_reason() is None
    ext.setup()
    return ext


def test_five_prompts_one_audio_encoding(corpus, extractor: Description) -> None:
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    before = extractor.describer.encodes
    out = extractor.extract(ctx)
    assert extractor.describer.encodes == before + 1  # six prompts, one encoding
    for name in DEFAULT_PROMPTS:
        text = out[f"music_flamingo_{name}"]
        assert isinstance(text, str) and text and text.isascii()
        assert "<|" not in text and "think>" not in text
    assert [r["prompt"] for r in out["music_flamingo_custom"]] == ["tags"]
    assert out["music_flamingo_model"] == "tiny-flamingo (transformers, float32)"
    # the loudest 5 s of the track, recorded
    assert out["music_flamingo_window"] == "loudest"
    assert out["music_flamingo_window_end_s"] - out[
        "music_flamingo_window_start_s"
    ] == pytest.approx(5)


def test_cached_audio_gives_what_the_model_would_generate(corpus, extractor: Description) -> None:
    """The audio-once path equals the model's own generate() with audio, prompt by prompt."""
    import torch

    from mirset.audio import resample
    from mirset.text import strip_structural_tokens, t5_safe

    d = extractor.describer
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    audio = resample(ctx.mono, ctx.sample_rate, 16000)[: 16000 * 12]
    prompts = {k: extractor.params.prompts[k] for k in ("full", "structure")}
    ours = d.describe(audio, prompts)
    for name, p in prompts.items():
        inputs = d.processor(
            text=[d._chat(p.text)], audio=[audio], sampling_rate=16000, return_tensors="pt"
        )
        with torch.inference_mode():
            out = d.model.generate(**inputs, max_new_tokens=p.max_tokens, do_sample=False)
        ref = d.processor.batch_decode(
            out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )[0]
        assert ours[name] == t5_safe(strip_structural_tokens(ref))


def test_silence_and_missing_weights(corpus, tmp_path: Path, extractor: Description) -> None:
    ctx = TrackContext.from_file(corpus.path("bad/silence.wav"), AnalysisConfig())
    out = extractor.extract(ctx)
    assert out["music_flamingo_full"].reason.startswith("digital silence")
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(TRACK), music / "a.wav")
    proc = run_mirset(
        "build", str(music), str(tmp_path / "out"), "--models-dir", str(tmp_path / "none"),
        "-e", "description,loudness", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "will not run" in message and "mirset models fetch music-flamingo-hf" in message
    assert rows_by_path(tmp_path / "out")["a.wav"]["music_flamingo_full"] is None


def test_prompts_of_one_sampling_setting_share_one_generate(
    corpus, extractor: Description, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The five greedy prompts are one batched generate call; 'tags' samples, so it has its own."""
    model = extractor.describer.model
    original, batches = model.generate, []

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        batches.append(kwargs["inputs_embeds"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting)
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    out = extractor.extract(ctx)
    assert sorted(batches) == [1, 5]
    assert all(isinstance(out[f"music_flamingo_{n}"], str) for n in DEFAULT_PROMPTS)
