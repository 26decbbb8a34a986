"""Signal handling: handlers only set flags; the main loop reads them and acts.

A self-pipe (`signal.set_wakeup_fd`) wakes the main loop's `select` at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
from types import FrameType

PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """In a worker process of the daemon: ignore Ctrl-C (it reaches the whole process
    group; the daemon decides what stops) and die with the daemon. A daemon killed by
    SIGKILL cannot stop its workers, and one left behind would wait for work, or run on
    in a poison file, for ever (Linux PR_SET_PDEATHSIG)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)  # the daemon died before the line above took effect


class SignalFlags:
    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self.sync_now = False
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def install(self) -> None:
        signal.set_wakeup_fd(self._w)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        signal.signal(signal.SIGUSR1, self._on_sync_now)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True

    def _on_sync_now(self, signum: int, frame: FrameType | None) -> None:
        self.sync_now = True

    def poke(self) -> None:
        """Wake the main loop from another thread (the control socket sets a flag too)."""
        # A full pipe means the loop is already due to wake.
        with contextlib.suppress(BlockingIOError):
            os.write(self._w, b"\0")

    def wait(self, timeout: float) -> None:
        """Sleep until a signal arrives or `timeout` passes."""
        ready, _, _ = select.select([self._r], [], [], max(timeout, 0))
        if ready:
            try:
                while os.read(self._r, 512):
                    pass
            except BlockingIOError:
                pass
