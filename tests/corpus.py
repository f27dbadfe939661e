"""Real-music test corpus for mirset, built once from Debian-packaged material and cached.

Sources: Battle for Wesnoth recordings (``wesnoth-1.16-music``), MIDI songs written with
pretty_midi and rendered by ``fluidsynth`` with ``fluid-soundfont-gm``, and numpy signals.
Every file's known facts are recorded in :attr:`Corpus.expected`, keyed by its path
relative to the corpus root (``/``-separated).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    import pretty_midi

CORPUS_VERSION = "mirset-test-corpus/1"
SR = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
WESNOTH_MUSIC_GLOB = "/usr/share/games/wesnoth/*/data/core/music"
EXCERPT_START = 30.0
EXCERPT_SECONDS = 20.0
FFMPEG_TIMEOUT = 120.0
FLUIDSYNTH_TIMEOUT = 120.0

Expected = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Corpus:
    """A built test corpus; ``expected`` maps root-relative paths to known facts."""

    root: Path
    music: Path
    bad: Path
    known: Path
    expected: Expected

    def path(self, rel: str) -> Path:
        """Absolute path of a root-relative ``expected`` key."""
        return self.root / rel

    def copy(self, dest: Path) -> Corpus:
        """Copy the corpus to ``dest``, for tests that write beside the audio files."""

        def copy_file(src: str, dst: str) -> None:
            try:
                shutil.copy2(src, dst)
            except PermissionError:  # the chmod-000 file when not root: an unreadable stand-in
                Path(dst).touch()
                os.chmod(dst, 0)

        shutil.copytree(self.root, dest, symlinks=True, copy_function=copy_file)
        return _load(Path(dest).absolute())


def default_root() -> Path:
    """``$MIRSET_TEST_CORPUS`` or ``~/.cache/mirset/test-corpus``."""
    env = os.environ.get("MIRSET_TEST_CORPUS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mirset" / "test-corpus"


def build_corpus(root: Path | None = None) -> Corpus:
    """Return the corpus at ``root``, building it first unless a complete one is cached.

    The build happens in a temporary sibling directory that is renamed into place at the
    end, so an interrupted build never leaves a half corpus behind. A cached corpus whose
    files are missing or changed in size is rebuilt. Tests must not write into it: use
    :meth:`Corpus.copy` first.
    """
    root = Path(root).expanduser().absolute() if root else default_root().absolute()
    if _is_complete(root):
        return _load(root)
    wesnoth = _check_requirements()
    root.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root):
        if _is_complete(root):
            return _load(root)
        for stale in root.parent.glob(f".{root.name}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
        try:
            tmp.chmod(0o755)
            _build(tmp, wesnoth)
            (tmp / ".complete").write_text(CORPUS_VERSION + "\n", encoding="utf-8")
            old = None
            if root.exists() or root.is_symlink():
                old = root.parent / f".{root.name}.building-old-{os.getpid()}"
                os.rename(root, old)
            os.rename(tmp, root)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return _load(root)


# --------------------------------------------------------------------------- plumbing


def _is_complete(root: Path) -> bool:
    """True if ``root`` holds this corpus version with every file at its recorded size."""
    try:
        if (root / ".complete").read_text(encoding="utf-8").strip() != CORPUS_VERSION:
            return False
        sizes = json.loads((root / ".sizes.json").read_text(encoding="utf-8"))
        return all(os.lstat(root / rel).st_size == size for rel, size in sizes.items())
    except (OSError, ValueError):
        return False


def _load(root: Path) -> Corpus:
    expected: Expected = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    for rel, facts in expected.items():
        if facts["kind"] == "unreadable":  # root ignores chmod 000, so decide per reader
            facts["should_fail"] = not os.access(root / rel, os.R_OK)
    return Corpus(root, root / "music", root / "bad", root / "known", expected)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Serialise concurrent builders (e.g. pytest-xdist workers) on POSIX."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_requirements() -> Path:
    """Return the Wesnoth music folder, or raise RuntimeError naming what to install."""
    missing = [
        f"`{tool}` (apt-get install {tool})"
        for tool in ("ffmpeg", "fluidsynth")
        if shutil.which(tool) is None
    ]
    if not SOUNDFONT.is_file():
        missing.append(f"{SOUNDFONT} (apt-get install fluid-soundfont-gm)")
    folders = [Path(p) for p in sorted(glob.glob(WESNOTH_MUSIC_GLOB))]
    wesnoth = next((p for p in reversed(folders) if all((p / t).is_file() for t in _TRACKS)), None)
    if wesnoth is None:
        missing.append(
            f"Wesnoth music in {WESNOTH_MUSIC_GLOB} (apt-get install wesnoth-1.16-music)"
        )
    try:
        import pretty_midi  # noqa: F401
    except ImportError:
        missing.append("Python package pretty_midi (pip install pretty_midi)")
    if missing:
        raise RuntimeError("cannot build the mirset test corpus; missing: " + "; ".join(missing))
    assert wesnoth is not None
    return wesnoth


def _run(cmd: list[str], timeout: float, stdin: bytes | None = None) -> bytes:
    """Run ``cmd`` under ``timeout`` seconds and return its stdout; raise RuntimeError."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"timed out after {timeout:g} s: {shlex.join(cmd)}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"exit {proc.returncode}: {shlex.join(cmd)}\n{err}")
    return proc.stdout


def _decode(src: Path, start: float, seconds: float, sr: int = SR, channels: int = 2) -> np.ndarray:
    """Decode ``seconds`` of ``src`` from ``start`` as float32 frames x channels (ffmpeg)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start:g}", "-t", f"{seconds:g}"]
    cmd += ["-i", str(src), "-ac", str(channels), "-ar", str(sr), "-f", "f32le", "-"]
    x = np.frombuffer(_run(cmd, FFMPEG_TIMEOUT), dtype="<f4").reshape(-1, channels)
    return _fit(x, round(seconds * sr))


def _fit(x: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad ``x`` (frames x channels) to exactly ``frames``, clipped to +-1."""
    out = np.zeros((frames, x.shape[1]), dtype=np.float32)
    n = min(frames, len(x))
    out[:n] = np.clip(x[:n], -1.0, 1.0)
    return out


def _encode(x: np.ndarray, sr: int, out: Path, codec: list[str], tags: dict[str, str]) -> None:
    """Encode float frames with ffmpeg; ``codec`` holds the output codec options."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sr)]
    cmd += ["-ac", str(x.shape[1]), "-i", "-"]
    for key, value in tags.items():
        cmd += ["-metadata", f"{key}={value}"]
    cmd += ["-fflags", "+bitexact", "-flags:a", "+bitexact", *codec, str(out)]  # reproducible
    _run(cmd, FFMPEG_TIMEOUT, np.ascontiguousarray(x, "<f4").tobytes())


def _write(path: Path, x: np.ndarray, sr: int, subtype: str = "PCM_16", **kw: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, subtype=subtype, **kw)


def _fade(x: np.ndarray, sr: int, seconds: float = 0.01) -> np.ndarray:
    """Linear fade-in and fade-out (avoids clicks at cut points)."""
    n = min(len(x) // 2, round(seconds * sr))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    x = x.copy()
    x[:n] *= ramp
    x[len(x) - n :] *= ramp[::-1]
    return x


def _audio(sr: int, channels: int, seconds: float, **facts: Any) -> dict[str, Any]:
    return {
        "should_fail": False,
        "samplerate": sr,
        "channels": channels,
        "duration": seconds,
        **facts,
    }


# --------------------------------------------------------------------------- build


def _build(root: Path, wesnoth: Path) -> None:
    expected: Expected = {}
    with tempfile.TemporaryDirectory(prefix="mirset-corpus-work-") as work:
        _build_flat(root, wesnoth, expected)
        _build_songs(root, Path(work), expected)
        _build_bad(root, wesnoth, expected)
        _build_known(root, expected)
    text = json.dumps(expected, indent=1, ensure_ascii=False, sort_keys=True)
    (root / "expected.json").write_text(text + "\n", encoding="utf-8")
    sizes = {rel: os.lstat(root / rel).st_size for rel in expected}  # cheap tamper check
    (root / ".sizes.json").write_text(json.dumps(sizes, ensure_ascii=False), encoding="utf-8")


# fmt: off
# (path under music/, Wesnoth track, title, ffmpeg codec options, output rate, format name)
_FLAT: tuple[tuple[str, str, str, list[str], int, str], ...] = (
    ("Knalgan Theme.wav", "knalgan_theme.ogg", "Knalgan Theme",
     ["-c:a", "pcm_s16le"], SR, "wav"),
    ("Tëst Sông \u2013 ünïcode.flac", "elvish-theme.ogg", "Elvish Theme",
     ["-c:a", "flac", "-sample_fmt", "s16"], SR, "flac"),
    ("Siege of Laurelmor.aiff", "siege_of_laurelmor.ogg", "Siege of Laurelmor",
     ["-c:a", "pcm_s16be"], SR, "aiff"),
    ("Game OST/Act 1/01 - Northerners.mp3", "northerners.ogg", "Northerners",
     ["-c:a", "libmp3lame", "-b:a", "192k"], SR, "mp3"),
    ("Game OST/Act 1/02 - Loyalists.ogg", "loyalists.ogg", "Loyalists",
     ["-c:a", "libvorbis", "-q:a", "5"], SR, "ogg"),
    ("Game OST/Act 2/03 - Heroes Rite.opus", "heroes_rite.ogg", "Heroes Rite",
     ["-c:a", "libopus", "-b:a", "128k", "-ar", "48000"], 48000, "opus"),
    ("Singles/Journeys End.m4a", "journeys_end.ogg", "Journeys End",
     ["-c:a", "aac", "-b:a", "192k"], SR, "m4a"),
)
# Sources for bad/: corrupt, tiny, mono_8k, hires, six_channels, one_hour, two weird names,
# unreadable.
_BAD_TRACKS = (
    "battle-epic.ogg", "battle.ogg", "frantic.ogg", "the_deep_path.ogg", "casualties_of_war.ogg",
    "wanderer.ogg", "traveling_minstrels.ogg", "into_the_shadows.ogg", "knolls.ogg",
)
# fmt: on
_TRACKS = tuple(t for _, t, *_ in _FLAT) + _BAD_TRACKS


def _build_flat(root: Path, wesnoth: Path, expected: Expected) -> None:
    """Seven 20 s excerpts of different Wesnoth tracks, one per container/codec."""
    for rel, track, title, codec, sr, fmt in _FLAT:
        x = _fade(_decode(wesnoth / track, EXCERPT_START, EXCERPT_SECONDS), SR)
        tags = {"title": title, "artist": "Battle for Wesnoth", "album": "Wesnoth Music"}
        _encode(x, SR, root / "music" / rel, codec, tags)
        expected[f"music/{rel}"] = _audio(
            sr,
            2,
            EXCERPT_SECONDS,
            kind="music",
            format=fmt,
            title=title,
            source=track,
            source_start=EXCERPT_START,
        )


# --------------------------------------------------------------------------- MIDI songs

# fmt: off
_PC = {"C": 0, "C#": 1, "D": 2, "Eb": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "Ab": 8, "A": 9,
       "Bb": 10, "B": 11}
# fmt: on


@dataclass(frozen=True)
class _Song:
    title: str
    bpm: float
    key: str  # "G major"
    chords: tuple[str, ...]  # one per 4/4 bar; the last one is a two-beat final hit
    programs: dict[str, int]  # part -> General MIDI program (0-based)
    stems: dict[str, tuple[str, ...]]  # stem name -> parts
    seed: int
    render_stems: bool


_SONGS = (
    _Song(
        "Sunrise Drive",
        128.0,
        "G major",
        ("G", "C", "D", "G", "Em", "C", "D", "G", "C", "D", "G"),
        {"bass": 33, "keys": 0, "pad": 48, "lead": 53},
        {"drums": ("drums",), "bass": ("bass",), "other": ("keys", "pad"), "vocals": ("lead",)},
        seed=1,
        render_stems=True,
    ),
    _Song(
        "Night Walk",
        100.0,
        "A minor",
        ("Am", "Dm", "E", "Am", "F", "Dm", "E", "Am", "Am"),
        {"bass": 32, "keys": 24, "pad": 48, "lead": 52},
        {"drums": ("drums",), "bass": ("bass",), "other": ("keys", "pad"), "vocals": ("lead",)},
        seed=2,
        render_stems=False,
    ),
)
# fmt: off
_PROGRAM_NAMES = {0: "Acoustic Grand Piano", 24: "Acoustic Guitar (nylon)", 32: "Acoustic Bass",
                  33: "Electric Bass (finger)", 48: "String Ensemble 1", 52: "Choir Aahs",
                  53: "Voice Oohs"}
# fmt: on


def _triad(name: str) -> list[int]:
    minor = name.endswith("m")
    root = _PC[name[:-1] if minor else name]
    return [root, root + (3 if minor else 4), root + 7]


def _arrange(song: _Song) -> dict[str, pretty_midi.Instrument]:
    """Write the song's parts (drums on MIDI channel 10, bass, keys, pad, lead)."""
    import pretty_midi

    spb = 60.0 / song.bpm
    rng = np.random.default_rng(song.seed)
    pop = song.bpm > 110
    parts = {"drums": pretty_midi.Instrument(0, is_drum=True, name="Standard Kit")}
    for part, program in song.programs.items():
        parts[part] = pretty_midi.Instrument(program, name=_PROGRAM_NAMES[program])

    def note(part: str, pitch: int, beat: float, beats: float, velocity: float) -> None:
        parts[part].notes.append(
            pretty_midi.Note(int(velocity), int(pitch), beat * spb, (beat + beats) * spb)
        )

    tonic = _PC[song.key.split()[0]]
    steps = (0, 2, 4, 5, 7, 9, 11) if song.key.endswith("major") else (0, 2, 3, 5, 7, 8, 11)
    scale = [p for p in range(60, 82) if (p - tonic) % 12 in steps]
    rhythms = (
        ((0, 1), (1, 1), (2, 2)),
        ((0, 2), (2, 1), (3, 1)),
        ((0, 1.5), (1.5, 0.5), (2, 1), (3, 1)),
        ((0, 3), (3, 1)),
    )
    prev = 67
    last = len(song.chords) - 1
    for bar, chord in enumerate(song.chords):
        pcs = _triad(chord)
        b0 = 4 * bar
        voicing = sorted(60 + (pc - 60) % 12 for pc in pcs)  # close voicing from C4
        low = 36 + pcs[0] % 12  # bass root in octave 2
        if bar == last:  # final two-beat hit
            note("drums", 49, b0, 2, 110)
            note("drums", 36, b0, 0.5, 115)
            note("bass", low, b0, 2, 100)
            for p in voicing:
                note("keys", p, b0, 2, 85)
                note("pad", p - 12, b0, 2, 60)
            tonics = [p for p in scale if (p - tonic) % 12 == 0]
            note("lead", min(tonics, key=lambda p: abs(p - prev)), b0, 2, 90)
            break
        for e in range(8):  # hi-hat eighths
            note("drums", 42, b0 + e / 2, 0.25, 80 if e % 2 == 0 else 58)
        for k in (0, 2):
            note("drums", 36, b0 + k, 0.25, 112)
        for k in (1, 3):
            note("drums", 38, b0 + k, 0.25, 100)
        if pop:
            note("drums", 36, b0 + 2.5, 0.25, 90)
        if bar % 4 == 0:
            note("drums", 49, b0, 1, 95)
        if pop:
            for e in range(8):
                note("bass", low + (7 if e == 6 else 0), b0 + e / 2, 0.45, 100 if e == 0 else 80)
            for k in range(4):
                for p in voicing:
                    note("keys", p, b0 + k, 0.8, 85 if k == 0 else 68)
        else:
            for k, step in enumerate((0, 0, 7, 12)):
                note("bass", low + step, b0 + k, 0.9, 100 if k == 0 else 82)
            arp = [voicing[0] - 12, voicing[1] - 12, voicing[2] - 12, voicing[0]]
            for e, i in enumerate((0, 1, 2, 3, 2, 1, 2, 1)):
                note("keys", arp[i], b0 + e / 2, 0.5, 78 if e == 0 else 64)
        for p in voicing:
            note("pad", p - 12, b0, 4, 55)
        for beat, length in rhythms[int(rng.integers(len(rhythms)))]:
            strong = beat in (0, 2)
            pool = [p for p in scale if not strong or p % 12 in {pc % 12 for pc in pcs}]
            near = sorted(pool, key=lambda p: abs(p - prev))[:3]
            prev = int(near[int(rng.integers(len(near)))])
            note("lead", prev, b0 + beat, length * 0.95, 92 if strong else 80)
    return parts


def _render(
    parts: list[pretty_midi.Instrument], song: _Song, mid: Path, wav: Path, frames: int
) -> np.ndarray:
    """Write ``parts`` as a MIDI file and render it with fluidsynth to float frames."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=song.bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    pm.key_signature_changes.append(
        pretty_midi.KeySignature(pretty_midi.key_name_to_key_number(song.key), 0.0)
    )
    pm.instruments.extend(parts)
    mid.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(mid))
    cmd = ["fluidsynth", "-ni", "-g", "0.6", "-r", str(SR), "-T", "wav", "-O", "float"]
    _run([*cmd, "-F", str(wav), str(SOUNDFONT), str(mid)], FLUIDSYNTH_TIMEOUT)
    x, sr = sf.read(wav, dtype="float32", always_2d=True)
    assert sr == SR, sr
    out = np.zeros((frames, 2), dtype=np.float32)
    out[: min(frames, len(x))] = x[:frames]
    return out


def _build_songs(root: Path, work: Path, expected: Expected) -> None:
    """``music/Organised/<title>/full_mix.flac`` (+ stems for one song) from MIDI."""
    for song in _SONGS:
        spb = 60.0 / song.bpm
        parts = _arrange(song)
        n_beats = 4 * (len(song.chords) - 1)
        seconds = round(n_beats * spb + 2.5, 3)
        frames = round(seconds * SR)
        rel = f"music/Organised/{song.title}"
        mid_rel = f"midi/{song.title}.mid"
        mix = _render(list(parts.values()), song, root / mid_rel, work / "mix.wav", frames)
        stems: dict[str, np.ndarray] = {}
        if song.render_stems:
            for stem, names in song.stems.items():
                group = [parts[n] for n in names]
                stems[stem] = _render(group, song, work / "stem.mid", work / "stem.wav", frames)
        gain = 10 ** (-1 / 20) / float(np.abs(mix).max())  # same gain keeps sum(stems) ~= mix
        fade = np.linspace(1.0, 0.0, SR // 2, dtype=np.float32)[:, None]
        for name, x in {"full_mix": mix, **stems}.items():
            x = x * gain
            x[-len(fade) :] *= fade
            _write(root / rel / f"{name}.flac", x, SR)

        facts: dict[str, Any] = {
            "title": song.title,
            "bpm": song.bpm,
            "key": song.key,
            "tonic": song.key.split()[0],
            "mode": song.key.split()[1],
            "meter": "4/4",
            "beats": [round(k * spb, 6) for k in range(n_beats + 1)],
            "downbeats": [round(k * spb, 6) for k in range(0, n_beats + 1, 4)],
            "midi": mid_rel,
        }
        stem_of = {part: stem for stem, names in song.stems.items() for part in names}
        mix_facts = {
            "instruments": [
                {"part": n, "program": i.program, "is_drum": i.is_drum, "name": i.name,
                 "stem": stem_of[n]}
                for n, i in parts.items()
            ],
            "stems": {s: f"{rel}/{s}.flac" for s in stems},
        }  # fmt: skip
        if stems:  # fluidsynth is deterministic but not exactly linear: record the mismatch
            residual = float(np.sum((sum(stems.values()) - mix) ** 2) / np.sum(mix**2))
            mix_facts["stems_sum_error_db"] = round(10 * np.log10(residual), 1)
        expected[f"{rel}/full_mix.flac"] = _audio(
            SR, 2, seconds, kind="midi_render", format="flac", **mix_facts, **facts
        )
        for stem, names in song.stems.items() if stems else ():
            expected[f"{rel}/{stem}.flac"] = _audio(
                SR, 2, seconds, kind="stem", format="flac", stem=stem, parts=list(names),
                mix=f"{rel}/full_mix.flac", **facts,
            )  # fmt: skip
        expected[mid_rel] = {
            "kind": "midi",
            "should_fail": True,  # not audio: the score that full_mix.flac was rendered from
            "renders": f"{rel}/full_mix.flac",
            **facts,
        }


# --------------------------------------------------------------------------- bad inputs

WEIRD_NAME = 'weird "quote\'s" ñame\nline.ogg'
BRACKET_NAME = "日本語 [live] #1 (ünï) *.mp3"
ONE_HOUR_RATE = 22050
ONE_HOUR_BITS = 8  # 16-bit FLAC whose samples use only the top 8 bits (FLAC "wasted bits")
ONE_HOUR_LOOP = 120.0


def _build_bad(root: Path, wesnoth: Path, expected: Expected) -> None:
    """One problem file each in ``bad/``; ``should_fail`` says if a reader must reject it."""
    bad = root / "bad"
    bad.mkdir(parents=True)
    (corrupt_src, tiny_src, mono_src, hires_src, six_src, hour_src, weird_src, bracket_src,
     unreadable_src) = (wesnoth / t for t in _BAD_TRACKS)  # fmt: skip

    def add(name: str, kind: str, should_fail: bool, **facts: Any) -> None:
        expected[f"bad/{name}"] = {"kind": kind, "should_fail": should_fail, **facts}

    # A real FLAC with a garbage STREAMINFO block, garbage in the middle and a cut tail.
    _write(bad / "corrupt.flac", _decode(corrupt_src, EXCERPT_START, 10.0), SR)
    data = bytearray((bad / "corrupt.flac").read_bytes())
    noise = np.random.default_rng(7).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    data[4:42] = noise[:38]
    mid = len(data) // 2
    data[mid : mid + len(noise)] = noise
    (bad / "corrupt.flac").write_bytes(bytes(data[: int(len(data) * 0.7)]))
    add("corrupt.flac", "corrupt", True)

    (bad / "empty.wav").write_bytes(b"")
    add("empty.wav", "empty", True)
    (bad / "not_audio.mp3").write_text("This is a text file, not an MP3.\n" * 20, encoding="utf-8")
    add("not_audio.mp3", "not_audio", True)
    (bad / "dangling.wav").symlink_to("missing-target.wav")
    add("dangling.wav", "dangling_symlink", True, target="missing-target.wav")

    _write(bad / "tiny.wav", _decode(tiny_src, 60.0, 0.1), SR)
    add("tiny.wav", "tiny", **_audio(SR, 2, 0.1))
    _write(bad / "silence.wav", np.zeros((10 * SR, 2), dtype=np.float32), SR)
    add("silence.wav", "silence", **_audio(SR, 2, 10.0, bpm=None, key=None, peak=0.0))
    _write(bad / "mono_8k.wav", _fade(_decode(mono_src, EXCERPT_START, 10.0, 8000, 1), 8000), 8000)
    add("mono_8k.wav", "low_rate_mono", **_audio(8000, 1, 10.0, bit_depth=16))
    hires = _fade(_decode(hires_src, EXCERPT_START, 10.0, 96000), 96000)
    _write(bad / "hires_96k_24bit.flac", hires, 96000, "PCM_24")
    add("hires_96k_24bit.flac", "hires", **_audio(96000, 2, 10.0, bit_depth=24))
    _write(bad / "six_channels.wav", _surround(six_src), 48000, format="WAVEX")
    add("six_channels.wav", "multichannel", **_audio(48000, 6, 10.0, layout="5.1", bit_depth=16))

    # One hour: a 120 s excerpt looped 30x. Mono 22.05 kHz with 8 significant bits keeps the
    # FLAC near 23 MB (full-resolution real music needs ~75-180 MB per hour in FLAC).
    loop = _fade(_decode(hour_src, EXCERPT_START, ONE_HOUR_LOOP, ONE_HOUR_RATE, 1), ONE_HOUR_RATE)
    step = 2 ** (16 - ONE_HOUR_BITS)
    ints = np.clip(np.round(loop[:, 0] * 32767 / step) * step, -32768, 32768 - step)
    ints = ints.astype(np.int16)
    with sf.SoundFile(bad / "one_hour.flac", "w", ONE_HOUR_RATE, 1, "PCM_16", format="FLAC") as fh:
        for _ in range(round(3600 / ONE_HOUR_LOOP)):
            fh.write(ints)
    add(
        "one_hour.flac",
        "long",
        **_audio(
            ONE_HOUR_RATE,
            1,
            3600.0,
            bit_depth=16,
            effective_bits=ONE_HOUR_BITS,
            loop_seconds=ONE_HOUR_LOOP,
            source=hour_src.name,
        ),
    )

    tags = {"title": "Weird \"name\" 'test'", "artist": "Battle for Wesnoth"}
    x = _fade(_decode(weird_src, EXCERPT_START, 10.0), SR)
    _encode(x, SR, bad / WEIRD_NAME, ["-c:a", "libvorbis", "-q:a", "4"], tags)
    add(WEIRD_NAME, "weird_name", **_audio(SR, 2, 10.0, format="ogg"))
    x = _fade(_decode(bracket_src, EXCERPT_START, 10.0), SR)
    _encode(x, SR, bad / BRACKET_NAME, ["-c:a", "libmp3lame", "-b:a", "128k"], {"title": "日本語"})
    add(BRACKET_NAME, "weird_name", **_audio(SR, 2, 10.0, format="mp3"))

    _write(bad / "unreadable.wav", _fade(_decode(unreadable_src, EXCERPT_START, 5.0), SR), SR)
    (bad / "unreadable.wav").chmod(0)
    facts = _audio(SR, 2, 5.0, mode="000", note="chmod 000; root can still read it")
    add("unreadable.wav", "unreadable", **{**facts, "should_fail": True})


def _surround(src: Path) -> np.ndarray:
    """10 s of 5.1 at 48 kHz: FL FR from the track, FC mid, LFE low-passed, BL BR delayed."""
    from scipy.signal import butter, sosfilt

    sr = 48000
    x = _fade(_decode(src, EXCERPT_START, 10.0, sr), sr)
    mid = x.mean(axis=1)
    lfe = sosfilt(butter(4, 120, "low", fs=sr, output="sos"), mid)
    delay = round(0.02 * sr)
    rear = np.zeros_like(x)
    rear[delay:] = 0.5 * x[:-delay]
    out = np.column_stack([x[:, 0], x[:, 1], 0.7 * mid, lfe, rear[:, 0], rear[:, 1]])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- known answers


def _clicks(bpm: float, seconds: float = 30.0) -> tuple[np.ndarray, list[float]]:
    """Metronome: 60 ms decaying bursts, 2 kHz accented downbeats, 1 kHz other beats."""
    x = np.zeros(round(seconds * SR), dtype=np.float32)
    t = np.arange(round(0.06 * SR)) / SR
    env = np.exp(-t / 0.012)
    spb = 60.0 / bpm
    beats = [k * spb for k in range(int(seconds / spb) + 1) if k * spb + 0.06 < seconds]
    for k, b in enumerate(beats):
        freq, amp = (2000.0, 0.9) if k % 4 == 0 else (1000.0, 0.5)
        i = round(b * SR)
        x[i : i + len(t)] += (amp * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x, [round(b, 6) for b in beats]


def _sine(seconds: float, sr: int, dbfs: float, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _build_known(root: Path, expected: Expected) -> None:
    """Synthetic signals whose tempo, loudness or spectrum is known exactly."""
    from scipy.io import wavfile

    known = root / "known"
    for bpm in (120, 93):
        x, beats = _clicks(bpm)
        _write(known / f"click_{bpm}bpm.wav", x, SR)
        expected[f"known/click_{bpm}bpm.wav"] = _audio(
            SR,
            1,
            30.0,
            kind="click",
            bpm=float(bpm),
            meter="4/4",
            beats=beats,
            downbeats=beats[::4],
        )
    # EBU Tech 3341 case 1: stereo 1 kHz sine at -23 dBFS (each channel) -> -23.0 LUFS +-0.1.
    tone = _sine(20.0, 48000, -23.0)
    # 32-bit float WAV via scipy: libsndfile would add a PEAK chunk holding a timestamp
    wavfile.write(known / "ebu3341_case1_-23lufs.wav", 48000, np.column_stack([tone, tone]))
    expected["known/ebu3341_case1_-23lufs.wav"] = _audio(
        48000,
        2,
        20.0,
        kind="ebu_tech3341",
        case=1,
        lufs=-23.0,
        lufs_tolerance=0.1,
        momentary=-23.0,
        short_term=-23.0,
    )
    # EBU Tech 3342 case 1: stereo 1 kHz sine, 20 s at -20 dBFS then 20 s at -30 -> LRA 10 +-1.
    tone = np.concatenate([_sine(20.0, 48000, -20.0), _sine(20.0, 48000, -30.0)])
    _write(known / "ebu3342_case1_lra10.wav", np.column_stack([tone, tone]), 48000)  # 16-bit
    expected["known/ebu3342_case1_lra10.wav"] = _audio(
        48000, 2, 40.0, kind="ebu_tech3342", case=1, lra=10.0, lra_tolerance=1.0
    )
    rng = np.random.default_rng(3)
    white = rng.standard_normal(20 * SR)
    spectrum = np.fft.rfft(rng.standard_normal(20 * SR))
    freqs = np.fft.rfftfreq(20 * SR, 1 / SR)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    pink = np.fft.irfft(spectrum, 20 * SR)
    for color, x, facts in (
        ("white", white, {"spectral_flatness_min": 0.3}),
        ("pink", pink, {"spectral_flatness_max": 0.3, "less_flat_than": "known/white_noise.wav"}),
    ):
        x = (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)  # RMS -20 dBFS
        _write(known / f"{color}_noise.wav", x, SR)
        expected[f"known/{color}_noise.wav"] = _audio(
            SR, 1, 20.0, kind="noise", color=color, rms_dbfs=-20.0, **facts
        )
    _write(known / "tone_1khz.wav", _sine(10.0, SR, -6.0), SR)
    expected["known/tone_1khz.wav"] = _audio(
        SR, 1, 10.0, kind="tone", frequency=1000.0, peak_dbfs=-6.0, spectral_centroid=1000.0
    )


if __name__ == "__main__":
    import sys

    t0 = time.perf_counter()
    c = build_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"{c.root}: {len(c.expected)} files in {time.perf_counter() - t0:.1f} s")
