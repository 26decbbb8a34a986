"""Reading a file into checked invoices: shared by the reading stage and by the
`validate` and `preview` commands, so the daemon and the commands report the same problems.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from printstation.config import Settings
from printstation.drivers import layout_problems
from printstation.invoice import (
    PAPER_KINDS,
    Invoice,
    PdfInvoice,
    Problem,
    problem,
    read_file,
    validate,
)

from .context import Context

# A page may exceed the paper by this much (rounding in converters) and still print whole.
PAGE_SLACK_MM = 1.0
_WHAT = {stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
         stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}


@dataclass
class Entry:
    """One invoice of a file: the model (or what a PDF says) and its problems."""

    invoice: Invoice | None
    pdf: PdfInvoice | None
    problems: list[Problem]

    @property
    def key(self) -> str:
        source = self.invoice or self.pdf
        return source.key if source is not None else ""

    @property
    def kind(self) -> str | None:
        return self.invoice.kind if self.invoice else "einvoice" if self.pdf else None

    def to_json(self) -> str:
        doc = self.invoice.to_dict() if self.invoice else self.pdf.to_dict() if self.pdf else {}
        return json.dumps(doc, ensure_ascii=False)


@dataclass
class Checked:
    """A file's verdict: file-level problems, or one entry per invoice."""

    file_problems: list[Problem] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.file_problems and all(not e.problems for e in self.entries)


def check_file(name: str, data: bytes, ctx: Context,
               taken: Callable[[str], Problem | None] = lambda key: None) -> Checked:
    """Read and validate every invoice of a file; `taken` reports a duplicate key."""
    read = read_file(name, data)
    if read.problems:
        return Checked(list(read.problems))
    result = Checked()
    seen: set[str] = set()
    for item in read.items:
        entry = Entry(item.invoice, item.pdf, list(item.problems))
        if item.invoice is not None:
            entry.problems += validate(item.invoice, ctx.rules(), ctx.today())
            entry.problems += _seller(item.invoice, ctx.settings)
            entry.problems += _fits_layout(item.invoice, ctx)
            stock = ctx.stocks.get(item.invoice.kind)
            if stock is not None and not entry.problems:
                # Only a valid invoice is laid out: text decided to fit prints unclipped.
                entry.problems += layout_problems(item.invoice, stock)
        if item.pdf is not None:
            entry.problems += _pdf_fits(item.pdf, ctx)
        if entry.key:
            duplicate = taken(entry.key) if entry.key not in seen else problem(
                "invoice.duplicate", "number", key=entry.key, at="-", job="(this file)")
            if duplicate:
                entry.problems.append(duplicate)
            seen.add(entry.key)
        result.entries.append(entry)
    return result


def _fits_layout(invoice: Invoice, ctx: Context) -> list[Problem]:
    """Every line needs a row on the form: more would be silently cut off the page."""
    stock = ctx.stocks.get(invoice.kind)
    rows = stock.items.rows if stock is not None and stock.items is not None else None
    if rows is None or len(invoice.lines) <= rows or invoice.kind in PAPER_KINDS:
        return []  # paper kinds are already held to their 8 lines by the rules
    return [problem("line.count", "lines", found=len(invoice.lines),
                    expected=f"at most {rows}, the rows of the {stock.name} layout",
                    expected_zh=f"最多 {rows} 行（{stock.name} 版式的行数）")]


def read_limited(path: Path, max_mb: int) -> bytes | Problem:
    """The file's bytes, or why not: never opens a FIFO or device, never reads a huge file."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        return problem("file.not_regular", what=_WHAT.get(stat.S_IFMT(st.st_mode), "special file"))
    size = st.st_size
    if size > max_mb * 1024 * 1024:
        return problem("file.too_large", size_mb=f"{size / 2**20:.1f}", max_mb=max_mb)
    return path.read_bytes()


def _pdf_fits(pdf: PdfInvoice, ctx: Context) -> list[Problem]:
    """A PDF prints at 100% on plain e-invoice paper: every page must fit on it."""
    stock = ctx.stocks["einvoice"]
    paper = (stock.width_mm, stock.height_mm)
    for width, height in pdf.page_mm:
        if width > paper[0] + PAGE_SLACK_MM or height > paper[1] + PAGE_SLACK_MM:
            return [problem("pdf.page_size", found=f"{width:g} × {height:g}",
                            expected=f"{paper[0]:g} × {paper[1]:g}")]
    return []


def route(kind: str, wanted: str | None, settings: Settings) -> str | None:
    """The printer for a kind: the one the invoice names, else the first holding the stock."""
    for printer in settings.printers:
        if kind in printer.stocks and wanted in (None, printer.name):
            return printer.name
    return None


def _seller(invoice: Invoice, settings: Settings) -> list[Problem]:
    own = settings.station.seller_tin
    if own and invoice.seller.tin != own:
        return [problem("seller.mismatch", "seller.tin", found=invoice.seller.tin, expected=own)]
    return []
