"""A small two-version dataset built once per test session for the export and load tests.

Version tagged ``v1``: a WAV, an M4A (a format Stable Audio Tools' folder scan skips) and a corrupt
FLAC (a failed row). Then a second build adds an organised track with its four stems, a silent
file (no tempo: ``bpm`` is null) and an 8 kHz mono file. Before the second build, ``v1`` is
exported to ``hf_v1_before`` so a test can check that exporting ``v1`` again later gives the
same bytes. Real music from the test corpus, copied (never built in place), cheap extractors.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from deltalake import DeltaTable

from helpers import run_mirset
from mirset.export.hf import export_hf
from mirset.export.versions import tag_version

EXTRACTORS = "loudness,spectral,beats,harmony,prompt"
FIRST = ("music/Knalgan Theme.wav", "music/Singles/Journeys End.m4a", "bad/corrupt.flac")
SECOND = ("music/Organised/Sunrise Drive", "bad/silence.wav", "bad/mono_8k.wav")


@dataclass(frozen=True)
class Built:
    music: Path
    out: Path
    v1: int  # table version tagged v1
    latest: int
    hf_v1_before: Path  # `mirset export hf --version v1 --with-audio` made before the 2nd build
    base: Path


_cache: dict[str, Built] = {}


def _copy(corpus_root: Path, rel: str, music: Path) -> None:
    src = corpus_root / rel
    dest = music / Path(rel).relative_to(Path(rel).parts[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copy2(src, dest)


def _build(music: Path, out: Path):
    proc = run_mirset(
        "build", str(music), str(out), "-e", EXTRACTORS, "-j", "0", "--sidecars", "none",
        "--no-progress",
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: the corrupt file failed
    return proc


def built_dataset(corpus, tmp_path_factory) -> Built:
    """The session's dataset (built on first use)."""
    if "built" in _cache:
        return _cache["built"]
    base = tmp_path_factory.mktemp("export-dataset")
    music, out = base / "music", base / "out"
    for rel in FIRST:
        _copy(corpus.root, rel, music)
    _build(music, out)
    v1 = tag_version(out, "v1").version
    hf_before = base / "hf_v1_before"
    export_hf(out, hf_before, "v1", with_audio=True)
    for rel in SECOND:
        _copy(corpus.root, rel, music)
    proc = _build(music, out)
    latest = DeltaTable(str(out / "table")).version()
    assert latest > v1, proc.stdout[-2000:] + proc.stderr[-3000:]
    _cache["built"] = Built(music, out, v1, latest, hf_before, base)
    return _cache["built"]


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path (for byte-for-byte comparisons)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
