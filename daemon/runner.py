"""A runner is a small loop in its own thread: one step of work, or a nap until woken.

Each pipeline stage is one runner (Mailman's runners, huey's workers). `run_once` does at
most one unit of work and says whether there may be more; other stages `wake()` it when
they hand it work. The journal is opened inside the runner's thread (one SQLite
connection per thread).
"""

from __future__ import annotations

import threading
import time

from printstation.base import logs
from printstation.config import Config
from printstation.spool import Journal

from .context import Context

MAX_ERROR_PAUSE_S = 30.0


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
        try:
            self.setup()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logs.error("runner.failed", exc_info=True, runner=self.name, error=self.error)
            return
        pause = 1.0
        try:
            while not self._stop.is_set():
                self.beat = time.monotonic()
                try:
                    busy = self.run_once()
                    self.error, pause = None, 1.0
                except Exception as exc:
                    # A bug or an unexpected outage must not kill the stage: log it, back
                    # off, and try again; the job it was on stays in its journaled state.
                    self.error = f"{type(exc).__name__}: {exc}"
                    logs.error("runner.error", exc_info=True, runner=self.name, error=self.error,
                                           retry_s=pause)
                    self._stop.wait(pause)
                    pause = min(pause * 2, MAX_ERROR_PAUSE_S)
                    continue
                if not busy:
                    self._wake.wait(self.nap_s())
                    self._wake.clear()
        finally:
            self.teardown()


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
