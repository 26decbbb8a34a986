"""What holds a printer's jobs back, and what lets them go again: the paper ledger's
next sheet (`paper.mismatch`) and the offline budget (`offline.limit`), SPEC §8.

A mixin of daemon/stage_print.py's PrintRunner: its `journal`, `ctx` and `printer`.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from printstation.base import logs
from printstation.config import PrinterSettings
from printstation.invoice import problem
from printstation.spool import Journal, State, paper, queries

from . import offline
from .asis_print import asis_of
from .context import Context


class HoldsMixin:
    journal: Journal
    ctx: Context
    printer: PrinterSettings

    def sheet_for(self, doc: dict) -> paper.Sheet | str | None:
        """The numbered sheet this job will use, None when the ledger is off for it, or the
        reason it must wait (as its `paper.mismatch` detail)."""
        mode = self.printer.paper_check
        stock = self.ctx.stocks.get(doc.get("kind", "einvoice"))
        if mode == "off" or asis_of(doc) is not None or stock is None or stock.plain_paper:
            return None
        sheet = paper.next_free(self.journal.conn, self.printer.name, stock.name)
        invoice = paper.Sheet(doc.get("code", ""), doc["number"])
        if sheet is not None and (mode == "assign" or (
                sheet.number == invoice.number and sheet.code in ("", invoice.code))):
            return sheet
        detail = problem("paper.mismatch", "number", printer=self.printer.name,
                         stock=stock.name, sheet=str(sheet) if sheet else "（无 / none）",
                         invoice=str(invoice))
        return json.dumps([detail.to_dict()], ensure_ascii=False)

    def release_paper_holds(self) -> bool:
        """Jobs held for paper go back to the queue once their sheet is next."""
        held = queries.held_for(self.journal.conn, self.printer.name, "paper.mismatch")
        for job in held:
            sheet = self.sheet_for(json.loads(job["invoice_json"]))
            if isinstance(sheet, paper.Sheet):
                with self.journal.transaction():
                    self.journal.transition(job["id"], State.QUEUED, None,
                                            payload={"sheet": str(sheet), "auto": True})
                logs.info("job.queued", job=job["id"], invoice=job["invoice_key"],
                          printer=self.printer.name, sheet=str(sheet))
                return True
        return False

    def offline_refusal(self, doc: dict) -> str | None:
        """Why the offline budget stops this invoice, as its `offline.limit` detail."""
        return offline.refusal_errors(self.journal.conn, self.ctx.settings, self.ctx.clock(),
                                      Decimal(doc.get("total") or "0"))

    def release_offline_holds(self) -> bool:
        """The oldest job held for the offline limit goes back once the budget allows."""
        held = queries.held_for(self.journal.conn, self.printer.name, "offline.limit", 1)
        job = held[0] if held else None
        if job is None or self.offline_refusal(json.loads(job["invoice_json"])):
            return False
        with self.journal.transaction():
            self.journal.transition(job["id"], State.QUEUED, None, payload={"auto": True})
        logs.info("job.queued", job=job["id"], invoice=job["invoice_key"],
                  printer=self.printer.name, after="offline.limit")
        return True

    def hold(self, job: sqlite3.Row, reason: str, errors: str) -> None:
        """Hold a job the printer cannot take yet; `errors` is its problems as JSON."""
        with self.journal.transaction():
            self.journal.transition(job["id"], State.HELD, reason, errors=errors)
        logs.warning("job.held", job=job["id"], invoice=job["invoice_key"],
                     printer=self.printer.name, reason=reason,
                     detail=json.loads(errors)[0]["en"])
