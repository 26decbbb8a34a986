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
it stops coming round.
"""

from __future__ import annotations

import threading
import time

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


class Runner:
    name = "runner"
    idle_s = 1.0  # operator changes made through the CLI are noticed within this
    # How long `Service.stop` waits for this runner; None: whatever budget is left.
    stop_budget_s: float | None = None

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.beat = time.monotonic()
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
        return self.idle_s

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
        pause = FIRST_ERROR_PAUSE_S
        try:
            while not self._stop.is_set():
                self.beat = time.monotonic()
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
                    self._stop.wait(pause)
                    pause = min(pause * 2, MAX_ERROR_PAUSE_S)
                    continue
                if self.error is not None:
                    logs.info("runner.recovered", runner=self.name, was=self.error,
                              after_s=f"{time.monotonic() - (self._error_since or 0):.1f}")
                self.error, self._error_since, pause = None, None, FIRST_ERROR_PAUSE_S
                if not busy:
                    self._wake.wait(self.nap_s())
                    self._wake.clear()
        finally:
            if self.ready:
                self._teardown()

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
