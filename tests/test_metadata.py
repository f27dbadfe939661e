"""Track metadata: embedded tags of every common format, and the online lookup against a local
HTTP server that serves recorded Spotify and MusicBrainz responses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import rows_by_path, run_mirset
from mirset.metadata.tags import read_tags

WESNOTH = {"artist": "Battle for Wesnoth", "album": "Wesnoth Music"}


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("music/Game OST/Act 1/01 - Northerners.mp3", WESNOTH | {"title": "Northerners"}),
        ("music/Game OST/Act 1/02 - Loyalists.ogg", WESNOTH | {"title": "Loyalists"}),
        ("music/Game OST/Act 2/03 - Heroes Rite.opus", WESNOTH | {"title": "Heroes Rite"}),
        ("music/Singles/Journeys End.m4a", WESNOTH | {"title": "Journeys End"}),
        ("music/Tëst Sông – ünïcode.flac", WESNOTH | {"title": "Elvish Theme"}),
        # FFmpeg writes a RIFF LIST/INFO chunk, which mutagen does not read
        ("music/Knalgan Theme.wav", WESNOTH | {"title": "Knalgan Theme"}),
        # and only the title goes into AIFF's NAME chunk
        ("music/Siege of Laurelmor.aiff", {"title": "Siege of Laurelmor"}),
        ("music/Organised/Night Walk/full_mix.flac", {}),
        ("bad/not_audio.mp3", {}),
        ("bad/corrupt.flac", {}),
    ],
)
def test_tags_of_the_corpus_formats(corpus, rel: str, expected: dict) -> None:
    assert read_tags(corpus.path(rel)) == expected


def test_tags_written_by_mutagen(corpus, tmp_path: Path) -> None:
    """Dates, numeric ID3 genres, ID3v2.3 years, MP4 track numbers, APEv2 and ID3-in-WAV."""
    from mutagen.apev2 import APEv2
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3, TCON, TIT2, TPE1, TRCK, TYER
    from mutagen.mp4 import MP4
    from mutagen.wave import WAVE

    flac = tmp_path / "a.flac"
    shutil.copy2(corpus.path("music/Organised/Night Walk/full_mix.flac"), flac)
    f = FLAC(flac)
    f["ARTIST"] = ["First Artist", "Second Artist"]
    f["TITLE"] = "Night Walk"
    f["DATE"] = "2019-05-03"
    f["GENRE"] = "Ambient"
    f["TRACKNUMBER"] = "4/12"
    f.save()
    assert read_tags(flac) == {
        "artist": "First Artist",
        "title": "Night Walk",
        "year": 2019,
        "genre": "Ambient",
        "tracknumber": 4,
    }

    mp3 = tmp_path / "b.mp3"
    shutil.copy2(corpus.path("music/Game OST/Act 1/01 - Northerners.mp3"), mp3)
    tags = ID3(mp3)
    tags.delall("TALB")
    tags.add(TCON(encoding=3, text=["(17)"]))
    tags.add(TYER(encoding=3, text=["1998"]))
    tags.add(TRCK(encoding=3, text=["7"]))
    tags.save(mp3, v2_version=3)
    assert read_tags(mp3) == {
        "artist": "Battle for Wesnoth",
        "title": "Northerners",
        "genre": "Rock",
        "year": 1998,
        "tracknumber": 7,
    }

    m4a = tmp_path / "c.m4a"
    shutil.copy2(corpus.path("music/Singles/Journeys End.m4a"), m4a)
    mp4 = MP4(m4a)
    mp4["\xa9day"] = ["2004-01-01T00:00:00Z"]
    mp4["\xa9gen"] = ["Soundtrack"]
    mp4["trkn"] = [(9, 10)]
    mp4.save()
    assert read_tags(m4a) == WESNOTH | {
        "title": "Journeys End",
        "year": 2004,
        "genre": "Soundtrack",
        "tracknumber": 9,
    }

    ape = tmp_path / "d.mp3"  # APEv2 only (as WavPack / Monkey's Audio / Musepack carry)
    shutil.copy2(corpus.path("music/Game OST/Act 1/01 - Northerners.mp3"), ape)
    ID3(ape).delete()
    apev2 = APEv2()
    apev2.update({"Artist": "Ape Artist", "Title": "Ape Title", "Year": "2011", "Genre": "Jazz"})
    apev2.save(ape)
    assert read_tags(ape) == {
        "artist": "Ape Artist",
        "title": "Ape Title",
        "year": 2011,
        "genre": "Jazz",
    }

    wav = tmp_path / "e.wav"  # an ID3 chunk wins over the RIFF INFO chunk; INFO fills gaps
    shutil.copy2(corpus.path("music/Knalgan Theme.wav"), wav)
    w = WAVE(wav)
    w.add_tags()
    w.tags.add(TPE1(encoding=3, text=["Id3 Artist"]))
    w.tags.add(TIT2(encoding=3, text=["Id3 Title"]))
    w.save()
    assert read_tags(wav) == {
        "artist": "Id3 Artist",
        "title": "Id3 Title",
        "album": "Wesnoth Music",
    }


def test_track_metadata_in_the_table_and_info(corpus, tmp_path: Path) -> None:
    music = tmp_path / "music"
    (music / "Song").mkdir(parents=True)
    shutil.copy2(corpus.path("music/Knalgan Theme.wav"), music / "Song" / "full_mix.wav")
    shutil.copy2(corpus.path("music/Game OST/Act 1/01 - Northerners.mp3"), music / "n.mp3")
    shutil.copy2(corpus.path("known/click_120bpm.wav"), music / "click.wav")
    out = tmp_path / "out"
    proc = run_mirset(
        "build", str(music), str(out), "-e", "track_metadata", "-j", "0", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    rows = rows_by_path(out)
    song = rows["Song/full_mix.wav"]
    assert song["track_metadata_artist"] == "Battle for Wesnoth"
    assert song["track_metadata_title"] == "Knalgan Theme"
    assert song["track_metadata_year"] is None and "no year tag" in song["track_metadata_status"]
    assert rows["n.mp3"]["track_metadata_album"] == "Wesnoth Music"
    click = rows["click.wav"]
    assert click["track_metadata_status"].startswith("ok; track_metadata_artist: no tags")
    info = json.loads((music / "Song" / "Song.INFO").read_text(encoding="utf-8"))
    assert info["track_metadata_artist"] == "Battle for Wesnoth"
    assert info["track_metadata_title"] == "Knalgan Theme" and info["track_metadata_year"] is None
