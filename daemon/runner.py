"""A runner is a small loop in its own thread: one step of work, or a nap until woken.

Each pipeline stage is one runner (Mailman's runners, huey's workers). `run_once` does at
most one unit of work and says whether there may be more; other stages `wake()` it when
they hand it work. The journal is opened inside the runner's thread (one SQLite
connection per thread).

A runner supervises itself, in the manner of huey's workers: a `setup` that fails (a
printer backend that cannot be made, a journal that cannot be opened) is torn down and
tried again with a growing pause, never left dead; an error in `run_once` is backed off
the same way. Either shows in `error` (status, `status --check`) until a pass succeeds.
Each error is logged when it starts and when it ends, not on every retry (SPEC §12).
`beat` is the last time the loop came round: daemon/health.py calls a runner stuck when
it stops coming round in the middle of a pass. A runner asleep (`sleeping`) is not stuck,
however long it sleeps.

An idle runner does not poll (issue 19: an idle station must cost next to nothing). Work
handed on by another stage, and every operator's change (the control socket wakes every
runner: daemon/service.py), arrives by `wake()`; a runner with work due at a time (a
rescan, a retry, a job in a printer's queue) says when in `nap_s`, and otherwise sleeps
until woken (`idle_s = UNTIL_WOKEN`).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import threading
import time
from collections.abc import Callable

from printstation.base import logs
from printstation.config import Config
from printstation.spool import Journal

from .context import Context

# Pauses after a failure: 1 s, doubling, at most 30 s. Well under the 60 s after which a
# silent loop counts as stuck (daemon/health.py), so a runner that waits out an error is
# never mistaken for a stuck one, and an outage that ends is noticed within 30 s.
FIRST_ERROR_PAUSE_S = 1.0
MAX_ERROR_PAUSE_S = 30.0
STALL_S = 60.0
# An idle time meaning "until woken". A number, so that a stage's `nap_s` can still take
# min(due, idle_s).
UNTIL_WOKEN = math.inf
PR_SET_NAME = 15


class Runner:
    name = "runner"
    # How long an idle runner sleeps when nothing is due and nothing wakes it.
    idle_s: float = UNTIL_WOKEN
    # How long `Service.stop` waits for this runner; None: whatever budget is left.
    stop_budget_s: float | None = None

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.beat = time.monotonic()
        # True while the loop waits for work (or out an error): not stuck, however long.
        self.sleeping = False
        # Times the loop came round: in the runtime file (daemon/health.py), for tests.
        self.passes = 0
        self.error: str | None = None
        # True once setup() succeeded; until then the loop keeps trying it.
        self.ready = False
        self._error_since: float | None = None

    # Overridden by each stage.
    def setup(self) -> None: ...

    def run_once(self) -> bool:
        raise NotImplementedError

    def teardown(self) -> None: ...

    def reconfigure(self, old: Config, new: Config) -> None:
        """Called on the main thread after a reload swapped `old` for `new`: drop what was
        derived from the old configuration. Must be quick and must not block."""

    def nap_s(self) -> float:
        """How long to sleep after an idle pass unless woken (UNTIL_WOKEN: no limit)."""
        return self.idle_s

    def nap(self, seconds: float) -> None:
        """Sleep until woken, stopped, or `seconds` pass. A runner that waits on something
        else as well (the control socket's clients) overrides it."""
        self._wake.wait(None if math.isinf(seconds) else max(0.0, seconds))
        self._wake.clear()

    def stall_limit_s(self) -> float:
        """How long the loop may go without coming round before it counts as stuck: the
        longest a single pass or pause of this runner may rightly take, with margin."""
        return STALL_S

    def report(self, exc: Exception, error: str, during: str, retry_s: float) -> None:
        """Log an error when it starts (a repeat of the same one is not logged again)."""
        logs.error(f"runner.{during}_failed" if during == "setup" else "runner.error",
                   exc_info=True, runner=self.name, error=error, retry_s=retry_s)

    # Lifecycle.
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread; safe before `start`. True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _main(self) -> None:
        _name_thread(self.name)
        pause = FIRST_ERROR_PAUSE_S
        try:
            while not self._stop.is_set():
                self.beat = time.monotonic()
                self.passes += 1
                during = "run" if self.ready else "setup"
                try:
                    if not self.ready:
                        self.setup()
                        self.ready = True
                    busy = self.run_once()
                except Exception as exc:
                    # A bug or an unexpected outage must not kill the stage: log it, back
                    # off, and try again; the job it was on stays in its journaled state.
                    # A setup that failed half-way is undone, so the next try starts clean.
                    self._failed(exc, during, pause)
                    if not self.ready:
                        self._teardown()
                    self._idle_wait(self._stop.wait, pause)
                    pause = min(pause * 2, MAX_ERROR_PAUSE_S)
                    continue
                if self.error is not None:
                    logs.info("runner.recovered", runner=self.name, was=self.error,
                              after_s=f"{time.monotonic() - (self._error_since or 0):.1f}")
                self.error, self._error_since, pause = None, None, FIRST_ERROR_PAUSE_S
                if not busy:
                    self._idle_wait(self.nap, self.nap_s())
        finally:
            if self.ready:
                self._teardown()

    def _idle_wait(self, wait: Callable[[float], object], seconds: float) -> None:
        self.sleeping = True
        try:
            wait(seconds)
        finally:
            # The beat first: a health check between the two lines must not see an old
            # beat on a runner that is no longer asleep.
            self.beat = time.monotonic()
            self.sleeping = False

    def _failed(self, exc: Exception, during: str, pause: float) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if error != self.error:
            self.report(exc, error, during, pause)
        else:
            logs.debug("runner.retry", runner=self.name, error=error, retry_s=pause)
        if self._error_since is None:
            self._error_since = time.monotonic()
        self.error = error

    def _teardown(self) -> None:
        self.ready = False
        try:
            self.teardown()
        except Exception as exc:
            logs.error("runner.teardown_failed", exc_info=True, runner=self.name,
                       error=repr(exc))


def _name_thread(name: str) -> None:
    """Give the OS thread the runner's name (top -H, /proc/PID/task/TID/comm), so a thread
    that burns CPU can be told by name. At most 15 bytes; a failure changes nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


class JournalRunner(Runner):
    """A runner with its own journal connection, opened in its own thread."""

    def __init__(self, ctx: Context):
        super().__init__()
        self.ctx = ctx
        self._journal: Journal | None = None

    @property
    def journal(self) -> Journal:
        assert self._journal is not None, "used before setup()"
        return self._journal

    def setup(self) -> None:
        self._journal = self.ctx.open_journal()

    def teardown(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
