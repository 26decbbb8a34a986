"""How busy the machine was while a benchmark ran, so that a reader can tell a noisy run.

A thread samples, about once a second, the 1-minute load average (/proc/loadavg), the CPU
time of all cores (/proc/stat: busy is everything but idle and iowait; steal is time the
hypervisor gave to another guest) and the CPU time of the benchmark's own process tree
(utime + stime of every process under it, plus cutime + cstime: what its children that
ended and were reaped had used). Busy minus the tree's share is what other processes
took: on a shared machine that is the noise. A process that leaves the tree without its
parent reaping it (a daemon that double-forks) is counted as another's from then on.

The parsing and the summary are pure functions (tests/test_bench_runner.py); only
`Sampler` reads /proc.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")


class CpuTimes(NamedTuple):
    """Clock ticks of all cores since boot."""

    busy: int
    total: int
    steal: int


def cpu_times(stat_text: str) -> CpuTimes:
    """The `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal …)."""
    for line in stat_text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:9]]
            fields += [0] * (8 - len(fields))
            # guest and guest_nice are already counted in user and nice.
            total = sum(fields)
            return CpuTimes(total - fields[3] - fields[4], total, fields[7])
    raise ValueError("no cpu line in /proc/stat")


def proc_stat(stat_text: str) -> tuple[int, int]:
    """(ppid, ticks used by the process and its reaped children) from /proc/PID/stat."""
    # The command name may hold spaces and parentheses: the fields follow the last ')'.
    fields = stat_text.rpartition(")")[2].split()
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def tree_ticks(root: int, stats: dict[int, tuple[int, int]]) -> int:
    """CPU ticks of `root` and every process below it, from {pid: (ppid, ticks)}."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def read_stats(proc: Path = PROC) -> dict[int, tuple[int, int]]:
    stats = {}
    for entry in os.scandir(proc):
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = proc_stat((proc / entry.name / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
    return stats


class Sample(NamedTuple):
    """One interval: load average at its end, and shares of all cores' time in it."""

    load1: float
    busy_pct: float
    others_pct: float
    steal_pct: float
    # Clock ticks the benchmark's tree used in the interval.
    own_ticks: int = 0


def interval(before: tuple[CpuTimes, int], after: tuple[CpuTimes, int],
             load1: float) -> Sample | None:
    """A sample from two readings of (all cores, the bench tree's ticks)."""
    (cpu0, tree0), (cpu1, tree1) = before, after
    total = cpu1.total - cpu0.total
    if total <= 0:
        return None
    busy = cpu1.busy - cpu0.busy
    # The tree's sum drops when one of its processes leaves it unreaped: count no less
    # than nothing for it.
    tree = max(0, tree1 - tree0)
    return Sample(load1, 100 * busy / total, 100 * max(0, busy - tree) / total,
                  100 * (cpu1.steal - cpu0.steal) / total, tree)


@dataclass(frozen=True)
class LoadSummary:
    samples: int
    load: tuple[float, float, float]
    busy: tuple[float, float, float]
    others: tuple[float, float, float]
    steal_mean: float
    # CPU seconds the benchmark's own processes used.
    own_cpu_s: float = 0.0

    def line(self) -> str:
        def three(v: tuple[float, float, float], fmt: str) -> str:
            return " / ".join(f"{x:{fmt}}" for x in v)
        return (f"load avg (1 min) {three(self.load, '.2f')}; CPU busy "
                f"{three(self.busy, '.0f')} % of all cores, of which other processes "
                f"{three(self.others, '.0f')} %; steal {self.steal_mean:.1f} % "
                f"(min / mean / max over {self.samples} samples); the benchmark's own "
                f"processes used {self.own_cpu_s:.1f} CPU-seconds")


def summarise(samples: list[Sample]) -> LoadSummary | None:
    if not samples:
        return None

    def three(values: list[float]) -> tuple[float, float, float]:
        return min(values), statistics.fmean(values), max(values)
    return LoadSummary(len(samples), three([s.load1 for s in samples]),
                       three([s.busy_pct for s in samples]),
                       three([s.others_pct for s in samples]),
                       statistics.fmean(s.steal_pct for s in samples),
                       sum(s.own_ticks for s in samples) / os.sysconf("SC_CLK_TCK"))


def _reaped_ticks() -> int:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((used.ru_utime + used.ru_stime) * os.sysconf("SC_CLK_TCK"))


def load1(proc: Path = PROC) -> float:
    return float((proc / "loadavg").read_text().split()[0])


class Sampler:
    """Samples the machine every `every_s` while a benchmark (process `root`) runs."""

    def __init__(self, root: int, every_s: float = 1.0):
        self.root = root
        self.every_s = every_s
        self._reaped_at_start = _reaped_ticks()
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._last = self._reading()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)
        self._thread.start()

    def _reading(self) -> tuple[CpuTimes, int]:
        cpu = cpu_times((PROC / "stat").read_text())
        stats = read_stats()
        if self.root in stats:
            return cpu, tree_ticks(self.root, stats)
        # The benchmark ended and was reaped by this process: its whole tree's time (what
        # it waited for included) is now in this process's children's usage.
        return cpu, _reaped_ticks() - self._reaped_at_start

    def _take(self) -> None:
        try:
            now = self._reading()
            found = interval(self._last, now, load1())
        except (OSError, ValueError):
            return
        self._last = now
        if found is not None:
            self.samples.append(found)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._take()

    def stop(self) -> LoadSummary | None:
        """Stop sampling (one last interval up to now) and summarise."""
        self._stop.set()
        self._thread.join()
        self._take()
        return summarise(self.samples)


def sampled(root: int, wait: Callable[[], int], every_s: float = 1.0
            ) -> tuple[int, LoadSummary | None, float]:
    """Run `wait()` (which waits for process `root`) while sampling; (its result, the
    load summary, seconds)."""
    started = time.monotonic()
    sampler = Sampler(root, every_s)
    try:
        result = wait()
    finally:
        summary = sampler.stop()
    return result, summary, time.monotonic() - started
