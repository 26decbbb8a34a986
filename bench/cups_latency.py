"""Pickup-to-CUPS latency: from a file landing in the drop folder to CUPS accepting its
job (known to CUPS and not held), p50/p95/p99 over N invoices, against a shell hot folder
doing the least work (`inotifywait` + `lp` of a pre-rendered PDF) on the same private
cupsd, in one run. Target (issue 19): printstation's p50 at most 1.2 × the shell's.

    .venv/bin/python bench/cups_latency.py [--count 500]     (as root: starts a cupsd)
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

from printstation.harness.cupsd import Cupsd
from printstation.harness.kit import EXE, ROOT

SAMPLE = json.loads((ROOT / "config" / "samples" / "vat-special.json").read_text("utf-8"))


def accepted_after(conn, seen: set[int], deadline: float) -> int:
    """Wait until CUPS has a new job that is not held; returns its id.

    Only jobs newer than those seen are asked for (`first_job_id`): asking for the whole
    history every millisecond made cupsd list hundreds of jobs 1,000 times a second, which
    slowed every other request it served, most of all the side that makes more of them.
    """
    while time.perf_counter() < deadline:
        jobs = conn.getJobs(which_jobs="all", first_job_id=max(seen, default=0) + 1,
                            requested_attributes=["job-id", "job-state"])
        for job_id, attrs in jobs.items():
            if job_id not in seen and attrs.get("job-state") != 4:
                seen.add(job_id)
                return job_id
        time.sleep(0.001)
    raise TimeoutError("CUPS accepted no job")


def run(inbox: Path, staging: Path, count: int, first: int, conn, seen: set[int]) -> list[float]:
    out = []
    for i in range(count):
        src = staging / f"l{first + i}.json"
        src.write_text(json.dumps({**SAMPLE, "number": f"{first + i:08d}"}, ensure_ascii=False))
        started = time.perf_counter()
        os.rename(src, inbox / src.name)
        accepted_after(conn, seen, started + 30)
        out.append(time.perf_counter() - started)
    return out


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def main() -> int:
    import cups

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    server = Cupsd()
    server.start()
    server.add_queue("ps-pdf", "printstation-pdf.ppd")
    cups.setServer(server.server)
    conn = cups.Connection()
    seen: set[int] = set()
    tmp = Path(tempfile.mkdtemp(prefix="printstation-bench-"))
    try:
        (tmp / "staging").mkdir()
        config = tmp / "p.toml"
        config.write_text(f"""[station]\nid = "BENCH"\ndata_dir = "{tmp}/data"
[intake]\ndrop_dir = "{tmp}/inbox"\n[cups]\nserver = "{server.server}"
[printers.a]\ndriver = "cups"\nqueue = "ps-pdf"\nstocks = ["vat-special"]\n""")
        log = open(tmp / "daemon.log", "wb")  # noqa: SIM115 - lives as long as the daemon
        daemon = subprocess.Popen([EXE, "--config", config, "run"], stdout=log, stderr=log)
        while b"daemon.ready" not in (tmp / "daemon.log").read_bytes():
            time.sleep(0.05)
        run(tmp / "inbox", tmp / "staging", 5, 90_000_000, conn, seen)  # warm-up
        ours = run(tmp / "inbox", tmp / "staging", args.count, 10_000_000, conn, seen)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(15)
        pdf = next((tmp / "data" / "archive").rglob("*.pdf"))
        shell_in = tmp / "shell-inbox"
        shell_in.mkdir()
        script = (f'inotifywait -m -q -e moved_to --format "%f" "{shell_in}" | while read f; do '
                  f'lp -d ps-pdf -o PageSize=VATInvoice -o pdfAutoRotate=false '
                  f'-o print-scaling=none "{pdf}" >/dev/null; done')
        shell = subprocess.Popen(["bash", "-c", script], env=server.env(), start_new_session=True)
        time.sleep(0.5)
        run(shell_in, tmp / "staging", 5, 91_000_000, conn, seen)
        base = run(shell_in, tmp / "staging", args.count, 30_000_000, conn, seen)
        os.killpg(shell.pid, signal.SIGTERM)
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"drop folder -> CUPS accepts the job, {args.count} invoices one at a time, "
          f"private cupsd, {time.strftime('%Y-%m-%d')}")
    print("| | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for label, values in (("printstation (validate, render, journal, two-phase submit)", ours),
                          ("shell: inotifywait + lp of a pre-rendered PDF", base)):
        print(f"| {label} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | "
              f"{pct(values, 99):.1f} |")
    ratio = pct(ours, 50) / pct(base, 50)
    print(f"| ratio | {ratio:.2f} | {pct(ours, 95) / pct(base, 95):.2f} | "
          f"{pct(ours, 99) / pct(base, 99):.2f} |")
    print(f"target p50 ratio <= 1.2: {'met' if ratio <= 1.2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
