"""What reading untrusted files in the jail costs (issue 14), against reading them in the
daemon's own process, in the same script.

Each real fixture (PDF, XML, OFD) is read `--rounds` times by `invoice.read_file` in this
process (the baseline) and by `daemon.jail.Jail.read` through its worker process (warm:
started once before timing). The ratio is the jail's time over the baseline's, per file;
the worker's start-up is reported once.

    .venv/bin/python bench/jail_overhead.py [--rounds 100]
"""

from __future__ import annotations

import argparse
import statistics
import time

from printstation.daemon.jail import Jail
from printstation.harness.kit import ROOT
from printstation.invoice import read_file

FIXTURES = ROOT / "tests" / "fixtures" / "real"


def timed(read, name: str, data: bytes, rounds: int) -> float:
    """Median milliseconds of one read, over five batches of `rounds`."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            read(name, data)
        batches.append((time.perf_counter() - started) / rounds * 1000)
    return statistics.median(batches)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    jail = Jail()
    started = time.perf_counter()
    jail.read("warm.xml", b"<a/>")
    startup_ms = (time.perf_counter() - started) * 1000
    print("| file | size | in-process ms | jail ms | ratio |")
    print("|---|---|---|---|---|")
    try:
        for path in sorted(FIXTURES.iterdir()):
            if path.suffix.lower() not in (".pdf", ".xml", ".ofd"):
                continue
            data = path.read_bytes()
            base = timed(read_file, path.name, data, args.rounds)
            jailed = timed(jail.read, path.name, data, args.rounds)
            print(f"| {path.name} | {len(data) // 1024} KB | {base:.2f} | {jailed:.2f} | "
                  f"{jailed / base:.2f} |")
    finally:
        jail.close()
    print(f"\njail worker start-up (once, and after a limit is hit): {startup_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
