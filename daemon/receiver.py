"""The reference head-office receiver (SPEC §11): `printstation receiver`.

It implements the protocol on SQLite so that head offices have a working model, and
the tests a real peer. Per station it keeps the events it holds, gap-free from seq 1,
each linked to the one before by its hash:

- an event it already holds is a duplicate when the hash is the same (counted, not
  stored again), and a conflict (409) when it differs;
- an event beyond the first missing seq is not stored: the answer's `acked_through`
  tells the station where to resume, so a gap never forms;
- an event whose hash does not match its own content is refused (422), and one whose
  `prev_hash` does not match the event before it is a conflict (409).
"""

from __future__ import annotations

import hmac
import json
import re
import socket
import sqlite3
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from printstation.spool.journal import GENESIS, event_hash, iso, utc_now

from . import logs
from .signals import SignalFlags

MAX_BODY = 64 * 1024 * 1024
HASH = re.compile(r"[0-9a-f]{64}")
# The hashed body of an event, with the type each field must have.
BODY_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "id": (str,), "at": (str,), "station": (str,), "type": (str,),
    "job_id": (str, type(None)), "invoice_key": (str, type(None)), "payload": (dict,)}

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    station TEXT PRIMARY KEY,
    acked_through INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    duplicates INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    station TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    at TEXT NOT NULL,
    type TEXT NOT NULL,
    job_id TEXT,
    invoice_key TEXT,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (station, seq)
) WITHOUT ROWID;
"""


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Accepted:
    acked_through: int
    stored: int
    duplicates: int
    conflict: int | None = None
    gap_at: int | None = None


class Store:
    """The receiver's SQLite database; one connection, one writer at a time."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    def station(self, station: str) -> tuple[int, str]:
        row = self.conn.execute("SELECT acked_through, last_hash FROM stations"
                                " WHERE station = ?", (station,)).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def accept(self, station: str, events: list[dict[str, Any]]) -> Accepted:
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                result = self._accept(station, events)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
        return result

    def _accept(self, station: str, events: list[dict[str, Any]]) -> Accepted:
        c = self.conn
        acked, last_hash = self.station(station)
        stored = duplicates = 0
        conflict = gap_at = None
        now = iso(utc_now())
        rows = []
        for event in events:
            seq = event["seq"]
            if seq <= acked:
                held = c.execute("SELECT hash FROM events WHERE station = ? AND seq = ?",
                                 (station, seq)).fetchone()
                if held is None or held[0] != event["hash"]:
                    conflict = seq
                    break
                duplicates += 1
                continue
            if seq > acked + 1:
                gap_at = acked + 1
                break
            if event["prev_hash"] != last_hash:
                conflict = seq
                break
            rows.append((station, seq, event["id"], event["at"], event["type"],
                         event["job_id"], event["invoice_key"],
                         json.dumps(event["payload"], ensure_ascii=False), event["prev_hash"],
                         event["hash"], now))
            acked, last_hash, stored = seq, event["hash"], stored + 1
        c.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        c.execute("INSERT INTO stations VALUES (?,?,?,?,?) ON CONFLICT(station) DO UPDATE SET"
                  " acked_through = excluded.acked_through, last_hash = excluded.last_hash,"
                  " duplicates = duplicates + ?, updated_at = excluded.updated_at",
                  (station, acked, last_hash, duplicates, now, duplicates))
        return Accepted(acked, stored, duplicates, conflict, gap_at)


class Tokens:
    """`STATION_ID TOKEN` lines; re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: int | None = None
        self._tokens: list[tuple[str, str]] = []
        self.load()

    def load(self) -> None:
        seen = self.path.stat().st_mtime_ns
        if seen == self._seen:
            return
        tokens = []
        for number, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{self.path}:{number}: expected `STATION_ID TOKEN`")
            tokens.append((parts[0], parts[1]))
        self._tokens, self._seen = tokens, seen

    def station_of(self, token: str) -> str | None:
        self.load()
        found = None
        # Compare with every token in constant time, so timing does not leak one.
        for station, known in self._tokens:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = station
        return found


def check_events(station: str, events: Any) -> list[dict[str, Any]]:
    """The batch's shape, order and each event's own hash; raises `BadRequest`."""
    if not isinstance(events, list) or not events:
        raise BadRequest(400, "events must be a non-empty list")
    previous = None
    for event in events:
        if not isinstance(event, dict):
            raise BadRequest(400, "each event must be an object")
        for name, types in BODY_FIELDS.items():
            if not isinstance(event.get(name), types) or isinstance(event.get(name), bool):
                raise BadRequest(400, f"event field {name!r} is missing or of the wrong type")
        for name in ("prev_hash", "hash"):
            if not isinstance(event.get(name), str) or not HASH.fullmatch(event[name]):
                raise BadRequest(400, f"event field {name!r} must be 64 hex digits")
        if event["station"] != station:
            raise BadRequest(400, f"event seq {event['seq']} is of station "
                                  f"{event['station']!r}, not {station!r}")
        if previous is not None and event["seq"] != previous + 1:
            raise BadRequest(400, "events must have consecutive seqs")
        previous = event["seq"]
        body = {name: event[name] for name in BODY_FIELDS}
        if event_hash(event["prev_hash"], body) != event["hash"]:
            raise BadRequest(422, f"event seq {event['seq']}: hash does not match its content")
    return events


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection carries a whole backlog
    server_version = "printstation-receiver"
    store: Store
    tokens: Tokens

    def setup(self) -> None:
        super().setup()
        # The status line and headers go out in one write, the body in another: without
        # TCP_NODELAY, Nagle holds the body back until the client's delayed ACK (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by the handlers themselves

    def do_POST(self) -> None:
        self._handle(self._post)

    def do_GET(self) -> None:
        self._handle(self._get)

    def _handle(self, action: Any) -> None:
        try:
            status, doc = action()
        except BadRequest as exc:
            status, doc = exc.status, {"error": str(exc)}
        except Exception as exc:
            logs.error("receiver.error", exc_info=True, error=f"{type(exc).__name__}: {exc}")
            status, doc = 500, {"error": "internal error"}
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _station(self) -> str:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise BadRequest(401, "missing bearer token")
        station = self.tokens.station_of(header[len("Bearer "):].strip())
        if station is None:
            raise BadRequest(401, "unknown token")
        return station

    def _post(self) -> tuple[int, dict[str, Any]]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise BadRequest(413, f"body over {MAX_BODY} bytes")
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/events"):
            raise BadRequest(404, f"no such resource {self.path}")
        station = self._station()
        try:
            doc = json.loads(raw)
        except ValueError:
            raise BadRequest(400, "body is not JSON") from None
        if not isinstance(doc, dict) or doc.get("station") != station:
            raise BadRequest(403, f"this token is for station {station!r}")
        events = check_events(station, doc.get("events"))
        key = f"{station}:{events[0]['seq']}-{events[-1]['seq']}"
        if self.headers.get("Idempotency-Key") != key:
            raise BadRequest(400, f"Idempotency-Key must be {key!r}")
        result = self.store.accept(station, events)
        logs.info("receiver.events", station=station, first=events[0]["seq"],
                  last=events[-1]["seq"], stored=result.stored, duplicates=result.duplicates,
                  acked_through=result.acked_through, conflict=result.conflict,
                  gap_at=result.gap_at)
        if result.conflict is not None:
            return 409, {"error": f"seq {result.conflict} differs from the event held",
                         "seq": result.conflict, "acked_through": result.acked_through}
        return 200, {"acked_through": result.acked_through}

    def _get(self) -> tuple[int, dict[str, Any]]:
        _, found, wanted = self.path.rpartition("/stations/")
        if not found or not wanted:
            raise BadRequest(404, f"no such resource {self.path}")
        station = self._station()
        if unquote(wanted) != station:
            raise BadRequest(403, f"this token is for station {station!r}")
        acked, last_hash = self.store.station(station)
        return 200, {"station": station, "acked_through": acked, "last_hash": last_hash}


def serve(listen: str, db: Path, tokens_file: Path, tls_cert: Path | None = None,
          tls_key: Path | None = None) -> int:
    """Run until SIGTERM or SIGINT."""
    host, _, port = listen.rpartition(":")
    store = Store(db)
    handler = type("BoundHandler", (Handler,), {"store": store,
                                                "tokens": Tokens(tokens_file)})
    server = ThreadingHTTPServer((host.strip("[]") or "0.0.0.0", int(port)), handler)
    server.daemon_threads = True
    if tls_cert is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_cert, tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    flags = SignalFlags()
    flags.install()
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    logs.info("receiver.ready", listen=f"{host}:{server.server_address[1]}", db=db,
              tls=tls_cert is not None)
    while not flags.stop:
        flags.wait(1.0)
    server.shutdown()
    server.server_close()
    # Let a request being answered finish its transaction before the database closes.
    with store.lock:
        store.close()
    logs.info("receiver.stopped")
    return 0
