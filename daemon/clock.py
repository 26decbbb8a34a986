"""The daemon's clock, which tests may move forward.

`PRINTSTATION_TEST_CLOCK=FILE` adds the number of seconds written in FILE to the real
time, re-read whenever the file changes. Tests use it to age the offline budget by hours
without waiting; without the variable the clock is the system's UTC time.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from printstation.spool import utc_now
from printstation.spool.journal import Clock


class SkewedClock:
    def __init__(self, path: Path):
        self.path = path
        self._seen: int | None = None
        self._skew = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        try:
            changed = self.path.stat().st_mtime_ns
        except OSError:
            changed = None
        if changed != self._seen:
            self._seen = changed
            try:
                self._skew = dt.timedelta(seconds=float(self.path.read_text().strip() or 0))
            except (OSError, ValueError):
                self._skew = dt.timedelta(0)
        return utc_now() + self._skew


def station_clock(environ: Mapping[str, str] | None = None) -> Clock:
    path = (os.environ if environ is None else environ).get("PRINTSTATION_TEST_CLOCK")
    return SkewedClock(Path(path)) if path else utc_now
