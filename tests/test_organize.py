"""``mirset organize``: the old organiser's naming rules without its data losses."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import run_mirset
from mirset.builder.discover import discover
from mirset.metadata.tags import read_tags
from mirset.organize import clean_name, folder_name_for, organize, strip_track_number

NORTHERNERS = "music/Game OST/Act 1/01 - Northerners.mp3"
LOYALISTS = "music/Game OST/Act 1/02 - Loyalists.ogg"
KNALGAN = "music/Knalgan Theme.wav"
SUNRISE = "music/Organised/Sunrise Drive"
JOURNEYS = "music/Singles/Journeys End.m4a"


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("013 Song", {}, "Song"),
        ("02. Song", {}, "Song"),
        ("1 - Song", {}, "Song"),
        ("07_Song", {}, "Song"),
        ("2024 Mix", {}, "2024 Mix"),  # four digits: a year, not a track number
        ("808 State - Cubik", {}, "808 State - Cubik"),  # the old rule ate these digits
        ("7 Seconds", {}, "7 Seconds"),
        ("7 Seconds", {"track_tag": 7}, "Seconds"),
        ("3 Song", {"siblings_numbered": True}, "Song"),
        ("01 ", {}, "01 "),  # never emptied
    ],
)
def test_track_numbers(name: str, kwargs: dict, expected: str) -> None:
    assert strip_track_number(name, **kwargs) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Tëst Sông – ünïcode", "Test Song - unicode"),
        ("Artist -Title", "Artist - Title"),
        ("Artist_-_Title", "Artist - Title"),
        ("Psy-Trance Anthem", "Psy-Trance Anthem"),  # the old tool made it "Psy - Trance"
        ("Caf\\u00e9 Nights", "Cafe Nights"),  # literal \uXXXX escapes
        ("Straße … Ærø × 2", "Strasse ... AEro x 2"),
        ('What?: "x" <y>|', "What x y"),
        ("Łódź   Jam ", "Lodz Jam"),
        ("日本語 [live]", "[live]"),
        ("日本語", "日本語"),  # nothing readable in ASCII: keeps Unicode, not "Unknown"
        ("???", "Unknown"),
        ("Name.", "Name"),
    ],
)
def test_clean_name(name: str, expected: str) -> None:
    assert clean_name(name) == expected


def test_various_artists_name_from_tags() -> None:
    tags = {"artist": "Battle for Wesnoth", "title": "Northerners"}
    assert folder_name_for("05 - Various Artists - Track 5", tags=tags) == (
        "Battle for Wesnoth - Northerners"
    )
    assert folder_name_for("05 - VA - Track 5") == "VA - Track 5"  # no tags: unchanged
    assert folder_name_for("Some Artist - Track", tags=tags) == "Some Artist - Track"


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def collection(corpus, tmp_path: Path) -> Path:
    """A messy flat collection of real recordings: a name collision, a byte duplicate, a
    numbered file with sidecars and a stem, an organised folder whose name needs cleaning,
    and a Various Artists file with tags."""
    src = tmp_path / "in"
    (src / "A").mkdir(parents=True)
    (src / "B").mkdir()
    shutil.copy2(corpus.path(NORTHERNERS), src / "A" / "01 - Song.mp3")
    shutil.copy2(corpus.path(LOYALISTS), src / "B" / "Song.ogg")  # also wants "Song"
    shutil.copy2(corpus.path(NORTHERNERS), src / "B" / "copy of song.mp3")  # same bytes
    shutil.copy2(corpus.path(KNALGAN), src / "A" / "03 - Knalgan_Theme.wav")
    (src / "A" / "03 - Knalgan_Theme.INFO").write_text('{\n  "lufs": -14.2\n}', encoding="utf-8")
    (src / "A" / "03 - Knalgan_Theme.BEATS_GRID").write_text("0.500000\n1.000000\n")
    (src / "A" / "03 - Knalgan_Theme.ONSETS").write_text("0.010000\n")
    shutil.copy2(corpus.path(KNALGAN), src / "A" / "03 - Knalgan_Theme_drums.wav")
    organised = src / "Organised" / "Sünrise_Drive"
    shutil.copytree(corpus.path(SUNRISE), organised)
    (organised / "Sünrise_Drive.INFO").write_text('{\n  "bpm": 128.0\n}', encoding="utf-8")
    (organised / "Sünrise_Drive.DOWNBEATS").write_text("0.000000\n1.875000\n")
    shutil.copy2(corpus.path(JOURNEYS), src / "B" / "Various Artists - Track 2.m4a")
    return src


def test_organize_loses_nothing(collection: Path, tmp_path: Path) -> None:
    before = _snapshot(collection)
    out = tmp_path / "out"
    plan = organize(collection, out, read_tags=read_tags)
    assert not plan.errors
    assert _snapshot(collection) == before  # sources untouched (bytes, sizes, mtimes)

    folders = sorted(p.name for p in out.iterdir())
    assert folders == [
        "Battle for Wesnoth - Journeys End",  # VA name fixed from the tags, before any sidecar
        "Knalgan Theme",
        "Song",
        "Song (2)",
        "Sunrise Drive",
    ]
    # the collision: both recordings survive, the second under a unique name, reported
    song = (out / "Song" / "full_mix.mp3").read_bytes()
    song2 = (out / "Song (2)" / "full_mix.ogg").read_bytes()
    assert song == (collection / "A" / "01 - Song.mp3").read_bytes()
    assert song2 == (collection / "B" / "Song.ogg").read_bytes()
    renamed = [a for a in plan.actions if a.kind == "copy" and a.renamed]
    assert [(a.wanted_name, a.folder) for a in renamed] == [("Song", "Song (2)")]
    # the byte duplicate is reported and skipped
    dup = plan.of_kind("duplicate")
    assert [Path(a.source).name for a in dup] == ["copy of song.mp3"]
    assert Path(dup[0].duplicate_of).name == "01 - Song.mp3"
    # every sidecar moved with the renamed track; its stem became drums.wav
    knalgan = out / "Knalgan Theme"
    assert sorted(p.name for p in knalgan.iterdir()) == [
        "Knalgan Theme.BEATS_GRID",
        "Knalgan Theme.INFO",
        "Knalgan Theme.ONSETS",
        "drums.wav",
        "full_mix.wav",
    ]
    assert json.loads((knalgan / "Knalgan Theme.INFO").read_text()) == {"lufs": -14.2}
    # the organised folder: cleaned name, stems and renamed sidecars carried over
    sunrise = out / "Sunrise Drive"
    assert {p.name for p in sunrise.iterdir()} == {
        "full_mix.flac",
        "drums.flac",
        "bass.flac",
        "other.flac",
        "vocals.flac",
        "Sunrise Drive.INFO",
        "Sunrise Drive.DOWNBEATS",
    }
    # the build sees the organised layout with its stems, and no leftover temp files
    found = {t.relative_path: t for t in discover(out).tracks}
    assert set(found) == {f"{f}/full_mix{ext}" for f, ext in [
        ("Battle for Wesnoth - Journeys End", ".m4a"), ("Knalgan Theme", ".wav"),
        ("Song", ".mp3"), ("Song (2)", ".ogg"), ("Sunrise Drive", ".flac"),
    ]}  # fmt: skip
    assert all(t.layout == "organised" for t in found.values())
    assert sorted(found["Sunrise Drive/full_mix.flac"].stems) == [
        "bass",
        "drums",
        "other",
        "vocals",
    ]
    assert not [p for p in out.rglob(".*")]

    # a rerun copies nothing: everything is found by content
    again = organize(collection, out, read_tags=read_tags)
    assert again.counts().get("copy", 0) == 0 and again.counts()["already"] == 5
    assert {a.folder for a in again.of_kind("already")} == set(folders)


def test_dry_run_writes_nothing_and_cli_reports(collection: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    proc = run_mirset(
        "organize", str(collection), str(out), "--dry-run", "--json-report", str(report)
    )
    assert proc.returncode == 0, proc.stderr
    assert not out.exists()
    assert "would copy 5 track(s)" in proc.stderr and "1 duplicate(s) skipped" in proc.stderr
    assert "renamed: 'Song' is taken by another track, so 'Song (2)'" in proc.stderr
    data = json.loads(report.read_text())
    assert data["counts"]["copy"] == 5 and data["counts"]["renamed"] == 1
    proc = run_mirset("organize", str(collection), str(out))
    assert proc.returncode == 0 and (out / "Song (2)" / "full_mix.ogg").is_file()
    assert run_mirset("organize", str(tmp_path / "missing"), str(out)).returncode == 3
    assert run_mirset("organize", str(collection), str(collection / "x")).returncode == 2


def test_a_builds_sidecars_and_stems_come_along(corpus, tmp_path: Path) -> None:
    """Flat files built before organising: their sidecars live under OUT/tracks/ and their
    separated stems under OUT/stems/; --sidecars-from carries both, renamed."""
    src = tmp_path / "in" / "Act 1"
    src.mkdir(parents=True)
    shutil.copy2(corpus.path(NORTHERNERS), src / "01 - Northerners.mp3")
    build_out = tmp_path / "built"
    proc = run_mirset(
        "build", str(tmp_path / "in"), str(build_out), "-e", "onsets", "-j", "0", "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    side = build_out / "tracks" / "Act 1"
    assert sorted(p.name for p in side.iterdir() if not p.name.endswith(".lock")) == [
        "01 - Northerners.INFO",
        "01 - Northerners.ONSETS",
    ]
    stems = build_out / "stems" / "Act 1" / "01 - Northerners"
    stems.mkdir(parents=True)  # as the stems extractor writes them (no Demucs run here)
    shutil.copy2(corpus.path(KNALGAN), stems / "drums.wav")
    out = tmp_path / "out"
    plan = organize(tmp_path / "in", out, sidecars_from=build_out)
    assert not plan.errors
    folder = out / "Northerners"
    assert sorted(p.name for p in folder.iterdir()) == [
        "Northerners.INFO",
        "Northerners.ONSETS",
        "drums.wav",
        "full_mix.mp3",
    ]
    assert (folder / "Northerners.ONSETS").read_text() == (
        side / "01 - Northerners.ONSETS"
    ).read_text()
    assert os.access(folder / "full_mix.mp3", os.R_OK)
