"""Online metadata lookup: Spotify (``spotipy``) and MusicBrainz (``musicbrainzngs``).

* Queries come from the tags (artist, title) or, failing those, the folder name
  ("Artist - Album - Title", "Artist - Title", "Title"; upstream-spec §5.5).
* Candidates are scored over title, artist and duration (``score``) and the best one above
  ``min_score`` is taken — never the blind first hit.
* Every answer, a miss (no results) included, is cached on disk (SQLite, keyed by service and
  request), so a rerun asks nothing twice. Errors are not cached.
* MusicBrainz is asked at most once a second across all worker processes (a file-locked
  timestamp), with a user agent naming mirset, its version and a contact.
* Spotify's client credentials come from the environment (``SPOTIFY_CLIENT_ID`` /
  ``SPOTIFY_CLIENT_SECRET``, or spotipy's ``SPOTIPY_*``); they are never logged: the token is
  fetched here without logging and spotipy's debug records (which print request headers) are
  dropped. A 429 waits for ``Retry-After`` (capped) and retries; 401/403 (bad credentials, an
  endpoint closed to the app) and 404/410 from a retired endpoint make that service or endpoint
  "unavailable" (remembered for a day, per credentials): its fields are null with the reason,
  and nothing fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from filelock import FileLock

from mirset import __version__

SPOTIFY_API_URL = "https://api.spotify.com/v1/"
SPOTIFY_TOKEN_URL = "https://accounts.spotify.com/api/token"
MUSICBRAINZ_HOST = "musicbrainz.org"
USER_AGENT_APP = "mirset"
VA_ALIASES = frozenset(
    {"various artists", "various", "va", "v/a", "v.a.", "compilation", "unknown artist", "unknown"}
)
MISS = {"__miss__": True}


class ServiceUnavailable(Exception):
    """401/403, or a retired endpoint (404/410): do not ask this service/endpoint again."""


class ServiceError(Exception):
    """A transient failure (network, 5xx, rate limit beyond the wait cap): not cached."""


def spotify_credentials() -> tuple[str, str] | None:
    cid = os.environ.get("SPOTIFY_CLIENT_ID") or os.environ.get("SPOTIPY_CLIENT_ID")
    secret = os.environ.get("SPOTIFY_CLIENT_SECRET") or os.environ.get("SPOTIPY_CLIENT_SECRET")
    return (cid, secret) if cid and secret else None


def default_cache_dir() -> Path:
    env = os.environ.get("MIRSET_LOOKUP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mirset" / "lookup"


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Query:
    title: str
    artist: str | None = None
    album: str | None = None
    duration_s: float | None = None


def query_for(tags: dict[str, Any], folder_name: str, duration_s: float | None) -> Query | None:
    """The query for a track: its tags, else its folder name (§5.5's parsing)."""
    title, artist, album = tags.get("title"), tags.get("artist"), tags.get("album")
    if not title:
        name = re.sub(r"^\d{1,3}[.\s\-_]+", "", folder_name).strip()
        parts = [p.strip() for p in name.split(" - ") if p.strip()]
        if not parts:
            return None
        if len(parts) >= 3:
            artist, album, title = parts[0], parts[1], " - ".join(parts[2:])
        elif len(parts) == 2:
            artist, title = parts
        else:
            title = parts[0]
    if artist and artist.strip().casefold() in VA_ALIASES:
        artist = None
    return Query(title=title, artist=artist or None, album=album or None, duration_s=duration_s)


_BRACKETS = re.compile(r"[\(\[\{][^\)\]\}]*[\)\]\}]")
_FEAT = re.compile(r"\s(feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)
_SUFFIX = re.compile(r"\s-\s(.*\b(remaster(ed)?|version|edit|mix|live|mono|stereo)\b.*)$", re.I)


def normalise(text: str) -> str:
    """Lower-case ASCII words, without bracketed parts, "feat. …" and remaster/edit suffixes."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _BRACKETS.sub(" ", text)
    text = _SUFFIX.sub(" ", text)
    text = _FEAT.sub(" ", text)
    text = text.replace("&", " and ")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def similarity(a: str, b: str) -> float:
    """0..1 similarity of two names after ``normalise``."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return SequenceMatcher(None, na, nb).ratio()


def duration_score(a: float | None, b: float | None) -> float | None:
    """1 within 3 s, falling linearly to 0 at 30 s apart; None when a duration is unknown."""
    if a is None or b is None:
        return None
    diff = abs(a - b)
    return max(0.0, min(1.0, 1.0 - (diff - 3.0) / 27.0))


@dataclass
class Candidate:
    service: str
    id: str
    title: str
    artists: list[str]
    duration_s: float | None
    raw: dict[str, Any] = field(default_factory=dict)


WEIGHTS = {"title": 0.5, "artist": 0.3, "duration": 0.2}
MIN_TITLE = 0.6
MIN_ARTIST = 0.5


def score(q: Query, c: Candidate) -> float:
    """Weighted title (0.5), artist (0.3) and duration (0.2) agreement; parts the query lacks are
    left out and the weights renormalised. A title below 0.6 similarity, or an artist below 0.5
    when the query names one, scores 0."""
    title = similarity(q.title, c.title)
    if title < MIN_TITLE:
        return 0.0
    parts = {"title": title}
    if q.artist:
        names = [*c.artists, " ".join(c.artists)]
        parts["artist"] = max((similarity(q.artist, n) for n in names), default=0.0)
        if parts["artist"] < MIN_ARTIST:  # another artist's recording (a cover) is no match
            return 0.0
    dur = duration_score(q.duration_s, c.duration_s)
    if dur is not None:
        parts["duration"] = dur
    total = sum(WEIGHTS[k] for k in parts)
    return sum(WEIGHTS[k] * v for k, v in parts.items()) / total


def best_match(
    q: Query, candidates: list[Candidate], min_score: float
) -> tuple[Candidate | None, float]:
    """The highest-scoring candidate if it reaches ``min_score`` (ties: the earlier one)."""
    best, best_score = None, 0.0
    for c in candidates:
        s = score(q, c)
        if s > best_score:
            best, best_score = c, s
    return (
        (best, best_score) if best is not None and best_score >= min_score else (None, best_score)
    )


# --------------------------------------------------------------------------- cache, rate


class Cache:
    """Answers by (service, request key) in SQLite; safe across worker processes."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "answers.sqlite"
        self._db = sqlite3.connect(str(self.path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (service TEXT, key TEXT, value TEXT, at REAL,"
            " PRIMARY KEY (service, key))"
        )
        self._db.commit()

    def get(self, service: str, key: str, max_age_s: float | None = None) -> Any | None:
        row = self._db.execute(
            "SELECT value, at FROM answers WHERE service = ? AND key = ?", (service, key)
        ).fetchone()
        if row is None or (max_age_s is not None and time.time() - row[1] > max_age_s):
            return None
        return json.loads(row[0])

    def put(self, service: str, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
            (service, key, json.dumps(value), time.time()),
        )
        self._db.commit()


class RateLimiter:
    """At most one request per ``interval_s`` across processes sharing ``folder``."""

    def __init__(self, folder: Path, name: str, interval_s: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.stamp = folder / f"{name}.last-request"
        self.lock = FileLock(str(folder / f"{name}.rate.lock"))
        self.interval_s = interval_s

    def wait(self) -> None:
        if self.interval_s <= 0:
            return
        with self.lock:
            try:
                last = float(self.stamp.read_text())
            except (OSError, ValueError):
                last = 0.0
            delay = last + self.interval_s - time.time()
            if delay > 0:
                time.sleep(delay)
            self.stamp.write_text(repr(time.time()))


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------- Spotify


class _NoDebug(logging.Filter):
    """spotipy logs request headers (credentials, tokens) at DEBUG: drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


for _name in ("spotipy", "spotipy.client", "spotipy.oauth2"):
    logging.getLogger(_name).addFilter(_NoDebug())


class _ClientCredentials:
    """Spotify's client-credentials flow, as spotipy's auth-manager interface, never logging."""

    def __init__(self, client_id: str, secret: str, token_url: str, timeout: float) -> None:
        import requests

        self._basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self._url = token_url
        self._timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None
        self._expires = 0.0

    def __repr__(self) -> str:  # never show the secret
        return "_ClientCredentials(<hidden>)"

    def get_access_token(self, as_dict: bool = False, check_cache: bool = True) -> str:
        import requests

        if self._token and time.time() < self._expires - 60:
            return self._token
        try:
            r = self._session.post(
                self._url,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {self._basic}"},
                timeout=self._timeout,
            )
        except requests.RequestException as e:
            raise ServiceError(f"token request failed: {type(e).__name__}") from None
        if r.status_code in (400, 401, 403):
            raise ServiceUnavailable(f"credentials refused (HTTP {r.status_code})")
        if r.status_code != 200:
            raise ServiceError(f"token request answered HTTP {r.status_code}")
        data = r.json()
        self._token = data["access_token"]
        self._expires = time.time() + float(data.get("expires_in", 3600))
        return self._token


@dataclass
class Backoff:
    max_wait_s: float = 60.0  # a Retry-After longer than this gives up (not cached)
    attempts: int = 4
    sleep: Callable[[float], None] = time.sleep


class SpotifyClient:
    name = "spotify"

    def __init__(
        self,
        credentials: tuple[str, str],
        cache: Cache,
        limiter: RateLimiter,
        api_url: str = SPOTIFY_API_URL,
        token_url: str = SPOTIFY_TOKEN_URL,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        unavailable_ttl_s: float = 86400.0,
    ) -> None:
        import requests
        import spotipy

        self._auth = _ClientCredentials(*credentials, token_url, timeout)
        # a plain session: no urllib3 retries that would sleep on Retry-After unbounded
        session = requests.Session()
        session.headers["User-Agent"] = f"{USER_AGENT_APP}/{__version__}"
        self._sp = spotipy.Spotify(
            auth_manager=self._auth, requests_session=session, requests_timeout=timeout
        )
        self._sp.prefix = api_url if api_url.endswith("/") else api_url + "/"
        self.cache, self.limiter = cache, limiter
        self.backoff = backoff or Backoff()
        self.unavailable: dict[str, str] = {}  # endpoint ("*" = the whole service) -> reason
        self.unavailable_ttl_s = unavailable_ttl_s
        # refusals are remembered per credentials (a one-way hash: new credentials ask again)
        self._cred = hashlib.sha256(":".join(credentials).encode()).hexdigest()[:16]

    def _mark(self, scope: str, reason: str) -> ServiceUnavailable:
        """Remember a refusal for this worker and, for ``unavailable_ttl_s``, for later runs."""
        self.unavailable[scope] = reason
        self.cache.put(f"{self.name}-unavailable", f"{scope}:{self._cred}", reason)
        return ServiceUnavailable(reason)

    def _refused(self, scope: str) -> str | None:
        if scope in self.unavailable:
            return self.unavailable[scope]
        key = f"{scope}:{self._cred}"
        reason = self.cache.get(f"{self.name}-unavailable", key, self.unavailable_ttl_s)
        if reason is not None:
            self.unavailable[scope] = reason
        return reason

    def _get(self, endpoint: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET through the cache; 429 waits, 401/403/404/410 mark the endpoint unavailable."""
        import requests
        from spotipy.exceptions import SpotifyException

        for scope in ("*", endpoint):
            if (reason := self._refused(scope)) is not None:
                raise ServiceUnavailable(reason)
        key = _key(path, params or {})
        cached = self.cache.get(self.name, key)
        if cached is not None:
            return cached
        for _attempt in range(self.backoff.attempts):
            self.limiter.wait()
            try:
                result = self._sp._get(path, **(params or {}))
            except ServiceUnavailable as e:  # the token request
                raise self._mark("*", f"spotify unavailable: {e}") from None
            except SpotifyException as e:
                status = e.http_status
                if status == 429:
                    wait = _retry_after(e.headers)
                    if wait > self.backoff.max_wait_s:
                        raise ServiceError(
                            f"spotify rate limit: Retry-After {wait:.0f} s is over the "
                            f"{self.backoff.max_wait_s:.0f} s cap"
                        ) from None
                    self.backoff.sleep(wait)
                    continue
                if status in (401, 403):
                    scope = "*" if status == 401 else endpoint
                    reason = f"spotify {endpoint}: unavailable (HTTP {status})"
                    raise self._mark(scope, reason) from None
                if status == 410 or (status == 404 and endpoint == "search"):
                    reason = f"spotify {endpoint}: endpoint retired (HTTP {status})"
                    raise self._mark(endpoint, reason) from None
                if status == 404:  # this id is not there: a cached miss
                    self.cache.put(self.name, key, MISS)
                    return MISS
                raise ServiceError(f"spotify {endpoint}: HTTP {status}") from None
            except requests.RequestException as e:
                raise ServiceError(f"spotify {endpoint}: {type(e).__name__}") from None
            self.cache.put(self.name, key, result)
            return result
        raise ServiceError(f"spotify {endpoint}: still rate limited after retries")

    def search(self, q: Query) -> list[Candidate]:
        title = _BRACKETS.sub("", q.title).strip() or q.title
        strict = f'track:"{title}"' + (f' artist:"{q.artist}"' if q.artist else "")
        loose = " ".join(x for x in (title, q.artist) if x)
        items: list[dict[str, Any]] = []
        for text in (strict, loose):
            res = self._get("search", "search", {"q": text, "type": "track", "limit": 10})
            items = ((res or {}).get("tracks") or {}).get("items") or []
            if items:
                break
        return [
            Candidate(
                "spotify",
                t["id"],
                t.get("name") or "",
                [a.get("name") or "" for a in t.get("artists") or []],
                t["duration_ms"] / 1000 if t.get("duration_ms") else None,
                t,
            )
            for t in items
            if t and t.get("id")
        ]

    def details(self, c: Candidate) -> tuple[dict[str, Any], dict[str, str]]:
        """Fields from the matched track, its album (label) and first artist (genres)."""
        t = c.raw
        album = t.get("album") or {}
        out: dict[str, Any] = {
            "spotify_id": c.id,
            "artists": c.artists or None,
            "popularity": t.get("popularity"),
            "isrc": (t.get("external_ids") or {}).get("isrc"),
            "release_date": album.get("release_date"),
        }
        notes: dict[str, str] = {}
        if album.get("id"):
            try:
                full = self._get("albums", f"albums/{album['id']}")
                out["label"] = (full or {}).get("label") or None
            except ServiceUnavailable as e:
                notes["label"] = str(e)
        first = (t.get("artists") or [{}])[0]
        if first.get("id"):
            try:
                artist = self._get("artists", f"artists/{first['id']}")
                out["genres"] = (artist or {}).get("genres") or None
            except ServiceUnavailable as e:
                notes["genres"] = str(e)
        return out, notes


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", 1)))
    except (TypeError, ValueError):
        return 1.0


# --------------------------------------------------------------------------- MusicBrainz


class MusicBrainzClient:
    name = "musicbrainz"

    def __init__(
        self,
        contact: str,
        cache: Cache,
        limiter: RateLimiter,
        host: str = MUSICBRAINZ_HOST,
        https: bool = True,
    ) -> None:
        import musicbrainzngs

        self._mb = musicbrainzngs
        musicbrainzngs.set_useragent(USER_AGENT_APP, __version__, contact)
        musicbrainzngs.set_hostname(host, use_https=https)
        musicbrainzngs.set_rate_limit(False)  # RateLimiter does it, across processes
        self.cache, self.limiter = cache, limiter
        self.unavailable: dict[str, str] = {}

    def _call(self, endpoint: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        if "*" in self.unavailable:
            raise ServiceUnavailable(self.unavailable["*"])
        key = _key(endpoint, kwargs)
        cached = self.cache.get(self.name, key)
        if cached is not None:
            return cached
        self.limiter.wait()
        try:
            result = fn(**kwargs)
        except self._mb.AuthenticationError:
            self.unavailable["*"] = "musicbrainz unavailable (HTTP 401)"
            raise ServiceUnavailable(self.unavailable["*"]) from None
        except self._mb.ResponseError as e:
            code = getattr(e.cause, "code", None)
            if code == 404:
                self.cache.put(self.name, key, MISS)
                return MISS
            if code == 403:
                self.unavailable["*"] = "musicbrainz unavailable (HTTP 403)"
                raise ServiceUnavailable(self.unavailable["*"]) from None
            raise ServiceError(f"musicbrainz {endpoint}: HTTP {code}") from None
        except self._mb.WebServiceError as e:  # network, or 5xx / 429 after its own retries
            raise ServiceError(f"musicbrainz {endpoint}: {type(e).__name__}") from None
        self.cache.put(self.name, key, result)
        return result

    def search(self, q: Query) -> list[Candidate]:
        fields = {"recording": _BRACKETS.sub("", q.title).strip() or q.title}
        if q.artist:
            fields["artist"] = q.artist
        res = self._call("search", self._mb.search_recordings, limit=10, **fields)
        out = []
        for r in (res or {}).get("recording-list") or []:
            credits = [a for a in r.get("artist-credit") or [] if isinstance(a, dict)]
            artists = [(a.get("artist") or {}).get("name") or a.get("name") or "" for a in credits]
            length = r.get("length")
            out.append(
                Candidate(
                    "musicbrainz",
                    r["id"],
                    r.get("title") or "",
                    artists,
                    int(length) / 1000 if length else None,
                    r,
                )
            )
        return out

    def details(self, c: Candidate) -> tuple[dict[str, Any], dict[str, str]]:
        r = c.raw
        dated = sorted(
            (rel["date"], rel["id"])
            for rel in r.get("release-list") or []
            if rel.get("date") and rel.get("id")
        )
        tags = sorted(r.get("tag-list") or [], key=lambda t: -int(t.get("count") or 0))
        out: dict[str, Any] = {
            "musicbrainz_id": c.id,
            "artists": c.artists or None,
            "isrc": (r.get("isrc-list") or [None])[0],
            "release_date": dated[0][0] if dated else None,
            "genres": [t["name"] for t in tags if t.get("name")] or None,
        }
        notes: dict[str, str] = {}
        if dated:
            try:
                rel = self._call(
                    "release", self._mb.get_release_by_id, id=dated[0][1], includes=["labels"]
                )
                labels = ((rel or {}).get("release") or {}).get("label-info-list") or []
                names = [(li.get("label") or {}).get("name") for li in labels]
                out["label"] = next((n for n in names if n), None)
            except (ServiceError, ServiceUnavailable) as e:
                notes["label"] = str(e)
        return out, notes


# --------------------------------------------------------------------------- combining

OUTPUT_KEYS = (
    "release_year",
    "release_date",
    "artists",
    "label",
    "genres",
    "popularity",
    "spotify_id",
    "musicbrainz_id",
    "isrc",
)


@dataclass
class LookupResult:
    values: dict[str, Any]  # OUTPUT_KEYS present with a value
    reasons: dict[str, str]  # why the others are missing
    sources: list[str]
    score: float | None
    errors: list[str]  # transient failures (nothing from that service this time)


def _year(date: str | None) -> int | None:
    m = re.match(r"(\d{4})", date or "")
    return int(m.group(1)) if m else None


def lookup(q: Query, clients: list[Any], min_score: float) -> LookupResult:
    """Ask each client in order; the first fills a field, later ones fill gaps; the release
    date and year are the earliest any source reports (the original release)."""
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    sources: list[str] = []
    scores: list[float] = []
    misses: list[str] = []
    errors: list[str] = []
    dates: list[str] = []
    for client in clients:
        try:
            cands = client.search(q)
        except ServiceUnavailable as e:
            misses.append(str(e))
            continue
        except ServiceError as e:
            errors.append(str(e))
            continue
        match, s = best_match(q, cands, min_score)
        if match is None:
            what = f"best score {s:.2f} < {min_score:.2f}" if cands else "no results"
            misses.append(f"{client.name}: no match ({what})")
            continue
        try:
            got, field_notes = client.details(match)
        except ServiceError as e:
            errors.append(str(e))
            continue
        sources.append(client.name)
        scores.append(s)
        for k, note in field_notes.items():
            notes.setdefault(k, note)
        if got.get("release_date"):
            dates.append(got["release_date"])
        for k, v in got.items():
            if v not in (None, [], "") and k not in values:
                values[k] = v
    if dates:
        earliest = min(dates, key=lambda d: (_year(d) or 9999, d))
        values["release_date"] = earliest
        if _year(earliest):
            values["release_year"] = _year(earliest)
    reasons: dict[str, str] = {}
    summary = "; ".join(misses + errors) or "no service answered"
    for k in OUTPUT_KEYS:
        if k in values:
            continue
        if k in notes:
            reasons[k] = notes[k]
        elif sources:
            others = f"; {summary}" if misses or errors else ""
            reasons[k] = f"not in the {' / '.join(sources)} answer{others}"
        else:
            reasons[k] = summary
    return LookupResult(values, reasons, sources, min(scores) if scores else None, errors)
