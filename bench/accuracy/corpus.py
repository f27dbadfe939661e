"""Ground-truth corpus: MIDI songs and music21 scores rendered with fluidsynth, plus a manifest.

Two sources, both written as ``pretty_midi`` objects (music21's own MIDI writer can make fluidsynth
hang) and rendered under a subprocess timeout:

* ``generated``: songs with a known tempo, meter (3/4 or 4/4), key (all 24 keys), diatonic chord
  progressions, a scale melody, bass, optional pad and optional GM drums (channel 10);
* ``music21``: whole Bach chorales from ``music21.corpus`` at a set tempo (fermatas not held), key
  from ``score.analyze('key')``, kept only where it agrees with the key signature and the final
  bass note.

A share of the renders is re-encoded (mp3, ogg, flac, m4a) with ffmpeg; the truth is unchanged but
the decoded offset against the master is measured and recorded (``codec_offset_ms``), as is the
render's onset offset against the MIDI (``render_offset_ms``). Everything is cached under the
output folder, keyed by a hash of each file's spec, so reruns only render what changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import soundfile as sf

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SR = 44100
CORPUS_VERSION = "3"
RENDER_TIMEOUT_S = 120.0
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CODECS = ("wav", "mp3", "flac", "ogg", "wav", "m4a")
FFMPEG_CODEC_ARGS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "5"],
    "flac": ["-c:a", "flac"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
}
# Beyond this |median| render offset (ms) over the corpus, truth times are shifted by it.
SYSTEMATIC_OFFSET_MS = 5.0

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor; V and vii° take the raised 7th (harmonic)
MAJOR_PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 1, 4, 0), (0, 3, 0, 4))
MINOR_PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (0, 5, 2, 4), (0, 6, 5, 4))

# GM programs per role. Rhythm carriers have fast attacks (FluidR3 strings/pads/choir reach half
# amplitude 90-250 ms after note-on, so they only ever sustain in the background).
ENSEMBLES: dict[str, dict[str, Any]] = {
    "pop": {"chords": (0, "block"), "bass": 33, "melody": 81, "pad": None},
    "guitar": {"chords": (25, "arp"), "bass": 32, "melody": 73, "pad": 48},
    "band": {"chords": (4, "block"), "bass": 34, "melody": 61, "pad": 89},
    "jazz": {"chords": (11, "arp"), "bass": 32, "melody": 66, "pad": None},
    "keys": {"chords": (6, "arp"), "bass": 33, "melody": 0, "pad": 49},
    "rock": {"chords": (29, "block"), "bass": 34, "melody": 56, "pad": 48},
}
CHORALE_VOICES: dict[str, tuple[int, int, int, int]] = {
    "organ": (19, 19, 19, 19),
    "piano": (0, 0, 0, 0),
    "harpsichord": (6, 6, 6, 6),
    "guitar+bass": (24, 24, 24, 32),
    "epiano": (4, 4, 4, 33),
}


@dataclass
class Truth:
    """Ground truth of one corpus file (times in seconds from the start of the audio)."""

    name: str
    relative_path: str
    source: str  # generated | music21
    bpm: float
    beats: list[float]
    downbeats: list[float]
    meter: int
    key: str  # C..B with sharps
    mode: str  # major | minor
    has_drums: bool
    codec: str
    duration: float = 0.0
    instruments: str = ""
    origin: str = ""  # music21 corpus path, or the generator's seed
    render_offset_ms: float | None = None  # onsets in the render vs MIDI (+ = audio later)
    codec_offset_ms: float | None = None  # decoded file vs lossless master (+ = later)
    spec_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- generated songs


def _chord_pcs(tonic: int, mode: str, degree: int) -> list[int]:
    """Pitch classes of the diatonic triad on ``degree`` (harmonic minor for V / vii°)."""
    scale = list(MAJOR if mode == "major" else MINOR)
    if mode == "minor" and degree in (4, 6):
        scale[6] = 11
    return [(tonic + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4)]


def _voice(pcs: Sequence[int], low: int) -> list[int]:
    """Close-position voicing of ``pcs`` (root first) starting at or above MIDI ``low``."""
    notes, floor = [], low
    for pc in pcs:
        n = floor + (pc - floor) % 12
        notes.append(n)
        floor = n + 1
    return notes


def generated_spec(i: int) -> dict[str, Any]:
    """Deterministic parameters of generated song ``i`` (keys cycle through all 24)."""
    fifths = [(7 * k) % 12 for k in range(12)]
    keys = [kv for k in range(12) for kv in ((fifths[k], "major"), (fifths[(k + 4) % 12], "minor"))]
    rng = random.Random(1000 + i)
    tonic, mode = keys[i % 24]
    bpm = round(60.0 + 120.0 * ((0.5 + i * 0.6180339887) % 1.0), 1)
    meter = 3 if i % 5 in (1, 3) else 4
    drums = i % 2 == 0
    ensemble = sorted(ENSEMBLES)[(i + i // 6) % len(ENSEMBLES)]
    seconds = rng.uniform(20.0, 28.0)
    bars = max(4, round(seconds * bpm / 60.0 / meter))
    progs = MAJOR_PROGRESSIONS if mode == "major" else MINOR_PROGRESSIONS
    return {
        "kind": "generated",
        "index": i,
        "tonic": tonic,
        "mode": mode,
        "bpm": bpm,
        "meter": meter,
        "drums": drums,
        "ensemble": ensemble,
        "bars": bars,
        "progression": list(progs[rng.randrange(len(progs))]),
        "start": round(rng.uniform(0.1, 0.6), 3),
        "seed": 1000 + i,
        "codec": CODECS[(5 * i + i // 12) % len(CODECS)],  # not in step with the ensembles
    }


def generated_midi(spec: dict[str, Any]) -> tuple[pretty_midi.PrettyMIDI, dict[str, Any]]:
    """Song for ``spec`` and its truth (bpm, beats, downbeats, meter, key, mode)."""
    rng = random.Random(spec["seed"])
    tonic, mode, bpm, meter = spec["tonic"], spec["mode"], spec["bpm"], spec["meter"]
    spb, t0, bars = 60.0 / bpm, spec["start"], spec["bars"]
    ens = ENSEMBLES[spec["ensemble"]]
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    chords_prog, style = ens["chords"]
    chords = pretty_midi.Instrument(program=chords_prog, name="chords")
    bass = pretty_midi.Instrument(program=ens["bass"], name="bass")
    melody = pretty_midi.Instrument(program=ens["melody"], name="melody")
    pad = pretty_midi.Instrument(program=ens["pad"], name="pad") if ens["pad"] is not None else None
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    scale = MAJOR if mode == "major" else MINOR
    mel_low = 60 + tonic if tonic < 5 else 48 + tonic

    def note(inst: pretty_midi.Instrument, pitch: int, start: float, dur: float, vel: int) -> None:
        inst.notes.append(pretty_midi.Note(vel, int(pitch), start, start + max(dur, 0.05)))

    prog = spec["progression"]
    mel_prev = mel_low + 7
    for b in range(bars):
        bar_t = t0 + b * meter * spb
        last = b == bars - 1
        degree = 0 if last else 4 if b == bars - 2 else prog[b % len(prog)]  # V - I cadence
        pcs = _chord_pcs(tonic, mode, degree)
        voicing = _voice(pcs, 55)
        root = 36 + (pcs[0] - 36) % 12
        if last:  # one final tonic hit, held
            for n in voicing:
                note(chords, n, bar_t, 2.5 * spb, 100)
            note(bass, root, bar_t, 2.5 * spb, 105)
            note(melody, mel_low + 12 if mel_low + 12 <= 84 else mel_low, bar_t, 2.5 * spb, 95)
            if pad:
                for n in voicing:
                    note(pad, n + 12, bar_t, 2.5 * spb, 60)
            if spec["drums"]:
                note(drums, 36, bar_t, 0.2, 115)
                note(drums, 49, bar_t, 0.8, 110)
            break
        # accompaniment
        for beat in range(meter):
            t = bar_t + beat * spb
            acc = beat == 0
            if style == "block":
                if meter == 3 and beat == 0 and not spec["drums"]:
                    continue  # oom-pah-pah: bass alone on 1
                vel = 96 if acc else 72
                for n in voicing:
                    note(chords, n, t, 0.9 * spb, vel)
            else:  # arpeggio in eighths
                for h in range(2):
                    idx = (beat * 2 + h) % 4
                    pitch = [*voicing, voicing[0] + 12][idx]
                    note(chords, pitch, t + h * spb / 2, 0.45 * spb, 92 if acc and h == 0 else 68)
        # bass: root on 1, fifth (or root) later, eighths with drums
        if spec["drums"]:
            for e in range(meter * 2):
                p = root if e % 4 != 3 else root + 7
                note(bass, p, bar_t + e * spb / 2, 0.4 * spb, 110 if e == 0 else 85)
        else:
            note(bass, root, bar_t, (2 if meter == 4 else 1) * spb * 0.95, 110)
            if meter == 4:
                note(bass, root + 7, bar_t + 2 * spb, 1.9 * spb, 85)
        if pad:
            for n in voicing:
                note(pad, n + 12, bar_t, meter * spb * 0.98, 55)
        # melody: chord tone on the downbeat, scale steps after
        beat = 0
        while beat < meter:
            t = bar_t + beat * spb
            r = rng.random()
            if beat == 0:
                pc = rng.choice(pcs)
                cands = [n for n in range(mel_low, mel_low + 20) if n % 12 == pc]
                mel_prev = min(cands, key=lambda n: abs(n - mel_prev))
                dur = 2 if meter == 4 and r < 0.3 else 1
                note(melody, mel_prev, t, dur * spb * 0.9, 100)
                beat += dur
                continue
            if r < 0.15:  # rest
                beat += 1
                continue
            subdiv = 2 if r > 0.65 and bpm < 130 else 1
            for s in range(subdiv):
                step = rng.choice((-2, -1, -1, 1, 1, 2))
                deg_notes = [
                    n for n in range(mel_low - 2, mel_low + 21) if (n - tonic) % 12 in scale
                ]
                j = min(range(len(deg_notes)), key=lambda k: abs(deg_notes[k] - mel_prev))
                mel_prev = deg_notes[max(0, min(len(deg_notes) - 1, j + step))]
                if mode == "minor" and degree == 4 and (mel_prev - tonic) % 12 == 10:
                    mel_prev += 1  # leading tone over V
                note(melody, mel_prev, t + s * spb / subdiv, 0.9 * spb / subdiv, 84)
            beat += 1
        # drums
        if spec["drums"]:
            if b % 4 == 0:
                note(drums, 49, bar_t, 0.8, 105)
            for e in range(meter * 2):
                t = bar_t + e * spb / 2
                note(drums, 42, t, 0.1, 80 if e % 2 == 0 else 60)
                if e % 2:
                    continue
                beat = e // 2
                if beat == 0:
                    note(drums, 36, t, 0.2, 118)
                elif meter == 4 and beat == 2:
                    note(drums, 36, t, 0.2, 100)
                if (meter == 4 and beat in (1, 3)) or (meter == 3 and beat in (1, 2)):
                    note(drums, 38, t, 0.2, 100 if meter == 4 else 80)
    for inst in (chords, bass, melody, pad, drums):
        if inst is not None and inst.notes:
            pm.instruments.append(inst)
    n_beats = (bars - 1) * meter + 1
    beats = [t0 + k * spb for k in range(n_beats)]
    truth = {
        "bpm": bpm,
        "beats": beats,
        "downbeats": beats[::meter],
        "meter": meter,
        "key": NOTE_NAMES[tonic],
        "mode": mode,
        "has_drums": spec["drums"],
        "instruments": spec["ensemble"] + ("+drums" if spec["drums"] else ""),
        "origin": f"seed {spec['seed']}",
    }
    return pm, truth


# --------------------------------------------------------------------------- music21 scores


def chorale_candidates() -> list[tuple[str, str]]:
    """(corpus path, time signature) of 4-part Bach chorales in a single 3/4 or 4/4 metre."""
    from music21 import corpus

    out = []
    for r in corpus.search("bach", "composer"):
        md = r.metadata
        ts = md.timeSignatures or []
        one_key = len(set(md.keySignatures or [])) == 1
        if len(set(ts)) == 1 and ts[0] in ("3/4", "4/4") and md.numberOfParts == 4 and one_key:
            out.append((str(r.sourcePath), ts[0]))
    return sorted(set(out))


def _pc_name(pitch: Any) -> str:
    return NOTE_NAMES[pitch.pitchClass]


def chorale_truth(path: str, max_seconds: float = 30.0) -> dict[str, Any] | None:
    """Parse a chorale and pick a tempo (~25 s, 66-132 BPM); None where its key is ambiguous
    (see module doc) or the whole chorale does not fit in ``max_seconds``."""
    from music21 import corpus, meter

    score = corpus.parse(path)
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    ts = score.recurse().getElementsByClass(meter.TimeSignature).first()
    if ts is None or ts.ratioString not in ("3/4", "4/4"):
        return None
    beats_per_bar = ts.numerator
    measures = list(parts[0].getElementsByClass("Measure"))
    if not measures:
        return None
    full = [m for m in measures if m.paddingLeft == 0 and m.duration.quarterLength > 0]
    first_full = float(full[0].offset)
    total_q = float(parts[0].highestTime)
    k = score.analyze("key")
    ks = score.recurse().getElementsByClass("KeySignature").first()
    bass_notes = list(parts[3].recurse().notes)
    if ks is None or k.sharps != ks.sharps or not bass_notes:
        return None
    if bass_notes[-1].pitches[0].pitchClass != k.tonic.pitchClass:
        return None
    bpm = min(132.0, max(66.0, round(total_q * 60.0 / 25.0)))
    spb = 60.0 / bpm
    if total_q * spb > max_seconds - 1.0:
        return None  # too long: an excerpt may end off the tonic (or modulate), so no cuts
    return {
        "path": path,
        "bpm": float(bpm),
        "meter": beats_per_bar,
        "key": _pc_name(k.tonic),
        "mode": k.mode,
        "first_downbeat_q": first_full,
        "end_q": total_q,
        "total_q": total_q,
    }


def chorale_midi(
    info: dict[str, Any], voices: tuple[int, ...], start: float
) -> tuple[pretty_midi.PrettyMIDI, dict[str, Any]]:
    """Render-ready MIDI of a chorale (ties merged, fermatas ignored) and its truth."""
    from music21 import corpus

    score = corpus.parse(info["path"])
    spb = 60.0 / info["bpm"]
    pm = pretty_midi.PrettyMIDI(initial_tempo=info["bpm"])
    for part, prog in zip(score.parts, voices, strict=False):
        inst = pretty_midi.Instrument(program=prog, name=str(part.id))
        for n in part.stripTies().flatten().notes:
            q0, ql = float(n.offset), float(n.quarterLength)
            if ql <= 0 or q0 >= info["end_q"]:
                continue
            q1 = min(q0 + ql, info["end_q"])
            for p in n.pitches:
                inst.notes.append(
                    pretty_midi.Note(80, int(p.midi), start + q0 * spb, start + q1 * spb * 0.999)
                )
        pm.instruments.append(inst)
    # The grid runs up to the last note onset (the final chord), like the generated songs: what a
    # held final chord "should" beat is left undefined (see metrics.score_file).
    fd, meter = info["first_downbeat_q"], info["meter"]
    last_q = max(n.start for inst in pm.instruments for n in inst.notes) / spb - start / spb
    first = fd - math.floor(fd)
    beats = [start + q * spb for q in np.arange(first, last_q + 1e-6, 1.0)]
    downbeats = [start + q * spb for q in np.arange(fd, last_q + 1e-6, float(meter))]
    truth = {
        "bpm": info["bpm"],
        "beats": [float(b) for b in beats],
        "downbeats": [float(d) for d in downbeats],
        "meter": meter,
        "key": info["key"],
        "mode": info["mode"],
        "has_drums": False,
        "origin": info["path"],
    }
    return pm, truth


# --------------------------------------------------------------------------- rendering


def render(
    pm: pretty_midi.PrettyMIDI, wav: Path, tail: float = 1.0, timeout: float = RENDER_TIMEOUT_S
) -> None:
    """Render ``pm`` with fluidsynth to 44.1 kHz stereo WAV, -1 dBFS peak, ``tail`` s past the end.

    fluidsynth itself keeps rendering several seconds of release and reverb after the last note-off.
    """
    with tempfile.TemporaryDirectory() as tmp:
        mid, raw = Path(tmp) / "song.mid", Path(tmp) / "raw.wav"
        pm.write(str(mid))
        cmd = ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SR), "-F", str(raw)]
        subprocess.run(
            [*cmd, str(SOUNDFONT), str(mid)],
            check=True,
            timeout=timeout,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        y, sr = sf.read(raw, dtype="float32", always_2d=True)
    y = y[: int((pm.get_end_time() + tail) * sr)]
    fade = min(len(y), int(0.2 * sr))
    y[len(y) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    peak = float(np.abs(y).max())
    if peak <= 0:
        raise RuntimeError(f"fluidsynth rendered silence for {wav.name}")
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, y * (0.89 / peak), sr, subtype="PCM_16")


def encode(master: Path, dest: Path, codec: str, timeout: float = 120.0) -> None:
    """Copy (wav) or encode ``master`` to ``dest`` with ffmpeg."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if codec == "wav":
        shutil.copyfile(master, dest)
        return
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(master)]
    subprocess.run(
        [*cmd, *FFMPEG_CODEC_ARGS[codec], str(dest)],
        check=True,
        timeout=timeout,
        capture_output=True,
    )


def decode_mono(path: Path, sr: int = SR, timeout: float = 120.0) -> np.ndarray:
    """Decode any file with ffmpeg to mono float32 at ``sr`` (what mirset's PyAV path sees)."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(sr)]
    out = subprocess.run(
        [*cmd, "-f", "f32le", "-"], check=True, timeout=timeout, capture_output=True
    ).stdout
    return np.frombuffer(out, dtype=np.float32)


def _energy_flux(y: np.ndarray, sr: int, hop: int = 44, win: int = 441) -> np.ndarray:
    """Half-wave rectified log-energy derivative on a ~1 ms grid (frame k ends at k*hop)."""
    power = np.convolve(y.astype(np.float64) ** 2, np.ones(win) / win, mode="full")[: y.size]
    log_e = np.log10(power[::hop] + 1e-10)
    return np.maximum(np.diff(log_e, prepend=log_e[0]), 0.0)


def onset_offset_ms(y: np.ndarray, sr: int, onsets: Sequence[float]) -> float:
    """Lag (ms) of the audio's onsets behind the MIDI note-on times, by cross-correlation."""
    hop = 44
    flux = _energy_flux(y, sr, hop)
    lags = np.arange(-30, 81)  # ms
    frame_s = hop / sr
    idx = np.round(np.asarray(onsets) / frame_s).astype(int)
    scores = []
    for lag in lags:
        j = idx + round(lag / 1000 / frame_s)
        j = j[(j >= 0) & (j < flux.size)]
        scores.append(flux[j].sum())
    return float(lags[int(np.argmax(scores))])


def lag_ms(reference: np.ndarray, signal: np.ndarray, sr: int = SR) -> float:
    """Lag (ms, ±200 ms range) of ``signal`` behind ``reference`` by envelope cross-correlation."""
    fa, fb = _energy_flux(reference, sr), _energy_flux(signal, sr)
    n = min(fa.size, fb.size)
    fa, fb = fa[:n] - fa[:n].mean(), fb[:n] - fb[:n].mean()
    spec = np.fft.irfft(np.fft.rfft(fb, 2 * n) * np.conj(np.fft.rfft(fa, 2 * n)))
    hop_ms = 44 / sr * 1000
    k = int(200 / hop_ms)
    lags = np.concatenate([np.arange(0, k), np.arange(-k, 0)])
    vals = np.concatenate([spec[:k], spec[-k:]])
    return float(lags[int(np.argmax(vals))] * hop_ms)


def codec_offset_ms(master: Path, decoded: Path) -> float:
    """Lag (ms) of the ffmpeg-decoded file behind the lossless master."""
    return lag_ms(decode_mono(master), decode_mono(decoded))


# --------------------------------------------------------------------------- corpus


def _hash(obj: Any) -> str:
    text = json.dumps([CORPUS_VERSION, obj], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def plan(n_generated: int, n_music21: int) -> list[dict[str, Any]]:
    """Specs of the corpus files (generated songs, then chorales alternating 3/4 and 4/4)."""
    specs = [generated_spec(i) for i in range(n_generated)]
    if n_music21:
        cands = chorale_candidates()
        threes = [c for c in cands if c[1] == "3/4"]
        fours = [c for c in cands if c[1] == "4/4"]
        rng = random.Random(7)
        rng.shuffle(threes)
        rng.shuffle(fours)
        order = [c for pair in zip(threes, fours, strict=False) for c in pair]
        voices = sorted(CHORALE_VOICES)
        for j, (path, _) in enumerate(order):
            specs.append(
                {
                    "kind": "music21",
                    "index": j,
                    "path": path,
                    "voices": voices[j % len(voices)],
                    "start": round(0.15 + 0.07 * (j % 5), 3),
                    "codec": CODECS[(j * 5 + 2) % len(CODECS)],
                }
            )
    return specs


def build_corpus(
    out: Path,
    n_generated: int,
    n_music21: int,
    log: Callable[[str], None] = print,
) -> tuple[Path, list[Truth]]:
    """Render (or reuse) the corpus under ``out``; returns the audio folder and the truths."""
    audio_dir, master_dir = out / "corpus", out / "render"
    manifest_path = out / "manifest.json"
    cached: dict[str, dict[str, Any]] = {}
    skipped: set[str] = set()
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        cached = {row["spec_hash"]: row for row in old.get("files", [])}
        skipped = set(old.get("skipped", []))
    truths: list[Truth] = []
    chorales_left = n_music21
    for spec in plan(n_generated, n_music21):
        if spec["kind"] == "music21" and chorales_left <= 0:
            break
        h = _hash(spec)
        if h in skipped:
            continue
        row = cached.get(h)
        if row is not None and (audio_dir / row["relative_path"]).exists():
            truth: Truth | None = Truth(**row)
        else:
            truth = _make(spec, h, audio_dir, master_dir, log)
        if truth is None:
            skipped.add(h)
            continue
        truths.append(truth)
        chorales_left -= spec["kind"] == "music21"
    _apply_systematic_offset(truths, log)
    keep = {t.relative_path for t in truths}
    for f in audio_dir.rglob("*"):
        if f.is_file() and f.relative_to(audio_dir).as_posix() not in keep:
            f.unlink()  # stale file from an earlier, larger or older corpus
    manifest = {
        "version": CORPUS_VERSION,
        "soundfont": str(SOUNDFONT),
        "files": [asdict(t) for t in truths],
        "skipped": sorted(skipped),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return audio_dir, truths


def _make(
    spec: dict[str, Any], h: str, audio_dir: Path, master_dir: Path, log: Callable[[str], None]
) -> Truth | None:
    if spec["kind"] == "generated":
        pm, t = generated_midi(spec)
        name = (
            f"gen{spec['index']:03d}_{NOTE_NAMES[spec['tonic']].replace('#', 's')}"
            f"{'m' if spec['mode'] == 'minor' else ''}_{spec['meter']}-4_{spec['bpm']:g}bpm"
        )
        sub = "generated"
    else:
        info = chorale_truth(spec["path"])
        if info is None:
            log(f"  skip {spec['path']}: key ambiguous or longer than 30 s at 132 BPM")
            return None
        pm, t = chorale_midi(info, CHORALE_VOICES[spec["voices"]], spec["start"])
        t["instruments"] = spec["voices"]
        stem = Path(spec["path"]).stem.replace(".", "_")
        name = f"m21_{stem}_{info['meter']}-4_{info['bpm']:g}bpm"
        sub = "music21"
    codec = spec["codec"]
    master = master_dir / f"{name}.wav"
    rel = f"{sub}/{name}.{codec}"
    render(pm, master)
    encode(master, audio_dir / rel, codec)
    y = decode_mono(master)
    onsets = sorted({round(n.start, 4) for inst in pm.instruments for n in inst.notes})
    truth = Truth(
        name=name,
        relative_path=rel,
        source=spec["kind"],
        duration=round(y.size / SR, 3),
        codec=codec,
        render_offset_ms=onset_offset_ms(y, SR, onsets),
        codec_offset_ms=None if codec == "wav" else codec_offset_ms(master, audio_dir / rel),
        spec_hash=h,
        extra={"midi_beats": t["beats"], "midi_downbeats": t["downbeats"]},
        **{k: t[k] for k in ("bpm", "meter", "key", "mode", "has_drums", "instruments", "origin")},
        beats=t["beats"],
        downbeats=t["downbeats"],
    )
    log(
        f"  rendered {rel} ({truth.duration:.1f} s, render offset {truth.render_offset_ms:+.0f} ms"
        + (
            f", codec offset {truth.codec_offset_ms:+.1f} ms)"
            if truth.codec_offset_ms is not None
            else ")"
        )
    )
    return truth


def _apply_systematic_offset(truths: list[Truth], log: Callable[[str], None]) -> None:
    """Shift every truth time by the corpus-median render offset when that is systematic."""
    offs = [t.render_offset_ms for t in truths if t.render_offset_ms is not None]
    if not offs:
        return
    med = float(np.median(offs))
    shift = med / 1000 if abs(med) >= SYSTEMATIC_OFFSET_MS else 0.0
    for t in truths:
        t.beats = [round(b + shift, 6) for b in t.extra["midi_beats"]]
        t.downbeats = [round(b + shift, 6) for b in t.extra["midi_downbeats"]]
        t.extra["truth_shift_ms"] = round(shift * 1000, 2)
    log(
        f"render onset offset vs MIDI: median {med:+.1f} ms, range {min(offs):+.0f}..{max(offs):+.0f}"
        f" ms -> truth shifted by {shift * 1000:+.1f} ms"
    )
