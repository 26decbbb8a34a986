"""A quiet end when the reader of our output has gone (`printstation journal | head`).

Python ignores SIGPIPE, so a write to a pipe whose reader has left raises BrokenPipeError
instead of ending the process as it ends `cat` or `grep`. Restoring SIGPIPE's default
would do that, but it would also kill the command on a write to a closed socket (the
control socket, head office) instead of reporting it; so the error is caught, and the
command ends quietly only when the broken pipe is its standard output.
"""

from __future__ import annotations

import os
import select
import signal
import sys

# What a shell shows for a process ended by SIGPIPE: scripts under `set -o pipefail` see
# that the output was cut, as they do for `yes | head`.
EXIT_PIPE = 128 + signal.SIGPIPE


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe (or socket) with no reader left.

    Linux reports POLLERR on the write end of a pipe whose read end is closed; a terminal
    or a file never does, so a BrokenPipeError from elsewhere is not mistaken for it.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def end_quietly() -> int:
    """Point standard output at /dev/null, so that the interpreter's last flush of what is
    still buffered does not fail again at exit, and return the exit code of a SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return EXIT_PIPE
