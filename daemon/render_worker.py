"""The render worker's side: a zygote that forks render workers, and the worker's loop.

The zygote is a copy of the daemon made at start-up, when the daemon has loaded reportlab,
its own modules and the font but runs no thread yet (daemon/prerender.py decides). It
holds no memory of its own: every page is the daemon's, shared copy-on-write, and the
objects that existed then are frozen out of the garbage collector (`gc.freeze` in the
daemon before the fork), so that no collection writes to them and unshares their pages.
When a backlog begins, the daemon sends it one end of a new socket pair and it forks a
worker onto it; the worker renders what arrives, and ends when the daemon closes its end.
A worker forked from the single-threaded zygote is a safe fork, where a fork of the
running daemon could copy a lock another thread holds.

When the daemon already runs threads (a reload that turned the worker on, or a daemon in
a test process), the zygote is instead a fresh interpreter running this module, which
loads the same modules and the font itself: `python -P -m printstation.daemon.render_worker
FD PARENT`.

Neither ever returns into the daemon's code: they leave through `os._exit`, so no copied
object (a journal connection, a log handler) is closed or flushed from here.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from printstation.base import heap
from printstation.base.signals import die_with

ZYGOTE_NAME = b"ps-render-zyg"  # comm holds 15 bytes
WORKER_NAME = b"ps-render"
_PR_SET_NAME = 15
WORKER_MMAP_THRESHOLD = 32 * 1024 * 1024


def _name(name: bytes) -> None:
    """The name `ps` and /proc/PID/comm show (a fork keeps the daemon's command line)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def _own_stdio() -> None:
    # The daemon's log writer thread may have held stderr's buffer lock at the fork; a
    # copy that wrote through it would wait for ever. New file objects on the same
    # descriptors have locks of their own.
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def _reset_signals() -> None:
    # Handlers copied from the daemon would set its flags in this process; the daemon
    # decides when its helpers stop (closing their sockets, or dying: PR_SET_PDEATHSIG).
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)


def zygote(control: socket.socket, parent: int) -> NoReturn:
    """Fork a worker onto each socket the daemon sends; end when the daemon closes."""
    code = 1
    try:
        _own_stdio()
        _name(ZYGOTE_NAME)
        die_with(parent)
        _reset_signals()
        # Workers are reaped by the kernel: nothing here waits for them.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        # The daemon's files, sockets and journal connections stay the daemon's (0-2 are
        # the daemon's stdin, stdout and stderr, kept for a last word before an exit).
        os.closerange(3, control.fileno())
        os.closerange(control.fileno() + 1, _max_fd())
        gc.enable()
        while True:
            _, fds, _, _ = socket.recv_fds(control, 16, 1)
            if not fds:
                code = 0
                break
            pid = os.fork()
            if pid == 0:
                control.close()
                serve(fds[0], os.getppid())
            os.close(fds[0])
            control.sendall(pid.to_bytes(8, "little"))
    except BaseException:
        pass
    os._exit(code)


def serve(fd: int, parent: int) -> NoReturn:
    """Render each (id, args) received on `fd`; answer (id, pdf bytes or an error)."""
    code = 1
    try:
        _name(WORKER_NAME)
        die_with(parent)
        # The daemon maps its large blocks on their own so that a long run does not grow
        # (base/heap.py). A worker lives for one backlog, and rendering makes and frees
        # large buffers all the time: mapping each one halved its speed.
        heap.map_from(WORKER_MMAP_THRESHOLD)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        from printstation.daemon.prerender import render

        conn = Connection(fd)
        while True:
            try:
                ident, args = conn.recv()
            except EOFError:
                code = 0
                break
            answer: tuple[Any, ...]
            try:
                answer = (ident, True, render(*args))
            except Exception as exc:
                answer = (ident, False, f"{type(exc).__name__}: {exc}"[:500])
            conn.send(answer)
    except BaseException:
        pass
    os._exit(code)


def _max_fd() -> int:
    return os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096


def main(argv: list[str]) -> NoReturn:
    """The zygote as a fresh interpreter: the modules and the font loaded, then frozen."""
    fd, parent = (int(arg) for arg in argv)
    die_with(parent)
    from printstation.daemon.prerender import preload

    preload()
    gc.freeze()
    zygote(socket.socket(fileno=fd), parent)


if __name__ == "__main__":
    main(sys.argv[1:])
