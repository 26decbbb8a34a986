"""Progress of a long command (backup, journal --verify, sync --now) for a person watching.

Shown on standard error only when it is a terminal: one line rewritten in place with the
count, the total when known, and the rate. In a script, from cron or piped, nothing at
all, so logs and mails stay clean (the way rsync's --info=progress2 and pv behave).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

# A line rewritten more often than this only makes the terminal flicker.
EVERY_S = 0.2


class Meter:
    """Call it with (what, done, total) as work advances; `close()` ends the line."""

    def __init__(self, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.on = self.stream.isatty()
        except (AttributeError, ValueError):
            self.on = False
        self.clock = clock
        self.what = ""
        # The first stage's rate counts from the start of the command's work.
        self.started, self.last = clock(), 0.0
        self.shown = False

    def __call__(self, what: str, done: int, total: int | None = None) -> None:
        if not self.on:
            return
        now = self.clock()
        if what != self.what:  # a new stage: its rate counts from its own start
            if self.what:
                self.started = now
            self.what, self.last = what, 0.0
        finished = total is not None and done >= total
        if self.shown and now - self.last < EVERY_S and not finished:
            return
        self.last = now
        self.stream.write(f"\r{line(what, done, total, now - self.started)}\033[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def line(what: str, done: int, total: int | None, elapsed_s: float) -> str:
    """`events checked: 40000/120000 (33%), 52,000/s`; the bare `what` before any count."""
    if not done and total is None:
        return what
    count = f"{done}/{total}" if total else f"{done}"
    share = f" ({min(done * 100 // total, 100)}%)" if total else ""
    rate = f", {done / elapsed_s:,.0f}/s" if elapsed_s > 0 and done else ""
    return f"{what}: {count}{share}{rate}"
