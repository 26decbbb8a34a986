"""The reading stage: a claimed file becomes one job per invoice, queued or rejected.

`check_file` is shared with `printstation validate`, so the daemon and the command
report the same problems.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from printstation.config import Settings
from printstation.invoice import Invoice, Problem, problem, read_file, validate
from printstation.spool import Outcome, State

from . import logs
from .context import Context
from .runner import JournalRunner

_WHAT = {stat.S_IFLNK: "symlink", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
         stat.S_IFCHR: "character device", stat.S_IFBLK: "block device"}


@dataclass
class Checked:
    """A file's verdict: file-level problems, or per invoice its model and problems."""

    file_problems: list[Problem] = field(default_factory=list)
    invoices: list[tuple[Invoice | None, list[Problem]]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.file_problems and all(not p for _, p in self.invoices)


def check_file(name: str, data: bytes, ctx: Context,
               taken: Callable[[str], Problem | None] = lambda key: None) -> Checked:
    """Read and validate every invoice of a file; `taken` reports a duplicate key."""
    read = read_file(name, data)
    if read.problems:
        return Checked(list(read.problems))
    result = Checked()
    seen: set[str] = set()
    for item in read.items:
        problems = list(item.problems)
        invoice = item.invoice
        if invoice is not None:
            problems += validate(invoice, ctx.rules(), ctx.today())
            problems += _seller(invoice, ctx.settings)
            duplicate = taken(invoice.key) if invoice.key not in seen else problem(
                "invoice.duplicate", "number", key=invoice.key, at="-", job="(this file)")
            if duplicate:
                problems.append(duplicate)
            seen.add(invoice.key)
        result.invoices.append((invoice, problems))
    return result


def route(invoice: Invoice, settings: Settings) -> str | None:
    """The printer for an invoice: the one it names, else the first holding its stock."""
    for printer in settings.printers:
        if invoice.kind in printer.stocks and invoice.printer in (None, printer.name):
            return printer.name
    return None


def _seller(invoice: Invoice, settings: Settings) -> list[Problem]:
    own = settings.station.seller_tin
    if own and invoice.seller.tin != own:
        return [problem("seller.mismatch", "seller.tin", found=invoice.seller.tin, expected=own)]
    return []


def _errors(problems: list[Problem]) -> str:
    return json.dumps([p.to_dict() for p in problems], ensure_ascii=False)


class ReadRunner(JournalRunner):
    name = "reader"

    def __init__(self, ctx: Context, on_read: Callable[[], None]):
        super().__init__(ctx)
        self.on_read = on_read

    def run_once(self) -> bool:
        job = self.journal.next_incoming()
        if job is None:
            return False
        outcomes = self.decide(job)
        ids = self.journal.settle_read(job, outcomes)
        for job_id, outcome in zip(ids, outcomes, strict=True):
            logs.info(f"job.{outcome.state}", job=job_id, invoice=outcome.invoice_key,
                      file=job["source_name"], printer=outcome.printer, reason=outcome.reason)
        self.on_read()
        return True

    def decide(self, job: sqlite3.Row) -> list[Outcome]:
        path = self.ctx.spool.path(job["spool_name"])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return [Outcome(State.REJECTED, "spool.missing")]
        if not stat.S_ISREG(st.st_mode):
            what = _WHAT.get(stat.S_IFMT(st.st_mode), "special file")
            return [_reject([problem("file.not_regular", what=what)])]
        limit = self.ctx.settings.intake.max_file_mb
        if st.st_size > limit * 1024 * 1024:
            return [_reject([problem("file.too_large", size_mb=f"{st.st_size / 2**20:.1f}",
                                     max_mb=limit)])]
        earlier = self.journal.earlier_copy(job["source_sha256"], job["source_id"]) \
            if job["source_sha256"] else None
        if earlier:
            return [_reject([problem("file.duplicate", at=earlier["created_at"],
                                     job=earlier["id"])])]
        with open(path, "rb") as fh:
            data = fh.read()

        def taken(key: str) -> Problem | None:
            row = self.journal.invoice_taken(key, job["id"])
            return problem("invoice.duplicate", "number", key=key, at=row["at"],
                           job=row["id"]) if row else None

        checked = check_file(job["source_name"], data, self.ctx, taken)
        if checked.file_problems:
            return [_reject(checked.file_problems)]
        return [self._outcome(inv, probs) for inv, probs in checked.invoices]

    def _outcome(self, invoice: Invoice | None, problems: list[Problem]) -> Outcome:
        if invoice is None or problems:
            return Outcome(State.REJECTED, problems[0].code, invoice_key=invoice and invoice.key,
                           kind=invoice and invoice.kind, errors=_errors(problems))
        printer = route(invoice, self.ctx.settings)
        return Outcome(State.QUEUED if printer else State.HELD,
                       None if printer else "printer.missing", kind=invoice.kind,
                       invoice_key=invoice.key, printer=printer,
                       invoice_json=json.dumps(invoice.to_dict(), ensure_ascii=False))


def _reject(problems: list[Problem]) -> Outcome:
    return Outcome(State.REJECTED, problems[0].code, errors=_errors(problems))
