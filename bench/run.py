"""`make bench`: every benchmark, one after the other, written to BENCHMARKS.md.

Each benchmark prints its own tables with the baseline it measured in the same run; this
script adds the machine, the date and a table of the targets, and keeps every section
as the benchmark printed it. `--only NAME…` runs some (and prints them, without writing
the file).

    .venv/bin/python bench/run.py [--only sync.py service_footprint.py]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES: list[tuple[str, list[str]]] = [
    ("validate_speed.py", []),
    ("jail_overhead.py", []),
    ("read_formats.py", []),
    ("render_speed.py", []),
    ("pickup.py", ["--backlog", "10000"]),
    ("cups_latency.py", []),
    ("sync.py", []),
    ("service_footprint.py", []),
    ("web_console.py", []),
    ("headoffice.py", []),
    ("soak.py", []),
]

# (what, target, bench, pattern whose first group is the measured value)
TARGETS = [
    ("backlog of 10,000 invoices, end to end to the directory printer", "≥ 100 invoices/s",
     "pickup.py", r"until the last PDF \| [\d.]+ \| (\d+) \|"),
    ("render", "≥ 150 invoices/s", "render_speed.py",
     r"render_invoice \(every field, fitted, embedded subset font\) \| [\d.]+ \| ([\d,]+)"),
    ("latency drop → CUPS accepts, p50 ratio to inotifywait + lp", "≤ 1.5", "cups_latency.py",
     r"\| ratio \| ([\d.]+) \|"),
    ("RSS growth 1,000 → 20,000 jobs (daemon)", "≤ 10 %", "service_footprint.py",
     r"\| growth 1,000 → 20,000 \| ([+-][\d.]+ %)"),
    ("RSS after 20,000 jobs, daemon alone (MiB)", "< 120 MB", "service_footprint.py",
     r"\| after 20,000 jobs \| ([\d.]+) \|"),
    ("RSS after 20,000 jobs, daemon + render worker (MiB)", "< 120 MB", "service_footprint.py",
     r"\| after 20,000 jobs \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|"),
    ("RSS at rest after the backlog, daemon + worker (MiB)", "< 120 MB", "service_footprint.py",
     r"\| at rest, \d+ s later \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|"),
    ("idle CPU over 60 s", "≤ 1 %", "service_footprint.py",
     r"\| printstation run, [\d,]+ jobs journaled \| ([\d.]+) \|"),
    ("start-up to READY with 10,000 jobs", "≤ 2 s", "service_footprint.py",
     r"\| [\d,]+ jobs in the journal \| ([\d.]+) \|"),
    ("sync of a 100,000-event backlog", "< 30 s", "sync.py",
     r"sync worker → reference receiver .*? \| ([\d.]+) s \|"),
    ("web console, 100,000 jobs: overview p50 (ms)", "≤ 50", "web_console.py",
     r"\| overview `/` \| ([\d.]+) \|"),
    ("web console, 100,000 jobs: overview p99 (ms)", "≤ 200", "web_console.py",
     r"\| overview `/` \| [\d.]+ \| ([\d.]+) \|"),
    ("web console, 100,000 jobs: queue p50 (ms)", "≤ 50", "web_console.py",
     r"\| queue `/queue` \| ([\d.]+) \|"),
    ("web console, 100,000 jobs: queue p99 (ms)", "≤ 200", "web_console.py",
     r"\| queue `/queue` \| [\d.]+ \| ([\d.]+) \|"),
    ("pickup p50 with the console polled every second / idle", "0.90–1.10", "web_console.py",
     r"\| median of \d+ runs \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|"),
    ("head office, 500 stations × 2,000 events, PostgreSQL (events/s)", "≥ 20,000",
     "headoffice.py", r"\| postgresql \| [\d.]+ s \| ([\d,]+) \|"),
    ("head office on PostgreSQL: p99 of accepted posts (ms)", "≤ 250", "headoffice.py",
     r"\| postgresql \|(?: [^|]+ \|){5} (\d+) \|"),
    ("soak: 5,000 invoices, 20 SIGKILLs, faults", "0 violations", "soak.py",
     r"\| invariant violations \| (\d+) \|"),
]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) // 1024 for line in
                Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return (f"{os.cpu_count()} cores, {cpu}, {mem:,} MiB RAM; Linux {platform.release()}; "
            f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", metavar="NAME")
    args = parser.parse_args()
    chosen = [(n, a) for n, a in BENCHES if not args.only or n in args.only]
    outputs: dict[str, str] = {}
    for name, extra in chosen:
        # Each benchmark starts on a quiet disk: the one before may have left thousands of
        # files to write back, which slowed the next one's fsyncs (a 10,000-invoice
        # backlog raised the CUPS latency ratio from 1.25 to 1.53).
        os.sync()
        time.sleep(5)
        print(f"## {name}\n", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, HERE / name, *extra], capture_output=True,
                              text=True)
        text = done.stdout + (f"\n(exit {done.returncode}: {done.stderr.strip()[-2000:]})"
                              if done.returncode else "")
        outputs[name] = text
        print(text, flush=True)
        print(f"({time.monotonic() - started:.0f} s)\n", flush=True)
    if args.only:
        return 0
    lines = ["# Benchmarks", "", f"Machine: {machine()}.", "",
             "Written by `make bench` (`bench/run.py`); every number below comes from one run, "
             "each with its baseline measured in the same run. Do not edit by hand: the reasons "
             "for missed targets come from `bench/missed.md`.", "",
             "## Targets", "", "| what | target | measured |", "|---|---|---|"]
    for what, target, bench, pattern in TARGETS:
        found = re.search(pattern, outputs.get(bench, ""))
        lines.append(f"| {what} | {target} | {found.group(1) if found else 'see below'} |")
    # Why a target was missed is written by hand in bench/missed.md, next to the numbers.
    missed = HERE / "missed.md"
    if missed.exists():
        lines += ["", missed.read_text(encoding="utf-8").rstrip()]
    for name, _ in chosen:
        doc = (HERE / name).read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0]
        lines += ["", f"## {name}: {doc}", "", outputs[name].rstrip()]
    (HERE.parent / "BENCHMARKS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
