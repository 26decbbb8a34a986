"""A printer's own troubles (paused, out of paper, jammed…) in the log: once when they
start or change, once when they are over (SPEC §12), in words a clerk knows beside
CUPS's own reasons (drivers/health_words.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from printstation.base import logs
from printstation.drivers import health_words

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
