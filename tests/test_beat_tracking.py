"""The RNN + bar-pointer tracker against madmom's own pipeline, on real music from the corpus."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from tests.corpus import Corpus

from mirset.audio import decode, resample, to_mono
from mirset.beat_tracking import activations, features, track_bars
from mirset.beat_tracking.dbn import BarDecoder

SONG = "music/Organised/Sunrise Drive/full_mix.flac"  # rendered at 128 BPM, 4/4


@pytest.fixture(scope="module")
def song(corpus: Corpus) -> np.ndarray:
    d = decode(corpus.path(SONG))
    return resample(to_mono(d.samples), d.sample_rate, 44100)[: 44100 * 20]


def test_features_equal_madmoms_preprocessing(song: np.ndarray) -> None:
    from madmom.audio.signal import Signal
    from madmom.features.downbeats import RNNDownBeatProcessor

    reference = RNNDownBeatProcessor().processors[0](Signal(song, sample_rate=44100))
    ours = features.rnn_features(song)
    assert ours.shape == reference.shape == (features.num_frames(song.size), 314)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_ensemble_equals_madmoms_networks(song: np.ndarray) -> None:
    from madmom.ml.nn import NeuralNetwork

    from mirset.beat_tracking.network import DownbeatEnsemble, model_files

    feats = features.rnn_features(song[: 44100 * 8])
    reference = np.mean([NeuralNetwork.load(str(f))(feats) for f in model_files()[:3]], axis=0)
    np.testing.assert_allclose(DownbeatEnsemble(3)(feats), reference[:, 1:], atol=1e-5)


def test_decoder_gives_madmoms_path(song: np.ndarray) -> None:
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    act = activations(song, n_models=2)
    reference = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(act)
    grid = BarDecoder((3, 4), fps=100)(act)
    np.testing.assert_allclose(grid.beats, reference[:, 0])
    np.testing.assert_array_equal(grid.numbers, reference[:, 1].astype(int))
    assert grid.meter == 4


def test_tracks_the_known_tempo_and_bars(corpus: Corpus, song: np.ndarray) -> None:
    facts = corpus.expected[SONG]
    grid = track_bars(activations(song, n_models=8))
    period = np.polyfit(np.arange(grid.beats.size), grid.beats, 1)[0]
    assert 60.0 / period == pytest.approx(facts["bpm"], rel=0.01)
    truth = np.array(facts["beats"])
    matched = np.abs(grid.beats[:, None] - truth[None, :]).min(axis=1)
    assert np.median(matched) < 0.03
    assert grid.meter == 4 and set(np.diff(np.flatnonzero(grid.numbers == 1))) == {4}


def test_decoding_an_hour_needs_little_memory() -> None:
    """madmom's Viterbi would keep 360,000 frames x ~13,700 states x 4 bytes (~20 GB) of
    back-pointers for an hour; this decoder must stay under 1 GB of peak RSS."""
    code = (
        "import resource, numpy as np\n"
        "from mirset.beat_tracking.dbn import BarDecoder\n"
        "n = 360_000; act = np.full((n, 2), 0.01)\n"
        "act[::50, 0] = 0.6; act[::200, 0] = 0.05; act[::200, 1] = 0.6  # 120 BPM, 4/4\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "g = BarDecoder()(act)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base\n"
        "print(peak // 1024, g.meter, g.beats.size, round(float(np.median(np.diff(g.beats))), 3))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    ).stdout.split()
    extra_mib, meter, n_beats, ibi = int(out[0]), int(out[1]), int(out[2]), float(out[3])
    assert extra_mib < 1024, f"decoder took {extra_mib} MiB"
    assert meter == 4 and ibi == 0.5 and abs(n_beats - 7200) <= 2


def test_silence_and_tiny_input_give_an_empty_grid() -> None:
    assert track_bars(activations(np.zeros(44100 * 3, np.float32), 1)).beats.size == 0
    assert track_bars(np.zeros((5, 2))).meter is None
