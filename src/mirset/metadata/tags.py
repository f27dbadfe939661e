"""Embedded tags of every common format, through mutagen, normalised to one small dict.

``read_tags(path)`` returns the keys it found among ``artist``, ``title``, ``album``, ``year``
(int), ``genre`` and ``tracknumber`` (int): ID3 (MP3, and ID3 chunks in WAV and AIFF), Vorbis
comments (FLAC, Ogg Vorbis, Opus, Speex), MP4 atoms (M4A/AAC/ALAC), APEv2 (WavPack, Monkey's
Audio, Musepack), ASF (WMA) — and, where mutagen reads nothing, the RIFF ``LIST/INFO`` chunk of a
WAV (what FFmpeg and most editors write) and the AIFF ``NAME``/``AUTH`` text chunks.
The first value of a multi-valued tag is taken, as the old tool did (``mutagen.File(easy=True)``).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

TAG_KEYS = ("artist", "title", "album", "year", "genre")

# candidate keys per field in dict-like tag containers (matched case-insensitively)
_CANDIDATES = {
    "artist": ("artist", "author", "albumartist", "album artist", "©art", "\xa9art"),
    "title": ("title", "\xa9nam"),
    "album": ("album", "wm/albumtitle", "\xa9alb"),
    "date": ("date", "year", "originaldate", "wm/year", "\xa9day", "originalyear"),
    "genre": ("genre", "wm/genre", "\xa9gen"),
    "tracknumber": ("tracknumber", "track", "wm/tracknumber", "trkn"),
}
_ID3_FRAMES = {
    "artist": ("TPE1", "TPE2"),
    "title": ("TIT2",),
    "album": ("TALB",),
    "date": ("TDRC", "TYER", "TDOR", "TORY"),
    "genre": ("TCON",),
    "tracknumber": ("TRCK",),
}
_RIFF_INFO = {"IART": "artist", "INAM": "title", "IPRD": "album", "ICRD": "date", "IGNR": "genre"}
_RIFF_INFO_TRACK = ("ITRK", "IPRT")
_AIFF_TEXT = {b"NAME": "title", b"AUTH": "artist"}
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _first(value: Any) -> str | None:
    """First non-empty text of a tag value (list, frame, MP4 tuple, ASF attribute …)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        for v in value:
            text = _first(v)
            if text:
                return text
        return None
    if hasattr(value, "text") and not isinstance(value, str):  # an ID3 frame
        return _first(list(value.text))
    text = str(value).replace("\x00", " ").strip()
    return text or None


def _year(text: str | None) -> int | None:
    if not text:
        return None
    m = _YEAR.search(text)
    if not m:
        return None
    year = int(m.group(1))
    return year if 1000 <= year <= 2999 else None


def _track(value: Any) -> int | None:
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # MP4 trkn [(n, of)]
        return int(value[0][0]) or None
    text = _first(value)
    if not text:
        return None
    m = re.match(r"\s*(\d+)", text)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def _from_id3(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, frames in _ID3_FRAMES.items():
        for frame_id in frames:
            frames_found = tags.getall(frame_id)
            if not frames_found:
                continue
            frame = frames_found[0]
            if key == "genre" and hasattr(frame, "genres"):
                value = _first(frame.genres)  # "(17)" -> "Rock"
            elif key == "tracknumber":
                value = _track(frame)
            else:
                value = _first(frame)
            if value:
                out[key] = value
                break
    return out


def _from_mapping(tags: Any) -> dict[str, Any]:
    try:
        keys = list(tags.keys())
    except Exception:
        return {}
    lower = {str(k).casefold(): k for k in keys}
    out: dict[str, Any] = {}
    for key, candidates in _CANDIDATES.items():
        for cand in candidates:
            real = lower.get(cand.casefold())
            if real is None:
                continue
            raw = tags[real]
            value = _track(raw) if key == "tracknumber" else _first(raw)
            if value:
                out[key] = value
                break
    return out


def _riff_info(path: Path) -> dict[str, Any]:
    """RIFF LIST/INFO text chunks of a WAV file."""
    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return out
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                break
            cid, size = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if cid == b"LIST" and size >= 4 and size < 1 << 20:
                body = f.read(size + (size & 1))
                if body[:4] != b"INFO":
                    continue
                pos = 4
                while pos + 8 <= len(body):
                    sub, n = (
                        body[pos : pos + 4].decode("latin-1"),
                        struct.unpack("<I", body[pos + 4 : pos + 8])[0],
                    )
                    raw = body[pos + 8 : pos + 8 + n].split(b"\x00", 1)[0]
                    pos += 8 + n + (n & 1)
                    text = _decode_text(raw)
                    if not text:
                        continue
                    if sub in _RIFF_INFO:
                        out.setdefault(_RIFF_INFO[sub], text)
                    elif sub in _RIFF_INFO_TRACK:
                        track = _track(text)
                        if track:
                            out.setdefault("tracknumber", track)
            else:
                f.seek(size + (size & 1), 1)
    return out


def _aiff_text(path: Path) -> dict[str, Any]:
    """AIFF/AIFC ``NAME`` (title) and ``AUTH`` (artist) text chunks."""
    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
            return out
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                break
            cid, size = hdr[:4], struct.unpack(">I", hdr[4:])[0]
            if cid in _AIFF_TEXT and size < 1 << 16:
                text = _decode_text(f.read(size).split(b"\x00", 1)[0])
                if size & 1:
                    f.seek(1, 1)
                if text:
                    out.setdefault(_AIFF_TEXT[cid], text)
            else:
                f.seek(size + (size & 1), 1)
    return out


def _decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip()


def read_tags(path: Path) -> dict[str, Any]:
    """The tags found in ``path``: a subset of artist, title, album, year, genre, tracknumber.

    Never raises for a bad or untagged file (returns what it could read, possibly ``{}``).
    """
    import mutagen
    from mutagen.id3 import ID3

    path = Path(path)
    found: dict[str, Any] = {}
    try:
        audio = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types on broken files; tags are best effort
        audio = None
    tags = getattr(audio, "tags", None) if audio is not None else None
    if tags is not None:
        found = _from_id3(tags) if isinstance(tags, ID3) else _from_mapping(tags)
    if not found and audio is not None:  # e.g. an MP3 carrying only an APEv2 tag (mp3gain)
        try:
            from mutagen.apev2 import APEv2

            found = _from_mapping(APEv2(path))
        except Exception:
            pass
    suffix = path.suffix.lower()
    try:
        if suffix in (".wav", ".w64") or (audio is None and suffix == ".wave"):
            for k, v in _riff_info(path).items():
                found.setdefault(k, v)
        elif suffix in (".aiff", ".aif", ".aifc"):
            for k, v in _aiff_text(path).items():
                found.setdefault(k, v)
    except OSError:
        pass
    out: dict[str, Any] = {k: found[k] for k in ("artist", "title", "album", "genre") if k in found}
    year = _year(found.get("date"))
    if year is not None:
        out["year"] = year
    if found.get("tracknumber"):
        out["tracknumber"] = int(found["tracknumber"])
    return out
