"""The printing stage, one runner per printer: render, submit in two phases, track.

Two-phase submit: the driver creates the job held, its id is committed to the journal
(`submitted`), and only then is it released. A crash before the commit leaves a held job
that `find` adopts on the next try; after it, the journal knows the id. So an invoice is
never handed to a printer twice.

Whether a job may have such a held job is decided from journal facts, never from the
clock (which may be stepped back across a crash): a job that arrived before this runner
started, or whose creation this runner already tried, is looked up by name first.
What happens to a job that cannot go on is daemon/print_failures.py.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable

from printstation.base import heap, logs
from printstation.base.durable import atomic_write
from printstation.base.errors import Unavailable
from printstation.config import Config, PrinterSettings
from printstation.drivers import (
    JobStatus,
    PrinterDriver,
    PrintRequest,
    TextDoesNotFit,
    make_driver,
)
from printstation.drivers.base import JobRefused, PrinterUnavailable
from printstation.spool import State, paper, queries

from . import print_failures as failures
from .asis_print import asis_of
from .context import Context
from .crash import crash_point
from .pictures import job_document, render_args, stock_name
from .prerender import AHEAD, Ahead, RenderPool
from .print_holds import HoldsMixin
from .printer_health import DEVICE_CHECK_S, TroubleLog, printer_nap
from .runner import JournalRunner

# Jobs after which a printer whose queue empties trims the heap: a backlog's end, not
# each lone job (a trim walks the heap: about a millisecond).
TRIM_AFTER = 32


class PrintRunner(HoldsMixin, JournalRunner):
    def __init__(self, ctx: Context, printer: PrinterSettings, on_done: Callable[[], None],
                 pool: RenderPool | None = None):
        super().__init__(ctx)
        # Pages of the next queued jobs, rendered in a worker process during a backlog.
        self.ahead = Ahead(pool) if pool is not None else None
        self.name, self.printer_name = f"printer:{printer.name}", printer.name
        self.on_done = on_done
        self.driver: PrinterDriver | None = None
        # The device's own state (CUPS printer-state and reasons), for status.
        self.device: dict | None = None
        # Set False by a reload: the queue's media are checked again.
        self.media_checked = False
        self._device_checked = 0.0
        # True once the printer's health is known this run (its state read, or its
        # outage met): alerts judge a printer only then.
        self.health_known = False
        # Logs the printer's own troubles (paused, out of paper…) once each.
        self.trouble = TroubleLog(printer.name)
        # Arrival number of the newest file when setup ran: jobs up to it may have a held
        # job left in the printer by an earlier run.
        self.known_before = 0
        # Jobs in the printer's queue at the last pass: tracked while there are any.
        self.in_flight = 0
        # Jobs whose creation this runner tried and whose id the journal does not hold.
        self.tried: set[str] = set()
        # Submitted jobs this run released itself (so none is held in the printer).
        self.released: set[str] = set()
        # Submitted jobs whose tracking failed, with the error (logged once each).
        self.troubles: dict[str, str] = {}
        # Jobs submitted since the heap was last trimmed.
        self.since_trim = 0

    @property
    def printer(self) -> PrinterSettings:
        """This printer's current settings: a reload may have changed its offsets."""
        found = self.ctx.settings.printer(self.printer_name)
        assert found is not None, "a reload never removes a running printer"
        return found

    def reconfigure(self, old: Config, new: Config) -> None:
        """New stocks may have new sizes: check them against the queue's media again."""
        self.media_checked = False

    def setup(self) -> None:
        super().setup()
        # Read before the driver is made: any job that arrived later has met no printer
        # but ours, and skips the (possibly slow) lookup unless we tried it.
        self.known_before = queries.last_source_seq(self.journal.conn)
        self.media_checked = False
        self.driver = make_driver(self.printer, self.ctx.settings.cups.server, self.ctx.stocks)

    def teardown(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None
        super().teardown()

    def report(self, exc: Exception, error: str, during: str, retry_s: float) -> None:
        """The printer being down is an outage, logged when it starts (not a bug): CUPS
        says it in other words as it goes down and while it is down."""
        if isinstance(exc, PrinterUnavailable):
            self.health_known = True
            log = logs.warning if self.error is None else logs.debug
            log("printer.outage", printer=self.printer_name, error=error, during=during,
                retry_s=retry_s)
        else:
            super().report(exc, error, during, retry_s)

    def run_once(self) -> bool:
        self.check_device()
        if not self.media_checked and hasattr(self.driver, "check_media"):
            # At start and after a reload: the queue must have every stock's size. CUPS
            # being down is not fatal here; the check repeats before the first job.
            self.media_checked = True
            self.driver.stocks = self.ctx.stocks
            self.driver.check_media(self.printer.stocks)
        submitted = self.journal.jobs_in_state(self.printer.name, State.SUBMITTED)
        self.in_flight = len(submitted)
        self.released &= {job["id"] for job in submitted}
        # A printer that may hold a job of ours (after a restart or a failed release) has
        # it released before anything new goes, so sheets come out in order; jobs this run
        # released itself are asked about after the next job went, never delaying it.
        later = len(submitted) < self.printer.in_flight and \
            all(job["id"] in self.released for job in submitted)
        settled = 0 if later else sum(self.track_one(job) for job in submitted)
        # Deferred jobs whose time has come take their place in the queue again.
        progressed = settled > 0 or failures.requeue_due(self.journal, self.printer.name) > 0
        # At most in_flight jobs in the printer's own queue; the rest wait in ours
        # (Postfix's small active queue), so one stopped printer holds little.
        if len(submitted) - settled >= self.printer.in_flight:
            return progressed
        upcoming = self.journal.jobs_in_state(self.printer.name, State.QUEUED,
                                              limit=1 + AHEAD)
        if not upcoming:
            if later:
                progressed = sum(self.track_one(job) for job in submitted) > 0 or progressed
            if self.ahead is not None:
                self.ahead.pool.stop_if_idle()
            if self.since_trim >= TRIM_AFTER:
                # A backlog is over: the heap it used goes back to the system now, not
                # when the render worker stops (base/heap.py).
                self.since_trim = 0
                heap.trim()
            return self.release_offline_holds() or self.release_paper_holds() or progressed
        self.render_ahead(upcoming)
        self.since_trim += 1
        # In a backlog (with room for two jobs in the printer) a released job is settled
        # in the commit that submits the next one: one commit a job, not two. A lone job
        # is neither kept waiting for the printer's answer about the one before (a CUPS
        # request) nor left unsettled after its release.
        backlog = len(upcoming) > 1 and self.printer.in_flight > 1
        earlier = submitted if later else []
        settled, fresh = self.submit(upcoming[0], settle=earlier if backlog else [])
        # In the order they went: the jobs released before, then a lone job itself (in a
        # backlog the next pass, or the next job's commit, settles it).
        for job in earlier:
            if job["id"] not in settled:
                self.track_one(job)
        if fresh is not None and not backlog:
            self.track_one(fresh)
        return True

    def nap_s(self) -> float:
        waits = queries.timed_waits(self.journal.conn, self.printer_name)
        return printer_nap(self.idle_s, in_flight=self.in_flight, timed_waits=waits,
                           watches_device=hasattr(self.driver, "state"),
                           troubled=self.trouble.shown is not None,
                           worker_stop_in=self.ahead and self.ahead.pool.stop_due_in())

    def render_ahead(self, upcoming: list[sqlite3.Row]) -> None:
        """Hand the jobs queued behind the next one to the render worker."""
        if self.ahead is None:
            return
        self.ahead.keep_only({job["id"] for job in upcoming})
        for job in upcoming[1:]:
            if not self.ahead.pending(job["id"]):
                doc = json.loads(job["invoice_json"])
                if asis_of(doc) is None:
                    try:
                        args = render_args(self.ctx, self.printer, job, doc)
                    except LookupError:
                        continue  # its stock is gone: submit holds it when its turn comes
                    self.ahead.want(job["id"], args)

    def check_device(self) -> None:
        """The printer's own state and reasons (stopped, media-empty…), for `status`.

        Asked every DEVICE_CHECK_S, and on every pass while an outage is open: a pass
        that never asked the printer must not count as the outage's end (with CUPS down,
        such passes ended it and the next check began it again, two lines every 5 s).
        """
        state = getattr(self.driver, "state", None)
        if state is None:
            self.health_known = True  # a directory printer: its folder is its health
            return
        if self.error is None and time.monotonic() - self._device_checked < DEVICE_CHECK_S:
            return
        self._device_checked = time.monotonic()
        found = state()
        self.device = {"state": found.state, "reasons": list(found.reasons),
                       "accepting": found.accepting}
        self.health_known = True
        self.trouble.seen(self.device)

    def archive_render(self, job: sqlite3.Row, pdf: bytes) -> None:
        """Keep the exact page that went to the printer, beside its source in the archive:
        written before `submitted`, its bytes and its name on disk once the finisher syncs
        them for a batch (DURABILITY.md, "Printer"); a reprint's (no file to finish) here."""
        claimed = queries.source_claimed_at(self.journal.conn, job["source_id"])
        reprint = job["reprint_of"] is not None
        atomic_write(self.ctx.spool.archive_dir(claimed) / f"{job['id']}.pdf", pdf,
                     sync_dir=reprint, sync_data=reprint)

    def document(self, job: sqlite3.Row, doc: dict) -> tuple[bytes, str, tuple[float, float]]:
        """The PDF to print, its stock and the offset used: rendered, or as it looks (the
        web console's picture of a waiting job is drawn by the same function)."""
        return job_document(self.ctx, self.printer, job, doc,
                            lambda: self.ctx.spool.path(job["spool_name"]).read_bytes(),
                            self.ahead.take if self.ahead is not None else None)

    def submit(self, job: sqlite3.Row,
               settle: list[sqlite3.Row]) -> tuple[set[str], sqlite3.Row | None]:
        """Render, create held, commit `submitted`, release. The jobs of `settle`, released
        earlier, that the printer has finished are marked printed in the same commit.
        Returns their ids, and the job as released (None when it was not)."""
        assert self.driver is not None
        doc = json.loads(job["invoice_json"])  # parsed once for the whole submit
        refusal = self.offline_refusal(doc)
        if refusal is not None:
            self.hold(job, "offline.limit", refusal)
            return set(), None
        sheet = self.sheet_for(doc)
        if isinstance(sheet, str):
            self.hold(job, "paper.mismatch", sheet)
            return set(), None
        title = job["invoice_key"] or job["source_name"]
        external_id = None
        if job["source_seq"] <= self.known_before or job["id"] in self.tried:
            external_id = self.driver.find(job["id"])
        crash_point("before_create")
        prepared = external_id is None and hasattr(self.driver, "prepare")
        if prepared:
            # The printer starts the held job while the page renders (CUPS: Create-Job now,
            # the page in create_held); tried from here, since a crash may leave it empty.
            self.tried.add(job["id"])
            self.driver.prepare(job["id"], stock_name(doc))
        try:
            pdf, stock, offset = self.document(job, doc)
        except Exception as exc:
            if prepared:
                self.driver.discard(job["id"])
            if isinstance(exc, Unavailable):
                raise  # the station's font gone: every job would fail, none is to blame
            # Valid when read, unrenderable now (a reload narrowed a field or removed its
            # stock): moved aside until the configuration is fixed and a clerk releases it.
            field = str(exc).split(":", 1)[0] if isinstance(exc, TextDoesNotFit) else ""
            failures.hold(self.journal, job, self.printer.name, "render.failed",
                          failures.describe(exc), field)
            return set(), None
        if external_id is None:
            # Remembered until the id is journaled: a create that failed or timed out may
            # still have left a job in the printer, which the next try must find.
            self.tried.add(job["id"])
            try:
                external_id = self.driver.create_held(PrintRequest(job["id"], title, pdf, stock))
            except PrinterUnavailable:
                raise  # the printer is down, not this job: it stays queued
            except JobRefused as exc:
                failures.hold(self.journal, job, self.printer.name, "printer.refused",
                              failures.describe(exc))
                return set(), None
            except Exception as exc:
                # This job's failure that may pass, or a driver bug: tried again later,
                # so that it cannot block the jobs behind it.
                failures.defer(self.journal, job, self.printer, failures.describe(exc),
                               job["attempts"] + 1)
                return set(), None
        crash_point("after_create_held")
        pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        # Kept for every job, a placed PDF too: the page as printed, not as it came.
        self.archive_render(job, pdf)
        done = self.completed(settle)
        with self.journal.transaction() as c:
            for earlier in done:
                self.journal.record_printed(earlier["id"])
            self.journal.transition(
                job["id"], State.SUBMITTED, cups_job_id=external_id,
                attempts=job["attempts"] + 1, errors=None, next_attempt_at=None,
                paper_code=sheet.code if sheet else None,
                paper_number=sheet.number if sheet else None,
                payload={"printer": self.printer.name, "external_id": external_id,
                         "stock": stock, "offset_mm": list(offset), "pdf_sha256": pdf_sha256,
                         "sheet": str(sheet) if sheet else None})
            if sheet is not None:
                paper.reserve(c, sheet, stock, job["id"], self.journal.now())
        self.tried.discard(job["id"])
        for earlier in done:
            self.printed(earlier)
        crash_point("after_submitted")
        logs.info("job.submitted", job=job["id"], invoice=job["invoice_key"],
                  printer=self.printer.name, external_id=external_id)
        refreshed = queries.job(self.journal.conn, job["id"])
        settled = {j["id"] for j in done}
        if not self.release(refreshed):
            return settled, None
        crash_point("after_release")
        return settled, refreshed

    def release(self, job: sqlite3.Row) -> bool:
        """Release a submitted job's held printer job; False when it was not released (the
        printer answered an error: print_failures.withdraw decides what follows)."""
        assert self.driver is not None
        try:
            self.driver.release(job["cups_job_id"])
            self.released.add(job["id"])
            return True
        except PrinterUnavailable:
            raise
        except Exception as exc:
            if failures.withdraw(self.journal, self.driver, job, self.printer, exc):
                # Deferred: the next try looks its held job up, in case the cancel failed.
                self.tried.add(job["id"])
            return False

    def completed(self, jobs: list[sqlite3.Row]) -> list[sqlite3.Row]:
        """Of `jobs` (released by this run), those the printer has finished. A job whose
        answer is anything else, or an error, is left to `track_one`."""
        assert self.driver is not None
        done = []
        for job in jobs:
            try:
                if self.driver.status(job["cups_job_id"], job["id"]) is JobStatus.COMPLETED:
                    done.append(job)
            except Exception:
                pass
        return done

    def printed(self, job: sqlite3.Row) -> None:
        """After the commit that marked `job` printed."""
        crash_point("after_printed")
        self.troubles.pop(job["id"], None)
        logs.info("job.printed", job=job["id"], invoice=job["invoice_key"],
                  printer=self.printer.name)
        self.on_done()

    def track_one(self, job: sqlite3.Row) -> bool:
        """`track`, with one job's odd answer kept from stopping the others'."""
        try:
            moved = self.track(job)
        except PrinterUnavailable:
            raise
        except Exception as exc:
            error = failures.describe(exc)
            if self.troubles.get(job["id"]) != error:
                self.troubles[job["id"]] = error
                logs.warning("job.track_failed", job=job["id"], invoice=job["invoice_key"],
                             printer=self.printer.name, error=error)
            return False
        self.troubles.pop(job["id"], None)
        return moved

    def track(self, job: sqlite3.Row) -> bool:
        """Settle a submitted job from the printer's answer; True when it moved on."""
        assert self.driver is not None
        external_id = job["cups_job_id"]
        status = self.driver.status(external_id, job["id"])
        if status is JobStatus.HELD:
            # The crash came after the id was journaled but before the release.
            if not self.release(job):
                return queries.job(self.journal.conn, job["id"])["state"] != State.SUBMITTED
            status = self.driver.status(external_id, job["id"])
        if status is JobStatus.COMPLETED:
            self.journal.mark_printed(job["id"])
            self.printed(job)
            return True
        if status in (JobStatus.UNKNOWN, JobStatus.FAILED):
            # The printer no longer knows a job we handed it, or cancelled or aborted it:
            # whether a sheet came out cannot be known, so an operator decides
            # (`printstation resolve`), never an automatic resubmit.
            reason = "printer.lost_job" if status is JobStatus.UNKNOWN else "printer.job_failed"
            with self.journal.transaction():
                self.journal.transition(job["id"], State.UNCERTAIN, reason)
            logs.warning("job.uncertain", job=job["id"], invoice=job["invoice_key"],
                         printer=self.printer.name, reason=reason)
            return True
        return False
