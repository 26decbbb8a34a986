"""The control socket, client side: how the CLI and the web console ask the daemon to act.

`data_dir/control.sock` is a Unix stream socket. A request is one line of JSON,
`{"op": NAME, "args": {...}}`; the answer is one line of JSON, a `Reply`. The daemon takes
the caller's identity from the kernel (`SO_PEERCRED`), never from the request or the
environment (daemon/control_server.py).

While the daemon is down, reads still work from the journal file (read-only), and only
the service user (or root, who then acts as the data folder's owner) may change the
journal directly; a clerk is told to start the daemon, so that no file in the data
folder is ever written by anyone but the service user.

The web console acts for the clerk logged in to it: its requests carry `"clerk": NAME`,
which the daemon believes only from the console's own user (`[web] user`) or root, and
journals as the operator, as it would journal a CLI user of that name.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from printstation.base.errors import PermissionDenied, StationError, Unavailable, UsageError
from printstation.config import Settings
from printstation.spool import Journal

from .control_ops import Reply, perform
from .instance import become, service_user_for, station_gid, user_groups

SOCKET_NAME = "control.sock"
# A request is a few short fields; an answer (a status document) can be longer.
MAX_REQUEST = 64 << 10
MAX_REPLY = 4 << 20
# How long a client keeps trying while the daemon's listen queue is full.
CONNECT_TRIES_S = 5.0
# The web console's user when `[web] user` is not set (SPEC §12).
WEB_USER = "printstation-web"
# A clerk's name as the web console sends it: what a login name may be, nothing that
# could pass for something else in a log line, a CSV export or the head office's view.
CLERK_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
NOT_RUNNING = ("the daemon is not running, so the queue cannot be changed now: ask IT to "
               "start it (systemctl start printstation); status, queue, show and journal "
               "still work")


class NoDaemon(Exception):
    """Nothing listens on the control socket: the daemon is not running."""


def socket_path(settings: Settings) -> Path:
    return settings.station.data_dir / SOCKET_NAME


@contextlib.contextmanager
def socket_address(settings: Settings) -> Iterator[str]:
    """A short path to the socket, whatever the data folder's path length: through a
    descriptor of the folder (`/proc/self/fd/N/control.sock`), since a Unix socket's path
    may be at most 107 bytes. (Linux's abstract names have no such limit, but any user
    could take one first while the daemon is down.)"""
    fd = os.open(settings.station.data_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_NAME}"
    finally:
        os.close(fd)


def _owner(settings: Settings) -> int | None:
    try:
        return os.stat(settings.station.data_dir).st_uid
    except OSError:
        return None


def web_uid(settings: Settings) -> int | None:
    """The uid of the web console's user (`[web] user`), or None when there is no such
    user on this machine (then only root may name a clerk)."""
    # `[web]` is read defensively: a config loaded before the section existed has none.
    name = getattr(getattr(settings, "web", None), "user", None) or WEB_USER
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def check_clerk(name: object) -> str:
    """A clerk's name as sent, or UsageError: see CLERK_NAME."""
    if not isinstance(name, str) or not CLERK_NAME.fullmatch(name):
        raise UsageError("clerk: a name of 1 to 64 letters, digits and _ . @ - is required")
    return name


def ask(settings: Settings, op: str, args: dict[str, Any] | None = None,
        timeout: float = 60.0, clerk: str | None = None) -> Reply:
    """Send one request to the running daemon; NoDaemon when none listens. `clerk` names
    the person the web console acts for (believed only from its user or root)."""
    path = socket_path(settings)
    request: dict[str, Any] = {"op": op, "args": args or {}}
    if clerk is not None:
        request["clerk"] = check_clerk(clerk)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            _connect(sock, settings)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise NoDaemon(str(path)) from None
        except PermissionError:
            raise PermissionDenied(user=caller_name(), action="reach the daemon",
                                   path=path) from None
        except (BlockingIOError, TimeoutError):
            raise Unavailable(f"the daemon did not take the connection on {path} within "
                              f"{CONNECT_TRIES_S:g} s: try again") from None
        # Only the daemon, which runs as the data folder's owner, is believed.
        _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET,
                                                        socket.SO_PEERCRED, 12))
        owner = _owner(settings)
        if owner is not None and uid not in (owner, 0):
            raise Unavailable(f"the control socket {path} is held by uid {uid}, not by the "
                              "daemon: ask IT to check the station")
        sock.sendall(json.dumps(request).encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if len(data) > MAX_REPLY:
                    raise Unavailable("the daemon's answer is too long")
        except TimeoutError:
            raise Unavailable(f"the daemon did not answer within {timeout:g} s") from None
    if not data:
        raise Unavailable("the daemon closed the control socket without an answer")
    doc = json.loads(data)
    return Reply(doc["exit"], doc["out"], doc["err"], doc.get("doc"))


def _connect(sock: socket.socket, settings: Settings) -> None:
    """Connect, retrying for a few seconds while the listen queue is full (EAGAIN)."""
    deadline = time.monotonic() + CONNECT_TRIES_S
    with socket_address(settings) as address:
        while True:
            try:
                sock.connect(address)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def caller_name() -> str:
    """This process's user, by its real uid (never LOGNAME or USER)."""
    return user_groups(os.getuid(), os.getgid())[0]


def is_clerk(settings: Settings) -> bool:
    gid = station_gid(settings.station.data_dir)
    return os.getuid() == 0 or gid in os.getgroups() or os.getgid() == gid


def change(settings: Settings, op: str, args: dict[str, Any],
           clerk: str | None = None) -> Reply:
    """Carry out an operator action: through the daemon, or here when none runs.

    With `clerk` (the web console) only through the daemon: the console's user may not
    write the journal, and the name it vouches for is believed by the daemon alone.
    """
    try:
        return ask(settings, op, args, clerk=clerk)
    except NoDaemon:
        if clerk is not None:
            raise Unavailable(NOT_RUNNING) from None
    # Who asks, before root takes the data folder owner's identity to write.
    who = caller_name()
    journal_path = settings.journal_path
    if os.geteuid() == 0:
        user = service_user_for(settings.station.data_dir, settings.main_file is not None
                                and str(settings.main_file).startswith("/etc/"))
        if user is not None:
            become(user)
    folder = journal_path.parent
    writable = os.access(journal_path, os.W_OK) if journal_path.exists() else \
        os.access(folder if folder.exists() else folder.parent, os.W_OK)
    if not writable:
        if is_clerk(settings):
            raise Unavailable(NOT_RUNNING)
        raise PermissionDenied(user=caller_name(), action="change the queue", path=journal_path)
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal(journal_path, settings.station.id)
    try:
        return perform(op, journal, settings, who, args)
    finally:
        journal.close()
        poke(settings)


def poke(settings: Settings) -> None:
    """After a write to the journal made here: a daemon that started meanwhile looks at
    the journal again now (its stages sleep until told; its main loop would notice the
    write within a few seconds anyway). No daemon, or none that answers: nothing to do."""
    with contextlib.suppress(NoDaemon, StationError, OSError, ValueError):
        ask(settings, "wake", timeout=2.0)


def ask_daemon(settings: Settings, op: str) -> str | None:
    """A service request (reload, sync now): the daemon's answer, or None with no daemon."""
    try:
        reply = ask(settings, op)
    except NoDaemon:
        return None
    raise_for(reply)
    return "; ".join(reply.out)


def raise_for(reply: Reply) -> None:
    """A refused request becomes the error it was, with its exit code."""
    if reply.exit:
        error = StationError("; ".join(reply.err) or f"refused (exit {reply.exit})")
        error.exit_code = reply.exit
        raise error
