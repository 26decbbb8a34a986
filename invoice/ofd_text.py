"""An invoice's identity read from the text an OFD page draws, when the document does not
say it otherwise (no CustomData, no attached invoice XML).

The page's runs are set into lines by their baselines, left to right. The identity is
read first by its labels (发票号码 … on the line, the value after it), then by a checked
fallback for layouts that draw labels apart from their values: a code is the one 10- or
12-digit token and the number then the one 8-digit token that is not a date, or else the
number is the one 20-digit token (数电); the totals are the ¥ amounts of which two add up
to the third (合计金额 + 合计税额 = 价税合计, exactly); the date is the page's
`YYYY年MM月DD日` (or `YYYYMMDD年月日`, as some producers draw it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import combinations, pairwise

from .ofd_ink import Run

_NUMBER = re.compile(r"发\s*票\s*号\s*码\s*[:：]?\s*([0-9]{20}|[0-9]{8})(?![0-9])")
_CODE = re.compile(r"发\s*票\s*代\s*码\s*[:：]?\s*([0-9]{12}|[0-9]{10})(?![0-9])")
_DATE = re.compile(r"([0-9]{4})\s*年\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日")
_DATE_COMPACT = re.compile(r"(?<![0-9])([0-9]{4})([0-9]{2})([0-9]{2})\s*年\s*月\s*日")
_YEN = re.compile(r"[¥￥]\s*(-?[0-9][0-9,]*\.[0-9]{2})(?![0-9])")
_SMALL_TOTAL = re.compile(r"[（(]\s*小\s*写\s*[)）]\s*[¥￥]?\s*(-?[0-9][0-9,]*\.[0-9]{2})")
_LABELS = ("号码", "代码", "专用章", "监制")


@dataclass(frozen=True)
class Identity:
    number: str = ""
    code: str = ""
    date: dt.date | None = None
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    title: str = ""
    # True when the number was read next to its label (not by the fallback).
    labelled: bool = False


@dataclass(frozen=True)
class Line:
    text: str
    size: float
    runs: tuple[Run, ...]


def lines(runs: list[Run]) -> list[Line]:
    """Horizontal runs set into lines: same baseline (within a third of the smaller text's
    size, so a large title does not swallow the small labels beside it)."""
    ordered = sorted((r for r in runs if r.horizontal and r.text.strip()), key=lambda r: r.y)
    groups: list[list[Run]] = []
    for run in ordered:
        if groups and abs(run.y - groups[-1][0].y) <= min(run.size, groups[-1][0].size) / 3:
            groups[-1].append(run)
        else:
            groups.append([run])
    found = []
    for group in groups:
        group.sort(key=lambda r: r.x)
        text = group[0].text.strip()
        for before, run in pairwise(group):
            gap = run.x - before.end
            text += (" " if gap > run.size / 2 else "") + run.text.strip()
        found.append(Line(text, max(r.size for r in group), tuple(group)))
    return found


def identity(runs: list[Run]) -> Identity:
    found = lines(runs)
    joined = "\n".join(line.text for line in found)
    number = _first(_NUMBER, found)
    code = _first(_CODE, found)
    labelled = bool(number)
    if not number:
        code, number = _fallback_number(runs)
    amount, tax, total = _totals(found)
    return Identity(number, code, _date(joined), amount, tax, total, _title(found), labelled)


def _first(pattern: re.Pattern[str], found: list[Line]) -> str:
    for line in found:
        match = pattern.search(line.text)
        if match:
            return match.group(1)
    return ""


def _fallback_number(runs: list[Run]) -> tuple[str, str]:
    tokens = {r.text.strip() for r in runs if r.text.strip().isdigit() and r.text.isascii()}
    codes = {t for t in tokens if len(t) in (10, 12)}
    if len(codes) == 1:
        numbers = {t for t in tokens if len(t) == 8 and _as_date(t) is None}
        return (next(iter(codes)), next(iter(numbers))) if len(numbers) == 1 else ("", "")
    if not codes:
        numbers = {t for t in tokens if len(t) == 20}
        if len(numbers) == 1:
            return "", next(iter(numbers))
    return "", ""


def _as_date(text: str) -> dt.date | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _date(text: str) -> dt.date | None:
    for pattern in (_DATE, _DATE_COMPACT):
        for match in pattern.finditer(text):
            try:
                return dt.date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                continue
    return None


def _money(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _totals(found: list[Line]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    amounts = [m for line in found for t in _YEN.findall(line.text)
               if (m := _money(t)) is not None]
    best: tuple[Decimal, Decimal, Decimal] | None = None
    for i, j in combinations(range(len(amounts)), 2):
        whole = amounts[i] + amounts[j]
        if any(k not in (i, j) and amounts[k] == whole for k in range(len(amounts))) and (
                best is None or abs(whole) > abs(best[2])):
            first, second = sorted((amounts[i], amounts[j]), key=abs, reverse=True)
            best = (first, second, whole)
    if best:
        return best
    small = _first(_SMALL_TOTAL, found)
    return None, None, _money(small) if small else None


def _title(found: list[Line]) -> str:
    """The largest text that says 发票 and is no label: a line's runs of its largest size
    (a title drawn one character at a time is one line of such runs)."""
    best: tuple[float, str] = (0.0, "")
    for line in found:
        text = "".join(r.text for r in line.runs if r.size >= line.size * 0.98)
        text = "".join(text.split())
        if "发票" in text and not any(label in text for label in _LABELS) and \
                line.size > best[0]:
            best = (line.size, text)
    return best[1]
