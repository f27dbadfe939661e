"""Discovery: find the tracks of a music folder, flat files or the organised layout."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mirset.audio import AUDIO_EXTENSIONS

STEM_NAMES = ("drums", "bass", "other", "vocals", "piano", "guitar")
FULL_MIX = "full_mix"


@dataclass(frozen=True)
class Track:
    """One audio file to analyse, with where its sidecars go."""

    path: Path  # absolute
    relative_path: str  # POSIX, relative to the music folder: the row key
    layout: str  # "organised" or "flat"
    folder_name: str  # sidecar base name
    sidecar_dir: Path
    stems: dict[str, str] = field(default_factory=dict)  # stem name -> relative path
    file_bytes: int | None = None
    mtime_ns: int | None = None
    stems_dir: Path | None = None  # where separated stems are written (and looked for)

    def stem_paths(self, music_dir: Path) -> dict[str, Path]:
        return {name: music_dir / rel for name, rel in self.stems.items()}


@dataclass
class Discovery:
    tracks: list[Track]
    ignored: list[str]  # audio files inside organised folders that are neither full_mix nor a stem


def _is_audio(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS


def _stat(path: Path) -> tuple[int | None, int | None]:
    try:
        st = path.stat()
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def discover(
    music_dir: Path, out_dir: Path | None = None, sidecars: str = "auto", stems: str = "auto"
) -> Discovery:
    """Walk ``music_dir`` (symlinked folders are not followed; hidden folders and OUT_DIR skipped).

    A folder holding ``full_mix.<ext>`` is one organised track (its stems beside it are recorded);
    every other audio file is a flat track. ``sidecars``: auto | beside | out | none. Separated
    stems go beside organised tracks (``stems: auto``) and under ``OUT_DIR/stems/<relative
    path>/`` for flat files (and for every track with ``stems: out``); stems already there are
    found and recorded like stems beside ``full_mix``.
    """
    music_dir = Path(music_dir).resolve()
    out_resolved = Path(out_dir).resolve() if out_dir is not None else None
    tracks: list[Track] = []
    ignored: list[str] = []
    for root, dirs, files in os.walk(music_dir, followlinks=False):
        root_path = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and (out_resolved is None or (root_path / d).resolve() != out_resolved)
        )
        audio = sorted(f for f in files if _is_audio(f) and not f.startswith("."))
        if not audio:
            continue
        full_mix = [f for f in audio if Path(f).stem == FULL_MIX]
        if full_mix and root_path != music_dir:
            tracks.append(
                _organised(music_dir, root_path, full_mix[0], audio, out_resolved, sidecars, stems)
            )
            ignored += [
                _rel(music_dir, root_path / f)
                for f in audio
                if f != full_mix[0] and Path(f).stem.lower() not in STEM_NAMES
            ]
            continue
        stems_count: dict[str, int] = defaultdict(int)
        for f in audio:
            stems_count[Path(f).stem] += 1
        sibling_stems = _sibling_stems(audio, stems_count)
        for f in audio:
            if f in sibling_stems:
                continue  # "<name>_<stem>.<ext>" beside "<name>.<ext>": a stem of that track
            path = root_path / f
            base = Path(f).stem if stems_count[Path(f).stem] == 1 else f
            rel = _rel(music_dir, path)
            rel_parent = Path(rel).parent
            if sidecars == "beside":
                side = root_path
            else:
                side = (out_resolved or music_dir) / "tracks" / rel_parent
            size, mtime = _stat(path)
            stems_dir = (out_resolved or music_dir) / "stems" / rel_parent / base
            found = {
                stem: _rel(music_dir, root_path / g)
                for g, (owner, stem) in sibling_stems.items()
                if owner == f
            }
            for stem, p in _stems_in(stems_dir).items():
                found.setdefault(stem, p)
            tracks.append(Track(path, rel, "flat", base, side, found, size, mtime, stems_dir))
    tracks.sort(key=lambda t: t.relative_path)
    return Discovery(tracks, sorted(ignored))


def _sibling_stems(audio: list[str], stems_count: dict[str, int]) -> dict[str, tuple[str, str]]:
    """Flat files named ``<name>_<stem>.<ext>`` beside a ``<name>.<ext>`` with the same extension
    (training crops and their stem crops, and the like): file -> (owner file, stem name)."""
    out: dict[str, tuple[str, str]] = {}
    by_name = {f: f for f in audio}
    for f in audio:
        p = Path(f)
        if "_" not in p.stem:
            continue
        owner_stem, stem = p.stem.rsplit("_", 1)
        owner = owner_stem + p.suffix
        if stem.lower() in STEM_NAMES and owner in by_name and stems_count[owner_stem] == 1:
            out[f] = (owner, stem.lower())
    return out


def _rel(music_dir: Path, path: Path) -> str:
    return path.relative_to(music_dir).as_posix()


def _stems_in(folder: Path) -> dict[str, str]:
    """Stem files (absolute paths) in a folder of separated stems, if it exists."""
    if not folder.is_dir():
        return {}
    found: dict[str, str] = {}
    for f in sorted(os.listdir(folder)):
        stem = Path(f).stem.lower()
        if _is_audio(f) and not f.startswith(".") and stem in STEM_NAMES and stem not in found:
            found[stem] = str(folder / f)
    return found


def _organised(
    music_dir: Path,
    folder: Path,
    mix: str,
    audio: list[str],
    out_dir: Path | None,
    sidecars: str,
    stems_policy: str = "auto",
) -> Track:
    stems: dict[str, str] = {}
    for f in audio:
        stem = Path(f).stem.lower()
        if stem in STEM_NAMES and stem not in stems:
            stems[stem] = _rel(music_dir, folder / f)
    path = folder / mix
    size, mtime = _stat(path)
    rel = _rel(music_dir, path)
    side = (out_dir or music_dir) / "tracks" / Path(rel).parent if sidecars == "out" else folder
    stems_dir = folder
    if stems_policy == "out":
        stems_dir = (out_dir or music_dir) / "stems" / Path(rel).parent
        for name, p in _stems_in(stems_dir).items():
            stems.setdefault(name, p)
    return Track(path, rel, "organised", folder.name, side, stems, size, mtime, stems_dir)
