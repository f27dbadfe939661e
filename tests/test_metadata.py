"""Track metadata: embedded tags of every common format, and the online lookup against a local
HTTP server that serves recorded Spotify and MusicBrainz responses."""

from __future__ import annotations

import base64
import itertools
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


# --------------------------------------------------------------------------- online lookup
# The services cannot be reached from the tests: tests/lookup_fakes.py serves recorded
# responses in Spotify's JSON and MusicBrainz's XML formats from a local HTTP server.


def test_scores_pick_the_right_candidate_not_the_first() -> None:
    from mirset.metadata.lookup import Candidate, Query, best_match, normalise, score

    assert normalise("Northerners (Remastered 2011) feat. X") == "northerners"
    assert normalise("Song - 2009 Remaster") == "song"
    q = Query("Northerners", "Battle for Wesnoth", duration_s=20.0)
    cover = Candidate("spotify", "a", "Northerners", ["The Cover Band"], 20.5)
    extended = Candidate("spotify", "b", "Northerners - Extended Mix", ["Battle for Wesnoth"], 240)
    right = Candidate("spotify", "c", "Northerners", ["Battle for Wesnoth"], 20.1)
    assert score(q, cover) == 0.0  # another artist's recording
    assert score(q, right) == pytest.approx(1.0)
    assert 0.75 <= score(q, extended) < 0.85  # right recording name, wrong length
    assert best_match(q, [cover, extended, right], 0.75)[0] is right
    assert best_match(q, [cover], 0.75)[0] is None
    # without an artist the duration must agree
    bare = Query("Northerners", None, duration_s=20.0)
    assert best_match(bare, [extended], 0.75)[0] is None
    assert best_match(bare, [right], 0.75)[0] is right


def _lookup_config(tmp_path: Path, services, **extra) -> Path:
    config = tmp_path / "lookup.yaml"
    params = services.params(str(tmp_path / "cache"), **extra)
    config.write_text(json.dumps({"extractor_params": {"metadata_lookup": params}}))
    return config


@pytest.fixture()
def credentials(monkeypatch):
    from lookup_fakes import CLIENT_ID, CLIENT_SECRET

    monkeypatch.setenv("SPOTIFY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("MIRSET_CONTACT", "mirset-tests@example.org")
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)


def test_lookup_in_a_build_with_backoff_rate_limit_cache(
    corpus, tmp_path: Path, credentials
) -> None:
    from lookup_fakes import CLIENT_SECRET, Server

    music = tmp_path / "music"
    music.mkdir()
    shutil.copy2(corpus.path("music/Game OST/Act 1/01 - Northerners.mp3"), music / "n.mp3")
    shutil.copy2(corpus.path("music/Game OST/Act 1/02 - Loyalists.ogg"), music / "l.ogg")
    shutil.copy2(corpus.path("known/click_120bpm.wav"), music / "Nobody - Unknown Click.wav")
    with Server() as services:
        services.faults["search"] = [(429, {"Retry-After": "1"})]  # the first search: wait 1 s
        services.always["artists"] = 403  # genres endpoint closed to the app: unavailable
        config = _lookup_config(tmp_path, services)
        args = ["--config", str(config), "-j", "0", "--no-progress", "--lookup", "-e", "loudness"]
        proc = run_mirset("build", str(music), str(tmp_path / "out"), *args)
        assert proc.returncode == 0, proc.stderr
        rows = rows_by_path(tmp_path / "out")

        n = rows["n.mp3"]  # Spotify's third hit (the first is a cover), MB's second
        assert n["metadata_lookup_status"].startswith("ok"), n["metadata_lookup_status"]
        assert n["spotify_id"] == "6northerners000000000" and n["isrc"] == "FIWES0900001"
        assert n["musicbrainz_id"] == "9d1a0000-0000-4000-8000-000000000002"
        assert n["artists"] == ["Battle for Wesnoth"] and n["popularity"] == 23
        assert n["label"] == "Wesnoth Records"  # Spotify's album, first in line
        assert (n["release_year"], n["release_date"]) == (2005, "2005-11-30")  # MB's earliest
        assert n["genres"] == ["video game music", "soundtrack"]  # Spotify 403 -> MB tags
        assert n["lookup_sources"] == ["spotify", "musicbrainz"] and n["lookup_score"] >= 0.75
        assert n["lufs"] is not None  # the rest of the build ran as usual
        assert n["track_metadata_title"] == "Northerners"

        lo = rows["l.ogg"]  # Spotify: no results (strict, then loose); MusicBrainz: a match
        assert lo["musicbrainz_id"] == "9d1a0000-0000-4000-8000-000000000003"
        assert lo["label"] == "Wesnoth Collective" and lo["spotify_id"] is None
        assert "spotify: no match (no results)" in lo["metadata_lookup_status"]

        click = rows["Nobody - Unknown Click.wav"]  # no tags: the name is the query; no match
        assert click["metadata_lookup_status"].startswith("ok; release_year: spotify: no match")
        assert click["lookup_sources"] is None and click["spotify_id"] is None

        info = json.loads((tmp_path / "out/tracks/n.INFO").read_text(encoding="utf-8"))
        assert info["spotify_id"] == "6northerners000000000" and info["release_year"] == 2005
        assert "lookup_score" not in info

        # 429: the search was asked again after the Retry-After second
        searches = services.seen("/v1/search")
        assert searches[1].at - searches[0].at >= 1.0
        # MusicBrainz: never faster than 1 request/s, with mirset's user agent and a contact
        mb = services.seen("/ws/2/")
        # 3 searches, 1 release (labels): both matches' earliest release is r-ost1, and the
        # second track's answer comes from the cache
        assert [r.path for r in mb].count("/ws/2/release/r-ost1") == 1 and len(mb) == 4
        gaps = [b.at - a.at for a, b in itertools.pairwise(mb)]
        assert min(gaps) >= 0.99, gaps
        ua = mb[0].headers["User-Agent"]
        assert ua.startswith("mirset/") and "( mirset-tests@example.org )" in ua
        assert len(services.seen("/api/token")) == 1
        # the credentials never leave the token request
        assert CLIENT_SECRET not in proc.stderr + proc.stdout
        assert CLIENT_SECRET not in (tmp_path / "out/tracks/n.INFO").read_text()
        asked = len(services.requests)

        # a fresh build of the same tracks asks nothing: answers and misses are cached
        proc = run_mirset("build", str(music), str(tmp_path / "out2"), *args)
        assert proc.returncode == 0, proc.stderr
        assert len(services.requests) == asked
        again = rows_by_path(tmp_path / "out2")
        for rel in rows:
            for col in ("spotify_id", "musicbrainz_id", "release_year", "label", "genres"):
                assert again[rel][col] == rows[rel][col], (rel, col)


def test_unavailable_services_do_not_fail(tmp_path: Path, credentials, caplog) -> None:
    """Refused credentials (400/401/403) and closed endpoints: null with the reason; a Retry-After
    beyond the cap: a transient error, not cached; secrets never in the logs."""
    import logging

    from lookup_fakes import CLIENT_ID, CLIENT_SECRET, Server
    from mirset.metadata import lookup as lk

    caplog.set_level(logging.DEBUG)
    q = lk.Query("Northerners", "Battle for Wesnoth", duration_s=20.0)
    with Server() as services:
        cache = lk.Cache(tmp_path / "c")
        url = f"http://127.0.0.1:{services.port}"

        def spotify(secret: str = CLIENT_SECRET, folder: str = "c", **kw) -> lk.SpotifyClient:
            limiter = lk.RateLimiter(tmp_path / folder, "spotify", 0.0)
            c = cache if folder == "c" else lk.Cache(tmp_path / folder)
            return lk.SpotifyClient(
                (CLIENT_ID, secret), c, limiter, f"{url}/v1/", f"{url}/api/token", **kw
            )

        mb = lk.MusicBrainzClient(
            "t@example.org", cache, lk.RateLimiter(tmp_path / "c", "mb", 0.0), url[7:], False
        )
        bad = spotify("wrong-secret")
        res = lk.lookup(q, [bad, mb], 0.75)
        assert res.sources == ["musicbrainz"] and not res.errors
        assert res.reasons["spotify_id"].endswith(
            "spotify unavailable: credentials refused (HTTP 400)"
        )
        assert res.values["musicbrainz_id"].endswith("0002")
        n_token = len(services.seen("/api/token"))
        lk.lookup(q, [bad], 0.75)  # refused: not asked again, in this worker
        lk.lookup(q, [spotify("wrong-secret")], 0.75)  # nor in the next run (remembered a day)
        assert len(services.seen("/api/token")) == n_token

        services.always["search"] = 403  # search closed to the app (as in 2026)
        res = lk.lookup(q, [spotify()], 0.75)
        assert res.values == {} and "spotify search: unavailable (HTTP 403)" in res.reasons["isrc"]
        del services.always["search"]
        assert lk.lookup(q, [spotify(unavailable_ttl_s=0)], 0.75).sources == ["spotify"]

        services.faults["search"] = [(429, {"Retry-After": "3600"})]
        slept: list[float] = []
        capped = spotify(folder="c2", backoff=lk.Backoff(max_wait_s=30, sleep=slept.append))
        res = lk.lookup(q, [capped], 0.75)
        assert slept == [] and res.errors == [
            "spotify rate limit: Retry-After 3600 s is over the 30 s cap"
        ]
        res = lk.lookup(q, [capped], 0.75)  # the error was not cached: asked again, answered
        assert res.values["spotify_id"] == "6northerners000000000" and not res.errors
    secret_b64 = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert CLIENT_SECRET not in caplog.text and secret_b64 not in caplog.text
    assert "api/token" not in caplog.text or "Basic" not in caplog.text


def test_lookup_extractor_reports_what_is_missing(monkeypatch) -> None:
    from mirset.extractors.metadata_lookup import LookupParams, MetadataLookup

    for var in ("SPOTIFY_CLIENT_ID", "SPOTIPY_CLIENT_ID", "MIRSET_CONTACT"):
        monkeypatch.delenv(var, raising=False)
    reason = MetadataLookup().unavailable_reason()
    assert "SPOTIFY_CLIENT_ID" in reason and "MIRSET_CONTACT" in reason
    monkeypatch.setenv("MIRSET_CONTACT", "x@example.org")
    ext = MetadataLookup()
    assert ext.unavailable_reason() is None and ext.configured() == ["musicbrainz"]
    # operational settings do not re-run lookups; the services asked and min_score do
    assert MetadataLookup({"cache_dir": "/elsewhere"}).params_hash == ext.params_hash
    assert MetadataLookup({"min_score": 0.9}).params_hash != ext.params_hash
    with pytest.raises(ValueError, match="1 request per second"):
        LookupParams(musicbrainz_interval_s=0.5)
    from mirset.extractors.base import resolve

    assert "metadata_lookup" not in [c.name for c in resolve(None)]  # opt-in
