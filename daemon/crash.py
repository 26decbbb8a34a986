"""Test-only crash points: `PRINTSTATION_CRASH_AT=NAME` kills the daemon with SIGKILL when
it reaches point NAME, so crash tests can stop it between any two steps."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    if os.environ.get("PRINTSTATION_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
