"""Fitting text into a field's box: shrink step by step, then wrap, else it does not fit.

The same function decides at validation time (so text that cannot fit is rejected with
`text.too_long` before anything prints) and at render time (so nothing is ever clipped).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont

from printstation.base.units import PT_MM
from printstation.config import FieldSpec

MIN_SIZE = 5.0
SHRINK_STEP = 0.5
LEADING = 1.2  # line distance, in font sizes
CIPHER_ROW = 28  # characters per row of the 密码区 (4 rows of 27/28)
MEMO_SIZE = 2048  # texts remembered (see `_fitted`)
# Longer texts are measured and not kept: no field of a valid invoice holds more (备注,
# the longest, 230 GBK bytes), and a hostile file's megabyte of text must not be kept.
MEMO_MAX_CHARS = 256
# Millimetres to points, less a billionth: the bound in `fit_text` multiplies in another
# order than reportlab sums, and must never say "fits" on a rounding. `_WIDEST` holds each
# font's widest advance (any character, ASCII) in points per point of size.
_MM_SAFE = mm * (1 - 1e-9)
_WIDEST: dict[str, tuple[float, float]] = {}


@dataclass(frozen=True)
class Fitted:
    size: float
    lines: tuple[str, ...]


def max_lines(spec: FieldSpec, size: float) -> int:
    """How many lines of `size` points the box holds (1 for a single-line field)."""
    return _max_lines(spec.height, size)


def _max_lines(height: float, size: float) -> int:
    if not height:
        return 1
    size_mm = size * PT_MM
    return max(1, 1 + int((height - size_mm) / (size_mm * LEADING) + 1e-9))


def _sizes(spec: FieldSpec) -> list[float]:
    return _sizes_from(spec.size)


def _sizes_from(size: float) -> list[float]:
    sizes = []
    while size >= MIN_SIZE - 1e-9:
        sizes.append(size)
        size -= SHRINK_STEP
    return sizes


def wrap(text: str, font: str, size: float, width_pt: float) -> list[str]:
    """Greedy wrap, character by character (Chinese has no spaces to break at)."""
    lines, current = [], ""
    for char in text:
        if current and stringWidth(current + char, font, size) > width_pt:
            lines.append(current.rstrip())
            current = char.lstrip()
        else:
            current += char
    return [*lines, current] if current or not lines else lines


def fit_text(text: str, spec: FieldSpec, font: str) -> Fitted | None:
    """The size and lines `text` prints in at `spec`'s box, or None when it cannot fit.

    Validation asks this of every text of every invoice (issue 19: 7,000 invoices a
    second). A one-line text whose every character could be the font's widest still fits
    at the field's own size: that decides numbers, codes and most names without measuring
    them. An ASCII text (an invoice number, an amount) is otherwise measured once, and not
    kept: it is new on every invoice. Any other text is measured and kept (`_fitted`): a
    branch's buyers' addresses and bank accounts recur.
    """
    if _plainly_fits(text, spec, font):
        return Fitted(spec.size, ((text.splitlines() or [""])[0],))
    return _measured(text, spec, font)


def fits(text: str, spec: FieldSpec, font: str) -> bool:
    """`fit_text(text, spec, font) is not None`, without building the answer when it
    need not be measured: what validation asks."""
    return _plainly_fits(text, spec, font) or _measured(text, spec, font) is not None


def _plainly_fits(text: str, spec: FieldSpec, font: str) -> bool:
    """True when `text` is one line that fits at the field's size even if each of its
    characters were the font's widest (each ASCII character the widest ASCII one)."""
    size = spec.size
    if size < MIN_SIZE - 1e-9 or len(text.splitlines()) > 1:
        return False
    widest = _WIDEST.get(font) or _widest(font)
    room = spec.width * _MM_SAFE
    if len(text) * size * widest[text.isascii()] <= room:
        return True
    # Mixed text ("¥1302.72", an address with its phone number): its ASCII characters at
    # the ASCII bound, the others at the widest.
    narrow = len(text.encode("ascii", "ignore"))
    return (narrow * widest[1] + (len(text) - narrow) * widest[0]) * size <= room


def plain_lengths(spec: FieldSpec, font: str) -> tuple[int, int]:
    """The most characters a one-line text may have and plainly fit (`_plainly_fits`):
    any text, and an ASCII text; -1 when no text does. For a caller that checks many
    texts against the same box."""
    size = spec.size
    if size < MIN_SIZE - 1e-9:
        return (-1, -1)
    widest = _WIDEST.get(font) or _widest(font)
    room = spec.width * _MM_SAFE
    return (_most(widest[0] * size, room), _most(widest[1] * size, room))


def _most(each: float, room: float) -> int:
    # The largest n with n * each <= room, by the same comparison as `_plainly_fits`.
    if not math.isfinite(each) or each <= 0:
        return -1
    n = int(room / each) + 1
    while n >= 0 and n * each > room:
        n -= 1
    return n


def _measured(text: str, spec: FieldSpec, font: str) -> Fitted | None:
    size = spec.size
    if text.isascii() and size >= MIN_SIZE - 1e-9:
        paragraphs = text.splitlines()
        if len(paragraphs) <= 1:
            line = paragraphs[0] if paragraphs else ""
            if stringWidth(line, font, size) <= spec.width * mm:
                return Fitted(size, (line,))
    if len(text) > MEMO_MAX_CHARS:
        return _fitted.__wrapped__(text, spec.width, size, spec.height, font)
    return _fitted(text, spec.width, size, spec.height, font)


# The key is everything the answer depends on, by value: the text, the box's width, the
# field's size and height (a multi-line box), and the font. So a reloaded stock whose box
# changed is never answered from its old geometry, and fields with the same box share
# answers. The least recently used goes first. 2,048 entries of at most 256 characters
# are under 5 MiB even if every text were the longest; a branch's few hundred, 100 KiB.
@functools.lru_cache(maxsize=MEMO_SIZE)
def _fitted(text: str, width_mm: float, size: float, height: float,
            font: str) -> Fitted | None:
    width = width_mm * mm
    paragraphs = text.splitlines() or [""]
    # Most texts fit on one line at the field's own size: one measurement decides them
    # (the loop below would say the same, after building the list of sizes).
    if len(paragraphs) == 1 and size >= MIN_SIZE - 1e-9 and \
            stringWidth(paragraphs[0], font, size) <= width:
        return Fitted(size, (paragraphs[0],))
    sizes = _sizes_from(size)
    for step in sizes:
        if len(paragraphs) <= _max_lines(height, step) and \
                all(stringWidth(p, font, step) <= width for p in paragraphs):
            return Fitted(step, tuple(paragraphs))
    if height:
        for step in sizes:
            lines = [line for p in paragraphs for line in wrap(p, font, step, width)]
            if len(lines) <= _max_lines(height, step):
                return Fitted(step, tuple(lines))
    return None


def memo_info() -> tuple[int, int, int]:
    """Hits, misses and entries of the measured-text cache (for the benchmark's hit rate)."""
    info = _fitted.cache_info()
    return info.hits, info.misses, info.currsize


def memo_clear() -> None:
    """Forget every measured text (the benchmark's pass without the cache)."""
    _fitted.cache_clear()


def _widest(font: str) -> tuple[float, float]:
    """The widest advance of any character, and of any ASCII character, in points per
    point of size, or infinity where it is not known (the bound then never applies)."""
    widest = _WIDEST[font] = _advances(pdfmetrics.getFont(font))
    return widest


def _advances(face_font: object) -> tuple[float, float]:
    # Only reportlab's plain TrueType font is known to measure a string as the sum of its
    # characters' advances, a missing glyph counting the default width (`stringWidth`
    # of ttfonts); any other font is always measured.
    if type(face_font) is not TTFont:
        return (math.inf, math.inf)
    face = face_font.face
    widths, default = face.charWidths, face.defaultWidth
    widest = max([default, *widths.values()])
    ascii_widest = max(widths.get(code, default) for code in range(128))
    return (widest / 1000, ascii_widest / 1000)


def cipher_rows(text: str) -> list[str]:
    """The 密码区 in rows: as written, or cut into rows of 28 characters."""
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    if len(rows) == 1 and len(rows[0]) > CIPHER_ROW:
        row = rows[0]
        rows = [row[i:i + CIPHER_ROW] for i in range(0, len(row), CIPHER_ROW)]
    return rows


def fit_cipher(text: str, spec: FieldSpec) -> Fitted | None:
    """Fixed-width rows: each character gets width / (longest row) of the box."""
    rows = cipher_rows(text)
    longest = max((len(r) for r in rows), default=0)
    for size in _sizes(spec):
        # A character's cell must hold half an em (the cipher is ASCII).
        if len(rows) <= max_lines(spec, size) and longest * size * 0.5 <= spec.width * mm:
            return Fitted(size, tuple(rows))
    return None
