"""The head-office receiver (SPEC §11): `printstation receiver`, served by hypercorn.

Per station head office keeps the events it holds, gap-free from seq 1, each linked to the
one before by its hash (the store decides, in one transaction: `store.py`):

- an event it already holds is a duplicate when the hash is the same (counted, not
  stored again), and a conflict (409) when it differs;
- an event beyond the first missing seq is not stored: the answer's `acked_through`
  tells the station where to resume, so a gap never forms;
- an event whose hash does not match its own content is refused (422), and one whose
  `prev_hash` does not match the event before it is a conflict (409).

hypercorn serves the ASGI app of `api.py` on one asyncio loop: HTTP/1.1 only (the
stations speak it, and one protocol is one parser to trust), no access log (the app logs
one line per request), and timeouts on every phase a client could stretch: the TLS
handshake, an idle connection, and (in the app) the body. SIGTERM and SIGINT only set an
event; the loop then stops accepting, lets the requests in progress finish, and only
then is the store closed.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from printstation.base import logs
from printstation.base.errors import ConfigInvalid, Unavailable

from .api import ReceiverApp, load_dashboard
from .request_limits import Limits, raise_nofile
from .store import open_store
from .tokens import Tokens

SWITCH_INTERVAL_S = 0.001
# Connections waiting to be accepted: a thousand stations reconnecting after an outage.
BACKLOG = 4096
# asyncio gives every TLS connection a read buffer of 256 KiB, zeroed when the connection
# is accepted (`SSLProtocol.max_size`, CPython 3.11): 1,000 idle TLS connections and 1,000
# half-open handshakes took 586 MB; with 16 KiB (one TLS record) 116 MB, the rest being
# OpenSSL's own. A 16 MiB body then takes a thousand reads, which costs nothing measurable.
TLS_READ_BUFFER = 16 * 1024


class ListenFailed(Unavailable):
    """The address cannot be listened on (in use, or not this host's)."""

    template = "cannot listen on {listen}: {error}"


class _ToOurLog(logging.Handler):
    """hypercorn's own messages (a fault in a connection), as our log lines."""

    def emit(self, record: logging.LogRecord) -> None:
        line = logs.error if record.levelno >= logging.ERROR else logs.warning
        line("receiver.library", logger=record.name, message=record.getMessage()[:300])


def _ours(name: str) -> logging.Logger:
    """A library's logger whose warnings and errors become our log lines."""
    logger = logging.getLogger(name)
    logger.handlers[:] = [_ToOurLog()]
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return logger


def hypercorn_config(listen: str, tls_cert: Path | None, tls_key: Path | None,
                     limits: Limits) -> Config:
    config = Config()
    host, _, port = listen.rpartition(":")
    config.bind = [f"{host or '0.0.0.0'}:{port}"]
    config.alpn_protocols = ["http/1.1"]
    config.ssl_handshake_timeout = limits.handshake_timeout
    config.read_timeout = None
    config.keep_alive_timeout = limits.idle_timeout
    config.graceful_timeout = limits.graceful_timeout
    config.h11_max_incomplete_size = 16 * 1024
    config.include_server_header = False
    config.backlog = BACKLOG
    config.accesslog = None
    config.errorlog = _ours("printstation.receiver.hypercorn")
    if tls_cert is not None and tls_key is not None:
        config.certfile, config.keyfile = str(tls_cert), str(tls_key)
    return config


def serve(listen: str, db: str | Path, tokens_file: Path, tls_cert: Path | None = None,
          tls_key: Path | None = None, users_file: Path | None = None,
          secret_file: Path | None = None, limits: Limits | None = None) -> int:
    """Run until SIGTERM or SIGINT. What stops it at start is raised as a `StationError`
    with its exit code: 78 for a bad certificate or tokens file, 69 for the address."""
    limits = limits or Limits()
    nofile = raise_nofile()
    # The event loop and the store's threads share one interpreter lock. A thread back
    # from the database (a batch makes several round trips) waits for the lock up to the
    # switch interval, 5 ms by default, each time; at 1 ms a batch's round trips stop
    # adding up to tens of milliseconds while other batches are being checked.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    _ours("psycopg")  # the pool's reconnects, say, in our format rather than bare lines
    config = hypercorn_config(listen, tls_cert, tls_key, limits)
    if config.ssl_enabled:
        if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
            asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        # Loaded once here, so a bad certificate is a configuration error (exit 78) at
        # start rather than a failure of every handshake.
        try:
            config.create_ssl_context()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigInvalid(f"--tls-cert {tls_cert} / --tls-key {tls_key}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        tokens = Tokens(tokens_file)
    except OSError as exc:
        raise ConfigInvalid(f"--tokens {tokens_file}: {exc.strerror}") from None
    try:
        sockets = config.create_sockets()
        for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
            sock.listen(BACKLOG)  # from here connections wait in the backlog, not refused
    except OSError as exc:
        raise ListenFailed(listen=listen, error=exc.strerror or str(exc)) from None
    bound = [*sockets.secure_sockets, *sockets.insecure_sockets][0].getsockname()
    store = open_store(str(db), pool_size=limits.pool_size)
    app = ReceiverApp(store, tokens, limits, load_dashboard(
        store, users_file or Path("/etc/printstation/receiver-users"), secret_file))
    try:
        logs.info("receiver.ready", listen=f"{bound[0]}:{bound[1]}",
                  backend=getattr(store, "backend", "sqlite"), tls=config.ssl_enabled,
                  pool=limits.pool_size, inflight=limits.inflight, nofile=nofile)
        asyncio.run(_serve(app, config, sockets))
    finally:
        # In-flight batches finish their transactions before the database closes.
        app.close()
        store.close()
    logs.info("receiver.stopped")
    return 0


async def _serve(app: ReceiverApp, config: Config, sockets: Any) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_loop_exception)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await worker_serve(wrap_app(app, config.wsgi_max_body_size, "asgi"), config,
                       sockets=sockets, shutdown_trigger=stop.wait)


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A client that drops a TLS handshake or a connection is no fault of ours: quiet.
    Anything else is logged as one line."""
    exc = context.get("exception")
    if isinstance(exc, ssl.SSLError | ConnectionError | TimeoutError):
        return
    logs.warning("receiver.loop", message=str(context.get("message", ""))[:200],
                 error=f"{type(exc).__name__}: {exc}" if exc else None)

