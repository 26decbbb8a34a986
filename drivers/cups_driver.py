"""The `cups` printer: pycups, with one thread owning the connection and a deadline on
every call.

TECH.md: one `cups.Connection` shared by threads crashed the interpreter, `setServer`
is per thread, and a server that accepts and never answers blocked a call for 61 s. So a
worker thread makes every call on its own connection, and callers wait on a future with
a deadline. Jobs are created held (`job-hold-until=indefinite`) and named
`printstation:JOB`; the page size is a size named in the queue's PPD (or
`Custom.WxHmm`), with `pdfAutoRotate=false` and `print-scaling=none`.

Every failure leaves here as one of the three kinds of drivers/base.py: the printer as a
whole (`CupsUnavailable`), this job for now (`JobFailed`), this job for good
(`JobRefused`), told apart by the IPP status CUPS answered (RFC 8011 §13.1).
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

from printstation.base import logs
from printstation.base.units import PT_MM
from printstation.config import Stock

from .base import JobFailed, JobRefused, JobStatus, PrinterUnavailable, PrintRequest

CALL_TIMEOUT_S = 15.0

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
IPP_SERVICE_UNAVAILABLE = 0x0502
# Client errors that may pass: the request timed out, or the server could not do it now
# (CUPS answers not-possible for "too many active jobs").
_CLIENT_TEMPORARY = frozenset({0x0404, 0x0405})
# HTTP answers: 401/403 are our standing with the server, 413 is this document's size.
_HTTP_PRINTER_WIDE = frozenset({401, 403})
_HTTP_TOO_LARGE = 413


class CupsUnavailable(PrinterUnavailable):
    """CUPS could not be reached or did not answer in time, or the queue cannot take jobs;
    try again later."""


class MediaMissing(CupsUnavailable):
    """The queue has no paper size for a stock: the printer's set-up, shown at start; a
    job on that stock is refused (held), the printer's other stocks go on."""


@dataclass(frozen=True)
class PrinterState:
    state: str          # idle, printing, stopped
    reasons: tuple[str, ...]
    accepting: bool


def _status(exc: Exception) -> int | None:
    """The IPP status of a pycups IPPError, the HTTP status of an HTTPError, else None."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _describe(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"{args[1]} (IPP status 0x{args[0]:04x})" if isinstance(args[0], int) \
            else str(args[1])
    if type(exc).__name__ == "HTTPError" and args:
        return f"HTTP status {args[0]}"
    return f"{type(exc).__name__}: {exc}"


class _Worker:
    """One thread, one connection, requests in order; the connection is remade after a
    failure. Whatever one request raises goes to its caller's future; should the thread
    end all the same, the next call starts another (logged), so one odd answer never
    leaves every later call waiting out its deadline."""

    def __init__(self, server: str):
        self.server = server
        self.requests: queue.Queue = queue.Queue()
        self.restarts = 0
        self._lock = threading.Lock()
        self._closed = False
        self.thread = self._spawn()

    def _spawn(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="cups", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        current: Future | None = None
        try:
            import cups  # imported here: only a cups printer needs libcups

            if self.server:
                cups.setServer(self.server)
            conn = None
            while True:
                item = self.requests.get()
                if item is None:
                    return
                current, name, args, kwargs = item
                if current.set_running_or_notify_cancel():
                    conn = self._serve(cups, conn, current, name, args, kwargs)
                current = None
        except BaseException as exc:
            # The caller of the request in hand hears of it now, not at its deadline; the
            # next call starts a new thread.
            if current is not None and not current.done():
                current.set_exception(CupsUnavailable(f"the CUPS worker stopped: {exc!r}"))
            logs.error("cups.worker_died", exc_info=True, server=self.server or "default",
                       error=repr(exc))

    @staticmethod
    def _serve(cups: Any, conn: Any, future: Future, name: str, args: tuple,
               kwargs: dict) -> Any:
        """Make one call; returns the connection to use for the next."""
        try:
            if conn is None:
                conn = cups.Connection()
            future.set_result(getattr(conn, name)(*args, **kwargs))
        except cups.IPPError as exc:
            if _status(exc) == IPP_SERVICE_UNAVAILABLE:
                # cupsd went away under a kept connection: connect afresh next time.
                future.set_exception(CupsUnavailable(_describe(exc)))
                return None
            future.set_exception(exc)
        except (RuntimeError, OSError) as exc:  # connection refused, broken pipe
            future.set_exception(CupsUnavailable(str(exc)))
            return None
        except Exception as exc:
            # Anything else (an HTTPError, a bad answer pycups cannot convert) belongs to
            # this request alone; the connection is remade in case it was left mid-answer.
            future.set_exception(exc)
            return None
        return conn

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._ensure_running()
        future: Future = Future()
        self.requests.put((future, name, args, kwargs))
        try:
            return future.result(CALL_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            raise CupsUnavailable(f"CUPS did not answer {name} within {CALL_TIMEOUT_S:g} s") \
                from None

    def _ensure_running(self) -> None:
        with self._lock:
            if self._closed or self.thread.is_alive():
                return
            self.restarts += 1
            logs.warning("cups.worker_restarted", server=self.server or "default",
                         restarts=self.restarts)
            self.thread = self._spawn()

    def close(self) -> None:
        with self._lock:
            self._closed = True
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

    def _queue_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A request about the queue or the server: any failure is the printer's."""
        try:
            return self.worker.call(name, *args, **kwargs)
        except CupsUnavailable:
            raise
        except Exception as exc:
            raise CupsUnavailable(f"queue {self.queue}: {_describe(exc)}") from None

    def _job_call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A request about one job: its failure is sorted into the printer's, this job's
        for now, or this job's for good."""
        try:
            return self.worker.call(name, *args, **kwargs)
        except CupsUnavailable:
            raise
        except Exception as exc:
            raise self._classify(exc, name) from None

    def _classify(self, exc: Exception, name: str) -> Exception:
        code, detail = _status(exc), f"{name}: {_describe(exc)}"
        if type(exc).__name__ == "HTTPError":
            if code in _HTTP_PRINTER_WIDE:
                return CupsUnavailable(f"queue {self.queue}: {detail}")
            return JobRefused(detail) if code == _HTTP_TOO_LARGE else JobFailed(detail)
        if code is None:
            return JobFailed(detail)  # not an answer from CUPS: a bug, retried as temporary
        if code in _PRINTER_WIDE or (code == IPP_NOT_FOUND and name == "printFile"):
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

    def create_held(self, request: PrintRequest) -> str:
        stock = self.stocks[request.stock]
        try:
            page_size = self.page_size(stock)
        except MediaMissing as exc:
            raise JobRefused(str(exc)) from None
        options = {"PageSize": page_size, "pdfAutoRotate": "false",
                   "print-scaling": "none", "job-hold-until": "indefinite"}
        with tempfile.NamedTemporaryFile(suffix=".pdf", prefix="printstation-") as fh:
            fh.write(request.pdf)
            fh.flush()
            try:
                job = self._job_call("printFile", self.queue, fh.name,
                                     f"printstation:{request.job_id}", options)
            except JobFailed:
                # Before blaming the job, ask about the queue: CUPS answers a print to a
                # queue deleted meanwhile with a server error, not "not found".
                if not self.state().accepting:
                    raise CupsUnavailable(f"queue {self.queue} is not accepting jobs") \
                        from None
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
            if _status(exc) == IPP_NOT_FOUND and type(exc).__name__ == "IPPError":
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
        jobs = self._queue_call("getJobs", which_jobs="all",
                                requested_attributes=["job-id", "job-name", "job-state"])
        name = f"printstation:{job_id}"
        live = sorted((cups_id, attrs.get("job-state")) for cups_id, attrs in jobs.items()
                      if attrs.get("job-name") == name
                      and attrs.get("job-state") not in (CANCELED, ABORTED))
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
