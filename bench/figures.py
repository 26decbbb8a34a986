"""The targets table of `bench/run.py`: where each figure is in a benchmark's output, and
what its runs add up to.

A benchmark prints markdown tables and a few sentences. A figure is found either by its
table row (`Cell`: the row whose first cell matches, and a column, so that a reworded
header or a new column elsewhere does not lose it) or by a pattern over the text
(`Pattern`). A figure that is not found in a run is left out of that run's summary, and a
target none of whose runs printed it says "not measured" instead of stopping the report.

Pure functions only (no processes, no files): tests/test_bench_runner.py loads this file.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from typing import NamedTuple, Protocol

NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?")


class Figure(NamedTuple):
    value: float
    decimals: int
    signed: bool


def number(text: str) -> Figure | None:
    """The first number in `text` ("1,354,354", "+19.8 %", "6.20 s"), or None."""
    found = NUMBER.search(text)
    if not found:
        return None
    raw = found.group(0)
    digits = raw.lstrip("+-").replace(",", "")
    decimals = len(digits.partition(".")[2])
    return Figure(float(raw.replace(",", "")), decimals, raw[0] in "+-")


class Finder(Protocol):
    def find(self, text: str) -> Figure | None: ...


@dataclass(frozen=True)
class Cell:
    """The number in a column of the first table row whose label cell matches the regex
    `row`. The column is a position (1 = the first after the label, -1 = the last) or a
    regex matched against the table's header cells (the first that matches)."""

    row: str
    column: int | str = 1

    def find(self, text: str) -> Figure | None:
        header: list[str] = []
        previous: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("|"):
                previous = []
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line.startswith("|---"):
                header = previous
                continue
            previous = cells
            if not re.search(self.row, cells[0]):
                continue
            index = self._index(header, len(cells))
            if index is not None and 0 < index < len(cells):
                found = number(cells[index])
                if found is not None:
                    return found
        return None

    def _index(self, header: list[str], width: int) -> int | None:
        if isinstance(self.column, int):
            return self.column if self.column >= 0 else width + self.column
        return next((i for i, name in enumerate(header) if re.search(self.column, name)),
                    None)


@dataclass(frozen=True)
class Pattern:
    """The number in the first group of the first match of `regex`."""

    regex: str

    def find(self, text: str) -> Figure | None:
        found = re.search(self.regex, text)
        return number(found.group(1)) if found else None


class FirstOf:
    """The first figure any of `finders` finds: a new row when a benchmark prints one,
    else an older line that gives the same figure."""

    def __init__(self, *finders: Finder):
        self.finders = finders

    def find(self, text: str) -> Figure | None:
        for finder in self.finders:
            found = finder.find(text)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Target:
    what: str
    # "≥ 150", "≤ 1.2", "< 30", "= 0", or a range "0.90–1.10"; a unit may follow.
    goal: str
    bench: str
    figure: Finder
    # Figures measured in the same run to set it against: (label, where).
    baselines: tuple[tuple[str, Finder], ...] = ()
    # The issue asks for it "in each of N runs": the verdict needs every run, not the median.
    every_run: bool = False


def meets(goal: str, value: float) -> bool:
    """Whether `value` meets a goal written as in `Target.goal`."""
    text = goal.replace(",", "").strip()
    span = re.match(r"([+-]?[\d.]+)\s*[–-]\s*([+-]?[\d.]+)", text)
    if span:
        return float(span.group(1)) <= value <= float(span.group(2))
    found = re.match(r"(≥|≤|>=|<=|<|>|=)?\s*([+-]?[\d.]+)", text)
    if not found:
        raise ValueError(f"goal not understood: {goal!r}")
    op, limit = found.group(1) or "=", float(found.group(2))
    return {"≥": value >= limit, ">=": value >= limit, "≤": value <= limit,
            "<=": value <= limit, "<": value < limit, ">": value > limit,
            "=": value == limit}[op]


class Spread(NamedTuple):
    low: float
    median: float
    high: float
    found: int
    runs: int
    decimals: int
    signed: bool

    def show(self, value: float) -> str:
        sign = "+" if self.signed else ""
        return f"{value:{sign},.{self.decimals}f}"


def spread(figures: list[Figure | None]) -> Spread | None:
    """Min, median and max over the runs that printed the figure; None when none did."""
    present = [f for f in figures if f is not None]
    if not present:
        return None
    values = [f.value for f in present]
    return Spread(min(values), statistics.median(values), max(values), len(present),
                  len(figures), max(f.decimals for f in present),
                  any(f.signed for f in present))


def median_run(figures: list[Figure | None]) -> int | None:
    """Which run printed the median figure (the lower of the two middle ones)."""
    ranked = sorted((f.value, i) for i, f in enumerate(figures) if f is not None)
    return ranked[(len(ranked) - 1) // 2][1] if ranked else None


def verdict(target: Target, figures: list[Figure | None]) -> str:
    found = spread(figures)
    if found is None:
        return "not measured"
    if not target.every_run:
        return "met" if meets(target.goal, found.median) else "MISSED"
    failed = sum(1 for f in figures if f is not None and not meets(target.goal, f.value))
    missing = found.runs - found.found
    if failed:
        return f"MISSED in {failed} of {found.runs} runs"
    if missing:
        return f"met in {found.found} runs, {missing} not measured"
    return f"met in each of {found.runs} runs"


def describe(found: Spread | None) -> tuple[str, str]:
    """(median, "min – max") as the table shows them."""
    if found is None:
        return "not measured", ""
    return found.show(found.median), f"{found.show(found.low)} – {found.show(found.high)}"


def target_rows(targets: list[Target], outputs: dict[str, list[str]]) -> list[str]:
    """The targets table in markdown: each figure's median, its range over the runs, the
    baselines measured in the same runs, and the verdict."""
    lines = ["| what | target | median | min – max | runs | baseline, same runs: median "
             "(min – max) | verdict |", "|---|---|---|---|---|---|---|"]
    for target in targets:
        texts = outputs.get(target.bench, [])
        figures = [target.figure.find(t) for t in texts]
        found = spread(figures)
        middle, span = describe(found)
        bases = []
        for label, finder in target.baselines:
            base = spread([finder.find(t) for t in texts])
            value, base_span = describe(base)
            bases.append(f"{label} {value}" + (f" ({base_span})" if base and base.runs > 1
                                                else ""))
        runs = f"{found.found} of {found.runs}" if found and found.found < found.runs \
            else str(len(texts))
        lines.append(f"| {target.what} | {target.goal} | {middle} | {span} | {runs} | "
                     f"{'; '.join(bases)} | {verdict(target, figures)} |")
    return lines
