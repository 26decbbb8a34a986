"""The client side of the head-office protocol (SPEC §11), on the standard library.

`http.client` gives everything sync needs: one keep-alive connection, a timeout on every
socket operation, and TLS through an `ssl` context that always verifies (a private CA
bundle may be added, verification may not be switched off). A failure is sorted into the
three classes sync acts on: `Temporary` (retry with backoff), `Permanent` (pause and
show it), `Conflict` and `Untrusted` (halt loudly: head office holds a different event
under a seq, or claims events this station never sent).

`check_sync_settings` holds the sync settings to what can be trusted before the daemon
starts or takes a reload: no plain `http://` beyond this machine unless the config says
so, and a token file that is its owner's alone.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import os
import pwd
import ssl
import stat
import urllib.parse
from pathlib import Path
from typing import Any

from printstation.base import json_fast, logs
from printstation.base.errors import ConfigInvalid
from printstation.config import Settings
from printstation.config.schema import is_loopback, plain_http_refusal

# Statuses that mean "try again later" (RFC 9110 and RFC 6585): the rest of 4xx is ours
# to fix, so retrying would only repeat it.
TEMPORARY_STATUSES = frozenset({408, 425, 429})
# How a kept-alive connection that the server closed while idle shows on the next request.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    ConnectionAbortedError)
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


class Untrusted(SyncError):
    """Head office answered what cannot be true (events this station never sent)."""


class TokenProblem(Exception):
    """The token file is missing, empty, not its owner's alone, or someone else's."""


def read_token(path: Path, owner: int | None = None) -> str:
    """The bearer token. It is a password, so the file must be its owner's alone (no
    permission bit for group or others: 0600 or 0400), and, given `owner`, belong to
    that user (the one running the daemon)."""
    try:
        # The checks are made on the file that is read (fstat of the open file), not on
        # a name that could change in between; O_NONBLOCK: a FIFO there cannot hang us.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as fh:
            info = os.fstat(fh.fileno())
            problem = _token_file_problem(path, info, owner)
            if problem:
                raise TokenProblem(problem)
            data = fh.read(4096)
    except OSError as exc:
        raise TokenProblem(f"{path}: cannot read token file: {exc.strerror}") from None
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        token = ""
    if not token or any(c.isspace() for c in token):
        raise TokenProblem(f"{path}: token file must hold one token, without spaces")
    return token


def _token_file_problem(path: Path, info: os.stat_result, owner: int | None) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return f"{path}: token file is not a regular file"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        who = " and ".join(w for w, bits in (("its group", 0o070), ("others", 0o007))
                           if mode & bits)
        how = "readable" if mode & 0o044 else "writable or executable"
        return (f"{path}: token file is {how} by {who} (mode {mode:04o}); it must be its "
                f"owner's alone: run `chmod 600 {path}`")
    if owner is not None and info.st_uid != owner:
        return (f"{path}: token file belongs to {_user(info.st_uid)}, not to "
                f"{_user(owner)} who runs the daemon: run `chown {_user(owner)} {path}`")
    return None


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_sync_settings(settings: Settings, check_owner: bool = True) -> None:
    """Refuse sync settings that cannot be trusted, as a configuration error (exit 78).

    For `run` at start and for a reload: plain `http://` to a host other than this
    machine (the token and the journal would cross the network in clear) unless
    `sync.allow_plain_http` is set; a token file that is not the daemon user's alone;
    a `ca_file` that is not there. The daemon calls it as the user it runs as, so the
    token file must be that user's; `check_owner=False` leaves that out, for a check
    run by another user (`check-config` as root).
    """
    s = settings.sync
    if not s.url:
        return
    refusal = plain_http_refusal(s.url, s.allow_plain_http)
    if refusal:
        raise ConfigInvalid(f"sync.url: {refusal}")
    try:
        read_token(s.token_file, owner=os.geteuid() if check_owner else None)
    except TokenProblem as exc:
        raise ConfigInvalid(f"sync.token_file: {exc}") from None
    if s.ca_file is not None and not s.ca_file.is_file():
        raise ConfigInvalid(f"sync.ca_file: {s.ca_file}: no such file")
    host = urllib.parse.urlsplit(s.url).hostname or ""
    if s.url.lower().startswith("http://") and not is_loopback(host):
        logs.warning("sync.plain_http", url=s.url, allow_plain_http=True,
                     note="the token and the journal cross the network unencrypted")


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

    def post_events(self, station: str, events: list[dict[str, Any]],
                    report: dict[str, Any] | None = None) -> int:
        """Send a batch, with the outbox report when given; returns head office's
        `acked_through`."""
        first, last = events[0]["seq"], events[-1]["seq"]
        doc: dict[str, Any] = {"station": station, "events": events}
        if report is not None:
            doc["outbox"] = report
        # orjson when it writes the same document (base/json_fast.py): the standard
        # library's encoder was a tenth of the station's time on a backlog.
        body = json_fast.dumps(doc)
        doc = self._request("POST", "/events", body,
                            {"Idempotency-Key": f"{station}:{first}-{last}"})
        return _acked(doc)

    def acked_through(self, station: str) -> int:
        """`GET /stations/ID`: what head office holds for this station."""
        return _acked(self._request("GET", "/stations/" + urllib.parse.quote(station, safe=""),
                                    None, {}))

    def _exchange(self, method: str, path: str, body: bytes | None,
                  headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self._connection()
        conn.request(method, self.base + path, body, headers)
        response = conn.getresponse()
        return response, response.read()

    def _request(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                   **headers}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            reused = self._conn is not None
            try:
                response, data = self._exchange(method, path, body, headers)
            except STALE_CONNECTION:
                if not reused:
                    raise
                # Head office closed the kept-alive connection while it was idle (servers
                # time idle ones out): the request never reached it, so it is sent again
                # at once on a new connection rather than counted as an outage.
                self.close()
                response, data = self._exchange(method, path, body, headers)
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
