"""``mirset organize``: copy a flat collection into the organised layout, losing nothing.

Every audio file becomes ``OUT_DIR/<Folder>/full_mix.<ext>`` under the old organiser's naming
rules (upstream-spec §2.6): a leading track number is removed, then the name is cleaned up
(``\\uXXXX`` escapes decoded, transliterated to ASCII, ``_`` to space, whitespace collapsed,
spaced hyphens normalised to `` - ``, characters Windows forbids removed, empty -> ``Unknown``).
Where the old organiser lost data, this one does not:

* two different sources that map to one folder name both survive: the second gets a unique name
  (``Name (2)``) and the report lists it (the old tool skipped it silently);
* sources with identical bytes (content hash) are copied once; the others are reported as
  duplicates and skipped;
* every sidecar of a source (``<name>.INFO``, ``.BEATS_GRID``, ``.DOWNBEATS``, ``.ONSETS`` and any
  other ``<name>.<EXT>`` beside it, or under a build's ``tracks/`` folder) is copied with it,
  renamed to the new folder's base name, and its stems (``<name>_drums.<ext>`` beside it, or a
  build's ``stems/`` folder) become ``drums.<ext>`` …, so no rename orphans a sidecar;
* the sources are only read: files are copied (``copy2``) under a temporary name and renamed into
  place, an existing file is never overwritten, and a rerun finds what is already there by
  content and copies nothing twice.

Deviations from the old naming, each because the old rule damaged names: a hyphen inside a word
is kept (``Psy-Trance``, not ``Psy - Trance``); a number followed only by a space is treated as a
track number only when it has a leading zero, when the file's track-number tag says so, or when
its sibling files are numbered too (so ``808 State - Cubik`` keeps its digits); a name with no
ASCII letters left after transliteration keeps its Unicode form instead of becoming ``Unknown``.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mirset.audio import AUDIO_EXTENSIONS
from mirset.builder.process import hash_file  # the build's file_hash

FULL_MIX = "full_mix"
STEM_NAMES = ("drums", "bass", "other", "vocals", "piano", "guitar")
VA_ALIASES = frozenset(
    {"various artists", "various", "va", "v/a", "v.a.", "compilation", "unknown artist", "unknown"}
)

# 1-3 digits, then separators. With punctuation ("01.", "1 -", "02_") it is a track number;
# with whitespace alone only under the conditions in strip_track_number.
_TRACK_NO = re.compile(r"^(?P<num>\d{1,3})(?P<sep>[.\s\-_]+)(?=\S)")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_TRANSLIT = {
    "ß": "ss",
    "ẞ": "SS",
    "Æ": "AE",
    "æ": "ae",
    "Ø": "O",
    "ø": "o",
    "Œ": "OE",
    "œ": "oe",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Þ": "Th",
    "þ": "th",
    "ı": "i",
    "İ": "I",
    "–": "-",
    "—": "-",
    "―": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "-",
    "·": "-",
    "×": "x",
    "÷": "-",
    "‘": "'",
    "’": "'",
    "‚": "'",
    "′": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "″": '"',
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}


# --------------------------------------------------------------------------- naming rules


def strip_track_number(
    name: str, siblings_numbered: bool = False, track_tag: int | None = None
) -> str:
    """Remove a leading track number ("013 X", "02. X", "1 - X", "07_X").

    A number followed only by whitespace is removed only when it has a leading zero, equals the
    file's track-number tag, or the file's siblings are numbered too; four-digit prefixes are
    always kept. The name is never emptied.
    """
    m = _TRACK_NO.match(name)
    if not m:
        return name
    num, sep = m.group("num"), m.group("sep")
    punctuated = any(c in sep for c in ".-_")
    if not punctuated and not (
        num.startswith("0")
        or siblings_numbered
        or (track_tag is not None and int(num) == track_tag)
    ):
        return name
    rest = name[m.end() :]
    return rest if rest.strip() else name


def _ascii_fold(text: str) -> str:
    out = []
    for ch in text:
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
            continue
        decomposed = unicodedata.normalize("NFD", ch)
        out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(c for c in "".join(out) if ord(c) < 128)


def _tidy(text: str) -> str:
    text = text.replace("_", " ")
    text = re.sub(r"\s+", " ", text)
    # spaced hyphens become " - "; a hyphen inside a word (Psy-Trance, Jay-Z) stays
    text = re.sub(r"\s*-\s+|\s+-\s*", " - ", text)
    text = _FORBIDDEN.sub("", text)
    text = "".join(c for c in text if c.isprintable())
    text = re.sub(r"\s+", " ", text)
    return text.strip().rstrip(". ").strip()


def clean_name(name: str) -> str:
    """The old organiser's folder-name cleanup (§2.6 step 6), minus its damage (module doc)."""
    name = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)
    name = unicodedata.normalize("NFC", name)
    ascii_name = _tidy(_ascii_fold(name))
    if any(c.isalnum() for c in ascii_name):
        return ascii_name
    unicode_name = _tidy(name)  # nothing readable left in ASCII: keep the Unicode name
    return unicode_name or "Unknown"


def is_various_artists(name: str) -> bool:
    """True when the artist part of "Artist - Title" is a Various Artists alias."""
    artist = name.split(" - ", 1)[0].strip().casefold()
    return artist in VA_ALIASES


def folder_name_for(
    source_stem: str,
    siblings_numbered: bool = False,
    tags: dict[str, Any] | None = None,
) -> str:
    """Folder name of a flat source file: track number stripped, cleaned, and for a Various
    Artists name ``Artist - Title`` from the file's tags when they have both."""
    tags = tags or {}
    track_tag = tags.get("tracknumber")
    name = clean_name(strip_track_number(source_stem, siblings_numbered, track_tag))
    if is_various_artists(name) and tags.get("artist") and tags.get("title"):
        tagged = clean_name(f"{tags['artist']} - {tags['title']}")
        if not is_various_artists(tagged):
            return tagged
    return name


def unique_name(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, or ``name (2)``, ``name (3)`` … whichever is free."""
    if not taken(name):
        return name
    n = 2
    while taken(f"{name} ({n})"):
        n += 1
    return f"{name} ({n})"


# --------------------------------------------------------------------------- plan


@dataclass
class Action:
    """What happens to one source: copy, duplicate (skipped), already (organised), skipped."""

    kind: str
    source: str
    folder: str | None = None
    dest: str | None = None
    wanted_name: str | None = None  # the rules' name, when a collision forced another
    duplicate_of: str | None = None
    note: str = ""
    files: list[tuple[str, str]] = field(default_factory=list)  # (source, dest) incl. full_mix

    @property
    def renamed(self) -> bool:
        return self.wanted_name is not None and self.wanted_name != self.folder


@dataclass
class Plan:
    in_dir: str
    out_dir: str
    actions: list[Action] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) while copying

    def of_kind(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for a in self.actions:
            out[a.kind] += 1
        out["renamed"] = sum(1 for a in self.actions if a.kind == "copy" and a.renamed)
        out["sidecars"] = sum(
            len(a.files) - 1 for a in self.actions if a.kind == "copy" and a.files
        )
        out["errors"] = len(self.errors)
        return dict(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_dir": self.in_dir,
            "out_dir": self.out_dir,
            "counts": self.counts(),
            "actions": [asdict(a) | {"renamed": a.renamed} for a in self.actions],
            "errors": [{"path": p, "reason": r} for p, r in self.errors],
        }


def _is_audio(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS and not name.startswith(".")


def _stem_suffix(stem: str) -> tuple[str, str] | None:
    """("Song", "drums") for "Song_drums" / "Song - drums"; None otherwise."""
    for sep in ("_", " - ", "-", " "):
        if sep in stem:
            base, last = stem.rsplit(sep, 1)
            if last.lower() in STEM_NAMES and base:
                return base, last.lower()
    return None


@dataclass
class _Source:
    path: Path  # the audio file (full_mix for an organised folder)
    rel: str
    name_stem: str  # the name the folder is derived from
    organised: bool
    sidecars: list[Path]  # non-audio files of this track (renamed to <Folder>.<suffix>)
    stems: dict[str, Path]  # stem name -> file
    siblings_numbered: bool = False
    size: int = 0


def _sidecars_named(folder: Path, names: set[str], files: Iterable[str]) -> list[Path]:
    """Files in ``folder`` called ``<n>.<suffix>`` for a name n in ``names`` (not audio, not
    locks or temp files)."""
    out = []
    for f in sorted(files):
        if _is_audio(f) or f.startswith(".") or f.endswith((".lock", ".tmp")):
            continue
        for n in names:
            if f.startswith(n + ".") and len(f) > len(n) + 1:
                out.append(folder / f)
                break
    return out


def _scan_sources(in_dir: Path, sidecars_from: Path | None) -> tuple[list[_Source], list[Action]]:
    """Every track under ``in_dir``: flat audio files and already organised folders."""
    sources: list[_Source] = []
    skipped: list[Action] = []
    for root, dirs, files in os.walk(in_dir, followlinks=False):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        audio = sorted(f for f in files if _is_audio(f))
        if not audio:
            continue
        mixes = [f for f in audio if Path(f).stem == FULL_MIX]
        if mixes and root_path != in_dir:  # an organised folder: carried over whole
            dirs[:] = []  # its subfolders (crops/ …) belong to it and are not tracks
            mix = root_path / mixes[0]
            stems = {}
            for f in audio:
                s = Path(f).stem.lower()
                if s in STEM_NAMES and s not in stems:
                    stems[s] = root_path / f
                elif f not in (mixes[0],) and s not in STEM_NAMES:
                    skipped.append(
                        Action(
                            "skipped", str(root_path / f), note="other audio in an organised folder"
                        )
                    )
            side = _sidecars_named(root_path, {root_path.name}, files)
            sources.append(
                _Source(mix, mix.relative_to(in_dir).as_posix(), root_path.name, True, side, stems)
            )
            for f in mixes[1:]:
                skipped.append(Action("skipped", str(root_path / f), note="second full_mix file"))
            continue
        stems_count: dict[str, int] = defaultdict(int)
        for f in audio:
            stems_count[Path(f).stem] += 1
        by_stem = {Path(f).stem: f for f in audio}
        stem_files: dict[str, dict[str, Path]] = defaultdict(dict)
        tracks = []
        for f in audio:
            stem = Path(f).stem
            if stem.lower() in STEM_NAMES or stem == FULL_MIX:
                skipped.append(Action("skipped", str(root_path / f), note="a stem without its mix"))
                continue
            split = _stem_suffix(stem)
            if split and split[0] in by_stem:
                stem_files[split[0]].setdefault(split[1], root_path / f)
                continue
            if split:
                skipped.append(Action("skipped", str(root_path / f), note="a stem without its mix"))
                continue
            tracks.append(f)
        numbered = sum(1 for f in tracks if _TRACK_NO.match(Path(f).stem)) >= 2
        for f in tracks:
            path = root_path / f
            stem = Path(f).stem
            unique = stems_count[stem] == 1
            names = {f} | ({stem} if unique else set())
            side = _sidecars_named(root_path, names, files)
            stems = dict(stem_files.get(stem, {})) if unique else {}
            rel = path.relative_to(in_dir).as_posix()
            if sidecars_from is not None:  # a build's sidecars and separated stems of flat files
                base = stem if unique else f
                build_side = sidecars_from / "tracks" / Path(rel).parent
                if build_side.is_dir():
                    side += _sidecars_named(build_side, {base}, os.listdir(build_side))
                build_stems = sidecars_from / "stems" / Path(rel).parent / base
                if build_stems.is_dir():
                    for g in sorted(os.listdir(build_stems)):
                        s = Path(g).stem.lower()
                        if _is_audio(g) and s in STEM_NAMES:
                            stems.setdefault(s, build_stems / g)
            sources.append(_Source(path, rel, stem, False, side, stems, numbered))
    return sources, skipped


def _existing(out_dir: Path) -> dict[str, Path]:
    """Organised folders already in ``out_dir``: casefolded name -> folder."""
    if not out_dir.is_dir():
        return {}
    return {d.name.casefold(): d for d in out_dir.iterdir() if d.is_dir() or d.is_symlink()}


def _mix_in(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    for f in sorted(os.listdir(folder)):
        if Path(f).stem == FULL_MIX and _is_audio(f):
            return folder / f
    return None


def plan_organize(
    in_dir: Path,
    out_dir: Path,
    sidecars_from: Path | None = None,
    read_tags: Callable[[Path], dict[str, Any]] | None = None,
) -> Plan:
    """What ``organize`` would do: nothing is written."""
    in_dir, out_dir = Path(in_dir).absolute(), Path(out_dir).absolute()
    plan = Plan(str(in_dir), str(out_dir))
    sources, skipped = _scan_sources(in_dir, sidecars_from)
    for s in sources:
        s.size = s.path.stat().st_size
    existing = _existing(out_dir)
    # content hashes: every source, and an existing folder's mix only when some source has its
    # size (equal bytes need equal sizes), so a rerun is cheap
    sizes = {s.size for s in sources}
    known: dict[str, str] = {}  # hash -> existing folder name
    existing_hash: dict[str, str] = {}
    for key, folder in existing.items():
        mix = _mix_in(folder)
        if mix is not None and mix.stat().st_size in sizes:
            h = hash_file(mix)
            known.setdefault(h, folder.name)
            existing_hash[key] = h
    taken: set[str] = set(existing)  # casefolded names in use (on disk or planned)
    first_by_hash: dict[str, str] = {}
    for s in sources:
        digest = hash_file(s.path)
        if digest in first_by_hash:
            plan.actions.append(
                Action(
                    "duplicate",
                    str(s.path),
                    duplicate_of=first_by_hash[digest],
                    note="same bytes as another source",
                )
            )
            continue
        first_by_hash[digest] = str(s.path)
        tags = read_tags(s.path) if read_tags and not s.organised else {}
        if s.organised:
            wanted = clean_name(s.name_stem)
        else:
            wanted = folder_name_for(s.name_stem, s.siblings_numbered, tags)
        if digest in known:
            folder = known[digest]
            plan.actions.append(
                Action(
                    "already",
                    str(s.path),
                    folder,
                    str(out_dir / folder),
                    wanted_name=wanted,
                    note="already organised (same bytes)",
                )
            )
            continue
        name = unique_name(wanted, lambda n: n.casefold() in taken)
        taken.add(name.casefold())
        dest = out_dir / name
        mix_dest = dest / f"{FULL_MIX}{s.path.suffix.lower()}"
        files = [(str(s.path), str(mix_dest))]
        for stem, p in sorted(s.stems.items()):
            files.append((str(p), str(dest / f"{stem}{p.suffix.lower()}")))
        for p in s.sidecars:
            suffix = _sidecar_suffix(p, s)
            files.append((str(p), str(dest / f"{name}{suffix}")))
        note = f"name {wanted!r} was taken" if name != wanted else ""
        plan.actions.append(
            Action(
                "copy", str(s.path), name, str(mix_dest), wanted_name=wanted, note=note, files=files
            )
        )
    plan.actions += skipped
    return plan


def _sidecar_suffix(p: Path, s: _Source) -> str:
    """What follows the base name: ``.INFO`` of ``Song.INFO`` or of ``Song.mp3.INFO``."""
    for base in (s.path.name, s.name_stem, s.path.parent.name):
        if p.name.startswith(base + "."):
            return p.name[len(base) :]
    return p.suffix


def _copy_new(src: Path, dest: Path) -> bool:
    """Copy under a temporary name, then rename into place; never overwrite. False if ``dest``
    already exists."""
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        shutil.copy2(src, tmp)
        if dest.exists():
            return False
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def apply_plan(plan: Plan, log: Callable[[str], None] | None = None) -> Plan:
    """Copy what the plan says. Each track's audio, stems and sidecars are copied before its
    ``full_mix`` so a half-organised folder is never mistaken for a finished one."""
    for action in plan.actions:
        if action.kind != "copy":
            continue
        mix_src, mix_dest = action.files[0]
        for src, dest in [*action.files[1:], (mix_src, mix_dest)]:
            try:
                if not _copy_new(Path(src), Path(dest)):
                    plan.errors.append((dest, "exists: not overwritten"))
            except OSError as e:
                plan.errors.append((src, f"{type(e).__name__}: {e.strerror or e}"))
        if log:
            log(f"{action.source} -> {action.dest}")
    return plan


def organize(
    in_dir: Path,
    out_dir: Path,
    dry_run: bool = False,
    sidecars_from: Path | None = None,
    read_tags: Callable[[Path], dict[str, Any]] | None = None,
) -> Plan:
    """Plan, and unless ``dry_run``, copy ``in_dir`` into the organised layout in ``out_dir``."""
    in_dir, out_dir = Path(in_dir).absolute(), Path(out_dir).absolute()
    if not in_dir.is_dir():
        raise FileNotFoundError(f"input folder not found: {in_dir}")
    if out_dir == in_dir or in_dir in out_dir.parents:
        raise ValueError("OUT_DIR must not be IN_DIR or inside it (the sources are read-only)")
    plan = plan_organize(in_dir, out_dir, sidecars_from, read_tags)
    if not dry_run:
        apply_plan(plan)
    return plan
