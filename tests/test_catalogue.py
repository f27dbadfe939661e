"""Known answers for the rhythm, harmony, downbeat, dynamics and per-stem extractors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mirset.config import AnalysisConfig
from mirset.context import TrackContext
from mirset.extractors.base import Null, registry
from mirset.extractors.beats import Beats
from mirset.extractors.dynamics import Dynamics
from mirset.extractors.harmony import PITCH_CLASSES, Harmony
from mirset.extractors.onsets import Onsets
from mirset.extractors.rhythm import RhythmStats, ioi_complexity, near_beat, syncopation

SR = 44100


def _ctx(
    tmp_path: Path, y: np.ndarray, name: str = "x.wav", stems: dict | None = None
) -> TrackContext:
    path = tmp_path / name
    sf.write(path, y.T if y.ndim == 2 else y, SR, subtype="FLOAT")
    return TrackContext.from_file(path, AnalysisConfig(), stems)


def _tone(freqs: list[float], seconds: float, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for f in freqs:
        for h, w in ((1, 1.0), (2, 0.5), (3, 0.3)):  # a few harmonics, like an instrument
            y += w * np.sin(2 * np.pi * f * h * t)
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (amp * y * env / len(freqs)).astype(np.float32)


def _midi(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _cadence(chords: list[list[int]]) -> np.ndarray:
    return np.concatenate([_tone([_midi(n) for n in chord], 1.5) for chord in chords])


@pytest.fixture(scope="module")
def harmony() -> Harmony:
    h = Harmony()
    h.setup()
    return h


def test_a440_chroma_peaks_at_index_9(tmp_path: Path, harmony: Harmony) -> None:
    t = np.arange(SR * 5) / SR
    out = harmony.extract(_ctx(tmp_path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)))
    chroma = np.array([out[f"chroma_{i}"] for i in range(12)])
    assert chroma.sum() == pytest.approx(1.0)
    assert int(chroma.argmax()) == 9 == PITCH_CLASSES.index("A")
    assert out["tuning_hz"] == pytest.approx(440.0, abs=1.0)


def test_c_major_and_a_minor_cadences(tmp_path: Path, harmony: Harmony) -> None:
    c_major = _cadence([[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]] * 2)
    a_minor = _cadence([[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]] * 2)
    major = harmony.extract(_ctx(tmp_path, c_major, "c.wav"))
    minor = harmony.extract(_ctx(tmp_path, a_minor, "a.wav"))
    assert (major["key"], major["mode"]) == ("C", "major")
    assert (minor["key"], minor["mode"]) == ("A", "minor")
    assert 0 < major["key_strength"] <= 1


def test_detuned_tone_gives_tuning(tmp_path: Path, harmony: Harmony) -> None:
    t = np.arange(SR * 5) / SR
    y = (0.3 * np.sin(2 * np.pi * 446.0 * t)).astype(np.float32)
    assert harmony.extract(_ctx(tmp_path, y))["tuning_hz"] == pytest.approx(446.0, abs=1.5)


def test_silence_gives_nulls_with_reasons(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, np.zeros(SR * 5, np.float32))
    for cls in registry().values():
        ext = cls()
        if ext.unavailable_reason():  # model-backed without weights: see their own tests
            continue
        ext.setup()
        if "beats" in cls.needs or "onsets" in cls.needs:
            ctx.results["beats"] = Beats().extract(ctx)
            ctx.results["onsets"] = Onsets().extract(ctx)
        out = ext.extract(ctx)
        for f in cls.fields:
            value = out[f.name]
            assert (
                value is None or isinstance(value, (Null, str, list, int)) or np.isfinite(value)
            ), (cls.name, f.name)
    assert isinstance(Harmony().extract(ctx)["key"], Null)
    assert isinstance(Dynamics().extract(ctx)["danceability"], Null)


@pytest.mark.parametrize("bpm", [93.0, 120.0, 128.0, 174.0])
def test_click_tempo_within_one_bpm(tmp_path: Path, bpm: float) -> None:
    y = np.zeros(SR * 30, np.float32)
    burst = np.exp(-np.arange(600) / 120) * np.sin(2 * np.pi * 1500 * np.arange(600) / SR)
    for k in range(int(29.5 * bpm / 60)):
        i = int((0.2 + k * 60 / bpm) * SR)
        y[i : i + 600] += (0.8 if k % 4 == 0 else 0.5) * burst
    assert Beats().extract(_ctx(tmp_path, y))["bpm"] == pytest.approx(bpm, abs=1.0)


def test_known_click_files_from_the_corpus(corpus) -> None:
    for bpm in (93, 120):
        ctx = TrackContext.from_file(corpus.known / f"click_{bpm}bpm.wav", AnalysisConfig())
        assert Beats().extract(ctx)["bpm"] == pytest.approx(bpm, abs=1.0)


def test_rhythm_kernels() -> None:
    beats = np.arange(0, 10, 0.5)
    on = beats[:10] + 0.01
    off = beats[:10] + 0.25
    assert near_beat(on, beats).all() and not near_beat(off, beats).any()
    onsets = np.concatenate([on, off])
    strengths = np.concatenate([np.full(10, 3.0), np.full(10, 1.0)])
    assert syncopation(onsets, strengths, beats) == pytest.approx(0.25)
    complexity, evenness = ioi_complexity(np.arange(0, 10, 0.25))
    assert evenness == pytest.approx(1.0) and complexity < 0.05
    rng = np.random.default_rng(0)
    irregular, _ = ioi_complexity(np.sort(rng.uniform(0, 10, 40)))
    assert irregular > complexity + 0.3


def test_rhythm_stats_on_real_song(corpus) -> None:
    path = corpus.music / "Organised" / "Sunrise Drive" / "full_mix.flac"
    ctx = TrackContext.from_file(path, AnalysisConfig())
    ctx.results["beats"] = Beats().extract(ctx)
    ctx.results["onsets"] = Onsets().extract(ctx)
    out = RhythmStats().extract(ctx)
    assert out["beat_regularity"] < 0.02  # a steady 128 BPM render
    assert 0 <= out["syncopation"] <= 1 and 0 < out["on_beat_ratio"] <= 1
    assert out["ioi_mean"] > 0 and 0 < out["rhythmic_evenness"] <= 1


def test_per_stem_features_from_rendered_stems(corpus) -> None:
    folder = corpus.music / "Organised" / "Sunrise Drive"
    stems = {n: folder / f"{n}.flac" for n in ("drums", "bass", "other", "vocals")}
    ctx = TrackContext.from_file(folder / "full_mix.flac", AnalysisConfig(), stems)
    ctx.results["beats"] = Beats().extract(ctx)
    exts = registry()
    out = {}
    for name in ("stem_loudness", "stem_rhythm", "stem_harmony", "harmony"):
        ext = exts[name]()
        ext.setup()
        out |= ext.extract(ctx)
    for stem in stems:
        assert -40 < out[f"lufs_{stem}"] < 0
    assert out["onset_density_average_drums"] > out["onset_density_average_other"]
    assert 0 <= out["syncopation_bass"] <= 1
    assert 0 < out["harmonic_movement_other"] < 1 and 0 < out["harmonic_variance_bass"] < 0.25
    assert out["chroma_source"] == "stems:bass+other+vocals"
    assert (out["key"], out["mode"]) == ("G", "major")
    # no stems: every per-stem field null with the reason
    flat = TrackContext.from_file(folder / "full_mix.flac", AnalysisConfig())
    flat.results["beats"] = ctx.results["beats"]
    loud = exts["stem_loudness"]().extract(flat)
    assert all(isinstance(v, Null) and "no stems" in v.reason for v in loud.values())


def _bar_song(meter: int, bpm: float = 110.0, bars: int = 12) -> tuple[np.ndarray, list[float]]:
    """Kick on every downbeat, a hat on every beat, a new chord each bar: known downbeats."""
    beat = 60.0 / bpm
    n = int((bars * meter * beat + 1.0) * SR)
    y = np.zeros(n, np.float32)
    t = np.arange(int(0.15 * SR)) / SR
    kick = (np.sin(2 * np.pi * 55 * t) * np.exp(-t / 0.05)).astype(np.float32)
    hat = (np.random.default_rng(0).standard_normal(t.size) * np.exp(-t / 0.01) * 0.2).astype(
        np.float32
    )
    chords = [[60, 64, 67], [65, 69, 72], [67, 71, 74], [57, 60, 64]]
    downbeats = []
    for bar in range(bars):
        start = 0.5 + bar * meter * beat
        downbeats.append(round(start, 6))
        i = int(start * SR)
        pad = _tone([_midi(m) for m in chords[bar % 4]], meter * beat, amp=0.15)
        y[i : i + pad.size] += pad[: max(0, n - i)]
        y[i : i + kick.size] += 0.8 * kick
        for k in range(meter):
            j = int((start + k * beat) * SR)
            y[j : j + hat.size] += hat
    return y, downbeats


@pytest.mark.parametrize("meter", [3, 4])
@pytest.mark.parametrize(
    ("beats_method", "downbeats_method"), [("rnn", "rnn"), ("dp", "rnn"), ("dp", "beat_sync")]
)
def test_downbeats_and_meter_of_a_known_song(
    tmp_path: Path, meter: int, beats_method: str, downbeats_method: str
) -> None:
    import mir_eval

    from mirset.extractors.downbeats import Downbeats

    y, truth = _bar_song(meter)
    ctx = _ctx(tmp_path, y)
    ctx.results["beats"] = Beats({"method": beats_method}).extract(ctx)
    out = Downbeats({"method": downbeats_method}).extract(ctx)
    assert out["meter"] == meter
    assert mir_eval.beat.f_measure(np.array(truth), np.array(out["downbeat_times"]), 0.07) > 0.9
    assert out["downbeat_count"] == len(out["downbeat_times"])
