"""Music Flamingo through llama.cpp: a tiny Q8_0 model + audio projector written by llama.cpp's
own converter, loaded through the model store by the code users run."""

from __future__ import annotations

import ctypes
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import rows_by_path, run_mirset
from mirset import models
from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.describe.prompts import DEFAULT_PROMPTS, DescriptionPrompt
from mirset.extractors.description import Description
from mirset.testing.tiny_flamingo_gguf import save_tiny_flamingo_gguf

TRACK = "music/Knalgan Theme.wav"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    lm, mmproj = save_tiny_flamingo_gguf(root / "flamingo-gguf-tiny")
    files = [
        {"path": f"flamingo-gguf-tiny/{p.name}", "size": p.stat().st_size} for p in (lm, mmproj)
    ]
    entry = {
        "name": "tiny-flamingo-gguf", "family": "flamingo", "folder": "flamingo-gguf-tiny",
        "description": "tiny random Music Flamingo, Q8_0", "source": "tests", "license": "test",
        "files": files,
    }  # fmt: skip
    (root / "models.json").write_text(json.dumps([entry]))
    return root


def _greedy(max_tokens: int) -> dict[str, DescriptionPrompt]:
    return {
        k: v.model_copy(update={"max_tokens": max_tokens, "temperature": 0.0})
        for k, v in DEFAULT_PROMPTS.items()
    }


@pytest.fixture(scope="module")
def extractor(store_root: Path) -> Description:
    models.use_store(store_root)
    prompts = _greedy(12)
    prompts["tags"] = DEFAULT_PROMPTS["instrumentation"].model_copy(update={"max_tokens": 5})
    ext = Description({"model": "tiny-flamingo-gguf", "prompts": prompts, "window_s": 6})
    assert ext.backend() == "gguf"
    assert ext.unavailable_reason() is None
    ext.setup()
    return ext


def test_six_prompts_one_audio_encoding(corpus, extractor: Description) -> None:
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    before = extractor.describer.encodes
    out = extractor.extract(ctx)
    assert extractor.describer.encodes == before + 1  # six prompts, one encoding
    tokens = extractor.describer.last_tokens
    assert set(tokens) == {*DEFAULT_PROMPTS, "tags"}
    assert len(tokens["tags"]) <= 5 and all(len(tokens[n]) <= 12 for n in DEFAULT_PROMPTS)
    for name in DEFAULT_PROMPTS:
        text = out[f"music_flamingo_{name}"]
        assert isinstance(text, str) and text == text.strip()
        assert "<|" not in text and "\ufffd" not in text
    assert [r["prompt"] for r in out["music_flamingo_custom"]] == ["tags"]
    assert out["music_flamingo_model"] == "tiny-flamingo-gguf (gguf, Q8_0)"
    assert out["music_flamingo_window"] == "loudest"
    width = out["music_flamingo_window_end_s"] - out["music_flamingo_window_start_s"]
    assert width == pytest.approx(6)


def _fresh_greedy(d, audio: np.ndarray, prompt: str, max_tokens: int) -> list[int]:  # type: ignore[no-untyped-def]
    """One prompt evaluated from scratch on one sequence, as llama-mtmd-cli does it."""
    lib, mtmd = d._lib, d._mtmd
    lib.llama_memory_clear(d.memory, True)
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    bitmap = mtmd.mtmd_bitmap_init_from_audio(
        len(samples), samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    )
    chunks = mtmd.mtmd_input_chunks_init()
    text = mtmd.mtmd_input_text()
    raw = d.chat(prompt).encode()
    text.text, text.text_len, text.add_special, text.parse_special = raw, len(raw), True, True
    assert mtmd.mtmd_tokenize(d.mctx, chunks, ctypes.byref(text), (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap), 1) == 0  # fmt: skip
    n_past = lib.llama_pos(0)
    assert mtmd.mtmd_helper_eval_chunks(d.mctx, d.ctx, chunks, 0, 0, 512, True, ctypes.byref(n_past)) == 0  # fmt: skip
    mtmd.mtmd_input_chunks_free(chunks)
    mtmd.mtmd_bitmap_free(bitmap)
    pos, out = n_past.value, []
    while len(out) < max_tokens:
        logits = lib.llama_get_logits_ith(d.ctx, -1)
        n_vocab = lib.llama_vocab_n_tokens(d.vocab)
        token = int(np.argmax(np.ctypeslib.as_array(logits, shape=(n_vocab,))))
        if lib.llama_vocab_is_eog(d.vocab, token):
            break
        out.append(token)
        d._decode([(token, pos, 0, True)])
        pos += 1
    lib.llama_memory_clear(d.memory, True)
    return out


def test_shared_audio_and_batched_prompts_equal_fresh_runs(corpus, extractor: Description) -> None:
    """Prompts generated together on copies of one audio prefix give exactly the tokens of
    evaluating each prompt from scratch (audio re-encoded) one at a time."""
    d = extractor.describer
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    audio = ctx.mono_at(16000)[16000 * 10 : 16000 * 16]
    prompts = _greedy(10)
    d.describe(audio, prompts)
    ours = dict(d.last_tokens)
    fresh = {name: _fresh_greedy(d, audio, p.text, 10) for name, p in prompts.items()}
    assert ours == fresh
    assert any(ours.values())


def test_sampling_is_seeded(corpus, extractor: Description) -> None:
    d = extractor.describer
    ctx = TrackContext.from_file(corpus.path(TRACK), AnalysisConfig())
    audio = ctx.mono_at(16000)[: 16000 * 4]
    prompts = {"a": DescriptionPrompt(text="Describe this track.", max_tokens=16, temperature=1.0)}
    first = d.describe(audio, prompts, seed=1), d.last_tokens["a"]
    again = d.describe(audio, prompts, seed=1), d.last_tokens["a"]
    other = d.describe(audio, prompts, seed=2), d.last_tokens["a"]
    assert first == again
    assert other[1] != first[1]


def test_missing_gguf_weights_are_reported(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path(TRACK), music / "a.wav")
    config = tmp_path / "mirset.yaml"
    config.write_text("extractor_params:\n  description:\n    model: music-flamingo-gguf-q6_k\n")
    proc = run_mirset(
        "build", str(music), str(tmp_path / "out"), "--models-dir", str(tmp_path / "none"),
        "--config", str(config), "-e", "description,loudness", "--no-progress", "-j", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    message = " ".join(proc.stderr.split())
    assert "mirset models fetch music-flamingo-gguf-q6_k" in message
    assert rows_by_path(tmp_path / "out")["a.wav"]["music_flamingo_full"] is None
    models.use_store(None)
