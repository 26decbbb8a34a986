"""Fitting text into a field's box: shrink step by step, then wrap, else it does not fit.

The same function decides at validation time (so text that cannot fit is rejected with
`text.too_long` before anything prints) and at render time (so nothing is ever clipped).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from printstation.base.units import PT_MM
from printstation.config import FieldSpec

MIN_SIZE = 5.0
SHRINK_STEP = 0.5
LEADING = 1.2  # line distance, in font sizes
CIPHER_ROW = 28  # characters per row of the 密码区 (4 rows of 27/28)


@dataclass(frozen=True)
class Fitted:
    size: float
    lines: tuple[str, ...]


def max_lines(spec: FieldSpec, size: float) -> int:
    """How many lines of `size` points the box holds (1 for a single-line field)."""
    if not spec.height:
        return 1
    size_mm = size * PT_MM
    return max(1, 1 + int((spec.height - size_mm) / (size_mm * LEADING) + 1e-9))


def _sizes(spec: FieldSpec) -> list[float]:
    sizes, size = [], spec.size
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


# Validation and rendering fit the same texts (and a seller's name and address recur on
# every invoice): fitting is a pure function of its arguments, so results are kept.
@functools.lru_cache(maxsize=8192)
def fit_text(text: str, spec: FieldSpec, font: str) -> Fitted | None:
    width = spec.width * mm
    paragraphs = text.splitlines() or [""]
    # Most texts fit on one line at the field's own size: one measurement decides them
    # (the loop below would say the same, after building the list of sizes).
    if len(paragraphs) == 1 and spec.size >= MIN_SIZE - 1e-9 and \
            stringWidth(paragraphs[0], font, spec.size) <= width:
        return Fitted(spec.size, (paragraphs[0],))
    for size in _sizes(spec):
        if len(paragraphs) <= max_lines(spec, size) and \
                all(stringWidth(p, font, size) <= width for p in paragraphs):
            return Fitted(size, tuple(paragraphs))
    if spec.height:
        for size in _sizes(spec):
            lines = [line for p in paragraphs for line in wrap(p, font, size, width)]
            if len(lines) <= max_lines(spec, size):
                return Fitted(size, tuple(lines))
    return None


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
