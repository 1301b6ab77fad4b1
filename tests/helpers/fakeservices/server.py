"""One threaded ``http.server`` on 127.0.0.1 faking Spotify (accounts + Web API), Deezer,
ReccoBeats and the preview CDNs, shaped after ``../shared/specs/``.

Modes
-----
``legacy``
    An older app: ``preview_url`` set, audio features served, ``/tracks`` at up to 100 per page
    with the ``track`` key (``/items`` unknown: 404), any playlist listable with an app token.
``dev2026``
    A 2026 Development Mode app: audio features 403 ``{"error":{"status":403}}``, ``preview_url``
    null, no ``popularity``, ``/items`` at up to 50 per page with the ``item`` key, ``/tracks``
    403, listing only for the owner/collaborators (user token), ``37i9...`` playlists 404.

Faults (:class:`Fault`) inject 429 with ``Retry-After``, ``QUOTA_EXCEEDED``, 500, slow answers,
Deezer's HTTP-200 throttling body (code 4), truncated mp3s and expired signed preview URLs.
Every request is logged in :attr:`FakeServices.log`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from tests.helpers.fakeservices.catalog import ARTIST_GENRES, DeezerEntry, Playlist, Track

CLIENT_ID = "fake-client-id-0123456789abcdef"
CLIENT_SECRET = "fake-client-secret-SHOULD-NEVER-LEAK-42"


@dataclass
class Fault:
    """An injected fault.

    Parameters
    ----------
    service : str
        ``accounts``, ``spotify``, ``deezer``, ``reccobeats`` or ``cdn``.
    kind : str
        ``429`` (with ``retry_after``), ``quota`` (429 QUOTA_EXCEEDED, Retry-After 86400), ``500``,
        ``slow`` (``seconds`` extra), ``throttle`` (Deezer code 4 with HTTP 200), ``truncate`` (cdn:
        half the mp3), ``expire`` (deezer: preview URLs already expired).
    path : str
        Substring the request path must contain ("" = any).
    after : int
        Matching requests let through before the fault starts.
    times : int
        How many requests it hits (``-1``: forever).
    """

    service: str
    kind: str
    path: str = ""
    after: int = 0
    times: int = 1
    retry_after: int = 1
    seconds: float = 0.0
    seen: int = 0
    hits: int = 0

    def fires(self, service: str, path: str) -> bool:
        if service != self.service or (self.path and self.path not in path):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times >= 0 and self.hits >= self.times):
            return False
        self.hits += 1
        return True


@dataclass
class LogEntry:
    service: str
    method: str
    path: str
    query: dict[str, str]
    status: int = 0
    auth: str = ""


class FakeServices:
    """The four services in one server; start with :meth:`start`, point the collector at :meth:`env`."""

    def __init__(self, *, mode: str = "dev2026", clips: list[bytes], latency: float = 0.0) -> None:
        assert mode in ("legacy", "dev2026")
        self.mode = mode
        self.clips = clips
        self.latency = latency
        self.playlists: dict[str, Playlist] = {}
        self.deezer_playlists: dict[str, tuple[str, list[Track]]] = {}
        self.faults: list[Fault] = []
        self.log: list[LogEntry] = []
        self.tokens: dict[str, str | None] = {}  # access token -> user id (None: app token)
        self.refresh_tokens: dict[str, str] = {}
        self.codes: dict[str, dict] = {}
        self.users = {"fakeuser": "Fake User"}
        #: Status of ``GET /artists`` (set 403 or 404 to play an app refused the batch call).
        self.artists_status = 200
        #: Status of ``GET /artists/{id}`` (set 403 to play an app refused single artists too).
        self.artist_status = 200
        self._lock = threading.Lock()
        self._by_isrc: dict[str, DeezerEntry] = {}
        self._deezer: dict[int, DeezerEntry] = {}
        self._tracks: dict[str, Track] = {}
        self.server: ThreadingHTTPServer | None = None

    # -- set-up ------------------------------------------------------------------------------
    def add_playlist(self, playlist: Playlist) -> Playlist:
        self.playlists[playlist.pid] = playlist
        for track in playlist.tracks:
            self._index(track)
        return playlist

    def add_deezer_playlist(self, pid: str, name: str, tracks: list[Track]) -> None:
        self.deezer_playlists[pid] = (name, tracks)
        for track in tracks:
            self._index(track)

    def _index(self, track: Track) -> None:
        self._tracks[track.sid] = track
        entry = track.deezer
        if entry is None:
            return
        self._deezer[entry.did] = entry
        target = entry.isrc_points_to or entry
        self._deezer[target.did] = target
        self._by_isrc[entry.isrc] = target

    def issue_user_token(self, user: str = "fakeuser", *, scope: str = "playlist-read-private playlist-read-collaborative") -> dict:
        """A token_info as the PKCE flow would cache it (for tests that skip the browser)."""
        access, refresh = "user-" + secrets.token_hex(12), "refresh-" + secrets.token_hex(12)
        self.tokens[access] = user
        self.refresh_tokens[refresh] = user
        return {"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": scope,
                "refresh_token": refresh, "expires_at": int(time.time()) + 3600}  # fmt: skip

    def start(self) -> "FakeServices":
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """Environment variables pointing the collector at this fake (with its app credentials)."""
        return {
            "SPOTIDANCE_SPOTIFY_API_URL": self.base_url + "/spotify/v1/",
            "SPOTIDANCE_SPOTIFY_ACCOUNTS_URL": self.base_url + "/accounts",
            "SPOTIDANCE_DEEZER_API_URL": self.base_url + "/deezer",
            "SPOTIDANCE_RECCOBEATS_API_URL": self.base_url + "/reccobeats",
            "SPOTIPY_CLIENT_ID": CLIENT_ID,
            "SPOTIPY_CLIENT_SECRET": CLIENT_SECRET,
            "SPOTIDANCE_PACE": "off",
        }

    def requests(self, service: str | None = None, path: str = "") -> list[LogEntry]:
        """Logged requests of ``service`` whose path contains ``path``."""
        with self._lock:
            return [e for e in self.log if (service is None or e.service == service) and path in e.path]

    def fault(self, service: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.fires(service, path):
                    return f
        return None

    # -- Spotify objects ---------------------------------------------------------------------
    def track_object(self, t: Track) -> dict:
        obj: dict[str, Any] = {
            "album": {"album_type": "album", "name": f"{t.name} EP", "release_date": t.album_date,
                      "release_date_precision": "day", "id": "al" + t.sid[2:], "type": "album"},
            "artists": [{"id": t.artist_id, "name": t.artist, "type": "artist", "uri": f"spotify:artist:{t.artist_id}"}],
            "disc_number": 1, "duration_ms": t.duration_ms, "explicit": False,
            "external_ids": {"isrc": t.isrc}, "external_urls": {"spotify": f"https://open.spotify.com/track/{t.sid}"},
            "href": f"{self.base_url}/spotify/v1/tracks/{t.sid}", "id": t.sid, "is_local": False, "name": t.name,
            "track_number": 1 + t.index % 10, "type": "track", "uri": f"spotify:track:{t.sid}",
        }  # fmt: skip
        if self.mode == "legacy":
            obj["popularity"] = t.popularity
            obj["available_markets"] = ["DE", "FR", "GB", "US"]
            obj["preview_url"] = f"{self.base_url}/cdn/spotify/{t.sid}.mp3?cid={CLIENT_ID}" if t.spotify_preview else None
        else:
            obj["preview_url"] = None
        return obj

    def row_object(self, kind: str, obj: object, key: str, *, added_at: str = "2026-01-02T03:04:05Z") -> dict:
        row: dict[str, Any] = {"added_at": added_at, "added_by": {"id": "fakeuser"}, "is_local": False}
        if kind == "track":
            row[key] = self.track_object(obj)  # type: ignore[arg-type]
        elif kind == "null":
            row[key] = None
        elif kind == "local":
            row["is_local"] = True
            row[key] = {"id": None, "name": obj, "uri": f"spotify:local:Someone:Somewhere:{obj}:248".replace(" ", "+"),
                        "type": "track", "is_local": True, "duration_ms": 248000, "artists": [{"name": "Someone", "id": None}],
                        "album": {"name": "Somewhere", "release_date": None}, "external_ids": {}, "popularity": 0}  # fmt: skip
        elif kind == "episode":
            row[key] = {"id": "ep" + secrets.token_hex(10)[:20], "name": obj, "type": "episode", "duration_ms": 1800000,
                        "uri": "spotify:episode:x", "description": "a podcast"}  # fmt: skip
        return row

    # -- Deezer objects ----------------------------------------------------------------------
    def deezer_track(self, entry: DeezerEntry, *, expired: bool = False) -> dict:
        exp = int(time.time()) + (-5 if expired else 900)
        sig = hashlib.sha256(f"{entry.did}:{exp}".encode()).hexdigest()[:16]
        preview = f"{self.base_url}/cdn/deezer/{entry.did}.mp3?hdnea=exp={exp}~hmac={sig}" if entry.has_preview else ""
        return {
            "id": entry.did, "readable": True, "title": entry.title, "title_short": entry.title.split(" (")[0],
            "title_version": "", "isrc": entry.isrc, "link": f"https://www.deezer.com/track/{entry.did}",
            "duration": entry.duration_s, "track_position": 1, "disk_number": 1, "rank": 400000,
            "release_date": entry.release_date, "explicit_lyrics": False, "preview": preview, "bpm": 0, "gain": -9.1,
            "artist": {"id": abs(hash(entry.artist)) % 10**6, "name": entry.artist, "type": "artist"},
            "album": {"id": entry.did // 3, "title": f"{entry.title} EP", "type": "album"}, "type": "track",
        }  # fmt: skip


def _handler(fake: FakeServices):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        # -- plumbing ------------------------------------------------------------------------
        def _send(self, status: int, body: bytes | dict | list, *, ctype: str = "application/json", headers: dict | None = None) -> None:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            self._entry.status = status  # before the reply: a client may read the log as soon as it has it
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _route(self, method: str) -> None:
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query, keep_blank_values=True).items()}
            service = parsed.path.strip("/").split("/", 1)[0]
            self._entry = LogEntry(service=service, method=method, path=parsed.path, query=query,
                                   auth=self.headers.get("Authorization", ""))  # fmt: skip
            with fake._lock:
                fake.log.append(self._entry)
            if fake.latency:
                time.sleep(fake.latency)
            length = int(self.headers.get("Content-Length") or 0)
            self._body = self.rfile.read(length) if length else b""
            fault = fake.fault(service, parsed.path)
            if fault is not None and self._inject(fault):
                return
            self._fault = fault
            try:
                getattr(self, f"_{service}", self._not_found)(method, parsed.path, query)
            except Exception as exc:  # a bug in the fake: answer 500 and say so in the log
                self._entry.status = 599
                self._send(500, {"error": {"status": 500, "message": f"fake crashed: {exc!r}"}})

        def _inject(self, fault: Fault) -> bool:
            if fault.kind == "429":
                self._send(429, {"error": {"status": 429, "message": "API rate limit exceeded"}}, headers={"Retry-After": fault.retry_after})
            elif fault.kind == "quota":
                self._send(429, {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}},
                           headers={"Retry-After": 86400})  # fmt: skip
            elif fault.kind == "500":
                self._send(500, {"error": {"status": 500, "message": "Server error"}})
            elif fault.kind == "throttle":
                self._send(200, {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}})
            elif fault.kind == "slow":
                time.sleep(fault.seconds)
                return False
            else:
                return False  # truncate / expire act inside the route
            return True

        def do_GET(self):  # noqa: N802
            self._route("GET")

        def do_POST(self):  # noqa: N802
            self._route("POST")

        def _not_found(self, method, path, query):
            self._send(404, {"error": "Not Found"})

        # -- accounts ------------------------------------------------------------------------
        def _accounts(self, method, path, query):
            if path.endswith("/authorize"):
                code = "code-" + secrets.token_hex(8)
                fake.codes[code] = {"challenge": query.get("code_challenge"), "redirect_uri": query.get("redirect_uri"),
                                    "client_id": query.get("client_id"), "scope": query.get("scope", "")}  # fmt: skip
                target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._entry.status = 302
                return
            if not path.endswith("/api/token") or method != "POST":
                return self._send(404, {"error": "not_found"})
            form = {k: v[0] for k, v in parse_qs(self._body.decode()).items()}
            grant = form.get("grant_type")
            if grant == "client_credentials":
                auth = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if auth != expected:
                    return self._send(400, {"error": "invalid_client", "error_description": "Invalid client"})
                token = "app-" + secrets.token_hex(12)
                fake.tokens[token] = None
                return self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
            if grant == "authorization_code":
                info = fake.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if info is None or info["challenge"] != challenge or info["client_id"] != form.get("client_id"):
                    return self._send(400, {"error": "invalid_grant", "error_description": "Invalid authorization code"})
                token = fake.issue_user_token(scope=info["scope"])
                token.pop("expires_at")
                return self._send(200, token)
            if grant == "refresh_token":
                user = fake.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    return self._send(400, {"error": "invalid_grant", "error_description": "Refresh token revoked"})
                token = fake.issue_user_token(user)
                token.pop("expires_at")
                return self._send(200, token)
            return self._send(400, {"error": "unsupported_grant_type"})

        # -- Spotify Web API -----------------------------------------------------------------
        def _spotify(self, method, path, query):
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if token not in fake.tokens:
                return self._send(401, {"error": {"status": 401, "message": "Invalid access token"}})
            user = fake.tokens[token]
            parts = path.strip("/").split("/")[2:]  # after spotify/v1
            if parts == ["me"]:
                if user is None:
                    return self._send(401, {"error": {"status": 401, "message": "This request requires user authentication."}})
                return self._send(200, {"id": user, "display_name": fake.users.get(user, user), "type": "user"})
            if parts and parts[0] == "audio-features":
                if fake.mode == "dev2026":
                    return self._send(403, {"error": {"status": 403}})
                ids = [i for i in query.get("ids", "").split(",") if i]
                if len(ids) > 100:
                    return self._send(400, {"error": {"status": 400, "message": "Too many ids requested"}})
                out = []
                for i in ids:
                    t = fake._tracks.get(i)
                    if t is None or not t.spotify_features:
                        out.append(None)
                    else:
                        out.append({**t.features(), "id": t.sid, "type": "audio_features", "uri": f"spotify:track:{t.sid}"})
                return self._send(200, {"audio_features": out})
            if parts == ["artists"]:
                return self._artists(query)
            if len(parts) == 2 and parts[0] == "artists":
                return self._artist(parts[1])
            if parts and parts[0] == "playlists" and len(parts) >= 2:
                return self._playlist(parts[1], parts[2:], query, user)
            return self._send(404, {"error": {"status": 404, "message": "Service not found"}})

        def _artists(self, query):
            """``GET /artists?ids=`` (at most 50): genres for older apps; none in ``dev2026`` (the field is deprecated)."""
            if fake.artists_status != 200:
                return self._send(fake.artists_status, {"error": {"status": fake.artists_status, "message": "Forbidden"}})
            ids = [i for i in query.get("ids", "").split(",") if i]
            if not ids or len(ids) > 50:
                return self._send(400, {"error": {"status": 400, "message": "Too many ids requested"}})
            return self._send(200, {"artists": [self._artist_object(aid) for aid in ids]})

        def _artist(self, aid):
            """``GET /artists/{id}``: one artist, as in the batch answer (404 for an unknown id)."""
            if fake.artist_status != 200:
                return self._send(fake.artist_status, {"error": {"status": fake.artist_status, "message": "Forbidden"}})
            artist = self._artist_object(aid)
            if artist is None:
                return self._send(404, {"error": {"status": 404, "message": "Resource not found"}})
            return self._send(200, artist)

        def _artist_object(self, aid):
            names = {t.artist_id: t.artist for t in fake._tracks.values()}
            if aid not in names:
                return None
            artist = {"id": aid, "name": names[aid], "type": "artist", "uri": f"spotify:artist:{aid}", "images": []}
            if fake.mode == "legacy":
                artist.update({"genres": list(ARTIST_GENRES.get(names[aid], [])), "popularity": 40,
                               "followers": {"href": None, "total": 1000}})  # fmt: skip
            return artist

        def _playlist(self, pid, rest, query, user):
            pl = fake.playlists.get(pid)
            if pl is None or (fake.mode == "dev2026" and pid.startswith("37i9")):
                return self._send(404, {"error": {"status": 404, "message": "Resource not found"}})
            if not rest:
                return self._send(200, {"id": pl.pid, "name": pl.name, "collaborative": False, "type": "playlist",
                                        "owner": {"id": pl.owner, "display_name": fake.users.get(pl.owner, pl.owner)},
                                        "items": {"total": len(pl.rows)}})  # fmt: skip
            which = rest[0]
            if fake.mode == "legacy" and which == "items":
                return self._send(404, {"error": {"status": 404, "message": "Service not found"}})
            if fake.mode == "dev2026" and which == "tracks":
                return self._send(403, {"error": {"status": 403, "message": "Forbidden"}})
            if which not in ("items", "tracks"):
                return self._send(404, {"error": {"status": 404, "message": "Service not found"}})
            if fake.mode == "dev2026" and user not in (pl.owner, *pl.collaborators):
                return self._send(403, {"error": {"status": 403, "message": "Forbidden"}})
            cap = 50 if which == "items" else 100
            try:
                limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
            except ValueError:
                return self._send(400, {"error": {"status": 400, "message": "Invalid limit"}})
            if not 1 <= limit <= cap:
                return self._send(400, {"error": {"status": 400, "message": "Invalid limit"}})
            key = "item" if which == "items" else "track"
            rows = [fake.row_object(kind, obj, key, added_at=pl.added_at) for kind, obj in pl.rows[offset : offset + limit]]
            base = f"{fake.base_url}/spotify/v1/playlists/{pid}/{which}"
            nxt = f"{base}?offset={offset + limit}&limit={limit}" if offset + limit < len(pl.rows) else None
            prev = f"{base}?offset={max(0, offset - limit)}&limit={limit}" if offset else None
            return self._send(200, {"href": f"{base}?offset={offset}&limit={limit}", "items": rows, "limit": limit,
                                    "next": nxt, "offset": offset, "previous": prev, "total": len(pl.rows)})  # fmt: skip

        # -- Deezer --------------------------------------------------------------------------
        def _deezer(self, method, path, query):
            parts = path.strip("/").split("/")[1:]
            expired = self._fault is not None and self._fault.kind == "expire"
            not_found = {"error": {"type": "DataException", "message": "no data", "code": 800}}
            if len(parts) == 2 and parts[0] == "track":
                ref = parts[1]
                if ref.startswith("isrc:"):
                    entry = fake._by_isrc.get(ref[5:])
                else:
                    entry = fake._deezer.get(int(ref)) if ref.lstrip("-").isdigit() else None
                if entry is None:
                    return self._send(200, not_found)
                return self._send(200, fake.deezer_track(entry, expired=expired))
            if parts == ["search", "track"] or parts == ["search"]:
                q = query.get("q", "").lower()
                fields = dict(re.findall(r'(artist|track):"([^"]*)"', q))
                wanted = fields.get("track", "" if fields else q).strip()
                hits = [e for e in fake._deezer.values() if wanted and wanted in e.title.lower()]
                if fields.get("artist"):
                    hits = [e for e in hits if e.artist.lower() == fields["artist"].strip()]
                hits.sort(key=lambda e: e.did)
                limit = int(query.get("limit", 25))
                data = [{k: v for k, v in fake.deezer_track(e, expired=expired).items() if k not in ("isrc", "bpm", "gain", "release_date")}
                        for e in hits[:limit]]  # fmt: skip
                return self._send(200, {"data": data, "total": len(hits)})
            if len(parts) >= 2 and parts[0] == "playlist":
                item = fake.deezer_playlists.get(parts[1])
                if item is None:
                    return self._send(200, not_found)
                name, tracks = item
                if len(parts) == 2:
                    return self._send(200, {"id": int(parts[1]), "title": name, "public": True, "nb_tracks": len(tracks), "type": "playlist"})
                index, limit = int(query.get("index", 0)), min(100, int(query.get("limit", 25)))
                data = []
                for position, t in enumerate(tracks[index : index + limit], start=index):
                    if t.deezer is None:
                        continue
                    full = fake.deezer_track(t.deezer)
                    item = {k: v for k, v in full.items() if k not in ("isrc", "bpm", "gain", "release_date")}
                    item["time_add"] = 0 if position % 7 == 3 else 1767225600 + 3600 * position  # 0: unknown, as Deezer sends
                    data.append(item)
                nxt = f"{fake.base_url}/deezer/playlist/{parts[1]}/tracks?index={index + limit}&limit={limit}" if index + limit < len(tracks) else None
                body = {"data": data, "total": len(tracks)}
                if nxt:
                    body["next"] = nxt
                return self._send(200, body)
            return self._send(404, {"error": "Not Found"})

        # -- ReccoBeats ----------------------------------------------------------------------
        def _reccobeats(self, method, path, query):
            if path.rstrip("/") != "/reccobeats/v1/audio-features":
                return self._send(404, {"error": "not found"})
            ids = [i for i in query.get("ids", "").split(",") if i]
            if not ids or len(ids) > 40:
                return self._send(400, {"error": "ids must hold 1 to 40 ids"})
            by_isrc = {t.isrc: t for t in fake._tracks.values()}
            content = []
            for i in reversed(ids):  # order is not guaranteed by the real service either
                t = fake._tracks.get(i) or by_isrc.get(i.upper())
                if t is None or not t.reccobeats:
                    continue
                f = t.features()
                content.append({"id": "rb-" + t.sid, "href": f"https://open.spotify.com/track/{t.sid}", "isrc": t.isrc,
                                **{k: f[k] for k in ("acousticness", "danceability", "energy", "instrumentalness", "key",
                                                     "liveness", "loudness", "mode", "speechiness", "tempo", "valence")}})  # fmt: skip
            return self._send(200, {"content": content})

        # -- preview files -------------------------------------------------------------------
        def _cdn(self, method, path, query):
            parts = path.strip("/").split("/")
            if len(parts) != 3 or not parts[2].endswith(".mp3"):
                return self._send(404, b"", ctype="text/plain")
            key = parts[2][:-4]
            if parts[1] == "spotify":
                t = fake._tracks.get(key)
                if t is None or not t.spotify_preview or fake.mode != "legacy":
                    return self._send(404, b"", ctype="text/plain")
                data = fake.clips[t.clip]
            else:
                entry = fake._deezer.get(int(key)) if key.isdigit() else None
                token = query.get("hdnea", "")
                try:
                    exp = int(token.split("exp=", 1)[1].split("~", 1)[0])
                except (IndexError, ValueError):
                    exp = 0
                if entry is None or not entry.has_preview:
                    return self._send(404, b"", ctype="text/plain")
                if exp < time.time():
                    return self._send(403, b"URL signature expired", ctype="text/plain")
                data = fake.clips[entry.clip]
            if self._fault is not None and self._fault.kind == "truncate":
                data = data[: len(data) // 2]
            return self._send(200, data, ctype="audio/mpeg")

    return Handler
