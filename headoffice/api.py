"""The receiver as an ASGI application: the sync API (SPEC §11) and the dashboard's mount.

Routes, our own (no framework; three routes do not need one):

- `POST …/events` (bearer token): a station's batch, with its optional outbox report;
- `GET …/stations/ID` (bearer token): what head office holds for that station;
- `GET /healthz`: the process answers;
- `/dashboard/…`: the head-office dashboard, a Flask (WSGI) app through a2wsgi;
  `/` redirects there. Any other path is a 404.

The event loop only routes, reads bodies under the limits (`request_limits.py`) and
answers. Parsing, hash checks and the store run in a bounded thread pool, so the loop
stays free to accept connections and finish TLS handshakes while batches are worked on.
Each API request logs one line: `receiver.events` for a stored batch (or a conflict),
`receiver.refused` for a refusal, `receiver.error` for a fault (a bug, or the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from printstation.base import logs

from .asgi_parts import (
    Answer,
    ASGIApp,
    Call,
    Gone,
    Receive,
    Scope,
    Send,
    Stop,
    lifespan,
    respond,
)
from .protocol import BadRequest, check_events, check_report, parse_body
from .request_limits import Admission, BufferBudget, Limits
from .store import Unstorable
from .tokens import Tokens

DASHBOARD = "/dashboard"
# A dashboard request's body (a form) must arrive within this; its answer be taken by
# the client, piece by piece, within the other.
DASHBOARD_BODY_S = 10.0
DASHBOARD_SEND_S = 30.0
# How long a body turned away at its header is read (to drop it) before the answer.
DRAIN_S = 1.0


class ReceiverApp:
    def __init__(self, store: Any, tokens: Tokens, limits: Limits,
                 dashboard: ASGIApp | None = None):
        self.store = store
        self.tokens = tokens
        self.limits = limits
        self.dashboard = dashboard or no_dashboard
        self.pool = ThreadPoolExecutor(limits.pool_size, thread_name_prefix="receiver-work")
        self.budget = BufferBudget(limits.max_buffered)
        self.admission = Admission(limits.inflight)

    def close(self) -> None:
        """Wait for the work in the pool (a batch being stored finishes its transaction)."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope.get("http_version") not in ("1.0", "1.1"):
            # HTTP/2 arrives in clear by prior knowledge (hypercorn cannot be told not to
            # take it): one protocol is one parser to trust, and the stations speak 1.1.
            await respond(send, Answer(505, {"error": "this server speaks HTTP/1.1"},
                                       close=True))
            return
        path = scope["path"]
        if Call(scope, receive).ambiguous:
            await respond(send, Answer(400, {"error": "ambiguous request: both Content-Length"
                                             " and Transfer-Encoding, or two Authorization"
                                             " headers"}, close=True))
            return
        if path == DASHBOARD or path.startswith(DASHBOARD + "/"):
            await self._dashboard(scope, receive, send)
            return
        call = Call(scope, receive)
        started = time.monotonic()
        try:
            answer = await self._route(call)
        except Stop as stop:
            answer = stop.answer
        except Gone:
            return
        except Exception as exc:
            logs.error("receiver.error", exc_info=True, path=path[:200],
                       error=f"{type(exc).__name__}: {str(exc)[:200]}")
            answer = Answer(500, {"error": "internal error"}, close=True)
        if not call.read:
            answer.close = True
        await respond(send, answer)
        self._log(call, answer, started)

    async def _route(self, call: Call) -> Answer:
        method, path = call.scope["method"], call.scope["path"]
        if path == "/":
            return Answer(302, {"location": DASHBOARD + "/"})
        if path == "/healthz":
            return Answer(200, {"status": "ok", "backend": getattr(self.store, "backend",
                                                                   "sqlite")})
        if path.rstrip("/").endswith("/events"):
            if method != "POST":
                return Answer(405, {"error": "POST a batch here"}, allow="POST")
            return await self._post_events(call)
        if b"/stations/" in call.scope.get("raw_path", b""):
            if method != "GET":
                return Answer(405, {"error": "GET a station here"}, allow="GET")
            return await self._get_station(call)
        return Answer(404, {"error": f"no such resource {path[:100]}"})

    async def _post_events(self, call: Call) -> Answer:
        limits = self.limits
        if call.length is None and not call.chunked:
            return Answer(411, {"error": "a batch needs Content-Length"})
        if call.length is not None and call.length > limits.max_body:
            # Refused from the header, before a byte of the body is read.
            return Answer(413, {"error": f"body over {limits.max_body} bytes"})
        station = self.tokens.station_of(call.bearer() or "")
        if station is None:
            # The body is read and thrown away (never held), so the answer reaches the
            # client on a connection that stays usable, rather than as a reset.
            await self._body(call, keep=False)
            why = "missing bearer token" if call.bearer() is None else "unknown token"
            return Answer(401, {"error": why})
        call.scope["station"] = station
        if not self.admission.may_upload(station):
            # Turned away before the body is held or parsed: under a burst the receiver
            # spends its time on the batches it can store now, not on ones it cannot.
            # The body is read and dropped if it comes at once, so the connection stays
            # usable; one that does not come is not waited for (the answer then closes).
            with contextlib.suppress(Stop):
                await self._body(call, keep=False, within=DRAIN_S)
            return Answer(503, {"error": "busy: the store's queue is full"},
                          retry_after=self.admission.retry_after(station))
        self.admission.start_upload(station)
        uploading = True
        try:
            if call.length is not None:
                if not self.budget.reserve(call.length):
                    return Answer(503, {"error": "busy: too many bodies at once"},
                                  retry_after=1)
                call.reserved = call.length
            raw = await self._body(call, keep=True)
            self.admission.end_upload(station)
            uploading = False
            if not self.admission.enter():
                return Answer(503, {"error": "busy: the store's queue is full"},
                              retry_after=self.admission.retry_after(station))
            try:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(
                    self.pool, self._accept, station, raw,
                    call.headers.get("idempotency-key"))
            finally:
                self.admission.leave(station)
        finally:
            if uploading:
                self.admission.end_upload(station)
            self.budget.release(call.reserved)
            call.reserved = 0

    async def _body(self, call: Call, keep: bool, within: float | None = None) -> bytes:
        """The whole body within the deadline (`within` seconds, or the body timeout);
        raises `Stop` (408, 413, 503) or `Gone`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (within or self.limits.body_timeout)
        chunks: list[bytes] = []
        size = 0
        more = call.has_body
        while more:
            try:
                message = await asyncio.wait_for(call.receive(), deadline - loop.time())
            except TimeoutError:
                raise Stop(Answer(408, {"error": f"the body did not arrive within "
                                                 f"{self.limits.body_timeout:g} s"})) from None
            if message["type"] == "http.disconnect":
                raise Gone
            data = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(data)
            if size > self.limits.max_body:
                raise Stop(Answer(413, {"error": f"body over {self.limits.max_body} bytes"}))
            if keep:
                if call.length is None:  # chunked: held bytes are counted as they come
                    if not self.budget.reserve(len(data)):
                        raise Stop(Answer(503, {"error": "busy: too many bodies at once"},
                                          retry_after=1))
                    call.reserved += len(data)
                chunks.append(data)
        call.read = True
        return b"".join(chunks)

    def _accept(self, station: str, raw: bytes, key: str | None) -> Answer:
        """In the pool: the batch checked and handed to the store, in one transaction."""
        try:
            doc = parse_body(raw, self.limits.max_depth)
            if not isinstance(doc, dict) or doc.get("station") != station:
                raise BadRequest(403, f"this token is for station {station!r}")
            events = check_events(station, doc.get("events"), self.limits.max_depth)
            wanted = f"{station}:{events[0]['seq']}-{events[-1]['seq']}"
            if key != wanted:
                raise BadRequest(400, f"Idempotency-Key must be {wanted!r}")
            report = check_report(doc.get("outbox"))
            result = self.store.accept(station, events, report)
        except Unstorable as exc:
            return self._refused(station, BadRequest(400, str(exc)))
        except BadRequest as exc:
            return self._refused(station, exc)
        fields = {"first": events[0]["seq"], "last": events[-1]["seq"],
                  "stored": result.stored, "duplicates": result.duplicates,
                  "acked_through": result.acked_through, "conflict": result.conflict,
                  "gap_at": result.gap_at, "report": report is not None}
        if result.conflict is not None:
            # The store marked the station's chain in the same transaction.
            message = f"seq {result.conflict} differs from the event held"
            return Answer(409, {"error": message, "seq": result.conflict,
                                "acked_through": result.acked_through}, log=fields)
        return Answer(200, {"acked_through": result.acked_through}, log=fields)

    def _refused(self, station: str, exc: BadRequest) -> Answer:
        """A refused batch still counts as contact (the dashboard shows when a station was
        last heard of), and a bad hash marks the station's chain."""
        try:
            if exc.status == 422:
                self.store.record_refusal(station, "bad_hash", exc.seq, str(exc))
            else:
                self.store.touch(station)
        except Unstorable:
            pass  # the station id itself cannot be stored; the refusal is answered anyway
        return Answer(exc.status, {"error": str(exc)})

    async def _get_station(self, call: Call) -> Answer:
        station = self.tokens.station_of(call.bearer() or "")
        if station is None:
            why = "missing bearer token" if call.bearer() is None else "unknown token"
            return Answer(401, {"error": why})
        call.scope["station"] = station
        wanted = call.scope["raw_path"].rpartition(b"/stations/")[2]
        if unquote(wanted.decode("latin-1")) != station:
            return Answer(403, {"error": f"this token is for station {station!r}"})
        if not self.admission.enter():
            return Answer(503, {"error": "busy: the store's queue is full"}, retry_after=1)
        try:
            loop = asyncio.get_running_loop()
            acked, last_hash = await loop.run_in_executor(self.pool, self._lookup, station)
        finally:
            self.admission.leave()
        return Answer(200, {"station": station, "acked_through": acked,
                            "last_hash": last_hash})

    def _lookup(self, station: str) -> tuple[int, str]:
        found = self.store.station(station)
        self.store.touch(station)
        return found

    async def _dashboard(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The dashboard, with its own bounds. Its body (a login form, a search) is read
        here, on the event loop, within DASHBOARD_BODY_S, before a thread of the Flask
        app sees the request: a client dribbling a form would otherwise hold one of its
        few threads until the body deadline (four such clients stopped the dashboard).
        Each piece of the answer must be taken by the client within DASHBOARD_SEND_S, so
        an export nobody reads does not hold a thread either."""
        call = Call(scope, receive)
        if call.chunked or (call.length or 0) > self.limits.max_dashboard_body:
            await respond(send, Answer(413, {"error": "request body too large"}, close=True))
            return
        body = b""
        if call.has_body:
            try:
                body = await self._body(call, keep=True, within=DASHBOARD_BODY_S)
            except Stop as stop:
                await respond(send, stop.answer)
                return
            except Gone:
                return
        replayed = False
        gone = asyncio.Event()

        async def receive_body() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send_in_time(message: dict[str, Any]) -> None:
            try:
                await asyncio.wait_for(send(message), DASHBOARD_SEND_S)
            except TimeoutError:
                gone.set()
                raise Gone from None

        try:
            await self.dashboard({**scope, "root_path": DASHBOARD}, receive_body,
                                 send_in_time)
        except Gone:
            logs.info("receiver.refused", status=408, method=scope["method"],
                      path=scope["path"][:100], peer=call.peer,
                      error="the client did not take the answer in time")
        finally:
            gone.set()

    def _log(self, call: Call, answer: Answer, started: float) -> None:
        ms = round((time.monotonic() - started) * 1000, 1)
        station = call.scope.get("station")
        if answer.status in (200, 409) and answer.log:
            logs.info("receiver.events", station=station, **answer.log, ms=ms)
        elif answer.status >= 400:
            line = logs.info if answer.status in (404, 503) else logs.warning
            line("receiver.refused", status=answer.status, method=call.scope["method"],
                 path=call.scope["path"][:100], station=station, peer=call.peer,
                 error=str(answer.doc.get("error", ""))[:200], ms=ms)


async def no_dashboard(scope: Scope, receive: Receive, send: Send) -> None:
    """What answers dashboard paths when an app is built without one (the API alone)."""
    await respond(send, Answer(404, {"error": "no dashboard here"}, close=True))


def load_dashboard(store: Any, users_file: Path, secret_file: Path | None) -> ASGIApp:
    """The dashboard's Flask app under a2wsgi."""
    from a2wsgi import WSGIMiddleware

    from .dashboard.board_app import create_app

    # Its own few threads: a page being drawn never takes a thread from the sync API.
    return WSGIMiddleware(create_app(store, users_file, secret_file), workers=8)
