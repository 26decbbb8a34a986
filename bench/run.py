"""`make bench`: every benchmark, several times each, written to BENCHMARKS.md.

Each benchmark prints its own tables with the baseline it measured in the same run. This
script runs them in rounds (every benchmark once, then again: `--runs`, 3 by default),
samples the machine's load while each runs (bench/machine_load.py), and writes the
machine, the date, a table of the targets (each figure's median, min and max over the
runs, beside the baselines of the same runs: bench/figures.py), the load of every run,
and each benchmark's own output from its median run. `--only NAME…` runs some, prints
the same tables for them, and does not write the file.

    .venv/bin/python bench/run.py [--runs 3] [--only sync.py service_footprint.py]
    .venv/bin/python bench/run.py --runs 1 --settle 0 --only validate_speed.py \
        --args "validate_speed.py=--count 500 --rounds 1"      # a smoke test in seconds
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from figures import Cell, FirstOf, Pattern, Target, median_run, target_rows
from machine_load import LoadSummary, sampled

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...] = ()
    # A benchmark run fewer times than `--runs`, and why.
    max_runs: int | None = None


BENCHES = [
    Bench("validate_speed.py"),
    Bench("jail_overhead.py"),
    Bench("read_formats.py"),
    Bench("render_speed.py"),
    Bench("pickup.py", ("--backlog", "10000")),
    Bench("cups_latency.py"),
    Bench("idle_cpu.py"),
    Bench("sync.py"),
    Bench("service_footprint.py"),
    Bench("web_console.py"),
    Bench("headoffice.py"),
    # Its figure is a count of violations over 5,000 invoices and 20 kills (5 minutes a
    # run), and any one run that finds one fails it: once is the test.
    Bench("soak.py", max_runs=1),
]


def validation(workload: str) -> Target:
    """validate_speed.py times three workloads, each beside json.loads over the same bytes;
    before it did, it printed one ("as before") with one baseline row."""
    rate = r"^invoices/s$"
    figure = Cell(rf"^printstation check_file, {workload}$", rate)
    base = Cell(rf"^baseline: json\.loads, {workload}$", rate)
    if workload == "as before":
        figure = FirstOf(figure, Cell(r"^printstation check_file", rate))
        base = FirstOf(base, Cell(r"^baseline: json\.loads only", rate))
    return Target(f"validation, {workload} (invoices/s)", "≥ 7,000", "validate_speed.py",
                  figure, (("json.loads /s:", base),))


# A number in a table row is found by the row's label and its column (1 = the first
# after the label, -1 = the last, or the header's name), so a reworded header or an added
# column elsewhere does not lose it; a figure not found says "not measured" in the table.
EMPTY_PSS = FirstOf(Cell(r"^PSS baseline", r"^total PSS"),
                    Cell(r"^baseline: after READY", -1))
TARGETS = [
    Target("backlog of 10,000 single-invoice files, end to end to the directory printer "
           "(invoices/s)", "≥ 150", "pickup.py",
           Cell(r"^printstation, until the last PDF", 2),
           (("shell hot folder /s:", Cell(r"^shell hot folder, until the last PDF", 2)),)),
    # service_footprint.py feeds its 20,000 invoices in batch files of 100: a row of its
    # own when it prints one, else the figure of its largest part.
    Target("batch files of 100 invoices (invoices/s)", "≥ 400", "service_footprint.py",
           FirstOf(Cell(r"batch files", -1),
                   Pattern(r"throughput while feeding: [\d,]+, [\d,]+ and ([\d,]+) "
                           r"invoices/s"))),
    Target("latency drop → CUPS accepts, p50 ratio to inotifywait + lp", "≤ 1.2",
           "cups_latency.py", Cell(r"^ratio$", 1),
           (("printstation p50 ms:", Cell(r"^printstation", 1)),
            ("inotifywait + lp p50 ms:", Cell(r"^shell", 1))), every_run=True),
    Target("idle CPU over 60 s, % of one core (clock ticks)", "≤ 0.2", "idle_cpu.py",
           Cell(r"^printstation (?:daemon|run)\b(?!.*schedstat).*\bidle", 1),
           (("sleep:", Cell(r"^baseline: sleep", 1)),
            ("idle python:", Cell(r"^baseline: python", 1)))),
    Target("idle CPU over 60 s, % of one core (the scheduler's count, schedstat)", "≤ 0.2",
           "idle_cpu.py", Cell(r"^printstation run\b.*schedstat", 1),
           (("idle python:", Cell(r"^baseline: python.*scheduler", 1)),)),
    Target("an operator's change seen while idle, worst of the tries (s)", "≤ 1",
           "idle_cpu.py", Pattern(r"(?s)operator's change.{0,400}?max ([\d.]+) s")),
    # Memory: PSS summed over the daemon and its children (service_footprint.py's PSS
    # table, column "total PSS"); before that table existed, the RSS table's total.
    Target("PSS at rest after 20,000 jobs, daemon + children (MiB)", "≤ 80",
           "service_footprint.py",
           FirstOf(Cell(r"^PSS at rest", r"^total PSS"), Cell(r"^at rest", -1)),
           (("after READY, empty journal:", EMPTY_PSS),)),
    Target("PSS during a backlog, daemon + children (MiB)", "≤ 160", "service_footprint.py",
           FirstOf(Cell(r"^PSS peak during", r"^total PSS"),
                   Cell(r"during (?:a |the )?backlog", r"^total PSS"),
                   Cell(r"^after \d\d,\d{3} jobs", -1)),
           (("after READY, empty journal:", EMPTY_PSS),)),
    Target("memory growth 1,000 → 20,000 jobs, daemon + children (%)", "≤ 5",
           "service_footprint.py",
           FirstOf(Cell(r"^PSS growth", r"^total PSS"), Cell(r"^growth 1,000", -1))),
    Target("start-up to READY with 10,000 jobs (s)", "≤ 2", "service_footprint.py",
           Cell(r"jobs in the journal$", 1),
           (("empty journal:", Cell(r"^baseline: empty journal", 1)),)),
    validation("as before"),
    validation("random text"),
    validation("repeated sellers and buyers"),
    Target("render (invoices/s)", "≥ 150", "render_speed.py", Cell(r"^render_invoice", 2),
           (("one string /s:", Cell(r"^baseline: one string", 2)),)),
    Target("sync of 100,000 events to the reference receiver on loopback (s)", "≤ 5",
           "sync.py", Cell(r"^sync worker → reference receiver", 1),
           (("receiver alone s:", Cell(r"^the same bodies POSTed to the reference", 1)),
            ("bare HTTP s:", Cell(r"^bare HTTP", 1)))),
    Target("web console, 100,000 jobs: overview p50 (ms)", "≤ 50", "web_console.py",
           Cell(r"^overview `/`", 1), (("static asset:", Cell(r"^baseline: static", 1)),)),
    Target("web console, 100,000 jobs: overview p99 (ms)", "≤ 200", "web_console.py",
           Cell(r"^overview `/`", 2), (("static asset:", Cell(r"^baseline: static", 2)),)),
    Target("web console, 100,000 jobs: queue p50 (ms)", "≤ 50", "web_console.py",
           Cell(r"^queue `/queue`$", 1), (("static asset:", Cell(r"^baseline: static", 1)),)),
    Target("web console, 100,000 jobs: queue p99 (ms)", "≤ 200", "web_console.py",
           Cell(r"^queue `/queue`$", 2), (("static asset:", Cell(r"^baseline: static", 2)),)),
    Target("pickup p50 with the console polled every second / idle", "0.90–1.10",
           "web_console.py", Cell(r"^median of \d+ runs", 3),
           (("idle p50 ms:", Cell(r"^median of \d+ runs", 1)),)),
    Target("head office, 500 stations × 2,000 events, PostgreSQL (events/s)", "≥ 20,000",
           "headoffice.py", Cell(r"^postgresql$", 2),
           (("sqlite:", Cell(r"^sqlite$", 2)),)),
    Target("head office on PostgreSQL: p99 of accepted posts (ms)", "≤ 250",
           "headoffice.py", Cell(r"^postgresql$", 6), (("sqlite:", Cell(r"^sqlite$", 6)),)),
    Target("soak: 5,000 invoices, 20 SIGKILLs, faults (invariant violations)", "= 0",
           "soak.py", Cell(r"^invariant violations", 1)),
]


@dataclass
class Run:
    text: str
    load: LoadSummary | None
    seconds: float


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) // 1024 for line in
                Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    return (f"{os.cpu_count()} cores, {cpu}, {mem:,} MiB RAM; Linux {platform.release()}; "
            f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}")


def run_bench(bench: Bench, every_s: float, extra: list[str]) -> Run:
    proc = subprocess.Popen([sys.executable, HERE / bench.name, *bench.args, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (out, err), load, seconds = sampled(proc.pid, proc.communicate, every_s)
    text = out + (f"\n(exit {proc.returncode}: {err.strip()[-2000:]})"
                  if proc.returncode else "")
    return Run(text, load, seconds)


def load_rows(chosen: list[Bench], runs: dict[str, list[Run]]) -> list[str]:
    lines = ["| benchmark | run | seconds | its own CPU-seconds | load avg, 1 min: min / "
             "mean / max | CPU busy, % of all cores: min / mean / max | of which other "
             "processes, %: mean / max | steal %, mean |", "|---|---|---|---|---|---|---|---|"]
    for bench in chosen:
        for i, run in enumerate(runs[bench.name], 1):
            took = f"{run.seconds:.1f}" if run.seconds < 10 else f"{run.seconds:.0f}"
            if run.load is None:
                lines.append(f"| {bench.name} | {i} | {took} | | | | | |")
                continue
            load, busy, others = run.load.load, run.load.busy, run.load.others
            lines.append(f"| {bench.name} | {i} | {took} | {run.load.own_cpu_s:.1f} | "
                         f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} | "
                         f"{busy[0]:.0f} / {busy[1]:.0f} / {busy[2]:.0f} | "
                         f"{others[1]:.0f} / {others[2]:.0f} | {run.load.steal_mean:.1f} |")
    return lines


def shown_run(bench: Bench, texts: list[str]) -> tuple[int, str]:
    """The run whose output is kept, and why: the median of the bench's first target,
    else the last."""
    first = next((t for t in TARGETS if t.bench == bench.name), None)
    found = median_run([first.figure.find(t) for t in texts]) if first else None
    if found is None:
        return len(texts) - 1, "the last"
    return found, f"the median by “{first.what}”"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", metavar="NAME")
    parser.add_argument("--runs", type=int, default=3, help="runs of each benchmark")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds of quiet before each run")
    parser.add_argument("--sample-every", type=float, default=1.0,
                        help="seconds between samples of the machine's load")
    parser.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                        help="more arguments for one benchmark (repeatable)")
    args = parser.parse_args()
    extra: dict[str, list[str]] = {}
    for item in args.args:
        name, sep, rest = item.partition("=")
        if not sep:
            parser.error(f"--args wants NAME=ARGS, not {item!r}")
        extra[name] = shlex.split(rest)
    known = {b.name for b in BENCHES}
    unknown = [n for n in [*(args.only or ()), *extra] if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: "
                     f"{', '.join(sorted(known))}")
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    runs: dict[str, list[Run]] = {b.name: [] for b in chosen}
    for round_ in range(args.runs):
        for bench in chosen:
            if bench.max_runs is not None and round_ >= bench.max_runs:
                continue
            # Each run starts on a quiet disk: the one before may have left thousands of
            # files to write back, which slowed the next one's fsyncs (a 10,000-invoice
            # backlog raised the CUPS latency ratio from 1.25 to 1.53).
            os.sync()
            time.sleep(args.settle)
            print(f"## {bench.name}, run {round_ + 1} of {args.runs}\n", flush=True)
            run = run_bench(bench, args.sample_every, extra.get(bench.name, []))
            runs[bench.name].append(run)
            print(run.text, flush=True)
            print(f"({run.seconds:.0f} s; machine: "
                  f"{run.load.line() if run.load else 'not sampled'})\n", flush=True)
    outputs = {name: [r.text for r in done] for name, done in runs.items()}
    targets = [t for t in TARGETS if t.bench in runs]
    table = target_rows(targets, outputs)
    loads = load_rows(chosen, runs)
    if args.only:
        print("\n".join(["## Targets", "", *table, "", "## Machine load", "", *loads]))
        return 0
    lines = ["# Benchmarks", "", f"Machine: {machine()}.", "",
             f"Written by `make bench` (`bench/run.py --runs {args.runs}`): every benchmark "
             f"ran {args.runs} times, in rounds. Each target shows the median and the range "
             "over the runs, beside the baselines measured in the same runs; its verdict is "
             "on the median, or on every run where the issue asks for each run. Do not edit "
             "by hand: the reasons for missed targets come from `bench/missed.md`.", "",
             "## Targets", "", *table]
    # Why a target was missed is written by hand in bench/missed.md, next to the numbers.
    missed = HERE / "missed.md"
    if missed.exists():
        lines += ["", missed.read_text(encoding="utf-8").rstrip()]
    lines += ["", "## Machine load during each run", "",
              "Sampled every second from /proc: a run whose other processes took much of the "
              "CPU, or with steal, is a noisy one.", "", *loads]
    for bench in chosen:
        texts = outputs[bench.name]
        doc = (HERE / bench.name).read_text(encoding="utf-8").split('"""')[1].strip()
        shown, why = shown_run(bench, texts)
        lines += ["", f"## {bench.name}: {doc.splitlines()[0]}", ""]
        if len(texts) > 1:
            lines += [f"(run {shown + 1} of {len(texts)}: {why}; every run's figures are "
                      "in the targets table)", ""]
        lines.append(texts[shown].rstrip())
    (HERE.parent / "BENCHMARKS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
