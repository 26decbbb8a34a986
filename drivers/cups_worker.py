"""The one thread that talks to CUPS for a printer, with a deadline on every call.

TECH.md: one `cups.Connection` shared by threads crashed the interpreter, `setServer` is
per thread, and a server that accepts and never answers blocked a call for 61 s. So a
worker thread makes every call on its own connection, and callers wait on a future with
a deadline. drivers/cups_driver.py decides what each request and answer means.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from printstation.base import logs

from .base import PrinterUnavailable

CALL_TIMEOUT_S = 15.0
IPP_SERVICE_UNAVAILABLE = 0x0502


class CupsUnavailable(PrinterUnavailable):
    """CUPS could not be reached or did not answer in time, or the queue cannot take jobs;
    try again later."""


def ipp_status(exc: Exception) -> int | None:
    """The IPP status of a pycups IPPError, the HTTP status of an HTTPError, else None."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def describe_error(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"{args[1]} (IPP status 0x{args[0]:04x})" if isinstance(args[0], int) \
            else str(args[1])
    if type(exc).__name__ == "HTTPError" and args:
        return f"HTTP status {args[0]}"
    return f"{type(exc).__name__}: {exc}"


class Worker:
    """One thread, one connection, requests in order; the connection is remade after a
    failure. Whatever one request raises goes to its caller's future; should the thread
    end all the same, the next call starts another (logged), so one odd answer never
    leaves every later call waiting out its deadline."""

    def __init__(self, server: str):
        self.server = server
        self.requests: queue.Queue = queue.Queue()
        self.restarts = 0
        self._lock = threading.Lock()
        self._closed = False
        self.thread = self._spawn()

    def _spawn(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="cups", daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        current: Future | None = None
        try:
            import cups  # imported here: only a cups printer needs libcups

            if self.server:
                cups.setServer(self.server)
            conn = None
            while True:
                item = self.requests.get()
                if item is None:
                    return
                current, name, args, kwargs = item
                if current.set_running_or_notify_cancel():
                    conn = self._serve(cups, conn, current, name, args, kwargs)
                current = None
        except BaseException as exc:
            # The caller of the request in hand hears of it now, not at its deadline; the
            # next call starts a new thread.
            if current is not None and not current.done():
                current.set_exception(CupsUnavailable(f"the CUPS worker stopped: {exc!r}"))
            logs.error("cups.worker_died", exc_info=True, server=self.server or "default",
                       error=repr(exc))

    @staticmethod
    def _serve(cups: Any, conn: Any, future: Future, name: str, args: tuple,
               kwargs: dict) -> Any:
        """Make one call; returns the connection to use for the next."""
        try:
            if conn is None:
                conn = cups.Connection()
            call = name if callable(name) else getattr(conn, name)
            future.set_result(call(conn, *args, **kwargs) if callable(name)
                              else call(*args, **kwargs))
        except cups.IPPError as exc:
            if ipp_status(exc) == IPP_SERVICE_UNAVAILABLE:
                # cupsd went away under a kept connection: connect afresh next time.
                future.set_exception(CupsUnavailable(describe_error(exc)))
                return None
            future.set_exception(exc)
        except (RuntimeError, OSError) as exc:  # connection refused, broken pipe
            future.set_exception(CupsUnavailable(str(exc)))
            return None
        except Exception as exc:
            # Anything else (an HTTPError, a bad answer pycups cannot convert) belongs to
            # this request alone; the connection is remade in case it was left mid-answer.
            future.set_exception(exc)
            return None
        return conn

    def call(self, name: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One request, waited for. `name` is a method of the connection, or a function
        given the connection first (several requests that must follow one another on it)."""
        return self.wait(self.submit(name, *args, **kwargs), name)

    def submit(self, name: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """One request, queued: its future, to be waited for with `wait`."""
        self._ensure_running()
        future: Future = Future()
        self.requests.put((future, name, args, kwargs))
        return future

    @staticmethod
    def wait(future: Future, name: str | Callable[..., Any]) -> Any:
        try:
            return future.result(CALL_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            label = getattr(name, "__name__", name)
            raise CupsUnavailable(f"CUPS did not answer {label} within {CALL_TIMEOUT_S:g} s") \
                from None

    def _ensure_running(self) -> None:
        with self._lock:
            if self._closed or self.thread.is_alive():
                return
            self.restarts += 1
            logs.warning("cups.worker_restarted", server=self.server or "default",
                         restarts=self.restarts)
            self.thread = self._spawn()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.requests.put(None)
