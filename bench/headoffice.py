"""Head office at scale (issue 18): N stations posting their journals at once.

The real receiver (`printstation receiver`, hypercorn) is started as its own process,
once on PostgreSQL 15 (a private cluster, as the tests start it) and once on SQLite, in
the same run. The stations are the real sync client (`daemon/sync_client.HeadOffice`:
`http.client` keep-alive, JSON, Idempotency-Key), one thread per station spread over a
few load processes so that the client side does not share one interpreter lock; each
station sends its hash-chained events in batches, waiting for each answer before the
next, and honours `Retry-After` as the sync worker does. Events are made (and chained)
before the clock starts.

Afterwards the database is read back: every station must hold exactly its events, seq
1..N, with its last hash, or the run fails.

Latency is each request as a station sees it, from sending to the answer. With every
station posting back to back, at most `--max-inflight` requests are admitted to the
database at a time and the rest are answered 503 + `Retry-After` at once, so an admitted
request waits for a few others, not for all 500 (Little's law: 500 requests in flight at
40 requests/s would be 12 s each). Both are reported: accepted posts, and every answer.

    .venv/bin/python bench/headoffice.py [--stations 500] [--events 2000] [--batch 500]
        [--backends postgresql,sqlite] [--procs 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from printstation.daemon.sync_client import HeadOffice, Temporary
from printstation.spool.journal import GENESIS, event_hash

EXE = Path(sys.executable).parent / "printstation"
TYPES = ["job.incoming", "job.queued", "job.submitted", "job.printed"]


def station_id(index: int) -> str:
    return f"BR-{index:04d}"


def token_of(index: int) -> str:
    return f"bench-token-{index:04d}-{'x' * 20}"


def make_events(station: str, count: int) -> list[dict[str, Any]]:
    """A station's journal as it would send it: a realistic mix, chained by hash."""
    events, prev = [], GENESIS
    start = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    for seq in range(1, count + 1):
        kind = TYPES[(seq - 1) % len(TYPES)]
        number = f"{(seq - 1) // len(TYPES):08d}"
        key = f"3100223130-{number}"
        payload: dict[str, Any] = {"from": "queued", "to": "submitted", "printer": "front",
                                   "stock": "vat-special"}
        if kind == "job.printed":
            payload = {"from": "submitted", "to": "printed", "total": "1130.00",
                       "invoice": {"code": "3100223130", "number": number,
                                   "kind": "vat-special", "date": "2026-12-01",
                                   "buyer_name": "上海某某贸易有限公司",
                                   "buyer_tin": "91310000MA1FL0000X"}}
        at = (start + dt.timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        body = {"seq": seq, "id": uuid.uuid4().hex, "at": at, "station": station,
                "type": kind, "job_id": f"J{number}", "invoice_key": key,
                "payload": payload}
        digest = event_hash(prev, body)
        events.append({**body, "prev_hash": prev, "hash": digest})
        prev = digest
    return events


def post_all(url: str, index: int, events: list[dict[str, Any]], batch: int,
             results: list[tuple[float, int]], ramp_s: float) -> None:
    """One station's sync: each batch until head office has it, as the worker would."""
    station = station_id(index)
    # Stations coming back after an outage are spread by the worker's full-jitter
    # backoff, not started in the same millisecond.
    time.sleep(random.uniform(0, ramp_s))
    client = HeadOffice(url, token_of(index), timeout_s=120)
    acked = 0
    while acked < len(events):
        chunk = events[acked:acked + batch]
        started = time.perf_counter()
        try:
            acked = client.post_events(station, chunk)
        except Temporary as exc:
            results.append((time.perf_counter() - started, 503))
            time.sleep(exc.retry_after if exc.retry_after is not None else 0.5)
            continue
        results.append((time.perf_counter() - started, 200))
    client.close()


def load_process(url: str, indexes: list[int], events: int, batch: int, ramp_s: float,
                 ready: Any, go: Any, out: Any) -> None:
    chains = {i: make_events(station_id(i), events) for i in indexes}
    results: list[tuple[float, int]] = []
    threads = [threading.Thread(target=post_all,
                                args=(url, i, chains[i], batch, results, ramp_s))
               for i in indexes]
    ready.release()
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((results, {station_id(i): chains[i][-1]["hash"] for i in indexes}))


def write_tokens(path: Path, stations: int) -> None:
    lines = [f"{station_id(i)} sha256:{hashlib.sha256(token_of(i).encode()).hexdigest()}\n"
             for i in range(stations)]
    path.write_text("".join(lines))


def start_receiver(folder: Path, db: str, extra: list[str]) -> tuple[subprocess.Popen, int]:
    log = folder / "receiver.log"
    proc = subprocess.Popen([str(EXE), "receiver", "--listen", "127.0.0.1:0", "--db", db,
                             "--tokens", str(folder / "tokens"), *extra],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"receiver.ready listen=[\d.]+:(\d+)", log.read_text())
        if found:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"receiver did not start:\n{log.read_text()[-2000:]}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def check_stored(db: str, stations: int, events: int, last: dict[str, str]) -> str:
    """Every station holds exactly seq 1..N once, ending with its own last hash."""
    from printstation.headoffice.store import open_store

    store = open_store(db)
    try:
        rows = store.read("SELECT station, count(*) AS n, min(seq) AS lo, max(seq) AS hi"
                          " FROM events GROUP BY station")
        held = {r["station"]: (r["n"], r["lo"], r["hi"]) for r in rows}
        bad = [s for s in (station_id(i) for i in range(stations))
               if held.get(s) != (events, 1, events)]
        bad += [s for s, digest in last.items() if store.station(s) != (events, digest)]
        if bad:
            raise SystemExit(f"stations not held exactly once in order: {bad[:5]}")
        total = sum(n for n, _, _ in held.values())
    finally:
        store.close()
    return f"{total:,} events in {len(held)} stations, each seq 1..{events} exactly once"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_backend(name: str, db: str, folder: Path, args: argparse.Namespace) -> dict:
    proc, port = start_receiver(folder, db, args.receiver_arg)
    url = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("fork")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    groups = [list(range(p, args.stations, args.procs)) for p in range(args.procs)]
    workers = [ctx.Process(target=load_process, args=(url, g, args.events, args.batch,
                                                      args.ramp_s, ready, go, out))
               for g in groups]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    load_before = os.getloadavg()[0]
    receiver_cpu = cpu_s(proc.pid)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    go.set()
    results: list[tuple[float, int]] = []
    last: dict[str, str] = {}
    for _ in workers:
        got, hashes = out.get()
        results.extend(got)
        last.update(hashes)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The stations' own CPU (their load processes, waited for just now), to show what
    # of the two cores the receiver had.
    clients_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    load_after = os.getloadavg()[0]
    receiver_cpu = cpu_s(proc.pid) - receiver_cpu
    peak = rss_mib(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    stored = check_stored(db, args.stations, args.events, last)
    # The receiver's own time for each stored batch: from its header to its answer.
    if os.environ.get("BENCH_KEEP_LOG"):
        shutil.copy(folder / "receiver.log", os.environ["BENCH_KEEP_LOG"] + f".{name}")
    served = [float(m) for m in re.findall(r"event=receiver.events .*? ms=([\d.]+)",
                                           (folder / "receiver.log").read_text())]
    ok = [lat for lat, status in results if status == 200]
    total = args.stations * args.events
    return {"backend": name, "seconds": elapsed, "rate": total / elapsed, "requests": len(ok),
            "refused": len(results) - len(ok), "p50": percentile(ok, 0.5) * 1000,
            "p99": percentile(ok, 0.99) * 1000,
            "p99_all": percentile([lat for lat, _ in results], 0.99) * 1000,
            "served_p50": percentile(served, 0.5), "served_p99": percentile(served, 0.99),
            "rss": peak, "stored": stored, "cpu": receiver_cpu / elapsed,
            "clients_cpu": clients_cpu / elapsed,
            "load": (load_before, load_after)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--ramp-s", type=float, default=2.0,
                        help="stations start within this many seconds, at random")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--receiver-arg", action="append", default=[],
                        help="passed on to `printstation receiver` (repeatable)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ho-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        for name in args.backends.split(","):
            folder = root / name
            folder.mkdir()
            write_tokens(folder / "tokens", args.stations)
            if name == "postgresql":
                from printstation.harness.postgres import Postgres

                # The tests' private cluster: Debian's defaults, fsync and
                # synchronous_commit on.
                pg = Postgres()
                pg.start()
                try:
                    rows.append(run_backend(name, pg.new_database(), folder, args))
                finally:
                    pg.close()
            else:
                rows.append(run_backend(name, str(folder / "ho.db"), folder, args))
    print(f"{args.stations} stations × {args.events:,} events, batches of {args.batch}, "
          f"{args.procs} load processes, stations starting within {args.ramp_s:g} s, "
          f"{os.cpu_count()} cores; target on PostgreSQL: "
          "≥ 20,000 events/s, p99 ≤ 250 ms\n")
    print("| backend | time | events/s | posts accepted | answered 503 | p50 ms | p99 ms "
          "(accepted) | p99 ms (every answer) | receiver's own p50 / p99 ms "
          "| CPU, cores: receiver / stations | receiver peak RSS MiB | load avg before → after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['seconds']:.1f} s | {r['rate']:,.0f} | {r['requests']:,} |"
              f" {r['refused']:,} | {r['p50']:.0f} | {r['p99']:.0f} | {r['p99_all']:.0f} |"
              f" {r['served_p50']:.0f} / {r['served_p99']:.0f} |"
              f" {r['cpu']:.2f} / {r['clients_cpu']:.2f} |"
              f" {r['rss']:.0f} | {r['load'][0]:.2f} → {r['load'][1]:.2f} |")
    if len(rows) == 2:
        print(f"\nratio {rows[0]['backend']} / {rows[1]['backend']} events/s: "
              f"{rows[0]['rate'] / rows[1]['rate']:.2f}")
    for r in rows:
        print(f"\n{r['backend']}: {r['stored']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
