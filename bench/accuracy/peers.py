"""Plain peer estimators run on the same files: librosa, Essentia and madmom (ONNX build).

Each runner is ``(path) -> dict(bpm, beats, downbeats, meter, key, mode)``; a value a tool does not
estimate is ``None``. Models and algorithms are built once per process (not timed per file).
Essentia's runner also returns ``key_variants`` (one key per ``KeyExtractor`` profile type).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#", "Cb": "B", "Fb": "E"}
_SHARPS = {"E#": "F", "B#": "C"}

# Krumhansl & Kessler (1982) key profiles, index 0 = tonic.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
ESSENTIA_PROFILES = ("edma", "bgate", "temperley")

Estimate = dict[str, Any]


def sharp_name(tonic: str) -> str:
    """``Bb`` -> ``A#``; names already in C..B with sharps pass through."""
    t = tonic.strip()
    t = t[:1].upper() + t[1:]
    return _FLATS.get(t, _SHARPS.get(t, t))


def _bpm_from_beats(beats: np.ndarray) -> float | None:
    return 60.0 / float(np.median(np.diff(beats))) if beats.size >= 2 else None


def _empty() -> Estimate:
    return {"bpm": None, "beats": None, "downbeats": None, "meter": None, "key": None, "mode": None}


# --------------------------------------------------------------------------- librosa


def krumhansl_key(chroma_mean: np.ndarray) -> tuple[str, str]:
    """Krumhansl–Schmuckler: the key whose rotated profile correlates best with the chroma."""
    best, label = -np.inf, ("C", "major")
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma_mean, np.roll(profile, tonic))[0, 1])
            if r > best:
                best, label = r, (NOTE_NAMES[tonic], mode)
    return label


def run_librosa(path: Path) -> Estimate:
    """``beat_track`` tempo and beats, Krumhansl–Schmuckler key on mean ``chroma_cqt``."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # m4a: "PySoundFile failed. Trying audioread instead."
        warnings.simplefilter("ignore")
        y, sr = librosa.load(str(path), sr=22050, mono=True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    bpm = float(np.atleast_1d(tempo)[0])
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr)
    key, mode = krumhansl_key(chroma.mean(axis=1))
    out = _empty()
    out.update(bpm=bpm if bpm > 0 else None, beats=[float(b) for b in beats], key=key, mode=mode)
    return out


# --------------------------------------------------------------------------- essentia


@functools.cache
def _essentia() -> dict[str, Any]:
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    return {
        "es": es,
        "rhythm": es.RhythmExtractor2013(method="multifeature"),
        "keys": {p: es.KeyExtractor(profileType=p) for p in ESSENTIA_PROFILES},
    }


def run_essentia(path: Path) -> Estimate:
    """``RhythmExtractor2013(multifeature)`` bpm and beats; ``KeyExtractor`` per profile type."""
    e = _essentia()
    audio = e["es"].MonoLoader(filename=str(path), sampleRate=44100)()
    bpm, ticks, _conf, _est, _intervals = e["rhythm"](audio)
    variants = {}
    for profile, algo in e["keys"].items():
        key, scale, _strength = algo(audio)
        variants[profile] = (sharp_name(key), str(scale))
    out = _empty()
    out.update(
        bpm=float(bpm) if bpm > 0 else None,
        beats=[float(t) for t in ticks],
        key=variants[ESSENTIA_PROFILES[0]][0],
        mode=variants[ESSENTIA_PROFILES[0]][1],
        key_variants=variants,
    )
    return out


# --------------------------------------------------------------------------- madmom


@functools.cache
def _madmom() -> dict[str, Any]:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # no per-call shape warnings
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
    from madmom.features.key import CNNKeyRecognitionProcessor

    return {
        "beat_rnn": RNNBeatProcessor(),
        "beat_dbn": DBNBeatTrackingProcessor(fps=100),
        "down_rnn": RNNDownBeatProcessor(),
        "down_dbn": DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100),
        "key_cnn": CNNKeyRecognitionProcessor(),
    }


def run_madmom(path: Path) -> Estimate:
    """RNN + DBN beats, RNN + DBN downbeats and meter (3 or 4), CNN key."""
    from madmom.features.key import key_prediction_to_label

    m = _madmom()
    beats = np.asarray(m["beat_dbn"](m["beat_rnn"](str(path))), dtype=float)
    bars = np.asarray(m["down_dbn"](m["down_rnn"](str(path))), dtype=float)
    downbeats = bars[bars[:, 1] == 1, 0] if bars.size else np.empty(0)
    meter = int(bars[:, 1].max()) if bars.size else None
    tonic, mode = key_prediction_to_label(m["key_cnn"](str(path))).split()
    out = _empty()
    out.update(
        bpm=_bpm_from_beats(beats),
        beats=beats.tolist(),
        downbeats=downbeats.tolist(),
        meter=meter,
        key=sharp_name(tonic),
        mode=mode,
    )
    return out


def _load_librosa(path: Path) -> np.ndarray:
    import warnings

    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return librosa.load(str(path), sr=44100, mono=True)[0]


def _load_essentia(path: Path) -> np.ndarray:
    return np.asarray(_essentia()["es"].MonoLoader(filename=str(path), sampleRate=44100)())


def _load_madmom(path: Path) -> np.ndarray:
    from madmom.io.audio import load_audio_file

    y, _ = load_audio_file(str(path), sample_rate=44100, num_channels=1, dtype=np.float32)
    return np.asarray(y, dtype=np.float32)


# Each peer's own audio loader at 44.1 kHz mono (to measure codec offsets as each peer sees them).
LOADERS: dict[str, Callable[[Path], np.ndarray]] = {
    "librosa": _load_librosa,
    "essentia": _load_essentia,
    "madmom": _load_madmom,
}

PEERS: dict[str, Callable[[Path], Estimate]] = {
    "librosa": run_librosa,
    "essentia": run_essentia,
    "madmom": run_madmom,
}


def warm_up() -> None:
    """Build models and run every peer once on a short click track (numba JIT etc.) before timing."""
    import tempfile

    import soundfile as sf

    sr = 44100
    y = np.zeros(6 * sr, dtype=np.float32)
    for k in range(12):
        i = int(k * 0.5 * sr)
        y[i : i + 400] = np.sin(np.arange(400) * 2 * np.pi * 880 / sr) * np.hanning(400)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clicks.wav"
        sf.write(path, y, sr)
        for run in PEERS.values():
            run(path)
