"""Known-answer tests: signals whose true feature values are known in advance.

Each signal goes through the real path: written to a file, decoded, shared views, extractor.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors.beats import Beats
from mirset.extractors.loudness import Loudness
from mirset.extractors.multiband import MultibandRMS
from mirset.extractors.onsets import Onsets
from mirset.extractors.spectral import Spectral

SR = 48000


def _ctx(tmp_path: Path, y: np.ndarray, sr: int = SR, name: str = "x.wav") -> TrackContext:
    path = tmp_path / name
    sf.write(path, y.T if y.ndim == 2 else y, sr, subtype="FLOAT")
    return TrackContext.from_file(path, AnalysisConfig())


def _sine(freq: float, seconds: float, dbfs: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(bpm: float, seconds: float, sr: int = 44100) -> np.ndarray:
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    burst = np.exp(-np.arange(1000) / 150) * np.sin(2 * np.pi * 1500 * np.arange(1000) / sr)
    period = 60.0 / bpm
    for k, start in enumerate(np.arange(0.1, seconds - 0.1, period)):
        i = int(start * sr)
        y[i : i + 1000] += (0.8 if k % 4 == 0 else 0.5) * burst
    return y


def test_ebu_tech_3341_case_1(tmp_path: Path) -> None:
    """Stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS (±0.1 per Tech 3341)."""
    tone = _sine(1000, 20, -23.0)
    out = Loudness().extract(_ctx(tmp_path, np.stack([tone, tone])))
    assert out["lufs"] == pytest.approx(-23.0, abs=0.1)
    assert out["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.2)


def test_ebu_tech_3342_case_1(tmp_path: Path) -> None:
    """20 s at -20 dBFS then 20 s at -30 dBFS: LRA 10 LU (±1 per Tech 3342)."""
    y = np.concatenate([_sine(1000, 20, -20.0), _sine(1000, 20, -30.0)])
    out = Loudness().extract(_ctx(tmp_path, np.stack([y, y])))
    assert out["lra"] == pytest.approx(10.0, abs=1.0)


def test_loudness_is_null_with_reason_for_silence_and_tiny_clips(tmp_path: Path) -> None:
    silent = Loudness().extract(_ctx(tmp_path, np.zeros((2, SR * 5), np.float32), name="s.wav"))
    assert silent["lufs"].reason.startswith("silent")
    assert silent["true_peak_dbtp"].reason == "digital silence"
    tiny = Loudness().extract(_ctx(tmp_path, _sine(440, 0.1, -10), name="t.wav"))
    assert "400 ms" in tiny["lufs"].reason and "3 s" in tiny["lra"].reason


@pytest.mark.parametrize("method", ["rnn", "dp"])
@pytest.mark.parametrize("bpm", [93.0, 120.0, 140.0])
def test_click_track_tempo(tmp_path: Path, bpm: float, method: str) -> None:
    ctx = _ctx(tmp_path, _clicks(bpm, 30), sr=44100)
    out = Beats({"method": method}).extract(ctx)
    assert out["bpm"] == pytest.approx(bpm, abs=1.0)
    assert out["bpm_is_defined"] == 1
    assert abs(out["beat_count"] - 30 * bpm / 60) <= 3
    onsets = Onsets().extract(ctx)
    assert abs(onsets["onset_count"] - 30 * bpm / 60) <= 2


@pytest.mark.parametrize("method", ["rnn", "dp"])
def test_noise_has_no_steady_beat(tmp_path: Path, method: str) -> None:
    rng = np.random.default_rng(0)
    out = Beats({"method": method}).extract(
        _ctx(tmp_path, (0.1 * rng.standard_normal(SR * 20)).astype(np.float32))
    )
    assert out["bpm"].reason.startswith("no steady beat")
    assert out["bpm_is_defined"] == 0


def test_white_noise_is_flat_pink_less_so(tmp_path: Path) -> None:
    """White noise: per-frame flatness of an exponential power spectrum is exp(-γ) ≈ 0.56."""
    rng = np.random.default_rng(1)
    sr = 44100  # the analysis rate: no resampling filter near Nyquist
    white = (0.1 * rng.standard_normal(sr * 10)).astype(np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(sr * 10))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
    pink = np.fft.irfft(spectrum).astype(np.float32)
    pink *= 0.1 / pink.std()
    w = Spectral().extract(_ctx(tmp_path, white, sr, name="w.wav"))
    p = Spectral().extract(_ctx(tmp_path, pink, sr, name="p.wav"))
    assert w["spectral_flatness"] == pytest.approx(np.exp(-np.euler_gamma), abs=0.03)
    assert p["spectral_flatness"] < 0.2
    # magnitude-weighted centroid: flat spectrum -> Nyquist/2; 1/sqrt(f) magnitude -> Nyquist/3
    assert w["spectral_centroid_hz"] == pytest.approx(sr / 4, rel=0.03)
    assert p["spectral_centroid_hz"] == pytest.approx(sr / 6, rel=0.05)


def test_pure_tone_centroid_and_band(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, _sine(1000, 10, -6.0))
    s = Spectral().extract(ctx)
    assert s["spectral_centroid_hz"] == pytest.approx(1000, rel=0.03)
    assert s["spectral_rolloff_hz"] == pytest.approx(1000, rel=0.05)
    assert s["spectral_flatness"] < 0.01
    assert s["zero_crossing_rate"] == pytest.approx(2000 / 44100, rel=0.01)
    bands = MultibandRMS().extract(ctx)
    # a sine at -6 dBFS peak has an RMS of -9.03 dBFS
    assert bands["rms_energy_mid"] == pytest.approx(-9.03, abs=0.3)
    assert bands["rms_energy_bass"] < -60 and bands["rms_energy_air"] < -60


def test_spectral_flux_is_level_independent(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y = (0.3 * rng.standard_normal(SR * 5)).astype(np.float32)
    loud = Spectral().extract(_ctx(tmp_path, y, name="loud.wav"))["spectral_flux"]
    quiet = Spectral().extract(_ctx(tmp_path, y * 0.01, name="quiet.wav"))["spectral_flux"]
    assert 0 < loud < 1
    assert quiet == pytest.approx(loud, rel=1e-3)


def test_multiband_handles_stereo_per_channel(tmp_path: Path) -> None:
    """Out-of-phase channels cancel in a mono mix; band power averaged over channels does not."""
    tone = _sine(300, 10, -6.0)
    bands = MultibandRMS().extract(_ctx(tmp_path, np.stack([tone, -tone])))
    assert bands["rms_energy_body"] == pytest.approx(-9.03, abs=0.3)


def test_spectral_silence_is_null_with_reason(tmp_path: Path) -> None:
    out = Spectral().extract(_ctx(tmp_path, np.zeros(SR * 3, np.float32)))
    assert out["spectral_flatness"].reason.endswith("(silent)")
    assert out["zero_crossing_rate"] == 0.0


def test_blockwise_tempo_equals_librosa(tmp_path: Path) -> None:
    import librosa

    from mirset.extractors.beats import global_tempo

    env = _ctx(tmp_path, _clicks(97.0, 40), sr=44100).onset_envelope
    ref = librosa.feature.tempo(onset_envelope=env, sr=44100, hop_length=512)[0]
    assert global_tempo(env, 44100, 512, block_frames=500) == pytest.approx(ref, rel=1e-9)


def test_spectral_kernels_equal_librosa() -> None:
    import librosa

    from mirset.extractors.spectral import frame_stats

    rng = np.random.default_rng(5)
    S = (
        np.abs(rng.standard_normal((1025, 50))).astype(np.float32)
        * np.linspace(2, 0.01, 1025)[:, None]
    )
    freqs = librosa.fft_frequencies(sr=44100, n_fft=2048)
    ours = frame_stats(S, freqs)
    ref = {
        "spectral_flatness": librosa.feature.spectral_flatness(S=S, power=2.0)[0],
        "spectral_centroid_hz": librosa.feature.spectral_centroid(S=S, freq=freqs)[0],
        "spectral_bandwidth_hz": librosa.feature.spectral_bandwidth(S=S, freq=freqs)[0],
        "spectral_rolloff_hz": librosa.feature.spectral_rolloff(S=S, freq=freqs)[0],
    }
    for key, values in ref.items():
        assert np.allclose(ours[key], values, rtol=1e-4), key
    p = S / S.sum(axis=0)
    mu = freqs @ p
    d = freqs[:, None] - mu
    sd = np.sqrt((d**2 * p).sum(axis=0))
    assert np.allclose(ours["spectral_skewness"], (d**3 * p).sum(axis=0) / sd**3, rtol=1e-4)
    assert np.allclose(ours["spectral_kurtosis"], (d**4 * p).sum(axis=0) / sd**4, rtol=1e-4)
