"""Idle CPU of the daemon, thread by thread, and how fast it acts on an operator's change.

One daemon with the shipped defaults and a directory printer (bench/stations.py) is
started, fed a few invoices, and left alone: once the journal has been quiet for the
settling pause (no new event; a backlog's last files may still be finishing), the CPU
time (utime + stime from /proc) of the daemon and of its children is taken over the
measuring window, as a percentage of one core. In the same window, two baselines: a
`sleep` process (the least a process costs) and a bare Python process asleep in
`threading.Event().wait()` (the least an idle Python interpreter costs). Each thread's
wakeups are its voluntary context switches (a thread that sleeps and wakes makes one per
wake); runner threads carry their runner's name (daemon/runner.py names them).

Then, with the daemon still idle, a clerk's change through the CLI (`printstation
reprint`, which the printer runner must act on): the time from the CLI's return (the
change is journaled by then) to the reprint's page in the printer's folder, several
times; the CLI's own run time is shown beside it.

    .venv/bin/python bench/idle_cpu.py [--seconds 60] [--settle 5] [--changes 7] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from service_footprint import family, start
from stations import directory_station

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "printstation"
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))
TICKS = os.sysconf("SC_CLK_TCK")
BARE_PYTHON = "import threading; threading.Event().wait({s})"


def threads(pid: int) -> dict[int, tuple[str, float, int, float]]:
    """Each thread of `pid`: (name, CPU seconds, voluntary context switches, CPU seconds
    by the scheduler's own count).

    utime + stime are charged a whole clock tick to the thread running when the tick
    comes, and a timer wakes a thread on a tick: a thread that wakes for 0.1 ms every 5 s
    can be charged 4–10 ms each time. `schedstat`'s first field is the time the scheduler
    measured the thread on a CPU, in nanoseconds: both are shown."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        base = Path(f"/proc/{pid}/task/{tid}")
        try:
            stat = (base / "stat").read_text()
            status = (base / "status").read_text()
            exact = int((base / "schedstat").read_text().split()[0]) / 1e9
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        switches = int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
        found[int(tid)] = (name, cpu, switches, exact)
    return found


def snapshot(pids: list[int]) -> dict[tuple[int, int], tuple[str, float, int, float]]:
    return {(pid, tid): v for pid in pids for tid, v in threads(pid).items()}


def measure(daemon: int, seconds: float) -> dict:
    """CPU % of one core of the daemon (and children) and of the two baselines over the
    same window, with each daemon thread's CPU and wakeups per second."""
    sleeper = subprocess.Popen(["sleep", str(seconds + 30)])
    bare = subprocess.Popen([sys.executable, "-c", BARE_PYTHON.format(s=seconds + 30)])
    time.sleep(1)  # the bare interpreter's start-up is not idle time
    pids = [daemon, *family(daemon)]
    before = snapshot([*pids, sleeper.pid, bare.pid])
    began = time.monotonic()
    time.sleep(seconds)
    after = snapshot([*pids, sleeper.pid, bare.pid, *family(daemon)])
    took = time.monotonic() - began
    sleeper.kill()
    bare.kill()

    def cpu_of(pid_set: set[int], field: int = 1) -> float:
        total = 0.0
        for key, found in after.items():
            if key[0] in pid_set:
                total += found[field] - before.get(key, ("", 0.0, 0, 0.0))[field]
        return total / took * 100

    per_thread = []
    for key, (name, cpu, switches, exact) in sorted(after.items()):
        if key[0] in (sleeper.pid, bare.pid):
            continue
        old = before.get(key, (name, 0.0, 0, 0.0))
        per_thread.append({"pid": key[0], "tid": key[1], "name": name,
                           "cpu_pct": (cpu - old[1]) / took * 100,
                           "exact_pct": (exact - old[3]) / took * 100,
                           "wakeups_s": (switches - old[2]) / took})
    everyone = set(pids) | set(family(daemon))
    return {"seconds": took, "daemon": cpu_of(everyone),
            "daemon_exact": cpu_of(everyone, 3), "bare_python_exact": cpu_of({bare.pid}, 3),
            "sleep": cpu_of({sleeper.pid}), "bare_python": cpu_of({bare.pid}),
            "threads": per_thread}


def drop(root: Path, numbers: range) -> None:
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    for n in numbers:
        name = f"inv-{n}.json"
        (staging / name).write_text(json.dumps({**SAMPLE, "number": f"{n:08d}"},
                                               ensure_ascii=False), encoding="utf-8")
        os.rename(staging / name, root / "inbox" / name)


def feed(root: Path, count: int) -> None:
    """`count` more invoices in batch files of 100, until all are printed."""
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    for first in range(1000, 1000 + count, 100):
        docs = [{**SAMPLE, "number": f"{n:08d}"}
                for n in range(first, min(first + 100, 1000 + count))]
        name = f"batch-{first}.json"
        (staging / name).write_text(json.dumps({"invoices": docs}, ensure_ascii=False),
                                    encoding="utf-8")
        os.rename(staging / name, root / "inbox" / name)
    wait_pdfs(root / "printed", 3 + count, timeout=60 + count / 10)


def wait_pdfs(folder: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("*.pdf"))) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} pages not printed in {timeout:g} s")
        time.sleep(0.5)


def change_latency(cfg: Path, root: Path, invoice: str, times: int) -> tuple[list, list]:
    """Reprint `invoice` through the CLI `times` times while idle: seconds from the CLI's
    return to the reprint's page, and the CLI's own run time."""
    acted, cli = [], []
    printed = root / "printed"
    for i in range(times):
        time.sleep(1.5)  # idle again: every runner back asleep
        began = time.monotonic()
        done = subprocess.run([EXE, "--config", cfg, "reprint", invoice, "--reason",
                               f"bench {i}"], capture_output=True, text=True)
        returned = time.monotonic()
        if done.returncode:
            raise RuntimeError(f"reprint failed: {done.stdout} {done.stderr}")
        job = re.search(r"job (\S+)", done.stdout).group(1)
        deadline = returned + 30
        # The directory printer names a page `JOB--title.pdf`.
        while not any(printed.glob(f"{job}--*.pdf")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reprint {job} not printed within 30 s")
            time.sleep(0.005)
        acted.append(time.monotonic() - returned)
        cli.append(returned - began)
    return acted, cli


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--changes", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=0,
                        help="invoices journaled before the idle window, in batch files of "
                        "100 (the issue's station has 20,000)")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "station"
        cfg = directory_station(root)
        log = Path(tmp) / "daemon.log"
        proc, _ = start(cfg, log)
        try:
            drop(root, range(1, 4))
            wait_pdfs(root / "printed", 3)
            feed(root, args.jobs)
            quiet(root, args.settle)
            found = measure(proc.pid, args.seconds)
            acted, cli = change_latency(cfg, root, _key(root), args.changes)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    found["change_s"], found["cli_s"] = acted, cli
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    print(f"idle CPU over {found['seconds']:.0f} s, % of one core, {args.jobs + 3:,} jobs "
          "journaled (target ≤ 0.2 %)")
    print("| process | CPU % |\n|---|---|")
    print(f"| printstation run (and children), idle | {found['daemon']:.3f} |")
    print(f"| baseline: sleep | {found['sleep']:.3f} |")
    print(f"| baseline: python, threading.Event().wait() | {found['bare_python']:.3f} |")
    print(f"| printstation run (and children), idle, scheduler's count (schedstat) | "
          f"{found['daemon_exact']:.3f} |")
    print(f"| baseline: python, threading.Event().wait(), scheduler's count | "
          f"{found['bare_python_exact']:.3f} |")
    print("\nper thread of the daemon (wakeups: voluntary context switches per second)")
    print("| pid | tid | thread | CPU % (ticks) | CPU % (schedstat) | wakeups/s |\n"
          "|---|---|---|---|---|---|")
    for t in found["threads"]:
        print(f"| {t['pid']} | {t['tid']} | {t['name']} | {t['cpu_pct']:.3f} | "
              f"{t['exact_pct']:.4f} | {t['wakeups_s']:.2f} |")
    total = sum(t["wakeups_s"] for t in found["threads"])
    print(f"| | | all threads | | | {total:.2f} |")
    print(f"\nan operator's change while idle (`printstation reprint`, {len(acted)} times): "
          "CLI return → page printed (target < 1 s)")
    print(f"median {statistics.median(acted):.3f} s, max {max(acted):.3f} s; the CLI's own "
          f"run: median {statistics.median(cli):.3f} s")
    return 0


def quiet(root: Path, settle: float, timeout: float = 1800) -> None:
    """Until the journal has had no new event for `settle` seconds: after a backlog the
    finisher may still be settling files well after the last page came out, and that
    is work, not idle time."""
    db = root / "data" / "journal.db"
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() - since < settle:
        if time.monotonic() > deadline:
            raise TimeoutError("the journal did not go quiet")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        if seq != last:
            last, since = seq, time.monotonic()
        time.sleep(0.5)


def _key(root: Path) -> str:
    """The invoice key of a printed invoice, as the journal has it."""
    db = root / "data" / "journal.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute("SELECT invoice_key FROM jobs WHERE state = 'printed'"
                            " ORDER BY created_at LIMIT 1").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
