"""bench/run.py's pure parts: finding a figure in a benchmark's output, adding the runs up,
the verdicts, and the machine-load summary (bench/figures.py, bench/machine_load.py).

The benchmark scripts are not a package; they are loaded from their files, the helpers
under the names bench/run.py imports them by.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


figures = _load("figures")
machine_load = _load("machine_load")
runner = _load("run")

PICKUP = """machine: 2 cores, AMD EPYC; 2026-11-28
| | p50 ms | p95 ms | p99 ms |
|---|---|---|---|
| printstation (validate, render, journal) | 12.0 | 18.8 | 51.2 |

backlog of 10,000 invoices dropped at once (directory printer; target ≥ 150 invoices/s)
| | seconds | invoices/s |
|---|---|---|
| printstation, until every job was queued | 92.12 | 109 |
| printstation, until the last PDF | {seconds} | {rate} |
| shell hot folder, until the last PDF | 15.35 | 651 |
"""

CUPS = """| | p50 ms | p95 ms | p99 ms |
|---|---|---|---|
| printstation (validate, render, journal, two-phase submit) | 52.0 | 78.9 | 92.0 |
| shell: inotifywait + lp of a pre-rendered PDF | 31.9 | 45.2 | 51.7 |
| ratio | {ratio} | 1.75 | 1.78 |
"""

FOOTPRINT = """| | daemon MiB | render worker MiB | total MiB |
|---|---|---|---|
| baseline: after READY, empty journal | 79.1 | 0.0 | 79.1 |
| after 1,000 jobs | 84.6 | 99.2 | 183.8 |
| after 20,000 jobs | 101.3 | 105.5 | 206.8 |
| at rest, 60 s later | 101.4 | 12.7 | 114.1 |
| growth 1,000 → 20,000 | +19.8 % | +6.3 % | +12.5 % |

throughput while feeding: 166, 181 and 175 invoices/s for the three parts
"""


PSS = FOOTPRINT + """
proportional set size (PSS, smaps_rollup) of the daemon and of all its children
| | daemon PSS MiB | children PSS MiB | total PSS MiB | total RSS MiB |
|---|---|---|---|---|
| PSS baseline: after READY, empty journal | 40.0 | 0.0 | 40.0 | 79.0 |
| PSS peak during the backlog (sampled) | 60.0 | 70.0 | 130.0 | 200.0 |
| PSS after 20,000 jobs | 61.0 | 69.0 | 130.0 | 199.0 |
| PSS at rest, 60 s later | 62.0 | 10.0 | 72.0 | 110.0 |
| PSS growth 1,000 → 20,000 | +3.0 % | | +4.2 % | |
"""


def pickup(rate: int) -> str:
    return PICKUP.format(seconds=f"{10_000 / rate:.2f}", rate=rate)


def test_a_number_is_read_with_its_separators_sign_and_decimals():
    assert figures.number("1,354,354") == (1354354.0, 0, False)
    assert figures.number("+19.8 %") == (19.8, 1, True)
    assert figures.number("6.20 s") == (6.2, 2, False)
    assert figures.number("see below") is None


def test_a_cell_is_found_by_its_row_label_and_column():
    text = pickup(72)
    assert figures.Cell(r"^printstation, until the last PDF", 2).find(text).value == 72
    assert figures.Cell(r"^shell hot folder", 1).find(text).value == 15.35
    assert figures.Cell(r"^growth 1,000", -1).find(FOOTPRINT) == (12.5, 1, True)
    # The separator row and rows of other tables are not mistaken for it.
    assert figures.Cell(r"^after \d\d,\d{3} jobs", -1).find(FOOTPRINT).value == 206.8
    assert figures.Cell(r"^no such row", 1).find(text) is None
    assert figures.Cell(r"^shell hot folder", 7).find(text) is None


def test_first_of_falls_back_to_an_older_line():
    finder = figures.FirstOf(figures.Cell(r"batch files", -1), figures.Pattern(
        r"throughput while feeding: [\d,]+, [\d,]+ and ([\d,]+) invoices/s"))
    assert finder.find(FOOTPRINT).value == 175
    newer = FOOTPRINT + "\n| batch files of 100, 20,000 invoices | 45.1 | 443 |\n"
    assert finder.find(newer).value == 443


@pytest.mark.parametrize(("goal", "value", "met"), [
    ("≥ 150", 150, True), ("≥ 150", 149.9, False), ("≤ 1.2", 1.21, False),
    ("≤ 1.2", 1.2, True), ("< 30", 30, False), ("= 0", 0, True), ("= 0", 1, False),
    ("≥ 7,000", 7000, True), ("0.90–1.10", 1.06, True), ("0.90–1.10", 0.89, False),
    ("≤ 5 %", 4.9, True),
])
def test_goals(goal, value, met):
    assert figures.meets(goal, value) is met


def test_runs_add_up_to_min_median_max_and_the_verdict_is_on_the_median():
    target = runner.TARGETS[0]
    assert target.bench == "pickup.py"
    texts = [pickup(140), pickup(160), pickup(151)]
    found = [target.figure.find(t) for t in texts]
    spread = figures.spread(found)
    assert (spread.low, spread.median, spread.high) == (140, 151, 160)
    assert figures.median_run(found) == 2
    assert figures.verdict(target, found) == "met"
    assert figures.verdict(target, found[:1]) == "MISSED"
    row = figures.target_rows([target], {"pickup.py": texts})[2]
    assert "| 151 | 140 – 160 | 3 |" in row and row.endswith("| met |")
    assert "shell hot folder /s: 651 (651 – 651)" in row


def test_each_run_must_meet_a_target_asked_in_each_run():
    target = next(t for t in runner.TARGETS if t.bench == "cups_latency.py")
    assert target.every_run
    good = [target.figure.find(CUPS.format(ratio=r)) for r in ("1.10", "1.15", "1.19")]
    assert figures.verdict(target, good) == "met in each of 3 runs"
    # The median (1.15) meets it, one run does not: missed.
    bad = [*good[:2], target.figure.find(CUPS.format(ratio="1.25"))]
    assert figures.verdict(target, bad) == "MISSED in 1 of 3 runs"
    row = figures.target_rows([target], {"cups_latency.py": [CUPS.format(ratio="1.25")]})
    assert "printstation p50 ms: 52.0" in row[2] and "inotifywait + lp p50 ms: 31.9" in row[2]


def test_a_figure_not_printed_says_not_measured():
    targets = [t for t in runner.TARGETS if t.bench in ("sync.py", "idle_cpu.py")]
    rows = figures.target_rows(targets, {"sync.py": ["(exit 1: Traceback …)"]})
    assert all(row.endswith("| not measured |") for row in rows[2:])
    assert len(rows) == 2 + len(targets)


def test_every_target_names_a_benchmark_that_is_run():
    names = {b.name for b in runner.BENCHES}
    assert {t.bench for t in runner.TARGETS} <= names
    assert all((BENCH / name).exists() for name in names)


def test_the_targets_find_their_figures_in_the_outputs_of_today():
    outputs = {
        "pickup.py": [pickup(72)], "cups_latency.py": [CUPS.format(ratio="1.63")],
        "service_footprint.py": [FOOTPRINT],
        "sync.py": ["| sync worker → reference receiver (outbox, acks, hash checks, both "
                    "databases) | 3.31 s | 30,211 |"],
        "idle_cpu.py": ["| printstation daemon, idle 60 s | 0.15 | x |\n"
                        "| baseline: sleep | 0.000 |"],
    }
    found = {t.what: t.figure.find(outputs[t.bench][0]) for t in runner.TARGETS
             if t.bench in outputs}
    values = {what: f.value if f else None for what, f in found.items()}
    assert values[next(w for w in values if w.startswith("backlog"))] == 72
    assert values[next(w for w in values if w.startswith("batch files"))] == 175
    assert values[next(w for w in values if w.startswith("PSS at rest"))] == 114.1
    assert values[next(w for w in values if w.startswith("PSS during"))] == 206.8
    assert values[next(w for w in values if w.startswith("memory growth"))] == 12.5
    assert values[next(w for w in values if w.startswith("sync of"))] == 3.31
    assert values[next(w for w in values if w.startswith("idle CPU"))] == 0.15
    # Once the PSS table is printed, its "total PSS" column is the figure.
    pss = {t.what: t.figure.find(PSS) for t in runner.TARGETS
           if t.bench == "service_footprint.py"}
    assert [f.value for w, f in pss.items() if w.startswith(("PSS", "memory"))] == \
        [72.0, 130.0, 4.2]
    # P3's wording of the row is found too.
    idle = next(t for t in runner.TARGETS if t.what.startswith("idle CPU"))
    assert idle.figure.find("| printstation run (and children), idle | 0.150 |").value == 0.15


STAT = """cpu  1000 10 500 8000 100 0 20 30 0 0
cpu0 500 5 250 4000 50 0 10 15 0 0
intr 12345
"""


def test_cpu_times_and_process_stat_are_parsed():
    cpu = machine_load.cpu_times(STAT)
    assert cpu == (1000 + 10 + 500 + 20 + 30, 9660, 30)
    # A command name with spaces and a parenthesis does not shift the fields.
    line = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 1 0"
    assert machine_load.proc_stat(line) == (7, 11 + 22 + 33 + 44)


def test_the_tree_counts_the_root_and_its_descendants_only():
    stats = {1: (0, 1000), 10: (1, 5), 11: (10, 7), 12: (11, 9), 20: (1, 100)}
    assert machine_load.tree_ticks(10, stats) == 21
    assert machine_load.tree_ticks(99, stats) == 0


def test_other_processes_are_busy_minus_the_bench_tree():
    before = (machine_load.CpuTimes(busy=100, total=1000, steal=0), 50)
    after = (machine_load.CpuTimes(busy=160, total=1100, steal=5), 80)
    sample = machine_load.interval(before, after, 0.5)
    assert sample == (0.5, pytest.approx(60.0), pytest.approx(30.0), pytest.approx(5.0), 30)
    # The tree lost a process it did not reap: none of the busy time is counted as its.
    assert machine_load.interval(before, (after[0], 10), 0.5).others_pct == \
        pytest.approx(60.0)
    assert machine_load.interval(before, before, 0.5) is None
    summary = machine_load.summarise([sample, sample._replace(load1=1.5, busy_pct=20.0)])
    assert summary.load == (0.5, 1.0, 1.5) and summary.busy == (20.0, 40.0, 60.0)
    assert "load avg (1 min) 0.50 / 1.00 / 1.50" in summary.line()
    assert machine_load.summarise([]) is None


def test_a_busy_bench_is_not_counted_as_another_process():
    """The sampler on a real child that burns 0.6 s of CPU in a grandchild: the tree's
    time is counted as its own (however busy the machine is), while it runs and after
    it was reaped."""
    burn = ("import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import time\\n"
            "while time.process_time() < 0.6: pass'])")
    proc = subprocess.Popen([sys.executable, "-c", burn])
    started = time.monotonic()
    _, summary, seconds = machine_load.sampled(proc.pid, proc.wait, every_s=0.1)
    assert summary is not None and summary.samples >= 3
    assert seconds >= 0.5 and time.monotonic() - started < 30
    assert 0.55 <= summary.own_cpu_s < 0.5 + 2 * seconds
    assert 0 <= summary.others[1] <= summary.busy[1] <= 100


def test_the_kept_output_is_the_median_run_and_every_run_has_its_load_row():
    bench = next(b for b in runner.BENCHES if b.name == "pickup.py")
    texts = [pickup(160), pickup(140), pickup(151)]
    assert runner.shown_run(bench, texts)[0] == 2
    assert runner.shown_run(bench, ["(exit 1: crashed)", "nothing"]) == (1, "the last")
    sample = machine_load.Sample(1.0, 50.0, 10.0, 0.0, 100)
    load = machine_load.summarise([sample])
    runs = {"pickup.py": [runner.Run(t, load, 12.3) for t in texts[:2]]
            + [runner.Run(texts[2], None, 4.56)]}
    rows = runner.load_rows([bench], runs)
    assert len(rows) == 2 + 3
    assert rows[2].startswith("| pickup.py | 1 | 12 | ")
    assert "| 1.00 / 1.00 / 1.00 | 50 / 50 / 50 | 10 / 10 | 0.0 |" in rows[2]
    assert rows[4].startswith("| pickup.py | 3 | 4.6 |")


VALIDATE = """| | CPU seconds | invoices/s | time ÷ json.loads | texts fitted: cache hits | TINs checked: cache hits | peak KiB |
|---|---|---|---|---|---|---|
| printstation check_file, as before | 1.25 (1.20–1.30) | 8,000 | 20.0 | 99% of 1 (1 kept) | 99% | 900 |
| printstation check_file, as before, caches emptied before each invoice | 2.50 (2.4–2.6) | 4,000 | 40.0 | | | |
| baseline: json.loads, as before | 0.06 (0.05–0.07) | 160,000 | 1.0 | | | |
| printstation check_file, random text | 1.50 (1.4–1.6) | 6,667 | 25.0 | 1% | 1% | 1,900 |
| printstation check_file, random text, caches emptied before each invoice | 2.9 (2.8–3.0) | 3,448 | 48.0 | | | |
| baseline: json.loads, random text | 0.06 (0.06–0.06) | 155,000 | 1.0 | | | |
"""  # noqa: E501


def test_each_validation_workload_is_its_own_target_and_the_old_table_still_reads():
    targets = [t for t in runner.TARGETS if t.bench == "validate_speed.py"]
    rows = figures.target_rows(targets, {"validate_speed.py": [VALIDATE]})
    assert "| 8,000 |" in rows[2] and "json.loads /s: 160,000" in rows[2]
    assert "| 6,667 |" in rows[3] and "json.loads /s: 155,000" in rows[3]
    assert rows[3].endswith("| MISSED |") and rows[4].endswith("| not measured |")
    old = ("| printstation check_file (decode, parse, build, every rule) | 2.14 | 4,677 |\n"
           "| baseline: json.loads only | 0.08 | 126,868 |")
    rows = figures.target_rows(targets[:1], {"validate_speed.py": [
        "| | seconds | invoices/s |\n|---|---|---|\n" + old]})
    assert "| 4,677 |" in rows[2] and "json.loads /s: 126,868" in rows[2]
