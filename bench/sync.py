"""Delivering a backlog of journal events to head office (issue 19: 100,000 in ≤ 5 s).

A journal with N events (a realistic mix: each printed invoice journals incoming,
queued, submitted, printed and file.archived) is built first, unsynced. Then the sync
worker's own `deliver()` — read a batch from the outbox, POST it, record the answer —
runs until head office has everything, against the reference receiver started as a
real process on 127.0.0.1 (its hash-chain checks and SQLite commits included).

Baselines, in the same script: the same batches, already serialised, POSTed over one
keep-alive connection (1) to a sink that reads the body and answers `{"acked_through": N}`
without looking at it, and (2) to the reference receiver alone. So the table splits the
time into bare HTTP, head office's side, and the station's side (the rest).

    .venv/bin/python bench/sync.py [--events 100000] [--batch 500]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from printstation.config import load_settings, load_stocks
from printstation.daemon.context import Context
from printstation.daemon.stage_sync import SyncRunner
from printstation.daemon.sync_client import HeadOffice
from printstation.spool import Journal, outbox

EXE = Path(sys.executable).parent / "printstation"
STATION = "BENCH-001"
TOKEN = "bench-token"
TYPES = ["job.incoming", "job.queued", "job.submitted", "job.printed", "file.archived"]


def build_journal(path: Path, count: int) -> None:
    journal = Journal(path, STATION)
    seq = 0
    while seq < count:
        with journal.transaction():
            for _ in range(min(1000, count - seq)):
                kind = TYPES[seq % len(TYPES)]
                job = f"J{seq // len(TYPES):07d}"
                payload = {"from": "queued", "to": "submitted", "printer": "front",
                           "stock": "vat-special", "offset_mm": [1.5, -0.5]}
                if kind == "job.printed":
                    payload = {"from": "submitted", "to": "printed", "total": "1130.00"}
                journal.append_event(kind, job, f"1100223130-{seq // 5:08d}", payload)
                seq += 1
    journal.close()


def start_receiver(folder: Path) -> tuple[subprocess.Popen, int]:
    tokens = folder / "tokens"
    tokens.write_text(f"{STATION} {TOKEN}\n")
    log = folder / "receiver.log"
    proc = subprocess.Popen([str(EXE), "receiver", "--listen", "127.0.0.1:0", "--db",
                             str(folder / "ho.db"), "--tokens", str(tokens)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"receiver.ready listen=[\d.]+:(\d+)", log.read_text())
        if found:
            return proc, int(found.group(1))
        time.sleep(0.05)
    raise SystemExit("receiver did not start")


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        last = self.headers["Idempotency-Key"].rpartition("-")[2]
        body = json.dumps({"acked_through": int(last)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def post_all(port: int, bodies: list[tuple[bytes, str]]) -> float:
    """POST ready-made bodies over one keep-alive connection; seconds taken."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    for body, key in bodies:
        conn.request("POST", "/events", body, {"Idempotency-Key": key,
                                               "Authorization": f"Bearer {TOKEN}",
                                               "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - started


def baseline(bodies: list[tuple[bytes, str]]) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    took = post_all(server.server_address[1], bodies)
    server.shutdown()
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "token").write_text(TOKEN)
        (folder / "token").chmod(0o600)
        config = folder / "printstation.toml"
        config.write_text(f'[station]\nid = "{STATION}"\ndata_dir = "data"\n'
                          '[printers.pdf]\ndriver = "directory"\npath = "printed"\n'
                          'stocks = ["vat-special"]\n'
                          f'[sync]\nurl = "http://127.0.0.1:1"\ntoken_file = "token"\n'
                          f'batch = {args.batch}\n')
        settings = load_settings(config)
        settings.station.data_dir.mkdir()
        started = time.perf_counter()
        build_journal(settings.journal_path, args.events)
        built = time.perf_counter() - started

        # The baseline's bodies: the same batches, serialised ahead of time.
        journal = Journal(settings.journal_path, STATION)
        rows = [outbox.wire_event(r) for r in
                journal.conn.execute("SELECT * FROM events ORDER BY seq")]
        journal.close()
        bodies = []
        for i in range(0, len(rows), args.batch):
            part = rows[i:i + args.batch]
            bodies.append((json.dumps({"station": STATION, "events": part},
                                      ensure_ascii=False, separators=(",", ":")).encode(),
                           f"{STATION}:{part[0]['seq']}-{part[-1]['seq']}"))
        del rows
        bare = baseline(bodies)
        receiver_folder = folder / "receiver-only"
        receiver_folder.mkdir()
        proc, port = start_receiver(receiver_folder)
        try:
            receiver_only = post_all(port, bodies)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)

        proc, port = start_receiver(folder)
        try:
            runner = SyncRunner(Context(settings, load_stocks(settings.config_dir / "stocks")[0]))
            runner.setup()
            runner.client = HeadOffice(f"http://127.0.0.1:{port}", TOKEN, 30)
            started = time.perf_counter()
            requests = 0
            while runner.deliver():
                requests += 1
            took = time.perf_counter() - started
            left = outbox.backlog(runner.journal.conn).events
            runner.teardown()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    assert left == 0, f"{left} events not delivered"
    rate = args.events / took
    print(f"events: {args.events:,} in batches of {args.batch} ({requests} requests); "
          f"journal built in {built:.1f} s")
    print("| run | wall time | events/s |")
    print("|---|---|---|")
    print(f"| bare HTTP POST of the same batches to a discarding sink (baseline) | "
          f"{bare:.2f} s | {args.events / bare:,.0f} |")
    print(f"| the same bodies POSTed to the reference receiver (its checks and database) | "
          f"{receiver_only:.2f} s | {args.events / receiver_only:,.0f} |")
    print(f"| sync worker → reference receiver (outbox, acks, hash checks, both databases) | "
          f"{took:.2f} s | {rate:,.0f} |")
    print(f"\nratio to bare HTTP: {took / bare:.0f}x; to the receiver alone: "
          f"{took / receiver_only:.1f}x; target: ≤ 5 s on loopback "
          f"({'met' if took <= 5 else 'MISSED'})")


if __name__ == "__main__":
    main()
