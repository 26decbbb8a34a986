"""A printer's own troubles (paused, out of paper, jammed…) in the log: once when they
start or change, once when they are over (SPEC §12), in words a clerk knows beside
CUPS's own reasons (drivers/health_words.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from printstation.base import logs
from printstation.drivers import health_words

# The printer's own state is asked this often while it prints (and on every pass during
# an outage).
DEVICE_CHECK_S = 5.0

# How often a printer runner with nothing due looks again: while jobs are in the printer's
# queue, retries are deferred or the offline budget holds a job, every TRACK_S; a CUPS
# printer with nothing in flight has its own state (paused, out of paper) asked every
# IDLE_DEVICE_CHECK_S, for `status` and alerts; a directory printer sleeps until woken.
TRACK_S = 1.0
IDLE_DEVICE_CHECK_S = 10.0

# A trouble is logged as over once the printer has been fine this long: a reason CUPS
# sets and clears while its backend retries a device is one trouble, not a line each time.
SETTLE_S = 10.0


class TroubleLog:
    def __init__(self, printer: str, clock: Callable[[], float] = time.monotonic):
        self.printer = printer
        self.clock = clock
        # The trouble last logged, as its log text; None while the printer is fine.
        self.shown: str | None = None
        self.fine_since: float | None = None

    def seen(self, device: dict[str, Any] | None) -> None:
        """What the printer said now (its `state`, `reasons`, `accepting`)."""
        found = health_words.health(device)
        if found["level"] == health_words.OK:
            if self.shown is None:
                return
            now = self.clock()
            if self.fine_since is None:
                self.fine_since = now
            if now - self.fine_since >= SETTLE_S:
                logs.info("printer.trouble_over", printer=self.printer, was=self.shown,
                          health=health_words.line(found))
                self.shown = self.fine_since = None
            return
        self.fine_since = None
        text = health_words.line(found)
        if text != self.shown:
            self.shown = text
            log = logs.error if found["level"] == health_words.ERROR else logs.warning
            log("printer.trouble", printer=self.printer, health=text, state=found["state"])


def printer_nap(idle_s: float, *, in_flight: int, timed_waits: int, watches_device: bool,
                troubled: bool, worker_stop_in: float | None) -> float:
    """How long an idle printer runner may sleep before something is due: only what the
    clock brings is counted here; new jobs and operators' changes wake it."""
    due = [idle_s]
    if in_flight or timed_waits:
        due.append(TRACK_S)
    if watches_device:
        # A trouble logged is watched as closely as a printing printer's, so that its end
        # is logged (and alerted) SETTLE_S after it, as before.
        due.append(DEVICE_CHECK_S if troubled else IDLE_DEVICE_CHECK_S)
    if worker_stop_in is not None:
        due.append(worker_stop_in)
    return max(0.05, min(due))
