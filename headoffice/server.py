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

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from printstation.base import logs
from printstation.base.signals import SignalFlags

from .protocol import BadRequest, Tokens, check_events
from .storage import Store

MAX_BODY = 64 * 1024 * 1024


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
