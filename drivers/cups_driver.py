"""The `cups` printer: pycups, every call made by the printer's CUPS thread
(drivers/cups_worker.py) with a deadline.

Jobs are created held (`job-hold-until=indefinite`) and named
`printstation:JOB`; the page size is a size named in the queue's PPD (or
`Custom.WxHmm`), with `pdfAutoRotate=false` and `print-scaling=none`.

A job is made in two requests, as libcups's own `cupsPrintFile` makes it: Create-Job, then
Send-Document with the page. The first can start (`prepare`) while the page is still being
rendered, so that a lone invoice does not wait for both in turn (issue 19). A held job
that never received its page (the daemon died between the two) is empty: `find` cancels
it instead of adopting it, since releasing it would leave CUPS waiting for a document.

Every failure leaves here as one of the three kinds of drivers/base.py: the printer as a
whole (`CupsUnavailable`), this job for now (`JobFailed`), this job for good
(`JobRefused`), told apart by the IPP status CUPS answered (RFC 8011 §13.1).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from printstation.base import logs
from printstation.base.units import PT_MM
from printstation.config import Stock

from .base import JobFailed, JobRefused, JobStatus, PrintRequest
from .cups_worker import CupsUnavailable, Worker, describe_error, ipp_status

# IPP job-state values (pycups): 3 pending, 4 held, 5 processing, 6 stopped, 7 canceled,
# 8 aborted, 9 completed. Only 7-9 are final.
_STATES = {3: JobStatus.PENDING, 4: JobStatus.HELD, 5: JobStatus.PENDING, 6: JobStatus.PENDING,
           7: JobStatus.FAILED, 8: JobStatus.FAILED, 9: JobStatus.COMPLETED}
HELD, CANCELED, ABORTED = 4, 7, 8

# IPP answers about the queue or the server, whatever job the request was for: forbidden,
# not-authenticated, not-authorized, gone; operation-not-supported, service-unavailable,
# version-not-supported, not-accepting-jobs, busy, printer-is-deactivated. A queue that
# stopped accepting jobs is here too: it is the printer's state, which an operator
# changes with `cupsaccept`, and moving each of its jobs aside would leave a clerk
# releasing them one by one afterwards.
_PRINTER_WIDE = frozenset({0x0401, 0x0402, 0x0403, 0x0407, 0x0501, 0x0502, 0x0503, 0x0506,
                           0x0507, 0x050A})
IPP_NOT_FOUND = 0x0406
# Client errors that may pass: the request timed out, or the server could not do it now
# (CUPS answers not-possible for "too many active jobs").
_CLIENT_TEMPORARY = frozenset({0x0404, 0x0405})
# HTTP answers: 401/403 are our standing with the server, 413 is this document's size.
_HTTP_PRINTER_WIDE = frozenset({401, 403})
_HTTP_TOO_LARGE = 413


class MediaMissing(CupsUnavailable):
    """The queue has no paper size for a stock: the printer's set-up, shown at start; a
    job on that stock is refused (held), the printer's other stocks go on."""


@dataclass(frozen=True)
class PrinterState:
    state: str          # idle, printing, stopped
    reasons: tuple[str, ...]
    accepting: bool


def _cancel_created(conn: Any, created: Future) -> None:
    """Cancel the job a Create-Job made, if it made one; run on the CUPS thread after it."""
    if created.done() and not created.cancelled() and created.exception() is None:
        conn.cancelJob(int(created.result()))


def _send_document(conn: Any, queue_name: str, job: int, pdf: bytes) -> None:
    """Send-Document with the job's one page, on the worker's connection (the three calls
    are one request, streamed)."""
    import cups

    # pycups raises IPPError for a refused start, write or finish (a page over the
    # server's limit is 0x0409: this job's for good).
    conn.startDocument(queue_name, job, "invoice.pdf", cups.CUPS_FORMAT_AUTO, 1)
    conn.writeRequestData(pdf, len(pdf))
    conn.finishDocument(queue_name)


def _pwg_size_mm(name: str) -> tuple[float, float] | None:
    """The size a PWG media name describes: `iso_a5_148x210mm`, `custom_9.5x5.5in_…`."""
    match = re.search(r"_([\d.]+)x([\d.]+)(mm|in)$", name)
    if not match:
        return None
    factor = 25.4 if match[3] == "in" else 1.0
    return float(match[1]) * factor, float(match[2]) * factor


class CupsPrinter:
    def __init__(self, name: str, queue_name: str, server: str, stocks: dict[str, Stock]):
        self.name = name
        self.queue = queue_name
        self.worker = Worker(server)
        self.stocks = stocks
        self._sizes: dict[str, str] = {}
        # Create-Job requests started by `prepare`, by our job id.
        self._prepared: dict[str, Future] = {}

    def _queue_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A request about the queue or the server: any failure is the printer's."""
        try:
            return self.worker.call(name, *args, **kwargs)
        except CupsUnavailable:
            raise
        except Exception as exc:
            raise CupsUnavailable(f"queue {self.queue}: {describe_error(exc)}") from None

    def _job_call(self, name: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A request about one job: its failure is sorted into the printer's, this job's
        for now, or this job's for good."""
        return self._job_wait(self.worker.submit(name, *args, **kwargs), name)

    def _job_wait(self, future: Future, name: str | Callable[..., Any]) -> Any:
        try:
            return self.worker.wait(future, name)
        except CupsUnavailable:
            raise
        except Exception as exc:
            raise self._classify(exc, getattr(name, "__name__", name)) from None

    def _classify(self, exc: Exception, name: str) -> Exception:
        code, detail = ipp_status(exc), f"{name}: {describe_error(exc)}"
        if type(exc).__name__ == "HTTPError":
            if code in _HTTP_PRINTER_WIDE:
                return CupsUnavailable(f"queue {self.queue}: {detail}")
            return JobRefused(detail) if code == _HTTP_TOO_LARGE else JobFailed(detail)
        if code is None:
            return JobFailed(detail)  # not an answer from CUPS: a bug, retried as temporary
        if code in _PRINTER_WIDE or (code == IPP_NOT_FOUND and name == "createJob"):
            # Not found, for a new job, is the queue (for a job's request, the job).
            return CupsUnavailable(f"queue {self.queue}: {detail}")
        if 0x0400 <= code < 0x0500 and code not in _CLIENT_TEMPORARY and code != IPP_NOT_FOUND:
            return JobRefused(detail)
        return JobFailed(detail)

    def check_media(self, stock_names: tuple[str, ...]) -> None:
        """Every stock's size against media-supported now (at start and after a reload);
        raises CupsUnavailable naming the problem."""
        self._sizes.clear()
        for name in stock_names:
            self.page_size(self.stocks[name])

    def page_size(self, stock: Stock) -> str:
        """The `PageSize=` for a stock, checked against the queue's media-supported."""
        if stock.name in self._sizes:
            return self._sizes[stock.name]
        attrs = self._queue_call("getPrinterAttributes", self.queue,
                                 requested_attributes=["media-supported"])
        media = attrs.get("media-supported", [])
        want = (stock.width_mm, stock.height_mm)
        named = next((m for m in media if (size := _pwg_size_mm(m)) and
                      abs(size[0] - want[0]) < 0.5 and abs(size[1] - want[1]) < 0.5), None)
        if named:
            choice = self._ppd_choice(want) or f"Custom.{want[0]:g}x{want[1]:g}mm"
        elif any(m.startswith("custom_min") for m in media):
            choice = f"Custom.{want[0]:g}x{want[1]:g}mm"
        else:
            raise MediaMissing(f"queue {self.queue} has no {want[0]:g}x{want[1]:g} mm media "
                               f"for {stock.name} (media-supported: {', '.join(media)})")
        self._sizes[stock.name] = choice
        return choice

    def _ppd_choice(self, want: tuple[float, float]) -> str | None:
        """The PPD's own name for the size (its PaperDimension in points)."""
        import cups

        try:
            path = self._queue_call("getPPD", self.queue)
        except CupsUnavailable:
            return None
        try:
            ppd = cups.PPD(path)
            option = ppd.findOption("PageSize")
            for choice in option.choices if option else []:
                attr = ppd.findAttr("PaperDimension", choice["choice"])
                if attr is None:
                    continue
                w, h = (float(v) * PT_MM for v in attr.value.split())
                if abs(w - want[0]) < 0.5 and abs(h - want[1]) < 0.5:
                    return choice["choice"]
        finally:
            os.unlink(path)
        return None

    def _options(self, stock_name: str) -> dict[str, str]:
        try:
            page_size = self.page_size(self.stocks[stock_name])
        except MediaMissing as exc:
            raise JobRefused(str(exc)) from None
        return {"PageSize": page_size, "pdfAutoRotate": "false", "print-scaling": "none",
                "job-hold-until": "indefinite"}

    def prepare(self, job_id: str, stock: str) -> None:
        """Start creating the held job, whose page `create_held` sends once rendered.

        The caller must already count the job as possibly created (a crash from here on
        may leave an empty held job, which the next try's `find` cancels). Whatever goes
        wrong here is met again, and reported, by `create_held`."""
        self.discard(job_id)
        try:
            options = self._options(stock)
        except Exception:
            return
        self._prepared[job_id] = self.worker.submit(
            "createJob", self.queue, f"printstation:{job_id}", options)

    def discard(self, job_id: str) -> None:
        """Withdraw a job `prepare` started and no page will follow (its rendering failed,
        or it is made afresh). Its cancel is queued behind the Create-Job on the CUPS
        thread, which serves requests in order: nothing here waits for CUPS, and a
        Create-Job answered late is still cancelled."""
        created = self._prepared.pop(job_id, None)
        if created is not None:
            self.worker.submit(_cancel_created, created)

    def _blame_queue(self) -> None:
        """Before blaming a job for a server error, ask about the queue: CUPS answers a
        request about a queue deleted meanwhile, or going down, with a server error or
        "not found"; `state` raises CupsUnavailable when CUPS itself is gone."""
        if not self.state().accepting:
            raise CupsUnavailable(f"queue {self.queue} is not accepting jobs") from None

    def create_held(self, request: PrintRequest) -> str:
        created = self._prepared.pop(request.job_id, None)
        try:
            options = self._options(request.stock)
        except Exception:
            if created is not None:
                self.worker.submit(_cancel_created, created)
            raise
        try:
            job = self._job_wait(created, "createJob") if created is not None else \
                self._job_call("createJob", self.queue, f"printstation:{request.job_id}",
                               options)
        except JobFailed:
            self._blame_queue()
            raise
        try:
            self._job_call(_send_document, self.queue, job, request.pdf)
        except Exception as exc:
            # The job stays empty: cancelled now, so that nothing waits on it (should the
            # cancel fail too, the next try's lookup cancels it).
            with contextlib.suppress(Exception):
                self.cancel(str(job))
            if isinstance(exc, JobFailed):
                self._blame_queue()  # cupsd going down mid-page is not the job's fault
            raise
        return str(job)

    def release(self, external_id: str) -> None:
        self._job_call("setJobHoldUntil", int(external_id), "no-hold")

    def cancel(self, external_id: str) -> None:
        self._job_call("cancelJob", int(external_id))

    def status(self, external_id: str, job_id: str) -> JobStatus:
        try:
            attrs = self.worker.call("getJobAttributes", int(external_id),
                                     requested_attributes=["job-state", "job-name",
                                                           "job-state-reasons"])
        except CupsUnavailable:
            raise
        except Exception as exc:
            if ipp_status(exc) == IPP_NOT_FOUND and type(exc).__name__ == "IPPError":
                return JobStatus.UNKNOWN  # CUPS no longer knows the job
            raise self._classify(exc, "getJobAttributes") from None
        name = attrs.get("job-name")
        if name is not None and name != f"printstation:{job_id}":
            # A cupsd that lost its history gives old ids to new jobs (TECH.md): this id is
            # not our job any more, and ours is lost. (CUPS hides job names from others
            # unless JobPrivateValues allows them; then the id is all there is to go by.)
            return JobStatus.UNKNOWN
        reasons = attrs.get("job-state-reasons", [])
        reasons = [reasons] if isinstance(reasons, str) else reasons
        if attrs.get("job-state") == 6 and "job-completed-with-errors" in reasons:
            # Stopped for good (a filter failed, or cupsd went down mid-job): whether a
            # sheet came out cannot be known. A job stopped with its stopped printer waits.
            return JobStatus.FAILED
        return _STATES.get(attrs.get("job-state", 0), JobStatus.UNKNOWN)

    def find(self, job_id: str) -> str | None:
        """Our job's CUPS id, looked up by its name; None when CUPS has no live one.

        A cancelled or aborted job is passed over: we release only jobs whose id the
        journal holds, so a job found here was never released by us, and a held job that
        was cancelled never printed. Should several live ones carry the name (a second
        one created after a crash that the lookup once missed), the one that counts is
        one already released (it may be printing), else the oldest; the other held ones
        are cancelled, so none is left held for ever.
        """
        # pycups keys the answer by job-id: without it in the list the answer is empty.
        jobs = self._queue_call("getJobs", which_jobs="all", requested_attributes=[
            "job-id", "job-name", "job-state", "number-of-documents"])
        name = f"printstation:{job_id}"
        live = sorted((cups_id, attrs.get("job-state")) for cups_id, attrs in jobs.items()
                      if attrs.get("job-name") == name
                      and attrs.get("job-state") not in (CANCELED, ABORTED))
        # A held job whose page never arrived cannot print: cancelled, and made again.
        empty = {cups_id for cups_id, state in live
                 if state == HELD and jobs[cups_id].get("number-of-documents", 1) == 0}
        for cups_id in sorted(empty):
            # A cancel that fails is tried again by the next lookup; the job is not
            # adopted either way.
            with contextlib.suppress(JobFailed, JobRefused):
                self.cancel(str(cups_id))
            logs.warning("cups.empty_job_cancelled", job=job_id, printer=self.name,
                         cancelled=cups_id)
        live = [(cups_id, state) for cups_id, state in live if cups_id not in empty]
        if not live:
            return None
        released = [cups_id for cups_id, state in live if state != HELD]
        keep = released[0] if released else live[0][0]
        if len(released) > 1:
            logs.error("cups.duplicate_released", job=job_id, printer=self.name,
                       cups_jobs=",".join(map(str, released)), kept=keep)
        for cups_id, state in live:
            if cups_id != keep and state == HELD:
                self.cancel(str(cups_id))
                logs.warning("cups.duplicate_cancelled", job=job_id, printer=self.name,
                             cancelled=cups_id, kept=keep)
        return str(keep)

    def state(self) -> PrinterState:
        attrs = self._queue_call("getPrinterAttributes", self.queue, requested_attributes=[
            "printer-state", "printer-state-reasons", "printer-is-accepting-jobs"])
        state = {3: "idle", 4: "printing", 5: "stopped"}.get(attrs.get("printer-state"), "?")
        reasons = tuple(r for r in attrs.get("printer-state-reasons", []) if r != "none")
        return PrinterState(state, reasons, bool(attrs.get("printer-is-accepting-jobs", True)))

    def close(self) -> None:
        self.worker.close()
