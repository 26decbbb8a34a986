"""Pickup latency and backlog throughput of the daemon against a shell hot folder.

Both run in this script on the same machine. Latency: one invoice at a time is renamed into
the drop folder and the clock stops when its PDF appears in the output folder. The
baseline is the least a hot folder can do: `inotifywait` + `cp` of a pre-rendered PDF (no
parsing, validation, rendering or journal). Backlog: N invoices dropped at once, time until
the last PDF appears.

    .venv/bin/python bench/pickup.py [--count 200] [--backlog 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stations import directory_station

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "printstation"
SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))


def invoice_bytes(n: int) -> bytes:
    return json.dumps({**SAMPLE, "number": f"{n:08d}"}, ensure_ascii=False).encode()


def wait_count(folder: Path, count: int, timeout: float = 120, poll: float = 0.0005) -> None:
    """Until `count` PDFs are in `folder`. A backlog polls less often: listing a folder of
    thousands every 0.5 ms would take a core from the thing measured."""
    deadline = time.perf_counter() + timeout
    # The directory printer makes its folder when it first prints: none yet is none printed.
    while not folder.is_dir() or \
            sum(1 for e in os.scandir(folder) if e.name.endswith(".pdf")) < count:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{folder}: fewer than {count} PDFs after {timeout}s")
        time.sleep(poll)


def measure(inbox: Path, out: Path, staging: Path, count: int, first: int) -> list[float]:
    latencies = []
    for i in range(count):
        src = staging / f"b{first + i}.json"
        src.write_bytes(invoice_bytes(first + i))
        started = time.perf_counter()
        os.rename(src, inbox / src.name)
        wait_count(out, i + 1)
        latencies.append(time.perf_counter() - started)
    return latencies


def backlog(inbox: Path, out: Path, staging: Path, count: int, first: int,
            journal: Path | None = None) -> dict[str, float]:
    """Drop `count` invoices at once. Seconds until the last PDF (`printed`) and, with a
    journal, until every job was read and queued (`queued`) and handed to the printer
    (`submitted`)."""
    names = []
    for i in range(count):
        src = staging / f"c{first + i}.json"
        src.write_bytes(invoice_bytes(first + i))
        names.append(src)
    already = sum(1 for e in os.scandir(out) if e.name.endswith(".pdf"))
    before = _progress(journal) if journal else {}
    started = time.perf_counter()
    for src in names:
        os.rename(src, inbox / src.name)
    marks: dict[str, float] = {}
    deadline = started + 1200
    while "printed" not in marks:
        if time.perf_counter() > deadline:
            raise TimeoutError("backlog did not finish")
        now = time.perf_counter() - started
        if journal:
            found = _progress(journal)
            for stage in ("queued", "submitted"):
                if stage not in marks and found[stage] - before[stage] >= count:
                    marks[stage] = now
        if sum(1 for e in os.scandir(out) if e.name.endswith(".pdf")) >= already + count:
            marks["printed"] = time.perf_counter() - started
        time.sleep(0.05)
    # The last jobs may have gone from queued to printed between the journal's read and
    # the folder's in the last look: they were queued and submitted by then.
    for stage in ("queued", "submitted") if journal else ():
        marks.setdefault(stage, marks["printed"])
    return marks


def _progress(journal: Path) -> dict[str, int]:
    """Jobs past reading (queued or later) and past submitting, from the journal."""
    import sqlite3

    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=30) as conn:
        rows = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    return {"queued": sum(n for s, n in rows.items() if s != "incoming"),
            "submitted": rows.get("submitted", 0) + rows.get("printed", 0)}


def station(root: Path) -> tuple[subprocess.Popen, Path, Path]:
    config = directory_station(root)
    log = open(root / "daemon.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    proc = subprocess.Popen([EXE, "--config", config, "run"], stdout=log, stderr=log)
    deadline = time.time() + 30
    while b"event=daemon.ready" not in (root / "daemon.log").read_bytes():
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError((root / "daemon.log").read_text())
        time.sleep(0.05)
    return proc, root / "inbox", root / "printed"


def shell_hot_folder(root: Path) -> tuple[subprocess.Popen, Path, Path]:
    inbox, out = root / "inbox", root / "printed"
    inbox.mkdir()
    out.mkdir()
    pdf = root / "prerendered.pdf"
    shutil.copy(next((root.parent / "ps" / "printed").glob("*.pdf")), pdf)
    script = (f'inotifywait -m -q -e moved_to --format "%f" "{inbox}" | '
              f'while read f; do cp "{pdf}" "{out}/$f.pdf"; done')
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    time.sleep(0.5)  # inotifywait sets its watch
    return proc, inbox, out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        staging = root / "staging"
        staging.mkdir()
        (root / "ps").mkdir()
        proc, inbox, out = station(root / "ps")
        try:
            measure(inbox, out, staging, 5, 90_000_000)  # warm-up: font, caches
            ours = measure(inbox, out, staging, args.count, 10_000_000)
            ours_marks = backlog(inbox, out, staging, args.backlog, 20_000_000,
                                 root / "ps" / "data" / "journal.db")
            ours_backlog = ours_marks["printed"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        (root / "sh").mkdir()
        sh, sh_inbox, sh_out = shell_hot_folder(root / "sh")
        try:
            measure(sh_inbox, sh_out, staging, 5, 91_000_000)
            base = measure(sh_inbox, sh_out, staging, args.count, 30_000_000)
            base_backlog = backlog(sh_inbox, sh_out, staging, args.backlog,
                                   40_000_000)["printed"]
        finally:
            os.killpg(sh.pid, signal.SIGTERM)
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d')}")
    print(f"pickup latency, rename into the drop folder -> PDF in the output folder "
          f"({args.count} invoices, one at a time)")
    print("| | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for label, values in (("printstation (validate, render, journal)", ours),
                          ("shell: inotifywait + cp of a pre-rendered PDF", base)):
        print(f"| {label} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | "
              f"{pct(values, 99):.1f} |")
    print(f"| ratio printstation / shell | {pct(ours, 50) / pct(base, 50):.2f} | "
          f"{pct(ours, 95) / pct(base, 95):.2f} | {pct(ours, 99) / pct(base, 99):.2f} |")
    print(f"\nbacklog of {args.backlog:,} invoices dropped at once (directory printer; "
          "target ≥ 150 invoices/s end to end, median of 3 runs)")
    print("| | seconds | invoices/s |")
    print("|---|---|---|")
    for stage in ("queued", "submitted"):
        print(f"| printstation, until every job was {stage} | {ours_marks[stage]:.2f} | "
              f"{args.backlog / ours_marks[stage]:.0f} |")
    print(f"| printstation, until the last PDF | {ours_backlog:.2f} | "
          f"{args.backlog / ours_backlog:.0f} |")
    print(f"| shell hot folder, until the last PDF | {base_backlog:.2f} | "
          f"{args.backlog / base_backlog:.0f} |")
    print(f"| ratio printstation / shell (time) | {ours_backlog / base_backlog:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
