"""Hostile and idle clients for the receiver's security tests, on real sockets.

- `raw` sends bytes as they are (a header no client library would send) and reads the
  answer; `Answer` is its status, headers and body;
- `Dribbler` sends a request whose body never ends: a byte at a time (slow-loris), or
  chunks without the last one, until the server closes the connection;
- `idle_tcp`, `idle_tls`, `half_open_tls` open connections that then do nothing;
- `Poster` is a station posting batches through the real sync client, timing each post;
- `make_tls` a private CA and an ECDSA certificate for 127.0.0.1 (fast handshakes);
- `rss_mb` a process's resident memory.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from printstation.daemon.sync_client import HeadOffice, SyncError
from printstation.spool.journal import GENESIS

from .receiver import chain


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering


def read_answer(sock: socket.socket, timeout: float = 10.0) -> Answer:
    """One HTTP/1.1 answer with a Content-Length body (or none), then whether the server
    has closed the connection."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    closed = False
    sock.settimeout(0.5)
    try:
        while True:
            if not sock.recv(65536):
                closed = True
                break
    except (TimeoutError, BlockingIOError):
        pass
    except OSError:
        closed = True
    return Answer(int(lines[0].split()[1]), headers, body, closed)


def raw(port: int, head: str, body: bytes = b"", timeout: float = 10.0) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + body)
        return read_answer(sock, timeout)


def post_head(length: int | None, token: str, station: str = "", extra: str = "") -> str:
    """The head of a `POST /events`, ending in its blank line; `length` None: no header."""
    lines = ["POST /events HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}",
             "Content-Type: application/json"]
    if station:
        lines.append(f"Idempotency-Key: {station}:1-1")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\n".join(lines) + "\n" + extra + "\n"


class Dribbler(threading.Thread):
    """A request whose body keeps coming and never ends, until the server hangs up."""

    def __init__(self, port: int, token: str, chunked: bool, every_s: float = 0.2):
        super().__init__(daemon=True)
        self.port, self.token, self.chunked, self.every_s = port, token, chunked, every_s
        self.started = time.monotonic()
        self.ended: float | None = None
        self.answer: Answer | None = None
        self.error: str | None = None

    def run(self) -> None:
        extra = "Transfer-Encoding: chunked\n" if self.chunked else ""
        head = post_head(None if self.chunked else 10_000_000, self.token, extra=extra)
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            sock.sendall(head.replace("\n", "\r\n").encode())
            sock.setblocking(False)
            while time.monotonic() - self.started < 60:
                # Look for the server's answer (or its close) before each byte sent, so
                # the answer is read before a send into a closed connection resets it.
                try:
                    sock.recv(65536, socket.MSG_PEEK)
                    break
                except BlockingIOError:
                    pass
                with contextlib.suppress(BlockingIOError):
                    sock.send(b"1\r\n[\r\n" if self.chunked else b"[")
                time.sleep(self.every_s)
            sock.setblocking(True)
            self.answer = read_answer(sock, 5)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ended = time.monotonic()
            sock.close()

    @property
    def lasted(self) -> float:
        return (self.ended or time.monotonic()) - self.started


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def idle_tcp(port: int, count: int) -> list[socket.socket]:
    """Connections that send nothing (on a TLS port: handshakes never begun)."""
    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(lambda _: _connect(port), range(count)))


def idle_tls(port: int, count: int, ca: Path) -> list[ssl.SSLSocket]:
    """TLS connections, handshake done, that then send nothing."""
    context = ssl.create_default_context(cafile=str(ca))

    def one(_: int) -> ssl.SSLSocket:
        return context.wrap_socket(_connect(port), server_hostname="127.0.0.1")

    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, range(count)))


def half_open_tls(port: int, count: int) -> list[socket.socket]:
    """Handshakes begun and left: the first bytes of a ClientHello, then nothing."""
    hello = bytes.fromhex("16030100c8010000c40303") + b"\x00" * 8
    socks = idle_tcp(port, count)
    for sock in socks:
        sock.sendall(hello)
    return socks


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


@dataclass
class Poster:
    """A station posting batches of `size` events through the real sync client."""

    url: str
    station: str
    token: str
    ca: Path | None = None
    size: int = 20
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    prev: str = GENESIS

    def __post_init__(self) -> None:
        self.client = HeadOffice(self.url, self.token, 10.0, self.ca)

    def resume(self) -> None:
        """Continue the chain head office holds for this station."""
        doc = self.client._request("GET", "/stations/" + urllib.parse.quote(self.station,
                                                                            safe=""), None, {})
        self.sent, self.prev = doc["acked_through"], doc["last_hash"]

    def post(self) -> None:
        events = chain(self.size, self.station, self.prev, self.sent + 1)
        started = time.perf_counter()
        try:
            acked = self.client.post_events(self.station, events)
        except SyncError as exc:
            self.failures.append(str(exc))
            return
        self.latencies.append(time.perf_counter() - started)
        if acked != events[-1]["seq"]:
            self.failures.append(f"acked {acked}, sent through {events[-1]['seq']}")
        self.sent, self.prev = events[-1]["seq"], events[-1]["hash"]

    def post_for(self, seconds: float, pause: float = 0.01) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.post()
            time.sleep(pause)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and an ECDSA P-256 server certificate for 127.0.0.1 signed by it."""
    ca_key, ca, key, csr, cert = (folder / n for n in
                                  ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (
        ["req", "-x509", *curve, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=printstation test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *curve, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, cmd)], check=True, capture_output=True)
    return ca, cert, key


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
