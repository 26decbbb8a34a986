"""The client side of the head-office protocol (SPEC §11), on the standard library.

`http.client` gives everything sync needs: one keep-alive connection, a timeout on every
socket operation, and TLS through an `ssl` context that always verifies (a private CA
bundle may be added, verification may not be switched off). A failure is sorted into the
three classes sync acts on: `Temporary` (retry with backoff), `Permanent` (pause and
show it), `Conflict` (halt loudly: head office holds a different event under a seq).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import os
import ssl
import stat
import urllib.parse
from pathlib import Path
from typing import Any

# Statuses that mean "try again later" (RFC 9110 and RFC 6585): the rest of 4xx is ours
# to fix, so retrying would only repeat it.
TEMPORARY_STATUSES = frozenset({408, 425, 429})
# A Retry-After longer than this is taken as a mistake on the server's side.
RETRY_AFTER_MAX_S = 3600.0


class SyncError(Exception):
    """A request that did not deliver; the message is one line for logs and status."""


class Temporary(SyncError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(SyncError):
    """A 4xx (other than the temporary ones) or a certificate that does not verify."""


class Conflict(SyncError):
    """409: head office holds a different event under a seq this station sent."""


class TokenProblem(Exception):
    """The token file is missing, empty, or readable by others."""


def read_token(path: Path) -> str:
    """The bearer token; refused when others may read the file (it is a password)."""
    try:
        info = path.stat()
        if info.st_mode & stat.S_IROTH:
            raise TokenProblem(f"{path}: token file is readable by others; "
                               f"chmod o-r {path} (e.g. 0640 root:printstation)")
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenProblem(f"{path}: cannot read token file: {exc.strerror}") from None
    if not token or any(c.isspace() for c in token):
        raise TokenProblem(f"{path}: token file must hold one token, without spaces")
    return token


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


class HeadOffice:
    def __init__(self, url: str, token: str, timeout_s: float, ca_file: Path | None = None):
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.context: ssl.SSLContext | None = None
        if self.https:
            # create_default_context verifies the chain and the host name; nothing here
            # turns that off.
            self.context = ssl.create_default_context(
                cafile=os.fspath(ca_file) if ca_file else None)
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s, context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout_s)
        return self._conn

    def post_events(self, station: str, events: list[dict[str, Any]]) -> int:
        """Send a batch; returns head office's `acked_through`."""
        first, last = events[0]["seq"], events[-1]["seq"]
        body = json.dumps({"station": station, "events": events}, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        doc = self._request("POST", "/events", body,
                            {"Idempotency-Key": f"{station}:{first}-{last}"})
        return _acked(doc)

    def acked_through(self, station: str) -> int:
        """`GET /stations/ID`: what head office holds for this station."""
        return _acked(self._request("GET", "/stations/" + urllib.parse.quote(station, safe=""),
                                    None, {}))

    def _request(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   **headers}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            conn = self._connection()
            conn.request(method, self.base + path, body, headers)
            response = conn.getresponse()
            data = response.read()
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise Permanent(f"certificate of {self.host} not trusted: {exc.verify_message}"
                            " (set sync.ca_file for a private CA)") from None
        except (OSError, http.client.HTTPException) as exc:
            # Connect errors, resets, timeouts, a connection closed mid-answer: the request
            # may or may not have arrived, and sending it again is safe.
            self.close()
            raise Temporary(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        status = response.status
        if status == 200:
            try:
                return json.loads(data)
            except ValueError:
                raise Temporary(f"HTTP 200 with a body that is not JSON: {data[:80]!r}") \
                    from None
        reason = _error_text(data) or response.reason
        if status in TEMPORARY_STATUSES or status >= 500:
            raise Temporary(f"HTTP {status} {reason}",
                            parse_retry_after(response.getheader("Retry-After")))
        if status == 409:
            raise Conflict(f"HTTP 409 {reason}")
        raise Permanent(f"HTTP {status} {reason}")


def _acked(doc: dict[str, Any]) -> int:
    value = doc.get("acked_through") if isinstance(doc, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Temporary(f"answer without a valid acked_through: {str(doc)[:80]}")
    return value


def _error_text(data: bytes) -> str:
    try:
        doc = json.loads(data)
    except ValueError:
        return data[:120].decode("utf-8", "replace").strip()
    return str(doc.get("error", "")) if isinstance(doc, dict) else ""
