"""Pictures (a job's page, a calibration preview) drawn for the console, without letting
their cost reach the pages or the daemon.

A picture is drawn by reportlab and pdftoppm: tens to hundreds of milliseconds of CPU, and
anyone who reaches the console may ask for one with any offset. So they are drawn by two
threads of their own, whatever the number of requests; the threads run at a lower CPU
priority (nice +10, which the pdftoppm they start inherits), so the daemon and the
console's pages go first. A request waits at most WAIT_S for a drawer, and no more than
WAITING requests wait at once: the rest are answered at once with 503 and Retry-After.
Pictures asked for while drawers are busy thus never hold more than DRAWERS + WAITING of
the server's threads (web/console.py runs more than that), and `/queue` and `/healthz`
stay quick under a flood of picture requests. The last pictures drawn are kept, by what
they show.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

DRAWERS = 2
WAITING = 2
WAIT_S = 1.0
NICE = 10
KEPT = 32
RETRY_AFTER_S = 2


class Busy(Exception):
    """Every drawer is busy and the wait for one is over (or too many already wait)."""


def _lower_priority() -> None:
    """Make the calling thread (and whatever it starts) yield the CPU to the rest. Linux
    keeps a nice value per thread; elsewhere this lowers the whole console, which is no
    harm either: the console must never slow the daemon."""
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + NICE))


class Drawing:
    """The drawers, the wait for one, and the pictures last drawn."""

    def __init__(self, drawers: int = DRAWERS, waiting: int = WAITING,
                 wait_s: float = WAIT_S):
        self.slots = threading.BoundedSemaphore(drawers)
        self.drawers, self.waiting, self.wait_s = drawers, waiting, wait_s
        self._waiters = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.found: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple, draw: Callable[[], bytes]) -> bytes:
        """The picture `key`, drawn by `draw` in a drawer's thread unless kept. `draw`
        runs in another thread: it must bring all it needs (no request, no connection
        opened by the request's thread). Busy when no drawer is free in time; whatever
        `draw` raises otherwise."""
        with self._lock:
            if key in self.found:
                self.found.move_to_end(key)
                return self.found[key]
            if self._waiters >= self.drawers + self.waiting:
                raise Busy
            self._waiters += 1
        try:
            if not self.slots.acquire(timeout=self.wait_s):
                raise Busy
            try:
                png = self._drawers().submit(draw).result()
            finally:
                self.slots.release()
        finally:
            with self._lock:
                self._waiters -= 1
        with self._lock:
            self.found[key] = png
            while len(self.found) > KEPT:
                self.found.popitem(last=False)
        return png

    def _drawers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.drawers, thread_name_prefix="draw",
                                                initializer=_lower_priority)
            return self._pool
