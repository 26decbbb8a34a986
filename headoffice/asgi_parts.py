"""The ASGI pieces the receiver is built of: a request as the API reads it (`Call`), the
answer it gives (`Answer`, `respond`), and the two ways reading a request ends early.

Our own, small: the API has three routes and answers JSON, which no framework is needed
for (the dashboard is Flask, mounted beside it in api.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Answer:
    status: int
    doc: dict[str, Any]
    close: bool = False          # the body was not read: the connection cannot be reused
    retry_after: int | None = None
    log: dict[str, Any] = field(default_factory=dict)  # for the request's log line
    allow: str | None = None  # with 405: the method the resource takes


class Stop(Exception):
    """Reading the request ends with this answer."""

    def __init__(self, answer: Answer):
        super().__init__(answer.doc.get("error", ""))
        self.answer = answer


class Gone(Exception):
    """The client closed the connection: nobody to answer."""


class Call:
    """One HTTP request: its headers, and how much of its body is held."""

    def __init__(self, scope: Scope, receive: Receive):
        self.scope = scope
        self.receive = receive
        self.headers: dict[str, str] = {}
        repeated = set()
        for name, value in scope.get("headers", ()):
            key = name.decode("latin-1").lower()
            if key in self.headers:
                repeated.add(key)
            self.headers[key] = value.decode("latin-1")
        self.chunked = "transfer-encoding" in self.headers
        # A body framed both ways, or two credentials: a proxy in front may read the
        # request otherwise than we do (request smuggling, RFC 9112 §6.3), so neither is
        # guessed at.
        self.ambiguous = ("transfer-encoding" in self.headers
                          and "content-length" in self.headers) or "authorization" in repeated
        # h11 has refused a Content-Length that is not digits (400) before we see it.
        text = self.headers.get("content-length")
        self.length = int(text) if text is not None and not self.chunked else None
        self.has_body = self.chunked or bool(self.length)
        self.read = not self.has_body  # the whole body received (or there is none)
        self.reserved = 0  # bytes of the buffer budget this request holds

    @property
    def peer(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "-"

    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def respond(send: Send, answer: Answer) -> None:
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
    if answer.status == 302:
        headers.append((b"location", answer.doc["location"].encode("latin-1")))
    if answer.allow is not None:
        headers.append((b"allow", answer.allow.encode()))
    if answer.retry_after is not None:
        headers.append((b"retry-after", str(answer.retry_after).encode()))
    if answer.close:
        headers.append((b"connection", b"close"))
    body = json.dumps(answer.doc, ensure_ascii=False).encode("utf-8")
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
