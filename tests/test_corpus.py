"""The real-music test corpus builds, is cached, and holds what ``expected`` claims."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

import corpus as corpus_module
from corpus import CORPUS_VERSION, Corpus, build_corpus

FULL_DECODE_MAX_S = 60.0  # longer files: check the container duration instead of decoding


def _walk(root: Path) -> set[str]:
    """Root-relative paths of every file and symlink under the corpus' content folders."""
    found = set()
    for top in ("music", "bad", "known", "midi"):
        for dirpath, _dirs, files in os.walk(root / top):
            found |= {(Path(dirpath) / f).relative_to(root).as_posix() for f in files}
    return found


def _decode(path: Path, full: bool) -> tuple[int, int, float]:
    """(sample rate, channels, seconds) of the first audio stream, via PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.sample_rate, len(stream.layout.channels)
        if not full:
            return rate, channels, container.duration / av.time_base
        samples = sum(frame.samples for frame in container.decode(stream))
    return rate, channels, samples / rate


def test_layout(corpus: Corpus) -> None:
    assert (corpus.root / ".complete").read_text().strip() == CORPUS_VERSION
    for folder in (corpus.music, corpus.bad, corpus.known):
        assert folder.is_dir() and folder.parent == corpus.root
    rels = set(corpus.expected)
    assert {r for r in rels if r.startswith("music/Organised/")} >= {
        "music/Organised/Sunrise Drive/full_mix.flac",
        "music/Organised/Night Walk/full_mix.flac",
        *(f"music/Organised/Sunrise Drive/{s}.flac" for s in ("drums", "bass", "other", "vocals")),
    }
    formats = {f["format"] for r, f in corpus.expected.items() if f["kind"] == "music"}
    assert formats == {"wav", "flac", "mp3", "ogg", "opus", "m4a", "aiff"}
    for name in ("corrupt.flac", "empty.wav", "not_audio.mp3", "tiny.wav", "silence.wav",
                 "mono_8k.wav", "hires_96k_24bit.flac", "six_channels.wav", "one_hour.flac",
                 "unreadable.wav", "dangling.wav"):  # fmt: skip
        assert f"bad/{name}" in rels


def test_expected_covers_every_file(corpus: Corpus) -> None:
    """Also fails if a test wrote into the shared corpus (use ``corpus.copy(tmp_path)``)."""
    assert _walk(corpus.root) == set(corpus.expected)
    for rel, facts in corpus.expected.items():
        assert os.path.lexists(corpus.path(rel)), rel
        assert isinstance(facts["kind"], str) and isinstance(facts["should_fail"], bool), rel


def test_good_files_decode_with_pyav(corpus: Corpus) -> None:
    good = {r: f for r, f in corpus.expected.items() if not f["should_fail"]}
    assert len(good) >= 25
    for rel, facts in good.items():
        full = facts["duration"] <= FULL_DECODE_MAX_S
        rate, channels, seconds = _decode(corpus.path(rel), full)
        assert (rate, channels) == (facts["samplerate"], facts["channels"]), rel
        assert seconds == pytest.approx(facts["duration"], abs=0.05), rel


def test_failing_files_do_not_decode(corpus: Corpus) -> None:
    bad = [r for r, f in corpus.expected.items() if f["should_fail"]]
    assert {"bad/corrupt.flac", "bad/empty.wav", "bad/not_audio.mp3", "bad/dangling.wav"} <= set(
        bad
    )
    for rel in bad:
        with pytest.raises((av.error.FFmpegError, OSError)):
            _decode(corpus.path(rel), full=True)


def test_known_answers_are_consistent(corpus: Corpus) -> None:
    """Cheap self-checks of the synthetic signals and the recorded beat grids."""
    x, _ = sf.read(corpus.path("known/ebu3341_case1_-23lufs.wav"), dtype="float32")
    assert np.abs(x).max() == pytest.approx(10 ** (-23 / 20), rel=1e-3)
    x, _ = sf.read(corpus.path("known/tone_1khz.wav"))
    assert np.abs(x).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    assert not sf.read(corpus.path("bad/silence.wav"))[0].any()
    for rel, facts in corpus.expected.items():
        if facts.get("bpm") and "beats" in facts:
            steps = np.diff(facts["beats"])
            assert steps == pytest.approx(60.0 / facts["bpm"], abs=1e-5), rel
            assert facts["downbeats"] == facts["beats"][::4], rel


def test_cached_build_is_fast_and_copy_is_independent(corpus: Corpus, tmp_path: Path) -> None:
    start = time.perf_counter()
    again = build_corpus(corpus.root)
    assert time.perf_counter() - start < 1.0
    assert again.expected == corpus.expected
    copy = corpus.copy(tmp_path / "copy")
    assert _walk(copy.root) == set(corpus.expected)
    assert copy.expected == corpus.expected


def test_missing_tool_names_the_apt_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(corpus_module.shutil, "which", lambda _tool: None)
    with pytest.raises(RuntimeError, match=r"apt-get install ffmpeg.*apt-get install fluidsynth"):
        build_corpus(tmp_path / "c")
    assert not (tmp_path / "c").exists()


class _Killed(BaseException):
    """Stands in for a KeyboardInterrupt in the middle of a build."""


def test_failed_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def boom(*_args: object) -> None:
        raise _Killed

    monkeypatch.setattr(corpus_module, "_build_flat", boom)
    with pytest.raises(_Killed):
        build_corpus(tmp_path / "c")
    assert [p.name for p in tmp_path.iterdir()] == [".c.lock"]
