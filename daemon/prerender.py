"""Rendering ahead in a separate process, for backlogs.

A backlog is bound by one core: the pipeline's threads share the GIL, and rendering an
invoice is about half of the Python work per invoice. So while a printer's runner
journals, submits and archives the current job, a worker process renders the next few
queued ones. A job with nothing queued behind it is rendered inline, so a single
invoice gains no hop between processes.

Rendering is deterministic (reportlab `invariant=1`): a page rendered ahead is
byte-identical to one rendered inline, and the arguments are compared when it is taken,
so a reload that changed an offset in between re-renders. Anything wrong with the worker
(it died, it was killed, it is slow) falls back to rendering inline; the worker is a
speed-up, never a step a job depends on.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from printstation.base import logs
from printstation.base.signals import die_with
from printstation.config import Stock
from printstation.drivers import render_invoice
from printstation.invoice import invoice_from_dict

# How many queued jobs of a printer are rendered ahead of the one being submitted.
AHEAD = 4
TAKE_TIMEOUT_S = 30.0
# A worker unused this long is stopped: it holds ~100 MB, and backlogs are rare.
IDLE_STOP_S = 30.0

Args = tuple[dict[str, Any], Stock, tuple[float, float], str]


def _render(doc: dict[str, Any], stock: Stock, offset: tuple[float, float], title: str) -> bytes:
    return render_invoice(invoice_from_dict(doc), stock, offset, title)


class RenderPool:
    """One worker process shared by the printers (a branch PC has two cores)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._used = 0.0
        self.broken = False

    def submit(self, args: Args) -> Future | None:
        with self._lock:
            if self.broken:
                return None
            try:
                if self._executor is None:
                    # spawn, not fork: forking a process with running threads can copy a
                    # lock held by another thread.
                    self._executor = ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn"),
                        initializer=die_with, initargs=(os.getpid(),))
                self._used = time.monotonic()
                return self._executor.submit(_render, *args)
            except Exception as exc:
                self._broke(exc)
                return None

    def _broke(self, exc: BaseException) -> None:
        self.broken = True
        logs.warning("render.pool_broken", error=f"{type(exc).__name__}: {exc}",
                     note="rendering inline from now on")

    def stop_if_idle(self) -> None:
        """Stop the worker once no backlog has used it for IDLE_STOP_S."""
        with self._lock:
            if self._executor is not None and time.monotonic() - self._used > IDLE_STOP_S:
                self._executor.shutdown(wait=False)
                self._executor = None

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None


class Ahead:
    """One printer's renders in flight, by job id."""

    def __init__(self, pool: RenderPool):
        self.pool = pool
        self._pending: dict[str, tuple[Args, Future]] = {}

    def want(self, job_id: str, args: Args) -> None:
        if job_id not in self._pending:
            future = self.pool.submit(args)
            if future is not None:
                self._pending[job_id] = (args, future)

    def pending(self, job_id: str) -> bool:
        return job_id in self._pending

    def keep_only(self, job_ids: set[str]) -> None:
        """Drop renders of jobs no longer next in line (held, cancelled, reordered)."""
        for job_id in set(self._pending) - job_ids:
            self._pending.pop(job_id)[1].cancel()

    def take(self, job_id: str, args: Args) -> bytes | None:
        """The page rendered ahead for these exact arguments, or None: render inline."""
        entry = self._pending.pop(job_id, None)
        if entry is None:
            return None
        wanted, future = entry
        if wanted != args:
            future.cancel()
            return None
        try:
            return future.result(timeout=TAKE_TIMEOUT_S)
        except Exception as exc:
            if type(exc).__name__ == "BrokenProcessPool":
                self.pool._broke(exc)
            else:
                logs.warning("render.ahead_failed", job=job_id,
                             error=f"{type(exc).__name__}: {exc}")
            return None
