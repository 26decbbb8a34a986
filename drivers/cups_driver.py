"""The `cups` printer: pycups, with one thread owning the connection and a deadline on
every call.

TECH.md: one `cups.Connection` shared by threads crashed the interpreter, `setServer`
is per thread, and a server that accepts and never answers blocked a call for 61 s. So a
worker thread makes every call on its own connection, and callers wait on a future with
a deadline. Jobs are created held (`job-hold-until=indefinite`) and named
`printstation:JOB`; the page size is a size named in the queue's PPD (or
`Custom.WxHmm`), with `pdfAutoRotate=false` and `print-scaling=none`.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from printstation.base.errors import Unavailable
from printstation.base.units import PT_MM
from printstation.config import Stock

from .base import JobStatus, PrintRequest

CALL_TIMEOUT_S = 15.0

# IPP job-state values (pycups): 3 pending, 4 held, 5 processing, 6 stopped, 7 canceled,
# 8 aborted, 9 completed. Only 7-9 are final.
_STATES = {3: JobStatus.PENDING, 4: JobStatus.HELD, 5: JobStatus.PENDING, 6: JobStatus.PENDING,
           7: JobStatus.FAILED, 8: JobStatus.FAILED, 9: JobStatus.COMPLETED}


class CupsUnavailable(Unavailable):
    """CUPS could not be reached or did not answer in time; try again later."""


@dataclass(frozen=True)
class PrinterState:
    state: str          # idle, printing, stopped
    reasons: tuple[str, ...]
    accepting: bool


class _Worker:
    """One thread, one connection, requests in order; the connection is remade after a
    failure."""

    def __init__(self, server: str):
        self.server = server
        self.requests: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="cups", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import cups  # imported here: only a cups printer needs libcups

        if self.server:
            cups.setServer(self.server)
        conn = None
        while True:
            item = self.requests.get()
            if item is None:
                return
            future, name, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if conn is None:
                    conn = cups.Connection()
                future.set_result(getattr(conn, name)(*args, **kwargs))
            except cups.IPPError as exc:
                future.set_exception(exc)
            except (RuntimeError, OSError) as exc:  # connection refused, broken pipe
                conn = None
                future.set_exception(CupsUnavailable(str(exc)))

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        future: Future = Future()
        self.requests.put((future, name, args, kwargs))
        try:
            return future.result(CALL_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            raise CupsUnavailable(f"CUPS did not answer {name} within {CALL_TIMEOUT_S:g} s") \
                from None

    def close(self) -> None:
        self.requests.put(None)


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
        self.worker = _Worker(server)
        self.stocks = stocks
        self._sizes: dict[str, str] = {}

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
        attrs = self.worker.call("getPrinterAttributes", self.queue,
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
            raise CupsUnavailable(f"queue {self.queue} has no {want[0]:g}x{want[1]:g} mm media "
                                  f"for {stock.name} (media-supported: {', '.join(media)})")
        self._sizes[stock.name] = choice
        return choice

    def _ppd_choice(self, want: tuple[float, float]) -> str | None:
        """The PPD's own name for the size (its PaperDimension in points)."""
        import cups

        try:
            path = self.worker.call("getPPD", self.queue)
        except (cups.IPPError, CupsUnavailable):
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

    def create_held(self, request: PrintRequest) -> str:
        stock = self.stocks[request.stock]
        options = {"PageSize": self.page_size(stock), "pdfAutoRotate": "false",
                   "print-scaling": "none", "job-hold-until": "indefinite"}
        with tempfile.NamedTemporaryFile(suffix=".pdf", prefix="printstation-") as fh:
            fh.write(request.pdf)
            fh.flush()
            job = self.worker.call("printFile", self.queue, fh.name,
                                   f"printstation:{request.job_id}", options)
        return str(job)

    def release(self, external_id: str) -> None:
        self.worker.call("setJobHoldUntil", int(external_id), "no-hold")

    def status(self, external_id: str, job_id: str) -> JobStatus:
        import cups

        try:
            attrs = self.worker.call("getJobAttributes", int(external_id),
                                     requested_attributes=["job-state", "job-name",
                                                           "job-state-reasons"])
        except cups.IPPError as exc:
            if exc.args and exc.args[0] == cups.IPP_NOT_FOUND:
                return JobStatus.UNKNOWN  # CUPS no longer knows the job
            raise CupsUnavailable(f"job {external_id}: {exc}") from None
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
        # pycups keys the answer by job-id: without it in the list the answer is empty.
        jobs = self.worker.call("getJobs", which_jobs="all",
                                requested_attributes=["job-id", "job-name", "job-state"])
        for cups_id, attrs in sorted(jobs.items(), reverse=True):
            if attrs.get("job-name") == f"printstation:{job_id}":
                return str(cups_id)
        return None

    def state(self) -> PrinterState:
        attrs = self.worker.call("getPrinterAttributes", self.queue, requested_attributes=[
            "printer-state", "printer-state-reasons", "printer-is-accepting-jobs"])
        state = {3: "idle", 4: "printing", 5: "stopped"}.get(attrs.get("printer-state"), "?")
        reasons = tuple(r for r in attrs.get("printer-state-reasons", []) if r != "none")
        return PrinterState(state, reasons, bool(attrs.get("printer-is-accepting-jobs", True)))

    def close(self) -> None:
        self.worker.close()
