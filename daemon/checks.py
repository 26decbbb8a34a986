"""Reading a file into checked invoices: shared by the reading stage and by the
`validate` and `preview` commands, so the daemon and the commands report the same problems.

The cut: the bytes are read here (`read_limited`), parsed into the invoice model in the
jail for the types that need it (`jail.py`: PDF, XML, OFD, ZIP), and validated against the
settings here, so the commands get the same jail and the same verdicts as the daemon.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from printstation.config import Settings
from printstation.drivers.layout_check import check_layout
from printstation.drivers.place import fits
from printstation.invoice import (
    AsIs,
    Invoice,
    Problem,
    problem,
    validate,
)
from printstation.invoice.limits import MAX_PROBLEMS

from .context import Context
from .jail import read_jailed

_WHAT = {stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
         stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}
_ERRNO_ZH = {errno.EACCES: "权限不足", errno.EPERM: "不允许的操作"}


@dataclass
class Entry:
    """One invoice of a file: the model, what prints as it looks, or both; its problems."""

    invoice: Invoice | None
    asis: AsIs | None
    problems: list[Problem]

    @property
    def key(self) -> str:
        source = self.invoice or self.asis
        return source.key if source is not None else ""

    @property
    def kind(self) -> str | None:
        return self.invoice.kind if self.invoice else "einvoice" if self.asis else None

    def to_dict(self) -> dict:
        """What is journaled: the invoice's data, and the pages to print as they look
        (`print` beside the data of a bundle, the whole document for a PDF or OFD)."""
        if self.invoice is None:
            return self.asis.to_dict() if self.asis else {}
        doc = self.invoice.to_dict()
        if self.asis is not None:
            doc["print"] = self.asis.to_dict()
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass
class Checked:
    """A file's verdict: file-level problems, or one entry per invoice."""

    file_problems: list[Problem] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.file_problems and all(not e.problems for e in self.entries)


def check_file(name: str, data: bytes, ctx: Context,
               taken: Callable[[str], Problem | None] = lambda key: None,
               cancel: threading.Event | None = None) -> Checked:
    """Read and validate every invoice of a file; `taken` reports a duplicate key.

    `cancel` set during a jailed read stops it with `jail.Interrupted` (the daemon stops).
    """
    read = read_jailed(name, data, cancel)
    if read.problems:
        return Checked(list(read.problems))
    result = Checked()
    seen: set[str] = set()
    for item in read.items:
        entry = Entry(item.invoice, item.asis, list(item.problems))
        if item.invoice is not None:
            entry.problems += validate(item.invoice, ctx.rules(), ctx.today())
            entry.problems += _seller(item.invoice, ctx.settings)
            stock = ctx.stocks.get(item.invoice.kind)
            if stock is not None and not entry.problems:
                # Only a valid invoice is laid out: text decided to fit prints unclipped.
                entry.problems += check_layout(item.invoice, stock)
        if item.asis is not None:
            if item.invoice is None:
                entry.problems += _identity(item.asis)
            entry.problems += _ink_fits(item.asis, ctx)
        if entry.key:
            duplicate = taken(entry.key) if entry.key not in seen else problem(
                "invoice.duplicate", "number", key=entry.key, at="-", job="(this file)")
            if duplicate:
                entry.problems.append(duplicate)
            seen.add(entry.key)
        # The first problems say what is wrong; thousands more would only cost memory and
        # bury them (invoice/limits.py).
        del entry.problems[MAX_PROBLEMS:]
        result.entries.append(entry)
    return result


def read_limited(path: Path, max_mb: int) -> bytes | Problem:
    """The file's bytes, or why not: never opens a FIFO or device, never reads a huge file.

    The file is opened without following a symlink and without blocking (a FIFO swapped
    in after a check would otherwise block the reader), and what was opened is checked,
    not the name: no file can be swapped in between the check and the read. At most
    `max_mb` MB + 1 byte is read, so a file still growing cannot grow the daemon.
    """
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return _not_regular(st.st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return _not_regular(stat.S_IFLNK)
        if exc.errno in (errno.EACCES, errno.EPERM):
            return _unreadable(exc)
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return _not_regular(st.st_mode)
        limit = max_mb * 1024 * 1024
        if st.st_size > limit:
            return _too_large(st.st_size, max_mb)
        return _read_at_most(fd, st.st_size, limit, max_mb)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return _unreadable(exc)
        raise
    finally:
        os.close(fd)


def _read_at_most(fd: int, size: int, limit: int, max_mb: int) -> bytes | Problem:
    # One read of the size fstat gave (plus one byte, to see the end) is the whole file;
    # a file that grew since is read on in chunks, up to one byte past the limit.
    chunks = [os.read(fd, size + 1)]
    total = len(chunks[0])
    while chunks[-1] and total <= limit:
        chunks.append(os.read(fd, min(1 << 20, limit + 1 - total)))
        total += len(chunks[-1])
    if total > limit:
        return _too_large(total, max_mb)
    return chunks[0] if len(chunks) <= 2 else b"".join(chunks)


def _not_regular(mode: int) -> Problem:
    return problem("file.not_regular", what=_WHAT.get(stat.S_IFMT(mode), "special file"))


def _too_large(size: int, max_mb: int) -> Problem:
    return problem("file.too_large", size_mb=f"{size / 2**20:.1f}", max_mb=max_mb)


def _unreadable(exc: OSError) -> Problem:
    name = errno.errorcode.get(exc.errno or 0, "?")
    return problem("file.unreadable", detail=f"{name}: {exc.strerror}",
                   detail_zh=f"{name}：{_ERRNO_ZH.get(exc.errno or 0, exc.strerror)}")


def _identity(asis: AsIs) -> list[Problem]:
    """What a PDF or OFD was read to be must be a whole invoice key (SPEC §6): an 8-digit
    number stands only with its code. Keyed by the number alone, the same invoice would
    print again when it arrives with its code readable (or as its XML), and two invoices
    of different codes sharing a number would block each other."""
    if len(asis.number) == 8 and not asis.code:
        return [problem("invoice.code", "code", found="",
                        detail=f"The page shows number {asis.number} but its code could not "
                        "be read; send the invoice's XML or OFD instead.",
                        detail_zh=f"页面上有发票号码 {asis.number}，但读不到其发票代码；"
                        "请改为发送该发票的 XML 或 OFD 文件。")]
    return []


def _ink_fits(asis: AsIs, ctx: Context) -> list[Problem]:
    """A page prints at 100 % on the plain e-invoice paper, upright or turned: each page's
    ink must fit one way or the other (SPEC §6)."""
    stock = ctx.stocks["einvoice"]
    paper = (stock.width_mm, stock.height_mm)
    for left, top, right, bottom in asis.ink_mm:
        ink = (right - left, bottom - top)
        if fits(*ink, paper) is None:
            return [problem("pdf.page_size", found=f"{ink[0]:.1f} × {ink[1]:.1f}",
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
