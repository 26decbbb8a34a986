"""The control socket, daemon side: who is asking, and may they.

The caller is who the kernel says it is (`SO_PEERCRED`: the uid of the process at the
other end), with the groups the user database gives that uid; the request's own words
and the caller's environment count for nothing. Anyone may ask for `status`; members of
group `printstation`, the service user and root may change things; everyone else is
refused with the one-line permission error of SPEC §3 (exit 77). Every change is
journaled with the caller's name.

The web console's user (`[web] user`) and root may also name the clerk they act for
(`"clerk"` in the request): the change is then journaled with that name as the operator,
where a CLI user's name goes, and `"via": "web"` beside it. From anyone else a request
that names a clerk is refused (exit 77) and logged: a clerk cannot pass for another.

Clients are multiplexed in the runner's one thread (`selectors`): a request is carried
out as soon as its line is complete, one at a time, on the runner's own journal
connection; a client that sends nothing, too much or garbage is dropped after a few
seconds without holding up anyone else. With no client connected the runner sleeps in
`select` without a timeout (an idle station costs nothing here); `wake()` and `stop()`
reach it through a pipe in the same `select`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from printstation.base import logs
from printstation.base.errors import (
    EXIT_INTERNAL,
    EXIT_NOPERM,
    EXIT_USAGE,
    PermissionDenied,
    UsageError,
)
from printstation.config import Config

from . import status as report
from .context import Context
from .control import MAX_REQUEST, check_clerk, socket_address, socket_path, web_uid
from .control_ops import CHANGES, Reply, perform
from .instance import station_gid, user_groups
from .runner import UNTIL_WOKEN, JournalRunner

CLIENT_TIMEOUT_S = 5.0
MAX_CLIENTS = 128
PER_USER = 8
_UCRED = struct.Struct("3i")  # pid, uid, gid

# Requests anyone may make; the rest need a clerk.
PUBLIC = frozenset({"ping", "status"})


class ControlRunner(JournalRunner):
    name = "control"

    def __init__(self, ctx: Context, services: dict[str, Callable[[], Reply]],
                 on_change: Callable[[], None],
                 apply: Callable[[Callable[[Config], Config]], None] | None = None):
        super().__init__(ctx)
        self.services = services
        self.on_change = on_change
        # Puts a change to the configuration in force (a clerk's offset) at once.
        self.apply = apply
        self.listener: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        # Each connected client: what it has sent so far, when it connected, its uid.
        self.clients: dict[socket.socket, tuple[bytearray, float, int]] = {}
        # wake() writes a byte here, which ends the select the runner sleeps in.
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._wake_r, selectors.EVENT_READ)

    def wake(self) -> None:
        super().wake()
        # A full pipe already wakes the select.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    def stop(self) -> None:
        super().stop()
        self.wake()

    def setup(self) -> None:
        super().setup()
        path = socket_path(self.ctx.settings)
        # The instance lock is held: a socket file left here is from a dead daemon.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_address(self.ctx.settings) as address:
                listener.bind(address)
        except OSError:
            listener.close()
            raise
        # Anyone may connect (for `status`); who may do what is decided per request.
        os.chmod(path, 0o666)
        listener.listen(128)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ)
        self.listener = listener

    def teardown(self) -> None:
        for conn in list(self.clients):
            self._drop(conn)
        if self.listener is not None:
            self.selector.unregister(self.listener)
            self.listener.close()
            with contextlib.suppress(FileNotFoundError):
                socket_path(self.ctx.settings).unlink()
        super().teardown()

    def nap_s(self) -> float:
        """Until a connection or a wake; while clients are connected, no longer than until
        the first of them is due to be dropped."""
        if not self.clients:
            return UNTIL_WOKEN
        first = min(since for _, since, _ in self.clients.values())
        return max(0.05, first + CLIENT_TIMEOUT_S - time.monotonic() + 0.01)

    def nap(self, seconds: float) -> None:
        """Sleep in `select` on the listener, the clients and the wake pipe; what is ready
        is served by the next pass."""
        self.selector.select(None if math.isinf(seconds) else seconds)
        self._wake.clear()
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass

    def run_once(self) -> bool:
        assert self.listener is not None
        busy = False
        for key, _ in self.selector.select(timeout=0):
            if key.fileobj is self.listener:
                self._accept()
            elif key.fileobj != self._wake_r:
                busy |= self._receive(key.fileobj)  # type: ignore[arg-type]
        now = time.monotonic()
        for conn, (_, since, _) in list(self.clients.items()):
            if now - since > CLIENT_TIMEOUT_S:
                logs.warning("control.client_timeout")
                self._drop(conn)
        return busy

    def _accept(self) -> None:
        """Take every waiting connection (a full listen queue makes clients wait). A user
        other than root holds at most PER_USER of them, so no one can crowd the clerks
        out."""
        assert self.listener is not None
        for _ in range(MAX_CLIENTS):
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            uid = _peer(conn)[1]
            mine = sum(1 for _, (_, _, owner) in self.clients.items() if owner == uid)
            if (mine >= PER_USER and uid != 0) or len(self.clients) >= MAX_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            self.clients[conn] = (bytearray(), time.monotonic(), uid)
            self.selector.register(conn, selectors.EVENT_READ)

    def _receive(self, conn: socket.socket) -> bool:
        """Read what arrived; once the request line is whole, answer it."""
        buffer = self.clients[conn][0]
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""
        buffer += chunk
        if len(buffer) > MAX_REQUEST:
            logs.warning("control.bad_request", error="request too long")
            self._drop(conn)
            return False
        if not buffer.endswith(b"\n") and chunk:
            return False
        self.selector.unregister(conn)
        del self.clients[conn]
        with conn:
            try:
                reply = self.serve(conn, bytes(buffer))
            except (OSError, ValueError, RecursionError) as exc:
                logs.warning("control.bad_request", error=repr(exc)[:200])
                return True
            except Exception as exc:
                # No request may stop the socket for the others: log it, drop this one.
                logs.error("control.error", exc_info=True, error=repr(exc)[:200])
                return True
            # The answer is small; a client that does not read it is not waited for long.
            conn.setblocking(True)
            conn.settimeout(CLIENT_TIMEOUT_S)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply.to_dict(), ensure_ascii=False).encode() + b"\n")
        return True

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn)
        self.clients.pop(conn, None)
        conn.close()

    def serve(self, conn: socket.socket, data: bytes) -> Reply:
        _, uid, gid = _peer(conn)
        name, groups = user_groups(uid, gid)
        request = json.loads(data)
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise ValueError("a request is a JSON object with a text `op`")
        op = request["op"]
        args = request.get("args") if isinstance(request.get("args"), dict) else {}
        if op not in PUBLIC | set(CHANGES) | set(self.services):
            return Reply(exit=EXIT_USAGE, err=[f"unknown request {op!r}"])
        may_act = uid in (0, os.geteuid()) or station_gid() in groups
        if op not in PUBLIC and not may_act:
            logs.warning("control.refused", user=name, uid=uid, op=op)
            denied = PermissionDenied(user=name, action=op, path=socket_path(self.ctx.settings))
            return Reply(exit=denied.exit_code, err=[str(denied)])
        who, via = name, None
        if request.get("clerk") is not None:
            # Only the console's own user (or root) vouches for a clerk; the name it sends
            # is checked before it goes anywhere near the journal or a log line.
            if uid not in (0, web_uid(self.ctx.settings)):
                logs.warning("control.refused", user=name, uid=uid, op=op,
                             clerk=str(request["clerk"])[:80],
                             error="only the web console may name a clerk")
                return Reply(exit=EXIT_NOPERM, err=[
                    f"{name} may not act for a clerk ({op}): only the web console's user "
                    "may name the clerk it acts for"])
            try:
                who, via = check_clerk(request["clerk"]), "web"
            except UsageError as exc:
                logs.warning("control.refused", user=name, uid=uid, op=op, error=str(exc))
                return Reply(exit=exc.exit_code, err=[str(exc)])
        try:
            return self._dispatch(op, args, who, via)
        except Exception as exc:
            logs.error("control.error", exc_info=True, user=who, op=op, error=repr(exc))
            return Reply(exit=EXIT_INTERNAL, err=[f"internal error ({type(exc).__name__}): "
                                                  f"{exc}; see the daemon's log"])

    def _dispatch(self, op: str, args: dict[str, Any], who: str, via: str | None) -> Reply:
        if op == "ping":
            return Reply(doc={"pid": os.getpid()})
        if op == "status":
            conn = report.read_journal(self.ctx.settings)
            try:
                doc = report.status(conn, self.ctx.settings, self.ctx.clock())
            finally:
                if conn is not None:
                    conn.close()
            return Reply(doc=doc)
        if op in self.services:
            logs.info("control.request", user=who, op=op, via=via)
            return self.services[op]()
        reply = perform(op, self.journal, self.ctx.settings, who, args, via=via)
        logs.info("control.change", user=who, op=op, exit=reply.exit, via=via)
        if reply.apply is not None and self.apply is not None:
            self.apply(reply.apply)
        self.on_change()
        return reply


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end, as the kernel knows it."""
    return _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
