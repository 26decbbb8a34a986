"""The daemon as a long-running service: memory, idle CPU and start-up (issue 9).

One daemon (directory printer) is fed 20,000 invoices in batch files of 100:

- resident memory (VmRSS) right after READY with an empty journal (the baseline), after
  1,000 jobs and after 20,000 jobs, and the growth from 1,000 to 20,000;
- the same as PSS (/proc/PID/smaps_rollup: each shared page split between the processes
  mapping it), summed over the daemon and all its children (render zygote and worker),
  also at its peak during the backlog (sampled every 0.5 s), and at rest;
- CPU used over 60 s with nothing to do, against `inotifywait -m` on the same folder over
  the same 60 s (the least a hot folder costs);
- start-up to READY=1 (read from a real NOTIFY_SOCKET, as systemd would) with a journal
  of 10,000 jobs (a copy taken by `printstation backup` at that point), against start-up
  with an empty journal.

    .venv/bin/python bench/service_footprint.py [--jobs 20000] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stations import directory_station

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "printstation"
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))
TICKS = os.sysconf("SC_CLK_TCK")


def start(cfg: Path, log: Path) -> tuple[subprocess.Popen, float]:
    """Start the daemon; returns it and the seconds until it sent READY=1."""
    sock_path = cfg.parent / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(60)
    started = time.perf_counter()
    proc = subprocess.Popen([EXE, "--config", cfg, "run"], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "NOTIFY_SOCKET": str(sock_path)})
    while True:
        message = sock.recv(4096).decode()
        if "READY=1" in message.split("\n"):
            took = time.perf_counter() - started
            sock.close()
            return proc, took


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def rss_mib(pid: int) -> float:
    """VmRSS in MiB; 0 for a process that has ended (the render worker stops when idle)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")),
                0.0)


def pss_rss(pid: int) -> tuple[float, float]:
    """(Pss, Rss) in MiB from /proc/PID/smaps_rollup; zeros for a process that ended."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    found = {line.split()[0]: int(line.split()[1]) / 1024 for line in lines
             if line.startswith(("Pss:", "Rss:"))}
    return found.get("Pss:", 0.0), found.get("Rss:", 0.0)


def family(pid: int) -> list[int]:
    """The daemon's children and theirs (the render worker is the zygote's child)."""
    found = []
    for child in children(pid):
        found += [child, *family(child)]
    return found


def pss_all(pid: int) -> tuple[float, float, float]:
    """PSS of the daemon, PSS summed over all its descendants, and RSS of them all."""
    helpers = family(pid)
    own = pss_rss(pid)
    others = [pss_rss(p) for p in helpers]
    return own[0], sum(p for p, _ in others), own[1] + sum(r for _, r in others)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_all(pid: int) -> tuple[float, float]:
    """VmRSS of the daemon, and of its render zygote and worker (and any other child and
    theirs). RSS counts a page shared by several of them in each: PSS below does not."""
    return rss_mib(pid), sum(rss_mib(child) for child in family(pid))


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process itself (None: ended). Reaped children are
    left out: the render worker's whole life would land on the daemon when it stops."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:13]) / TICKS


def printed(root: Path) -> int:
    db = root / "data" / "journal.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE state = 'printed'").fetchone()[0]


def feed(root: Path, first: int, count: int, timeout: float = 1800,
         sample: Callable[[], None] | None = None) -> float:
    """Drop `count` invoices in batch files of 100; seconds until all printed. `sample`
    is called every 0.5 s meanwhile."""
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    before = printed(root)
    started = time.perf_counter()
    for start_at in range(first, first + count, 100):
        docs = [{**SAMPLE, "number": f"{n:08d}"} for n in range(start_at, start_at + 100)]
        name = f"batch-{start_at}.json"
        (staging / name).write_text(json.dumps({"invoices": docs}, ensure_ascii=False))
        os.rename(staging / name, root / "inbox" / name)
    while printed(root) < before + count:
        if time.perf_counter() - started > timeout:
            raise TimeoutError("backlog did not finish")
        if sample is not None:
            sample()
        time.sleep(0.5)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "station"
        cfg = directory_station(root)
        log = base / "daemon.log"

        empty_proc, empty_ready = start(cfg, log)
        time.sleep(2)  # let the first metrics pass and rescans happen
        rss_empty = rss_all(empty_proc.pid)
        pss_empty = pss_all(empty_proc.pid)
        peak = [0.0, 0.0, 0.0]

        def sample() -> None:
            now = pss_all(empty_proc.pid)
            if now[0] + now[1] > peak[0] + peak[1]:
                peak[:] = now

        took_1k = feed(root, 10_000_000, 1000, sample=sample)
        rss_1k = rss_all(empty_proc.pid)
        pss_1k = pss_all(empty_proc.pid)
        took_9k = feed(root, 10_001_000, 9000, sample=sample)
        backup = base / "backup-10k"
        subprocess.run([EXE, "--config", cfg, "backup", backup], check=True,
                       capture_output=True)
        took_rest = feed(root, 10_010_000, args.jobs - 10_000, sample=sample)
        time.sleep(6)  # the metrics pass after the last job
        rss_20k = rss_all(empty_proc.pid)
        pss_20k = pss_all(empty_proc.pid)

        # Idle: the daemon with its 20,000 jobs, and inotifywait on the same drop folder.
        watcher = subprocess.Popen(["inotifywait", "-m", "-q", "-e", "moved_to",
                                    str(root / "inbox")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(1)
        helpers = children(empty_proc.pid)
        ours0, theirs0 = cpu_s(empty_proc.pid), cpu_s(watcher.pid)
        helpers0 = {p: cpu_s(p) for p in helpers}
        time.sleep(args.idle)
        idle_ours = (cpu_s(empty_proc.pid) - ours0) / args.idle * 100
        # A helper that ended meanwhile (the render worker stops when idle) used at most
        # what it had used by then: count nothing more for it.
        idle_helpers = sum((cpu_s(p) or helpers0[p] or 0) - (helpers0[p] or 0)
                           for p in helpers) / args.idle * 100
        idle_theirs = (cpu_s(watcher.pid) - theirs0) / args.idle * 100
        watcher.terminate()
        rss_rest = rss_all(empty_proc.pid)
        pss_rest = pss_all(empty_proc.pid)
        stop(empty_proc)

        # Start-up with 10,000 journaled jobs, against an empty journal.
        seeded = base / "seeded"
        seeded_cfg = directory_station(seeded)
        (seeded / "data").mkdir()
        shutil.copy(backup / "journal.db", seeded / "data" / "journal.db")
        fresh_cfg = directory_station(base / "fresh")
        times_10k, times_empty = [], []
        for _ in range(3):
            proc, took = start(seeded_cfg, log)
            times_10k.append(took)
            stop(proc)
            proc, took = start(fresh_cfg, log)
            times_empty.append(took)
            stop(proc)
        with sqlite3.connect(seeded / "data" / "journal.db") as conn:
            seeded_jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]

    total = 1000 + 9000 + (args.jobs - 10_000)
    print(f"resident memory (VmRSS) of one daemon fed {total:,} invoices "
          f"(batch files of 100, directory printer); target: growth ≤ 10 %, under 120 MB")
    print("| | daemon MiB | render worker MiB | total MiB |")
    print("|---|---|---|---|")
    for label, (main_mib, worker_mib) in (("baseline: after READY, empty journal", rss_empty),
                                          ("after 1,000 jobs", rss_1k),
                                          (f"after {total:,} jobs", rss_20k),
                                          (f"at rest, {args.idle:.0f} s later", rss_rest)):
        print(f"| {label} | {main_mib:.1f} | {worker_mib:.1f} | {main_mib + worker_mib:.1f} |")
    print(f"| growth 1,000 → {total:,} | {(rss_20k[0] / rss_1k[0] - 1) * 100:+.1f} % | "
          f"{(rss_20k[1] / rss_1k[1] - 1) * 100 if rss_1k[1] else 0:+.1f} % | "
          f"{(sum(rss_20k) / sum(rss_1k) - 1) * 100:+.1f} % |")
    print(f"\nproportional set size (PSS, smaps_rollup) of the daemon and of all its children "
          f"(render zygote and worker), summed; target: ≤ 80 MB at rest, ≤ 160 MB during a "
          f"backlog, growth 1,000 → {total:,} ≤ 5 %")
    print("| | daemon PSS MiB | children PSS MiB | total PSS MiB | total RSS MiB |")
    print("|---|---|---|---|---|")
    for label, (own, others, rss) in (("PSS baseline: after READY, empty journal", pss_empty),
                                      ("PSS peak during the backlog (sampled)", tuple(peak)),
                                      ("PSS after 1,000 jobs", pss_1k),
                                      (f"PSS after {total:,} jobs", pss_20k),
                                      (f"PSS at rest, {args.idle:.0f} s later", pss_rest)):
        print(f"| {label} | {own:.1f} | {others:.1f} | {own + others:.1f} | {rss:.1f} |")
    print(f"| PSS growth 1,000 → {total:,} | {(pss_20k[0] / pss_1k[0] - 1) * 100:+.1f} % | | "
          f"{(sum(pss_20k[:2]) / sum(pss_1k[:2]) - 1) * 100:+.1f} % | |")
    print(f"\nthroughput while feeding: {1000 / took_1k:.0f}, {9000 / took_9k:.0f} and "
          f"{(args.jobs - 10_000) / took_rest:.0f} invoices/s for the three parts")
    print(f"\nidle CPU over {args.idle:.0f} s with nothing to do (target ≤ 1 %)")
    print("| | CPU % |")
    print("|---|---|")
    print(f"| printstation run, {total:,} jobs journaled | {idle_ours:.2f} |")
    print(f"| its helper processes (render worker until it stops, resource tracker) | "
          f"{idle_helpers:.2f} |")
    print(f"| baseline: inotifywait -m on the same folder | {idle_theirs:.2f} |")
    print("\nstart-up to READY=1 on NOTIFY_SOCKET (best of 3; target ≤ 2 s with 10,000 jobs)")
    print("| | seconds |")
    print("|---|---|")
    print(f"| {seeded_jobs:,} jobs in the journal | {min(times_10k):.2f} |")
    print(f"| baseline: empty journal | {min(times_empty):.2f} |")
    print(f"| ratio | {min(times_10k) / min(times_empty):.2f} |")
    print(f"\n(first start-up of this run, empty journal: {empty_ready:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
