"""Reading untrusted files in a jail: a worker process with CPU, memory and time limits.

PDF, XML, OFD and ZIP readers are large (pypdf) or nest, and a few KB can cost them
hours: a 1.9 KB PDF whose nested form XObjects pypdf parses again at each of 5,000
invocations stalled the reader for hours, the systemd watchdog restarted the daemon, and
the daemon read that file first again, for ever. So files of those types are read in one
persistent worker process, under three limits:

- CPU: before each file the worker sets its soft RLIMIT_CPU to the CPU it has used so far
  plus `CPU_S`; the kernel ends it with SIGXCPU when that is spent, even inside C code.
- memory: RLIMIT_AS (address space), so an allocation past it fails in the worker.
- wall time: past `WALL_S` the daemon kills the worker (one stopped, or blocked).

A file that hits a limit or kills the worker is refused `file.too_complex` with the limit
in the detail, and the worker is replaced before the next file. JSON is read in the
daemon's own process: it is the backlog's hot path, and the json module is bounded by the
file size limit and by RecursionError, which its reader handles.

The worker is a fresh interpreter (`jail_worker.py`), started once and
reused, so a PDF costs no process start. Not a fork: the daemon has threads (a fork can
copy a lock another thread holds), and a fresh process holds only the readers, so its
address space limit measures the file, not the daemon. It dies with the daemon
(PR_SET_PDEATHSIG), ignores SIGINT, and takes files and gives verdicts as pickles over two
pipes. Its answers are unpickled allowing only the invoice model's dataclasses, Decimal
and date: the worker has just parsed hostile bytes, and a pickle can name any callable.

For tests only, the limits can be lowered through the environment (the daemon reads them
when its first file is jailed): PRINTSTATION_JAIL_CPU_S (whole seconds),
PRINTSTATION_JAIL_WALL_S (seconds) and PRINTSTATION_JAIL_MEMORY_MB.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import io
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import PurePath

from printstation.base import logs
from printstation.invoice import FileRead, problem, read_file

# Types whose readers parse in the jail; the rest (JSON, and names refused by extension
# alone) are read in the daemon.
JAILED = frozenset({".pdf", ".xml", ".ofd", ".zip"})
# The real invoices of tests/fixtures/real read in 0.001–0.04 s of CPU; 10 s is 250 times
# the slowest and still ends a poison file long before the watchdog (60 s) notices.
CPU_S = 10
# Twice the CPU budget: a busy branch PC shares its two cores with printing and sync.
WALL_S = 20.0
# Address space of the worker. Measured: an idle worker maps 43 MB; the real fixtures
# peak at 45 MB, a 19 MB PDF (one large image) at 122 MB, and 15 MB of empty XML elements
# at 457 MB (ElementTree: ~110 bytes per element). Each file adds three times its own
# size on top, so that a larger max_file_mb does not refuse honest files.
MEMORY_MB = 512
# A worker is replaced after this many files, so that whatever a reader caches or leaks
# cannot grow towards the memory limit and refuse an honest file.
RECYCLE_AFTER = 500
# How long a new worker may take to import its readers (a cold start on a slow disk).
START_S = 30.0
# How often a read in progress checks that the daemon is not stopping.
_STEP_S = 0.1
_ENV = "PRINTSTATION_JAIL_"
WORKER = "printstation.daemon.jail_worker"


def jailed(name: str) -> bool:
    """Whether a file of this name is read in the jail."""
    return PurePath(name).suffix.lower() in JAILED


class Interrupted(Exception):
    """The read was stopped because the daemon is stopping; the file was not judged."""


class JailBroken(RuntimeError):
    """No worker could be started: a fault of the station, never of the file."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = CPU_S
    wall_s: float = WALL_S
    memory_mb: int = MEMORY_MB

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        return cls(int(environ.get(_ENV + "CPU_S", CPU_S)),
                   float(environ.get(_ENV + "WALL_S", WALL_S)),
                   int(environ.get(_ENV + "MEMORY_MB", MEMORY_MB)))


def too_complex(detail: str, detail_zh: str) -> FileRead:
    return FileRead((problem("file.too_complex", detail=detail, detail_zh=detail_zh),), ())


def _limit_hit(limit: str, limits: Limits) -> FileRead:
    en, zh = {
        "cpu": (f"more than {limits.cpu_s} s of CPU time", f"CPU 时间超过 {limits.cpu_s} 秒"),
        "wall": (f"not read within {limits.wall_s:g} s", f"{limits.wall_s:g} 秒内未读完"),
        "memory": (f"more than {limits.memory_mb} MB of memory",
                   f"内存超过 {limits.memory_mb} MB"),
        "nesting": ("nested deeper than the reader's stack", "嵌套层数超过读取程序的栈深度"),
    }[limit]
    return too_complex(en, zh)


class Jail:
    """One worker process, used by one read at a time (the daemon has one reader)."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits.from_env()
        self._lock = threading.Lock()
        self._worker: _Worker | None = None

    def read(self, name: str, data: bytes, cancel: threading.Event | None = None) -> FileRead:
        """What the file holds, as `invoice.read_file` says it, or `file.too_complex`.

        `cancel` set while reading (the daemon is stopping) ends the read with
        `Interrupted`. Raises `JailBroken` when no worker can be started.
        """
        with self._lock:
            worker = self._started()
            deadline = time.monotonic() + self.limits.wall_s
            try:
                worker.send(name, data, self.limits)
            except OSError:
                # It died while idle (killed from outside): a new one, once.
                self._drop()
                worker = self._started()
                try:
                    worker.send(name, data, self.limits)
                except OSError as exc:
                    self._drop()
                    raise JailBroken(f"the reader process refuses files: {exc}") from exc
            while not worker.inbound.poll(max(0.0, min(_STEP_S, deadline - time.monotonic()))):
                if cancel is not None and cancel.is_set():
                    self._drop()
                    raise Interrupted(name)
                if time.monotonic() >= deadline:
                    return self._refuse(name, "wall")
            try:
                kind, value = _loads(worker.inbound.recv_bytes())
            except (EOFError, OSError):
                return self._died(name, worker)
            except Exception:
                self._drop()  # an answer that is no verdict: never trust that worker again
                raise
            if kind == "read" and isinstance(value, FileRead):
                worker.served += 1
                if worker.served >= RECYCLE_AFTER:
                    self._drop()
                return value
            if kind == "limit":
                return self._refuse(name, value)
            self._drop()
            raise RuntimeError(f"the jailed reader failed: {value}")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _started(self) -> _Worker:
        if self._worker is None:
            self._worker = _Worker()
        return self._worker

    def _drop(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def _refuse(self, name: str, limit: str) -> FileRead:
        pid = self._worker.proc.pid if self._worker else None
        self._drop()
        logs.warning("jail.limit", file=name, limit=limit, worker=pid)
        return _limit_hit(limit, self.limits)

    def _died(self, name: str, worker: _Worker) -> FileRead:
        try:
            code = worker.proc.wait(_STEP_S * 10)
        except subprocess.TimeoutExpired:
            code = -signal.SIGKILL  # it closed its pipe yet lives on: end it
        worker.kill()
        self._worker = None
        if code == -signal.SIGXCPU:
            logs.warning("jail.limit", file=name, limit="cpu", worker=worker.proc.pid)
            return _limit_hit("cpu", self.limits)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        logs.warning("jail.worker_died", file=name, worker=worker.proc.pid, how=how)
        return too_complex(f"the reader process died ({how})", f"读取进程异常终止（{how}）")


class _Worker:
    """The worker process and the two pipes to it."""

    def __init__(self) -> None:
        to_worker, from_daemon = os.pipe()
        to_daemon, from_worker = os.pipe()
        try:
            # -P: nothing from the working folder shadows a module the reader imports.
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", WORKER, str(to_worker), str(from_worker),
                 str(os.getpid())], pass_fds=(to_worker, from_worker),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError as exc:
            for fd in (from_daemon, to_daemon):
                os.close(fd)
            raise JailBroken(f"cannot start the reader process: {exc}") from exc
        finally:
            # The worker's ends: only the worker may hold them, or its death goes unseen.
            os.close(to_worker)
            os.close(from_worker)
        self.outbound = Connection(from_daemon, readable=False)
        self.inbound = Connection(to_daemon, writable=False)
        self.served = 0
        if not self.inbound.poll(START_S):
            self.kill()
            raise JailBroken(f"the reader process did not start within {START_S:g} s")
        try:
            _loads(self.inbound.recv_bytes())  # ("ready", pid)
        except (EOFError, OSError) as exc:
            self.kill()
            raise JailBroken(f"the reader process ended at start (exit code "
                             f"{self.proc.wait()}); see its error above") from exc
        logs.debug("jail.started", worker=self.proc.pid)

    def send(self, name: str, data: bytes, limits: Limits) -> None:
        # The bytes go as they are: no pickled copy of a 20 MB file in the daemon.
        self.outbound.send((name, limits.cpu_s, limits.memory_mb))
        self.outbound.send_bytes(data)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self) -> None:
        self.outbound.close()
        self.inbound.close()


class _Answers(pickle.Unpickler):
    """Unpickles only what a reader returns: the invoice model's dataclasses, Decimal, date."""

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in (("decimal", "Decimal"), ("datetime", "date")):
            return decimal.Decimal if name == "Decimal" else dt.date
        found = getattr(sys.modules.get(module), name, None) \
            if module.startswith("printstation.invoice.") and "." not in name else None
        if isinstance(found, type) and dataclasses.is_dataclass(found):
            return found
        raise pickle.UnpicklingError(f"the reader process answered with {module}.{name}, "
                                     "which is not an invoice model class")


def _loads(payload: bytes) -> tuple[str, object]:
    return _Answers(io.BytesIO(payload)).load()


_shared: Jail | None = None
_shared_lock = threading.Lock()


def shared() -> Jail:
    """The process's jail, started on first use (the daemon's reader, `validate`)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Jail()
        return _shared


def close() -> None:
    """Stop the process's worker, if one runs (at shutdown)."""
    with _shared_lock:
        if _shared is not None:
            _shared.close()


def read_jailed(name: str, data: bytes, cancel: threading.Event | None = None) -> FileRead:
    """`invoice.read_file`, in the jail for the types that need it."""
    return shared().read(name, data, cancel) if jailed(name) else read_file(name, data)
