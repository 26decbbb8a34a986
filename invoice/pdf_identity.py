"""What an e-invoice page says about itself: number, code, date, title and totals.

Real e-invoice PDFs write the same facts in many ways. 数电 files put each label next to
its value (`发票号码：25322000000337005189`); legacy 电子普通发票 from Didi, toll roads and
hotels draw the labels as one block (`发票代码:发票号码:开票日期:校验码:`) and the values
later, one token each, in an order that has nothing to do with reading order; converters
draw every character on its own; re-renders use Kangxi-radical look-alikes (⽇ for 日).
So the page is read by position, as a clerk reads it: the text runs pypdf reports (each
with its matrix) are placed on the displayed page, grouped into rows by their baselines,
and a label's value is what stands to its right on its row. When no label leads to a
value, a checked fallback takes a token only if it is whole and has the shape of what it
stands for (a plausible code, a 数电 number with a plausible year and province), never
right of a name of a check code, a taxpayer ID, a phone or a bank account on its row.
Nothing below the 价税合计 line (the remarks) and nothing a red-letter invoice says of the
invoice it cancels (对应正数发票代码, 蓝字发票号码) is ever the page's own identity.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Run:
    """One piece of text as drawn: NFKC text, its origin on the displayed page (points
    from the left and from the top, on the baseline), its size in points, whether it
    reads left to right, and its place in the content stream."""

    text: str
    x: float
    y: float
    size: float
    upright: bool = True
    order: int = 0


@dataclass(frozen=True)
class Facts:
    """What one page says; `source` tells how the number was found."""

    number: str = ""
    code: str = ""
    date: dt.date | None = None
    title: str = ""
    total_amount: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    source: str = ""


@dataclass
class _Char:
    char: str
    x: float     # left edge, points
    end: float   # right edge, points (estimated from the character's class)
    size: float  # the font size, points
    run: int     # the run's place in the content stream; -1 for a gap


@dataclass
class _Row:
    y: float
    size: float
    chars: list[_Char] = field(default_factory=list)
    upright: bool = True  # read left to right (not a turned or vertical run)

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.chars)

    @property
    def own(self) -> int:
        """Where the row's text turns to another invoice or to the remarks (`_ELSEWHERE`)."""
        found = _ELSEWHERE.search(self.text)
        return found.start() if found else len(self.text)


def normalise(text: str) -> str:
    """Kangxi radicals (⽇ U+2F47), CJK compatibility ideographs and full-width forms
    (：（）￥) become the characters every rule below is written with."""
    return unicodedata.normalize("NFKC", text)


# Advance widths in ems, estimated (pypdf reports none): wide (CJK, full-width) characters
# are square, digits and Latin letters about half an em.
def _em(char: str) -> float:
    return 0.3 if char.isspace() else 1.0 if unicodedata.east_asian_width(char) in "WF" else 0.55


# A gap wider than this (in ems) between two runs on a row is a space between tokens: the
# groups of a check code are half an em apart, the digits of one number touch.
_GAP_EM = 0.35
# Runs whose baselines differ by less than this (in ems of the smaller font) share a row:
# a value set a point lower than its label still reads as its value.
_ROW_EM = 0.45


def _rows(runs: Sequence[Run]) -> list[_Row]:
    """The page's text as rows, top to bottom, each left to right with gaps as spaces."""
    seen: set[tuple[str, int, int]] = set()
    upright: list[Run] = []
    rows: list[_Row] = []
    for run in runs:
        # Some producers draw text twice at one place (a bold effect): read it once.
        if (spot := (run.text, round(run.x), round(run.y))) in seen:
            continue
        seen.add(spot)
        if run.upright:
            upright.append(run)
        else:
            rows.append(_row_of(run.y, run.size, [run], upright=False))
    upright.sort(key=lambda r: (r.y, r.x))
    groups: list[list[Run]] = []
    for run in upright:
        first = groups[-1][0] if groups else None
        if first is None or abs(run.y - first.y) > _ROW_EM * max(min(run.size, first.size), 1):
            groups.append([])
        groups[-1].append(run)
    rows += [_row_of(group[0].y, max(r.size for r in group), group) for group in groups]
    return sorted(rows, key=lambda row: row.y)


def _row_of(y: float, size: float, runs: list[Run], upright: bool = True) -> _Row:
    row = _Row(y, size, upright=upright)
    end = None
    for run in sorted(runs, key=lambda r: r.x):
        if end is not None and run.x - end > _GAP_EM * run.size:
            row.chars.append(_Char(" ", end, run.x, run.size, -1))
        x = run.x
        for char in run.text:
            width = _em(char) * run.size
            row.chars.append(_Char(char, x, x + width, run.size, run.order))
            x += width
        end = x if end is None else max(end, x)
    return row


def _spaced(label: str) -> str:
    """A label as a pattern that allows letter-spacing (校 验 码) and a colon after it."""
    return r"\s*".join(map(re.escape, label)) + r"\s*:?\s*"


_NUMBER = re.compile(_spaced("发票号码") + r"([0-9]{20}|[0-9]{8})(?![0-9])")
_CODE = re.compile(_spaced("发票代码") + r"([0-9]{12}|[0-9]{10})(?![0-9])")
_DATE_LABEL = re.compile(_spaced("开票日期"))
_NUMBER_LABEL = re.compile(_spaced("发票号码"))
# A red-letter (红字) invoice names the one it cancels (对应正数发票代码, 蓝字发票号码): a
# label after `_OTHERS` is another invoice's; nothing after `_ELSEWHERE` on a row is ours.
_OTHERS = ("正数", "对应", "原", "蓝字", "红字")
_ELSEWHERE = re.compile("|".join(r"\s*".join(word) for word in (
    "对应正数", "对应发票", "正数发票", "蓝字", "红字", "红冲", "原发票", "备注")))
_CODE_LABEL = re.compile(_spaced("发票代码"))
_DATES = (
    re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日"),
    # 深圳 legacy files: the digits and 年月日 are drawn apart and read as 20221024年月日.
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})年月日"),
    re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])"),
)
# Right of these names, however far, a row holds digits that are never the invoice's
# number or code. 机器编号 stands in the legacy form's left half, on the row of the code
# block: only its own stretch of the row (`_stretches`) is its value.
_NOT_IDENTITY = re.compile("|".join(r"\s*".join(word) for word in (
    "校验码", "识别号", "信用代码", "税号", "电话", "账号", "帐号", "开户行", "地址", "密码",
    "手机", "订单", "流水", "身份证")))
_MACHINE = re.compile(r"机\s*器\s*编\s*号")
_GRAND = re.compile(r"价\s*税\s*合\s*计")
_SUM = re.compile(r"合\s*计")
_SMALL = re.compile(r"小\s*写")
_MONEY = re.compile(r"(¥)?\s*(-?)\s*(¥)?\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)\.([0-9]{2})(?![0-9])")
_TITLE = re.compile(r"[\u4e00-\u9fff]{0,12}发票(?:\([\u4e00-\u9fff]{2,12}\))?")
# GB/T 2260 province codes: the region digits of an invoice code and of a 数电 number.
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42,
                        43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82})


def page_facts(runs: Sequence[Run], today: dt.date | None = None) -> Facts:
    """Everything one page tells about its invoice; empty fields when it does not say."""
    rows = _rows(runs)
    year = (today or dt.date.today()).year % 100
    # Below the 价税合计 line stand the seller and the remarks (备注), where a red-letter
    # invoice names the one it cancels: an invoice's own number is always above it. On a
    # page shown turned, no row reads across and "below" means nothing.
    grand = next((row.y for row in rows if row.upright and _GRAND.search(row.text) and
                  "写" in row.text), None)
    above = [row for row in rows if grand is None or row.y < grand]
    number, how = _labelled(above, _NUMBER, _NUMBER_LABEL, r"[0-9]{20}|[0-9]{8}")
    code, _ = _labelled(above, _CODE, _CODE_LABEL, r"[0-9]{12}|[0-9]{10}")
    if not number or (len(number) == 8 and not code):
        found_code, found_number = _fallback(above, year, code)
        if found_number and (not number or found_number == number):
            number, code, how = found_number, found_code, how or "fallback"
    if len(number) == 20:
        code = ""  # a 数电 number stands alone: a code found near it is something else
    return Facts(number, code, _date(rows), _title(rows), *_totals(rows), how if number else "")


def _labelled(rows: list[_Row], full: re.Pattern[str], label: re.Pattern[str],
              shape: str) -> tuple[str, str]:
    """A value to the right of its label: on the label's row (`labels` when label and value
    follow each other in the content stream, else `positions`), or the nearest token to
    its right whose baseline is within half a line of the label's."""
    for row in rows:
        for found in (f for f in full.finditer(row.text) if _own(row, f.start())):
            # The label's last character (a colon, usually) and the value's first.
            label_run = row.chars[len(row.text[:found.start(1)].rstrip()) - 1].run
            value_run = row.chars[found.start(1)].run
            return found.group(1), "labels" if value_run - label_run in (0, 1) else "positions"
    for row in rows:
        for found in (f for f in label.finditer(row.text) if _own(row, f.start())):
            end = row.chars[found.end() - 1].end
            best = None
            for other in rows:
                if abs(other.y - row.y) > 0.6 * max(other.size, row.size):
                    continue
                for text, x in _tokens(other):
                    if x >= end - 0.5 * row.size and re.fullmatch(shape, text) and \
                            (best is None or x - end < best[1]) and _clear(other, end, x):
                        best = (text, x - end)
            if best:
                return best[0], "positions"
    return "", ""


def _clear(row: _Row, start: float, end: float) -> bool:
    """No other label stands between a label and a value: the digits after 校验码 on the
    label's row are the check code's, not the number's."""
    return not any(start <= c.x < end and unicodedata.east_asian_width(c.char) == "W"
                   for c in row.chars)


def _tokens(row: _Row) -> list[tuple[str, float]]:
    """The tokens of the row's own part (`_Row.own`) with the left edge of each."""
    return [(m.group(), row.chars[m.start()].x) for m in re.finditer(r"\S+", row.text[:row.own])]


def _own(row: _Row, start: int) -> bool:
    """A label at `start` names this invoice's code or number, not another invoice's."""
    return start < row.own and not row.text[:start].replace(" ", "").endswith(_OTHERS)


def _fallback(rows: list[_Row], year: int, code: str) -> tuple[str, str]:
    """Code and number from whole tokens of the right shape, never after a label that names
    another identifier and never from a check code written as digit groups: a legacy code
    with the 8-digit number nearest it, else one 数电 number with a plausible year and region."""
    candidates: list[tuple[str, float, float]] = []
    for row in rows:
        # Right of a name of another identifier, however far (a bank account drawn apart
        # from its 银行账号:), the row holds that identifier's value, never this one.
        named = _NOT_IDENTITY.search(row.text)
        end = min(named.start() if named else len(row.text), row.own)
        for chars in _stretches(row.chars[:end]):
            text = "".join(c.char if c.run >= 0 else " " for c in chars)
            machine = _MACHINE.search(text)
            tokens = [(m.group(), chars[m.start()].x)
                      for m in re.finditer(r"\S+", text[:machine.start() if machine else None])]
            grouped = _check_code_groups(tokens)
            candidates += [(token, x, row.y) for i, (token, x) in enumerate(tokens)
                           if _digits(token) and i not in grouped]
    codes = [(t, x, y) for t, x, y in candidates
             if (t == code) or (not code and _plausible_code(t, year))]
    if codes:
        _, cx, cy = codes[0]
        numbers = sorted((abs(x - cx) + abs(y - cy), t) for t, x, y in candidates if len(t) == 8)
        if numbers:
            return codes[0][0], numbers[0][1]
    for text, _, _ in candidates:
        if len(text) == 20 and _plausible_number(text, year):
            return "", text
    return "", ""


# Text this far apart (in ems) on one row is two things: the left and right halves of a
# legacy form (机器编号 on the left, the code block on the right).
_APART_EM = 4.0


def _stretches(chars: list[_Char]) -> list[list[_Char]]:
    """A row's characters cut where they stand wide apart."""
    found: list[list[_Char]] = [[]]
    for char in chars:
        if char.run < 0 and char.end - char.x > _APART_EM * char.size:
            found.append([])
        else:
            found[-1].append(char)
    return found


def _check_code_groups(tokens: list[tuple[str, float]]) -> set[int]:
    """Indexes of digit tokens that together make 20 digits in a row: a check code
    (校验码) written in groups, whose parts must not be taken for a code or number."""
    found: set[int] = set()
    start = 0
    while start < len(tokens):
        end = start
        while end < len(tokens) and _digits(tokens[end][0]):
            end += 1
        if end - start >= 2 and sum(len(t) for t, _ in tokens[start:end]) == 20:
            found.update(range(start, end))
        start = end + 1
    return found


def _digits(text: str) -> bool:
    # ASCII only: str.isdigit() also says yes to digits int() and the journal cannot use.
    return text.isascii() and text.isdigit()


def _plausible_code(text: str, year: int) -> bool:
    # 12 digits: 0, region (2–5), year (6–7), batch, type; 10 digits: region (1–4), year (5–6).
    at = {12: 1, 10: 0}.get(len(text))
    return at is not None and (at == 0 or text[0] == "0") and \
        int(text[at:at + 2]) in _PROVINCES and 10 <= int(text[at + 4:at + 6]) <= year + 1


def _plausible_number(text: str, year: int) -> bool:
    # 数电 numbers began in 2021: year (1–2), province (3–4), channel, sequence.
    return 21 <= int(text[0:2]) <= year + 1 and int(text[2:4]) in _PROVINCES


def _date(rows: list[_Row]) -> dt.date | None:
    """The date after 开票日期 on its row, else the first date written on the page."""
    labelled = [row.text[found.end():].replace(" ", "") for row in rows
                if (found := _DATE_LABEL.search(row.text))]
    for text in labelled + [row.text.replace(" ", "") for row in rows]:
        for pattern in _DATES:
            for match in pattern.finditer(text):
                try:
                    return dt.date(int(match[1]), int(match[2]), int(match[3]))
                except ValueError:
                    continue
    return None


def _title(rows: list[_Row]) -> str:
    """The largest text naming a 发票, as issued, with full-width brackets."""
    best: tuple[float, str] | None = None
    for row in rows:
        for phrase, size in _phrases(row):
            if _TITLE.fullmatch(phrase) and "号码" not in phrase and "代码" not in phrase and \
                    (best is None or size > best[0]):
                best = (size, phrase)
    return best[1].replace("(", "（").replace(")", "）") if best else ""


def _phrases(row: _Row) -> list[tuple[str, float]]:
    """Parts of a row set in one size without a wide gap, spaces removed: a title drawn
    with letter-spacing reads as one phrase, a label beside it (in a smaller size) does not."""
    phrases: list[tuple[str, float]] = []
    text, size, end = "", 0.0, None
    for char in row.chars:
        if char.run < 0 or char.char.isspace():
            continue
        if end is not None and (abs(char.size - size) > 0.15 * size or char.x - end > 1.2 * size):
            phrases.append((text, size))
            text = ""
        size = size if text else char.size
        text += char.char
        end = char.end
    if text:
        phrases.append((text, size))
    return phrases


def _totals(rows: list[_Row]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """合计 row: pre-tax amount and tax; 价税合计 row: the total (小写). All three are kept
    only when they add up; the largest ¥ amount is the total only when no 价税合计 row
    says it."""
    amount = tax = total = None
    for row in rows:
        if _GRAND.search(row.text):
            small = _SMALL.search(row.text)
            found = _amounts(row.text[small.end():] if small else row.text)
            if total is None and found:
                total = found[0][0] if small else found[-1][0]
            continue
        label = _SUM.search(row.text)
        if label and amount is None:
            found = _amounts(row.text[label.end():])
            marked = [value for value, yen in found if yen] or [value for value, _ in found]
            if marked:
                amount, tax = marked[0], marked[1] if len(marked) > 1 else None
    if total is None:
        total = max((v for row in rows for v, yen in _amounts(row.text) if yen), default=None)
    if None not in (amount, tax, total) and amount + tax != total:  # type: ignore[operator]
        amount = tax = None
    if tax is None and amount is not None and amount == total:
        # 免税/不征税: the tax is written *** and the total is the amount: the tax is 0.
        tax = Decimal("0.00")
    return amount, tax, total


def _amounts(text: str) -> list[tuple[Decimal, bool]]:
    """Money amounts in `text`, in order, each with whether it is written with ¥."""
    return [(Decimal(f"{m[2]}{m[4].replace(',', '')}.{m[5]}"), bool(m[1] or m[3]))
            for m in _MONEY.finditer(text)]
