"""A local HTTP server that answers like the Spotify Web API (JSON, client-credentials token)
and the MusicBrainz web service (MMD XML, ``/ws/2/``), from recorded responses.

The responses follow the documented formats: Spotify's track/album/artist objects and search
paging object; MusicBrainz's ``metadata`` documents with ``recording-list`` and ``release``
(``inc=labels``). Every request is recorded (time, method, path, query, headers), and scripted
faults (429 with Retry-After, 401/403) can be queued per endpoint.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

CLIENT_ID = "test-client-id-4f1c"
CLIENT_SECRET = "test-secret-9d27e0b1c3"  # tests assert it never shows up in logs or output
TOKEN = "BQD-recorded-token"
WESNOTH_ARTIST = {
    "external_urls": {"spotify": "https://open.spotify.com/artist/0wesnothArtist0000000"},
    "href": "https://api.spotify.com/v1/artists/0wesnothArtist0000000",
    "id": "0wesnothArtist0000000",
    "name": "Battle for Wesnoth",
    "type": "artist",
    "uri": "spotify:artist:0wesnothArtist0000000",
}


def _sp_track(tid: str, name: str, artist: dict, duration_ms: int, album: dict, **kw: Any) -> dict:
    """A Spotify track object (Web API reference, 'Get Track')."""
    return {
        "album": album,
        "artists": [artist],
        "available_markets": ["FI", "SE"],
        "disc_number": 1,
        "duration_ms": duration_ms,
        "explicit": False,
        "external_ids": {"isrc": kw.get("isrc", "QZABC0000000")},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{tid}"},
        "href": f"https://api.spotify.com/v1/tracks/{tid}",
        "id": tid,
        "is_local": False,
        "name": name,
        "popularity": kw.get("popularity", 10),
        "preview_url": None,
        "track_number": kw.get("track_number", 1),
        "type": "track",
        "uri": f"spotify:track:{tid}",
    }


def _sp_album(aid: str, name: str, date: str, precision: str = "day") -> dict:
    return {
        "album_type": "album",
        "artists": [WESNOTH_ARTIST],
        "external_urls": {"spotify": f"https://open.spotify.com/album/{aid}"},
        "href": f"https://api.spotify.com/v1/albums/{aid}",
        "id": aid,
        "images": [],
        "name": name,
        "release_date": date,
        "release_date_precision": precision,
        "total_tracks": 12,
        "type": "album",
        "uri": f"spotify:album:{aid}",
    }


COVER_BAND = WESNOTH_ARTIST | {"id": "1coverBand00000000000", "name": "The Cover Band"}
OST_ALBUM = _sp_album("2wesnothOst0000000000", "Wesnoth Music", "2009-03-10")
COVER_ALBUM = _sp_album("3covers00000000000000", "Covers Vol. 1", "2015-01-01")
# search results for "Northerners": a cover first (same title, duration close to the file's),
# then the right artist's extended version, then the right recording (20 s like the file)
NORTHERNERS_SEARCH = [
    _sp_track("4cover000000000000000", "Northerners", COVER_BAND, 20500, COVER_ALBUM),
    _sp_track("5extended000000000000", "Northerners - Extended Mix", WESNOTH_ARTIST, 240000,
              OST_ALBUM, popularity=5),
    _sp_track("6northerners000000000", "Northerners", WESNOTH_ARTIST, 20100, OST_ALBUM,
              isrc="FIWES0900001", popularity=23, track_number=3),
]  # fmt: skip
SPOTIFY_ALBUMS = {
    "2wesnothOst0000000000": OST_ALBUM | {"label": "Wesnoth Records", "genres": []},
    "3covers00000000000000": COVER_ALBUM | {"label": "Cover Label", "genres": []},
}
SPOTIFY_ARTISTS = {
    "0wesnothArtist0000000": WESNOTH_ARTIST
    | {"genres": ["video game music", "orchestral"], "popularity": 30, "followers": {"total": 9}},
}


def _search_page(items: list[dict], q: str) -> dict:
    """A Spotify search response: a paging object under "tracks"."""
    return {
        "tracks": {
            "href": f"https://api.spotify.com/v1/search?query={q}&type=track&offset=0&limit=10",
            "items": items,
            "limit": 10,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(items),
        }
    }


MB_NS = 'xmlns="http://musicbrainz.org/ns/mmd-2.0#" xmlns:ns2="http://musicbrainz.org/ns/ext#-2.0"'


def _mb_recording(rid: str, title: str, artist: str, length_ms: int, releases: list, **kw) -> str:
    rel = "".join(
        f'<release id="{i}"><title>{t}</title><status>Official</status><date>{d}</date>'
        f"<country>XW</country></release>"
        for i, t, d in releases
    )
    isrcs = "".join(f'<isrc id="{x}"/>' for x in kw.get("isrcs", []))
    tags = "".join(f'<tag count="{c}"><name>{n}</name></tag>' for n, c in kw.get("tags", []))
    return (
        f'<recording id="{rid}" ns2:score="{kw.get("score", 100)}"><title>{title}</title>'
        f"<length>{length_ms}</length><artist-credit><name-credit>"
        f'<artist id="a-{rid}"><name>{artist}</name><sort-name>{artist}</sort-name></artist>'
        f"</name-credit></artist-credit>"
        f'<release-list count="{len(releases)}">{rel}</release-list>'
        + (f'<isrc-list count="{len(kw.get("isrcs", []))}">{isrcs}</isrc-list>' if isrcs else "")
        + (f"<tag-list>{tags}</tag-list>" if tags else "")
        + "</recording>"
    )


def _mb_list(recordings: list[str]) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><metadata {MB_NS} created="2026-01-01T00:00:00Z">'
        f'<recording-list count="{len(recordings)}" offset="0">{"".join(recordings)}'
        f"</recording-list></metadata>"
    )


MB_RECORDINGS = {
    "northerners": _mb_list([
        _mb_recording("9d1a0000-0000-4000-8000-000000000001", "Northerners Theme (Live)",
                      "Someone Else", 300000, [("r-live", "Live", "2019-05-05")]),
        _mb_recording("9d1a0000-0000-4000-8000-000000000002", "Northerners",
                      "Battle for Wesnoth", 20000,
                      [("r-ost2", "Wesnoth Music 2", "2008-01-01"),
                       ("r-ost1", "Wesnoth Music", "2005-11-30")],
                      isrcs=["FIWES0500001"], tags=[("soundtrack", 2), ("video game music", 5)]),
    ]),
    "loyalists": _mb_list([
        _mb_recording("9d1a0000-0000-4000-8000-000000000003", "Loyalists", "Battle for Wesnoth",
                      20000, [("r-ost1", "Wesnoth Music", "2005-11-30")],
                      tags=[("soundtrack", 4)]),
    ]),
}  # fmt: skip
MB_RELEASES = {
    "r-ost1": f'<?xml version="1.0" encoding="UTF-8"?><metadata {MB_NS}><release id="r-ost1">'
    "<title>Wesnoth Music</title><status>Official</status><date>2005-11-30</date>"
    '<label-info-list count="1"><label-info><catalog-number>WES-1</catalog-number>'
    '<label id="l-1"><name>Wesnoth Collective</name></label></label-info></label-info-list>'
    "</release></metadata>",
}


@dataclass
class Request:
    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeServices:
    """State shared with the handler: recorded answers, faults to play, requests seen."""

    requests: list[Request] = field(default_factory=list)
    faults: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    always: dict[str, int] = field(default_factory=dict)  # endpoint -> status every time
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def seen(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def params(self, cache_dir: str, **extra: Any) -> dict[str, Any]:
        """metadata_lookup parameters pointing both clients at this server."""
        return {
            "cache_dir": cache_dir,
            "spotify_api_url": f"http://127.0.0.1:{self.port}/v1/",
            "spotify_token_url": f"http://127.0.0.1:{self.port}/api/token",
            "musicbrainz_host": f"127.0.0.1:{self.port}",
            "musicbrainz_https": False,
            **extra,
        }


def _endpoint(path: str) -> str:
    if path == "/api/token":
        return "token"
    if path.startswith("/v1/"):
        return path.split("/")[2]  # search, albums, artists, audio-features
    if path.startswith("/ws/2/"):
        return "mb-" + path.split("/")[3]
    return path


def make_handler(state: FakeServices) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: str, ctype: str, headers: dict | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            path = unquote(url.path)
            query = parse_qs(url.query)
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                query |= parse_qs(self.rfile.read(length).decode())
            with state.lock:
                state.requests.append(
                    Request(time.time(), method, path, query, dict(self.headers.items()))
                )
                ep = _endpoint(path)
                queued = state.faults.get(ep) or []
                fault = queued.pop(0) if queued else None
            if fault is None and ep in state.always:
                fault = (state.always[ep], {})
            if fault is not None:
                status, headers = fault
                err = {"error": {"status": status, "message": "recorded fault"}}
                self._send(status, json.dumps(err), "application/json", headers)
                return
            if ep == "token":
                expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(400, '{"error":"invalid_client"}', "application/json")
                    return
                body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
                self._send(200, json.dumps(body), "application/json")
                return
            if path.startswith("/v1/"):
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(
                        401, '{"error":{"status":401,"message":"No token"}}', "application/json"
                    )
                    return
                self._spotify(ep, path, query)
                return
            if path.startswith("/ws/2/"):
                self._musicbrainz(ep, path, query)
                return
            self._send(404, "not found", "text/plain")

        def _spotify(self, ep: str, path: str, query: dict) -> None:
            if ep == "search":
                q = query.get("q", [""])[0]
                items = NORTHERNERS_SEARCH if "northerners" in q.lower() else []
                self._send(200, json.dumps(_search_page(items, q)), "application/json")
                return
            table = {"albums": SPOTIFY_ALBUMS, "artists": SPOTIFY_ARTISTS}.get(ep, {})
            obj = table.get(path.rsplit("/", 1)[-1])
            if obj is None:
                self._send(
                    404, '{"error":{"status":404,"message":"Not found."}}', "application/json"
                )
                return
            self._send(200, json.dumps(obj), "application/json")

        def _musicbrainz(self, ep: str, path: str, query: dict) -> None:
            xml = "application/xml; charset=UTF-8"
            if ep == "mb-recording":
                q = query.get("query", [""])[0].lower()
                body = next((v for k, v in MB_RECORDINGS.items() if k in q), _mb_list([]))
                self._send(200, body, xml)
                return
            if ep == "mb-release":
                rid = path.rstrip("/").rsplit("/", 1)[-1]
                if rid in MB_RELEASES:
                    self._send(200, MB_RELEASES[rid], xml)
                    return
            self._send(404, "<error><text>Not Found</text></error>", xml)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


class Server:
    """``with Server() as services:`` runs the fake services on a free local port."""

    def __init__(self) -> None:
        self.state = FakeServices()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.state.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServices:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
