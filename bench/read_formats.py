"""Reading real-size e-invoice PDFs and OFDs (issue 13), against `pdftotext` on the same
file, in one run.

For each file: the milliseconds of one `invoice.read_file` (identity, pages, ink: all the
daemon learns before it queues the job) as p50 and p99 over `--rounds` reads in this
process, and the peak memory of a fresh interpreter that imports the readers and reads the
file once (its own start and imports shown apart). The baseline is poppler's `pdftotext`
run as a program on the same file (p50/p99 wall time, peak RSS). `pdftotext` cannot read an
OFD: its baseline is the same invoice drawn as PDF (`drivers/ofd_paint.py`), said in the
row.

    .venv/bin/python bench/read_formats.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from printstation.daemon.jail import Jail
from printstation.drivers.ofd_paint import ofd_to_pdf
from printstation.harness.kit import ROOT
from printstation.invoice import read_file

FIXTURES = ROOT / "tests" / "fixtures" / "real"
# The child reports the peak resident set of the readers' imports, then of the read.
CHILD = """
import json, resource, sys
from printstation.invoice import read_file
import printstation.invoice.pdf_read, printstation.invoice.ofd_read
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = open(sys.argv[1], "rb").read()
read_file(sys.argv[1], data)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
drawing = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps([before, after, drawing]))
"""
# pdftotext's own peak: measured in a child whose only child it is.
TEXT_PEAK = """
import resource, subprocess, sys
subprocess.run(["pdftotext", "-layout", sys.argv[1], "-"], capture_output=True, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1,
                                                   round(0.99 * (len(ordered) - 1)))]


def ours(read, path: Path, rounds: int) -> tuple[float, float]:
    data = path.read_bytes()
    read(path.name, data)  # warm: imports, fonts, the jail's worker
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        read(path.name, data)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def our_memory(path: Path) -> tuple[float, float, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, check=True)
    before, after, drawing = json.loads(done.stdout)
    return before / 1024, after / 1024, drawing / 1024


def pdftotext(pdf: Path, rounds: int) -> tuple[float, float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                       check=True)
        times.append((time.perf_counter() - started) * 1000)
    done = subprocess.run([sys.executable, "-c", TEXT_PEAK, str(pdf)], capture_output=True,
                          text=True, check=True)
    return (*percentiles(times), int(done.stdout) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print("| file | size | read p50 ms | read p99 ms | in the jail p50 / p99 ms "
          "| pdftotext p50 ms | pdftotext p99 ms | ratio p50 (read / jail) "
          "| peak MiB (imports → read; pdftoppm) | pdftotext peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    jail = Jail()
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(FIXTURES.iterdir()):
            suffix = path.suffix.lower()
            if suffix not in (".pdf", ".ofd"):
                continue
            baseline, label = path, path.name
            if suffix == ".ofd":
                baseline = Path(tmp) / f"{path.stem}.pdf"
                baseline.write_bytes(ofd_to_pdf(path.read_bytes()))
                label += " (pdftotext: the same invoice drawn as PDF)"
            p50, p99 = ours(read_file, path, args.rounds)
            j50, j99 = ours(jail.read, path, args.rounds)
            t50, t99, tpeak = pdftotext(baseline, args.rounds)
            before, after, drawing = our_memory(path)
            print(f"| {label} | {path.stat().st_size // 1024} KB | {p50:.1f} | {p99:.1f} | "
                  f"{j50:.1f} / {j99:.1f} | {t50:.1f} | {t99:.1f} | {p50 / t50:.1f} / "
                  f"{j50 / t50:.1f} | {before:.0f} → {after:.0f}; "
                  f"{drawing:.0f} | "
                  f"{tpeak:.0f} |")
    jail.close()
    print("\nIn the jail (as the daemon reads) a page is also made ready to print once (an "
          "OFD drawn, a PDF page placed), so that printing it later is known to succeed. "
          "A read measures the page's ink by drawing it with pdftoppm at 144 dpi (one "
          "process per page), which is most of its time; pdftotext only extracts text.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
