"""The printing stage, one runner per printer: render, submit in two phases, track.

Two-phase submit: the driver creates the job held, its id is committed to the journal
(`submitted`), and only then is it released. A crash before the commit leaves a held job
that `find` adopts on the next try; after it, the journal knows the id. So an invoice is
never handed to a printer twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from printstation.config import PrinterSettings
from printstation.drivers import JobStatus, PrinterDriver, PrintRequest, make_driver, render_invoice
from printstation.invoice import invoice_from_dict
from printstation.spool import State

from . import logs
from .context import Context
from .runner import JournalRunner


class PrintRunner(JournalRunner):
    def __init__(self, ctx: Context, printer: PrinterSettings, on_done: Callable[[], None]):
        super().__init__(ctx)
        self.name = f"printer:{printer.name}"
        self.printer_name = printer.name
        self.on_done = on_done
        self.driver: PrinterDriver | None = None

    @property
    def printer(self) -> PrinterSettings:
        """This printer's current settings: a reload may have changed its offsets."""
        found = self.ctx.settings.printer(self.printer_name)
        assert found is not None, "a reload never removes a running printer"
        return found

    def setup(self) -> None:
        super().setup()
        self.driver = make_driver(self.printer)
        # Only a job queued before this runner started can have a held job left over from
        # a crash; later ones skip the (possibly slow) lookup.
        self.started_at = self.journal.now()

    def teardown(self) -> None:
        if self.driver is not None:
            self.driver.close()
        super().teardown()

    def run_once(self) -> bool:
        # Jobs already handed over come first: after a restart they are settled before
        # anything new goes to the printer.
        job = self.journal.next_for_printer(self.printer.name, State.SUBMITTED)
        if job is not None:
            return self.track(job)
        job = self.journal.next_for_printer(self.printer.name, State.QUEUED)
        if job is None:
            return False
        self.submit(job)
        return True

    def document(self, job: sqlite3.Row) -> tuple[bytes, str, tuple[float, float]]:
        """The PDF to print, its stock and the offset used: rendered, or a PDF as it is."""
        doc = json.loads(job["invoice_json"])
        if doc.get("format") == "pdf":
            # An e-invoice PDF prints at 100% as it came, on plain paper: no offset.
            return self.ctx.spool.path(job["spool_name"]).read_bytes(), "einvoice", (0.0, 0.0)
        invoice = invoice_from_dict(doc)
        stock = self.ctx.stocks[invoice.kind]
        offset = self.printer.offset_for(stock.name)
        return render_invoice(invoice, stock, offset, f"printstation:{job['id']}"), stock.name, \
            offset

    def submit(self, job: sqlite3.Row) -> None:
        assert self.driver is not None
        title = job["invoice_key"] or job["source_name"]
        external_id = self.driver.find(job["id"]) if job["updated_at"] < self.started_at \
            else None
        pdf, stock, offset = self.document(job)
        if external_id is None:
            external_id = self.driver.create_held(PrintRequest(job["id"], title, pdf, stock))
        with self.journal.transaction():
            self.journal.transition(
                job["id"], State.SUBMITTED, cups_job_id=external_id,
                attempts=job["attempts"] + 1,
                payload={"printer": self.printer.name, "external_id": external_id,
                         "stock": stock, "offset_mm": list(offset)})
        logs.info("job.submitted", job=job["id"], invoice=job["invoice_key"],
                  printer=self.printer.name, external_id=external_id)
        self.driver.release(external_id)
        refreshed = self.journal.conn.execute("SELECT * FROM jobs WHERE id = ?",
                                              (job["id"],)).fetchone()
        self.track(refreshed)

    def track(self, job: sqlite3.Row) -> bool:
        """Settle a submitted job from the printer's answer; True when it moved on."""
        assert self.driver is not None
        external_id = job["cups_job_id"]
        status = self.driver.status(external_id)
        if status is JobStatus.HELD:
            # The crash came after the id was journaled but before the release.
            self.driver.release(external_id)
            status = self.driver.status(external_id)
        if status is JobStatus.COMPLETED:
            self.journal.mark_printed(job["id"], invoice_record(json.loads(job["invoice_json"])))
            logs.info("job.printed", job=job["id"], invoice=job["invoice_key"],
                      printer=self.printer.name)
            self.on_done()
            return True
        if status is JobStatus.UNKNOWN:
            # The printer no longer knows a job we handed it: whether it printed cannot be
            # known, so an operator decides (`printstation resolve`), never a resubmit.
            with self.journal.transaction():
                self.journal.transition(job["id"], State.UNCERTAIN, "printer.lost_job")
            logs.warning("job.uncertain", job=job["id"], invoice=job["invoice_key"],
                         printer=self.printer.name, reason="printer.lost_job")
            return True
        return False


def invoice_record(doc: dict) -> dict | None:
    """The `invoices` row of a printed job, from its stored invoice (or PDF facts)."""
    if doc.get("format") == "pdf":
        if not doc["number"]:
            return None
        key = f"{doc['code']}-{doc['number']}" if doc["code"] else doc["number"]
        return {"key": key, "code": doc["code"] or None, "number": doc["number"],
                "kind": "einvoice", "date": doc["date"], "buyer_name": None, "buyer_tin": None,
                "total_amount": "", "total_tax": "", "total": doc["total"]}
    key = f"{doc['code']}-{doc['number']}" if doc["code"] else doc["number"]
    return {"key": key, "code": doc["code"] or None, "number": doc["number"],
            "kind": doc["kind"], "date": doc["date"], "buyer_name": doc["buyer"]["name"],
            "buyer_tin": doc["buyer"]["tin"], "total_amount": doc["total_amount"],
            "total_tax": doc["total_tax"], "total": doc["total"]}
