"""Rendering ahead in a separate process, for backlogs.

A backlog is bound by one core: the pipeline's threads share the GIL, and rendering an
invoice is about half of the Python work per invoice. So while a printer's runner
journals, submits and archives the current job, a worker process renders the next few
queued ones. A job with nothing queued behind it is rendered inline, so a single
invoice gains no hop between processes.

Rendering is deterministic (reportlab `invariant=1`): a page rendered ahead is
byte-identical to one rendered inline, and the arguments are compared when it is taken,
so a reload that changed an offset in between re-renders. Anything wrong with the worker
(it died, it was killed, it is slow) falls back to rendering inline; the worker is a
speed-up, never a step a job depends on.

The worker shares its memory with the daemon instead of copying it: a zygote forked from
the daemon while it is still single-threaded, with reportlab and the font loaded, forks
each worker (daemon/render_worker.py says how and why). At rest neither is kept: the
first backlog's worker comes from that fork, later ones from a fresh interpreter. (A
worker that multiprocessing spawned held its own reportlab and font, about 100 MB, and
its resource tracker, another interpreter, outlived every worker.) `[render] worker =
"off"` (a PC short of memory) renders every page in the printer's own thread, and no
zygote or worker is ever started.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging.handlers
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from typing import Any

from printstation.base import heap, logs
from printstation.config import Stock
from printstation.drivers import ensure_font, render_invoice
from printstation.invoice import invoice_from_dict

from . import render_worker

# How many queued jobs of a printer are rendered ahead of the one being submitted.
AHEAD = 4
TAKE_TIMEOUT_S = 30.0
# A worker unused this long is stopped: what it rendered dirtied pages of its own, and
# backlogs are rare.
IDLE_STOP_S = 30.0
# How long a zygote may take to fork a worker, or a fresh one to load its modules.
START_S = 30.0
MODES = ("auto", "off")

Args = tuple[dict[str, Any], Stock, tuple[float, float], str]


def render(doc: dict[str, Any], stock: Stock, offset: tuple[float, float], title: str) -> bytes:
    return render_invoice(invoice_from_dict(doc), stock, offset, title)


def preload() -> None:
    """What a worker needs before its first page: reportlab (through the renderer, imported
    above) and the font, registered."""
    ensure_font()


class _Zygote:
    """The process that forks render workers: a fork of the daemon, or a fresh one."""

    def __init__(self, proc: subprocess.Popen | None, pid: int, control: socket.socket):
        self.proc = proc
        self.pid = pid
        self.control = control

    @classmethod
    def forked(cls) -> _Zygote | None:
        """A fork of this process, made only while it runs no other thread than the log
        writer; None if it does."""
        if not _fork_safe():
            return None
        preload()
        # Objects alive now are left out of every later collection, here and in the
        # zygote: a collection writes to each object it visits, unsharing its page.
        gc.collect()
        gc.freeze()
        ours, theirs = socket.socketpair()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            ours.close()
            render_worker.zygote(theirs, parent)
        theirs.close()
        return cls(None, pid, ours)

    @classmethod
    def spawned(cls) -> _Zygote:
        ours, theirs = socket.socketpair()
        try:
            # -P: nothing from the working folder shadows a module the worker imports.
            proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "printstation.daemon.render_worker",
                 str(theirs.fileno()), str(os.getpid())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        return cls(proc, proc.pid, ours)

    def fork_worker(self) -> _Worker:
        ours, theirs = socket.socketpair()
        try:
            self.control.settimeout(START_S)
            socket.send_fds(self.control, [b"w"], [theirs.fileno()])
            answer = self.control.recv(8)
        finally:
            theirs.close()
        if len(answer) != 8:
            ours.close()
            raise BrokenProcessPool("the render zygote ended")
        return _Worker(ours, int.from_bytes(answer, "little"))

    def stop(self) -> None:
        self.control.close()  # it reads the end of its socket and exits
        try:
            if self.proc is not None:
                self.proc.wait(5)
            else:
                _reap(self.pid, 5)
        except (subprocess.TimeoutExpired, TimeoutError, ChildProcessError):
            try:
                os.kill(self.pid, 9)
                if self.proc is not None:
                    self.proc.wait()
                else:
                    os.waitpid(self.pid, 0)
            except (OSError, ChildProcessError):
                pass


def _fork_safe() -> bool:
    """Whether a fork now copies no lock another thread may hold. The daemon's log writer
    (base/logs.py, a QueueListener) is allowed: it holds only its queue, which the copies
    never read, and stderr, which they replace with a file of their own before any
    write (render_worker.py); logging re-creates its handlers' locks in a child itself."""
    for thread in threading.enumerate():
        if thread is threading.main_thread() and thread is threading.current_thread():
            continue
        target = getattr(thread, "_target", None)
        if not isinstance(getattr(target, "__self__", None), logging.handlers.QueueListener):
            return False
    return True


def _reap(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(pid)
        time.sleep(0.02)


class _Worker:
    """One render worker: requests go out in order, a reader thread settles the futures."""

    def __init__(self, sock: socket.socket, pid: int):
        self.pid = pid
        self._sock = sock
        self._conn = Connection(sock.fileno())
        self._ids = itertools.count()
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self.dead = False
        self._closing = False
        threading.Thread(target=self._collect, name="render-results", daemon=True).start()

    def submit(self, args: Args) -> Future:
        future: Future = Future()
        with self._lock:
            if self.dead:
                raise BrokenProcessPool("the render worker ended")
            ident = next(self._ids)
            self._pending[ident] = future
            try:
                self._conn.send((ident, args))
            except OSError as exc:
                self._pending.pop(ident)
                raise BrokenProcessPool(f"the render worker ended: {exc}") from exc
        return future

    def _collect(self) -> None:
        while True:
            try:
                ident, ok, value = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._pending.pop(ident, None)
            if future is None:
                continue
            try:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(value))
            except InvalidStateError:
                pass  # cancelled meanwhile: the job is no longer next in line
        with self._lock:
            self.dead = True
            left, self._pending = self._pending, {}
            self._conn.close()
            self._sock.detach()  # the connection closed the descriptor
        for future in left.values():
            if not future.done():
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(BrokenProcessPool(
                        "the render worker was stopped" if self._closing
                        else "the render worker died"))

    def close(self) -> None:
        self._closing = True
        # A shutdown, not a close: a descriptor closed while the reader thread waits on it
        # stays open until that read returns, and the worker would never see the end. Both
        # see it now: the worker exits, the reader closes the descriptor.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class RenderPool:
    """One worker process shared by the printers (a branch PC has two cores).

    `mode` is `[render] worker`, or a function that reads it from the config in force
    (so that a reload may turn the worker off or on)."""

    def __init__(self, mode: str | Callable[[], str] = "auto") -> None:
        self._mode = mode if callable(mode) else (lambda: mode)
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._used = 0.0
        self.broken = False
        # Workers started (by this pool's life), for status and tests.
        self.started = 0
        self._zygote: _Zygote | None = None
        if self._mode() != "off":
            try:
                self._zygote = _Zygote.forked()
            except OSError as exc:
                logs.warning("render.zygote_failed", error=f"{type(exc).__name__}: {exc}",
                             note="a fresh process starts the worker when a backlog comes")

    @property
    def enabled(self) -> bool:
        return self._mode() != "off"

    def submit(self, args: Args) -> Future | None:
        with self._lock:
            if self.broken:
                return None
            if not self.enabled:
                self._stop_worker()
                return None
            try:
                if self._worker is None or self._worker.dead:
                    self._start_worker()
                self._used = time.monotonic()
                return self._worker.submit(args)
            except Exception as exc:
                self._broke(exc)
                return None

    def _start_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
        if self._zygote is None:
            self._zygote = _Zygote.spawned()
        self._worker = self._zygote.fork_worker()
        self.started += 1
        logs.debug("render.worker_started", worker=self._worker.pid, zygote=self._zygote.pid)

    def _broke(self, exc: BaseException) -> None:
        self.broken = True
        logs.warning("render.pool_broken", error=f"{type(exc).__name__}: {exc}",
                     note="rendering inline from now on")

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        # No helper process is kept at rest. A fresh interpreter holds its own reportlab
        # and font. A fork of the daemon shares the daemon's pages only at first: each
        # page the daemon writes afterwards (a reference count is enough) is copied, and
        # the zygote keeps the old one; after 20,000 jobs it held 32 MiB of PSS that no
        # one used (issue 19). The next backlog starts a fresh one: the daemon runs
        # threads by then, and a fork of it would not be safe.
        if self._zygote is not None:
            self._zygote.stop()
            self._zygote = None

    def stop_if_idle(self) -> None:
        """Stop the worker once no backlog has used it for IDLE_STOP_S, and give the heap
        the backlog used back to the system (base/heap.py)."""
        with self._lock:
            if self._worker is not None and time.monotonic() - self._used > IDLE_STOP_S:
                self._stop_worker()
                heap.trim()

    def stop_due_in(self) -> float | None:
        """Seconds until an idle worker is to be stopped; None when none runs."""
        with self._lock:
            if self._worker is None:
                return None
            return max(0.0, self._used + IDLE_STOP_S - time.monotonic()) + 0.01

    def close(self) -> None:
        with self._lock:
            self._stop_worker()
            if self._zygote is not None:
                self._zygote.stop()
                self._zygote = None


class Ahead:
    """One printer's renders in flight, by job id."""

    def __init__(self, pool: RenderPool):
        self.pool = pool
        self._pending: dict[str, tuple[Args, Future]] = {}

    def want(self, job_id: str, args: Args) -> None:
        if job_id not in self._pending:
            future = self.pool.submit(args)
            if future is not None:
                self._pending[job_id] = (args, future)

    def pending(self, job_id: str) -> bool:
        return job_id in self._pending

    def keep_only(self, job_ids: set[str]) -> None:
        """Drop renders of jobs no longer next in line (held, cancelled, reordered)."""
        for job_id in set(self._pending) - job_ids:
            self._pending.pop(job_id)[1].cancel()

    def take(self, job_id: str, args: Args) -> bytes | None:
        """The page rendered ahead for these exact arguments, or None: render inline."""
        entry = self._pending.pop(job_id, None)
        if entry is None:
            return None
        wanted, future = entry
        if wanted != args:
            future.cancel()
            return None
        try:
            return future.result(timeout=TAKE_TIMEOUT_S)
        except Exception as exc:
            if isinstance(exc, BrokenProcessPool):
                self.pool._broke(exc)
            else:
                logs.warning("render.ahead_failed", job=job_id,
                             error=f"{type(exc).__name__}: {exc}")
            return None
