"""The web console with 100,000 jobs: page times, and the daemon's pickup while polled.

(a) A journal of 100,000 jobs (a file a minute over ten weeks: every 100th rejected,
every 997th held, the rest printed with their invoices, ~400,000 hash-chained events, none
synced: sync off, the worst case for the overview's backlog count), made in SQL with the
daemon's schema. The daemon runs on it; `printstation web` serves it; one logged-in clerk
(a keep-alive connection, as a browser holds one) fetches each page 200 times in turn.
Baselines in the same run: a static asset (waitress and Flask alone) and `/api/changes`.

(b) The daemon's pickup latency (rename into the drop folder → PDF in the directory
printer's folder, one invoice at a time, as bench/pickup.py measures it), 100 drops with
the console running and idle, then 100 with a client that fetches the overview and
`/api/changes` every second (what an open page costs, at twice its own 2 s beat); three
runs, alternating which comes first; the ratio of the p50s, median of the runs. Drops are
0.2 s apart on average, at random phases to the client's second: back to back, 100 drops
took 1.3 s and met only one or two of its fetches.

    .venv/bin/python bench/web_console.py [--jobs 100000] [--fetches 200] [--drops 100]
                                          [--runs 3] [--gap 0.2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from pickup import invoice_bytes, pct, wait_count
from stations import directory_station

from printstation.harness.browser import CLERK, PASSWORD, Console, add_web_section, set_password
from printstation.harness.kit import EXE
from printstation.spool import Journal
from printstation.spool.journal import GENESIS, canonical, event_hash, iso

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))
STATION = "BENCH"  # bench/stations.py
ERRORS = json.dumps([{"code": "parse.json", "field": "", "zh": "不是有效的 JSON",
                      "en": "not valid JSON"}], ensure_ascii=False)
PAGES = [
    ("baseline: static asset `/static/console.css`", "/static/console.css"),
    ("baseline: `/api/changes` (what an open page polls)", "/api/changes?since={seq}"),
    ("overview `/`", "/"),
    ("queue `/queue`", "/queue"),
    ("queue, one state `/queue?state=held`", "/queue?state=held"),
    ("rejected files `/rejected`", "/rejected"),
]


# -- the journal ---------------------------------------------------------------------------

def build_journal(path: Path, count: int) -> int:
    """`count` jobs in the daemon's own schema (Journal makes it, migrations and all), with
    their sources, invoices and hash-chained events; returns the number of events."""
    Journal(path, STATION).close()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=count + 60)
    sources, jobs, invoices, events = [], [], [], []
    prev, seq = GENESIS, 0

    def event(at: str, kind: str, job: str, key: str | None, payload: dict) -> None:
        nonlocal prev, seq
        seq += 1
        body = {"seq": seq, "id": uuid.uuid4().hex, "at": at, "station": STATION,
                "type": kind, "job_id": job, "invoice_key": key, "payload": payload}
        digest = event_hash(prev, body)
        events.append((seq, body["id"], at, STATION, kind, job, key, canonical(payload),
                       prev, digest))
        prev = digest

    for n in range(1, count + 1):
        job, name = f"B{n:07d}", f"invoice-{n:07d}.json"
        at = iso(start + dt.timedelta(minutes=n))
        done = iso(start + dt.timedelta(minutes=n, seconds=1))
        number = f"{n:08d}"
        key = f"{SAMPLE['code']}-{number}"
        sha = hashlib.sha256(name.encode()).hexdigest()
        state = "rejected" if n % 100 == 0 else "held" if n % 997 == 0 else "printed"
        sources.append((job, name, name.encode(), f"{job}--{name}", sha, 1300,
                        "rejected" if state == "rejected" else "archived", at, done))
        event(at, "job.incoming", job, None, {"file": name, "size": 1300, "sha256": sha})
        if state == "rejected":
            jobs.append((job, job, name, sha, n, None, None, None, state, "parse.json", ERRORS,
                         None, None, 0, at, done))
            event(done, "job.rejected", job, None, {"reason": "parse.json"})
            continue
        doc = json.dumps({**SAMPLE, "number": number}, ensure_ascii=False)
        if state == "held":
            jobs.append((job, job, name, sha, n, "vat-special", key, doc, state, "operator",
                         None, "pdf", None, 0, at, done))
            event(at, "job.queued", job, key, {"printer": "pdf"})
            event(done, "job.held", job, key, {"operator": "bench"})
            continue
        jobs.append((job, job, name, sha, n, "vat-special", key, doc, state, None, None,
                     "pdf", f"{job}--{key}", 1, at, done))
        invoices.append((key, SAMPLE["code"], number, "vat-special", SAMPLE["date"],
                         SAMPLE["buyer"]["name"], SAMPLE["buyer"]["tin"],
                         SAMPLE["total_amount"], SAMPLE["total_tax"], SAMPLE["total"],
                         "printed", done, 1, job))
        event(at, "job.queued", job, key, {"printer": "pdf"})
        event(done, "job.submitted", job, key, {"printer": "pdf", "external_id": job})
        event(done, "job.printed", job, key, {"total": SAMPLE["total"]})
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany("INSERT INTO sources (id, name, raw_name, spool_name, sha256, size,"
                             " state, claimed_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?)",
                             sources)
            conn.executemany("INSERT INTO jobs (id, source_id, source_name, source_sha256,"
                             " source_seq, kind, invoice_key, invoice_json, state, reason,"
                             " errors, printer, cups_job_id, attempts, created_at, updated_at)"
                             " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", jobs)
            conn.executemany("INSERT INTO invoices (key, code, number, kind, date, buyer_name,"
                             " buyer_tin, total_amount, total_tax, total, state, printed_at,"
                             " print_count, job_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             invoices)
            conn.executemany("INSERT INTO events (seq, id, at, station, type, job_id,"
                             " invoice_key, payload, prev_hash, hash)"
                             " VALUES (?,?,?,?,?,?,?,?,?,?)", events)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return len(events)


# -- a clerk's browser, over HTTP -------------------------------------------------------------

class Client:
    """One keep-alive connection with a session cookie, as a browser tab holds them."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def _keep(self, answer: http.client.HTTPResponse) -> None:
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        answer = self.conn.getresponse()
        data = answer.read()
        self._keep(answer)
        return answer.status, data

    def get(self, path: str) -> bytes:
        status, data = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        return data

    def log_in(self) -> None:
        page = self.get("/login").decode()
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        form = urllib.parse.urlencode({"user": CLERK, "password": PASSWORD,
                                       "csrf": token[1], "next": "/"})
        status, _ = self.request("POST", "/login", form)
        if status != 303:
            raise RuntimeError(f"login refused: {status}")

    def close(self) -> None:
        self.conn.close()


def fetch_times(client: Client, path: str, count: int) -> tuple[list[float], int]:
    """Seconds per fetch of `path` (each read in full), and the size of the last answer."""
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        size = len(client.get(path))
        times.append(time.perf_counter() - started)
    return times, size


def poll(port: int) -> int:
    """The polling client of (b), in its own process: overview and /api/changes each second
    until SIGTERM; prints how many fetches it made and the overview's p50."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = Client(port)
    client.log_in()
    seq, fetched, overview = 0, 0, []
    while not stop.is_set():
        beat = time.perf_counter()
        seq = json.loads(client.get(f"/api/changes?since={seq}"))["seq"]
        client.get("/")
        overview.append(time.perf_counter() - beat)
        fetched += 2
        stop.wait(max(0.0, 1.0 - (time.perf_counter() - beat)))
    client.close()
    print(json.dumps({"fetched": fetched, "p50_ms": statistics.median(overview) * 1000
                      if overview else None}), flush=True)
    return 0


# -- the run ---------------------------------------------------------------------------------

def start_daemon(config: Path, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([EXE, "--config", config, "run"], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while b"event=daemon.ready" not in log.read_bytes():
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    return proc


def paced(inbox: Path, out: Path, staging: Path, count: int, first: int,
          gap_s: float) -> list[float]:
    """Seconds from rename to PDF for `count` invoices one at a time (bench/pickup.py's
    measure), `gap_s` apart on average: spread over many of the poller's seconds, at
    random phases to them, as invoices arrive at a branch."""
    rng = random.Random(first)
    latencies = []
    done = sum(1 for e in os.scandir(out) if e.name.endswith(".pdf"))
    for i in range(count):
        src = staging / f"w{first + i}.json"
        src.write_bytes(invoice_bytes(first + i))
        started = time.perf_counter()
        os.rename(src, inbox / src.name)
        wait_count(out, done + i + 1)
        latencies.append(time.perf_counter() - started)
        time.sleep(gap_s * rng.uniform(0.5, 1.5))
    return latencies


def pickup_runs(root: Path, console: Console, drops: int, runs: int,
                gap_s: float) -> list[tuple]:
    """(p50 idle, p50 polled, fetches by the poller, its p50) for each run."""
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    inbox, out = root / "inbox", root / "printed"
    number = 90_000_000
    paced(inbox, out, staging, 30, number, 0.0)  # warm-up: font, caches, the render worker
    number += 30
    found = []
    for run in range(runs):
        p50: dict[str, float] = {}
        polled_by: dict = {}
        for condition in (("idle", "polled") if run % 2 == 0 else ("polled", "idle")):
            poller = None
            if condition == "polled":
                poller = subprocess.Popen([sys.executable, __file__, "--poll",
                                           str(console.port)], stdout=subprocess.PIPE,
                                          text=True)
                time.sleep(2)  # logged in and polling
            try:
                latencies = paced(inbox, out, staging, drops, number, gap_s)
                number += drops
            finally:
                if poller is not None:
                    poller.send_signal(signal.SIGTERM)
                    polled_by = json.loads(poller.communicate(timeout=30)[0])
            p50[condition] = pct(latencies, 50)
        found.append((p50["idle"], p50["polled"], polled_by["fetched"], polled_by["p50_ms"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--fetches", type=int, default=200)
    parser.add_argument("--drops", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.2, metavar="S",
                        help="mean seconds between two drops in (b)")
    parser.add_argument("--poll", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll:
        return poll(args.poll)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "station"
        config = directory_station(root)
        add_web_section(config, root)
        set_password(config)
        (root / "data").mkdir()
        started = time.perf_counter()
        made = build_journal(root / "data" / "journal.db", args.jobs)
        built_s = time.perf_counter() - started
        size_mib = (root / "data" / "journal.db").stat().st_size / 2**20
        daemon = start_daemon(config, root / "daemon.log")
        console = Console(config, root / "console.log").start()
        try:
            client = Client(console.port)
            client.log_in()
            seq = json.loads(client.get("/api/changes?since=0"))["seq"]
            timings = {}
            for label, path in PAGES:
                path = path.format(seq=seq)
                fetch_times(client, path, 20)  # warm-up: templates compiled, pages cached
                timings[label] = fetch_times(client, path, args.fetches)
            client.close()
            pickups = pickup_runs(root, console, args.drops, args.runs, args.gap)
        finally:
            console.stop()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)

    print(f"journal: {args.jobs:,} jobs, {made:,} events, {size_mib:.0f} MiB, made in "
          f"{built_s:.1f} s; the daemon running on it, sync off (every event unsent)")
    print(f"\n(a) pages fetched {args.fetches} times each by one logged-in clerk over one "
          "keep-alive connection (target: overview and queue p50 ≤ 50 ms, p99 ≤ 200 ms)")
    print("| page | p50 ms | p99 ms | KiB |")
    print("|---|---|---|---|")
    for label, (times, size) in timings.items():
        print(f"| {label} | {pct(times, 50):.1f} | {pct(times, 99):.1f} | {size / 1024:.1f} |")
    print(f"\n(b) pickup latency, rename → PDF, {args.drops} invoices one at a time "
          f"({args.gap:.1f} s apart on average), with the console idle and with a client "
          "fetching the overview and /api/changes every second (target: ratio within "
          "0.90–1.10)")
    print("| run | console idle, p50 ms | console polled, p50 ms | ratio | "
          "fetches by the client | its overview + changes p50 ms |")
    print("|---|---|---|---|---|---|")
    for n, (idle, polled, fetched, poll_ms) in enumerate(pickups, 1):
        print(f"| {n} | {idle:.1f} | {polled:.1f} | {polled / idle:.2f} | {fetched} | "
              f"{poll_ms:.1f} |")
    ratio = statistics.median(polled / idle for idle, polled, _, _ in pickups)
    print(f"| median of {len(pickups)} runs | {statistics.median(p[0] for p in pickups):.1f} | "
          f"{statistics.median(p[1] for p in pickups):.1f} | {ratio:.2f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
