"""The shared track context: decode once, views computed once, chunking changes nothing."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

import mirset.context as context_module
import mirset.extractors.spectral as spectral_module
from mirset.builder.process import TrackTask, process_track
from mirset.config import AnalysisConfig
from mirset.context import TrackContext, chunked_stft
from mirset.extractors.base import registry
from mirset.extractors.spectral import Spectral


@pytest.mark.filterwarnings("ignore:n_fft=2048 is too large")
@pytest.mark.parametrize("n", [100, 1000, 44100 * 3 + 123])
def test_chunked_stft_equals_librosa(n: int) -> None:
    x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
    spec = chunked_stft(x, 2048, 512, block_frames=7)
    ref = librosa.stft(x, n_fft=2048, hop_length=512, center=True, pad_mode="constant")
    mono = np.abs(ref.mean(axis=0))
    assert spec.magnitude.shape == mono.shape
    assert np.allclose(spec.magnitude, mono, atol=1e-4 * mono.max())
    assert np.allclose(spec.channel_power, (np.abs(ref) ** 2).mean(axis=-1), rtol=1e-4)


def test_every_extractor_shares_one_decode(corpus, tmp_path: Path, monkeypatch) -> None:
    calls: list[Path] = []
    real_decode = context_module.decode

    def counting_decode(path, *args, **kwargs):
        calls.append(Path(path))
        return real_decode(path, *args, **kwargs)

    monkeypatch.setattr(context_module, "decode", counting_decode)
    track = next(corpus.music.rglob("*.ogg"))
    # every extractor that can run here (model-backed ones without weights are left out, as the
    # builder leaves them out; they have their own tests)
    extractors = {
        name: ext for name, cls in registry().items() if (ext := cls()).unavailable_reason() is None
    }
    task = TrackTask(
        path=str(track),
        relative_path=track.name,
        layout="flat",
        folder_name=track.stem,
        sidecar_dir=str(tmp_path),
        stems={},
        music_dir=str(track.parent),
        run=list(extractors),
        stale=[],
        write_sidecars=False,
    )
    result = process_track(task, extractors, AnalysisConfig(), 3600, None)
    assert result.error is None and len(calls) == 1
    assert all(result.row[f"{n}_status"].startswith("ok") for n in extractors)
    assert {"view:stft", "view:mel", "view:onset_envelope"} <= set(result.timings)


def test_views_are_cached(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1, 44100)
    ctx = TrackContext.from_file(path, AnalysisConfig())
    assert ctx.spectrogram is ctx.spectrogram and ctx.onset_envelope is ctx.onset_envelope


def test_spectral_blocks_do_not_change_results(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "x.wav"
    rng = np.random.default_rng(3)
    y = rng.standard_normal(44100 * 4).astype(np.float32) * 0.1
    y[44100:50000] = 0  # a silent stretch inside
    sf.write(path, y, 44100)
    whole = Spectral().extract(TrackContext.from_file(path, AnalysisConfig()))
    monkeypatch.setattr(spectral_module, "STFT_BLOCK_FRAMES", 7)
    blocked = Spectral().extract(TrackContext.from_file(path, AnalysisConfig()))
    for key, value in whole.items():
        assert blocked[key] == pytest.approx(value, rel=1e-6), key
