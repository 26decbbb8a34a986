"""Where the daemon's memory goes (issue 19): PSS and RSS by mapping, and what each big
module costs to import.

A daemon (directory printer) is started, fed a backlog of invoices (so that it has
rendered, validated and journaled), and left to rest; then, for the daemon and each of
its helper processes (render zygote and worker, jail):

- PSS and RSS from /proc/PID/smaps_rollup (PSS splits each shared page between the
  processes that map it: the sum over processes is what they cost together);
- a breakdown from /proc/PID/smaps by mapping: the heap and anonymous memory, the
  interpreter and shared libraries, the CJK font file (mapped by drivers/fonts.py), other
  files.

Then, in a fresh interpreter per line, the RSS each big module adds when imported one
after the other (and tracemalloc's count of the Python objects it allocated, in a second
fresh interpreter, as tracemalloc's own bookkeeping inflates the RSS).

Baseline in the same run: a bare `python -c 'import time; time.sleep(30)'`.

    .venv/bin/python bench/memory_map.py [--jobs 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from service_footprint import SAMPLE, children, feed, pss_rss, start, stop
from stations import directory_station

IMPORTS = ["sqlite3", "watchdog.observers", "tenacity", "reportlab.pdfgen.canvas", "font",
           "pypdf", "fontTools.ttLib", "PIL.Image", "cups", "printstation.daemon.service"]
PROBE = """
import gc, importlib, json, sys, tracemalloc
traced = sys.argv[1] == "traced"
if traced:
    tracemalloc.start()
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
out = {}
for name in sys.argv[2:]:
    before, t0 = rss(), tracemalloc.get_traced_memory()[0] if traced else 0
    try:
        if name == "font":
            from printstation.drivers.fonts import ensure_font
            ensure_font()
        else:
            importlib.import_module(name)
    except ImportError:
        out[name] = None
        continue
    gc.collect()
    out[name] = (tracemalloc.get_traced_memory()[0] - t0) / 2**20 if traced else rss() - before
print(json.dumps(out))
"""


def kind(path: str) -> str:
    if path.endswith((".ttc", ".ttf")):
        return "CJK font file (mapped)"
    if path in ("[heap]", "") or path.startswith("[anon") or path == "[stack]":
        return "heap and anonymous"
    if ".so" in path or "/python3" in path:
        return "interpreter and shared libraries"
    if path.startswith("["):
        return "kernel ([vdso], [vvar]…)"
    return "other files (SQLite shm, locale…)"


def by_mapping(pid: int) -> dict[str, list[float]]:
    """kind -> [PSS MiB, RSS MiB] from /proc/PID/smaps."""
    found: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    current = "heap and anonymous"
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):
            current = kind(head[5] if len(head) > 5 else "")
        elif head[0] == "Pss:":
            found[current][0] += int(head[1]) / 1024
        elif head[0] == "Rss:":
            found[current][1] += int(head[1]) / 1024
    return found


def name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def table(title: str, pids: list[int]) -> None:
    print(f"\n{title}")
    print("| process | PSS MiB | RSS MiB |")
    print("|---|---|---|")
    total = [0.0, 0.0]
    for pid in pids:
        pss, rss = pss_rss(pid)
        total[0] += pss
        total[1] += rss
        print(f"| {name_of(pid)} ({pid}) | {pss:.1f} | {rss:.1f} |")
    print(f"| total | {total[0]:.1f} | {total[1]:.1f} |")
    print("\n| mapping | " + " | ".join(f"{name_of(p)} PSS / RSS" for p in pids) + " |")
    print("|---|" + "---|" * len(pids))
    maps = [by_mapping(pid) for pid in pids]
    for key in sorted({k for m in maps for k in m}):
        print(f"| {key} | " + " | ".join(f"{m.get(key, [0, 0])[0]:.1f} / "
                                         f"{m.get(key, [0, 0])[1]:.1f}" for m in maps) + " |")


def imports() -> None:
    print("\nimport cost, each in turn in one fresh interpreter (MiB)")
    print("| module | RSS added | Python objects (tracemalloc) |")
    print("|---|---|---|")
    got = {mode: json.loads(subprocess.run([sys.executable, "-c", PROBE, mode, *IMPORTS],
                                           capture_output=True, text=True,
                                           check=True).stdout)
           for mode in ("rss", "traced")}
    for name in IMPORTS:
        label = "the CJK font registered (drivers/fonts.py)" if name == "font" else name
        rss, objs = got["rss"][name], got["traced"][name]
        print(f"| {label} | " + (f"{rss:.1f} | {objs:.1f} |" if rss is not None
                                 else "not installed | |"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "station"
        cfg = directory_station(root)
        proc, _ = start(cfg, Path(tmp) / "daemon.log")
        try:
            time.sleep(2)
            table("after READY (empty journal)", [proc.pid, *descendants(proc.pid)])
            peak: dict[int, float] = {}
            took = feed(root, 20_000_000, args.jobs,
                        sample=lambda: peak.update({p: max(peak.get(p, 0.0), pss_rss(p)[0])
                                                    for p in [proc.pid,
                                                              *descendants(proc.pid)]}))
            print(f"\nbacklog: {args.jobs:,} invoices (batch files of 100) in {took:.1f} s; "
                  f"peak PSS sampled during it: " + ", ".join(
                      f"{name_of(p) if Path(f'/proc/{p}').exists() else 'ended'} "
                      f"{v:.1f}" for p, v in peak.items()) +
                  f" MiB; sum of peaks {sum(peak.values()):.1f} MiB")
            table("right after the backlog", [proc.pid, *descendants(proc.pid)])
            time.sleep(35)  # the render worker stops after 30 s without a backlog
            table("at rest, 35 s later", [proc.pid, *descendants(proc.pid)])
        finally:
            stop(proc)
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    time.sleep(2)
    table("baseline: bare `python -c 'import time; time.sleep(30)'`", [bare.pid])
    bare.kill()
    bare.wait()
    imports()
    return 0


if __name__ == "__main__":
    assert SAMPLE
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
