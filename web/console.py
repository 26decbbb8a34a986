"""`printstation web`: the console served by waitress.

waitress is pure Python (no C build on a branch PC), production-grade, and reads a whole
request before a worker thread sees it, so a slow or stalled client never holds a worker:
eight threads serve a branch's few clerks and whatever polls `/healthz`, of which pictures
never take more than four (web/drawing.py). It serves plain
HTTP; on any address other than this machine's the session cookie is marked Secure, so a
TLS proxy must stand in front (config/printstation.toml, `[web] listen`).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

from printstation.base import logs
from printstation.base.errors import EXIT_OK, Unavailable
from printstation.config.schema import split_listen

from .app import create_app

THREADS = 8
# Connections, not threads: what waitress holds open while requests arrive. Its default
# (100) let a hundred sockets that trickle a header line every few seconds shut everyone
# out; 500 needs no more than the 1024 files a service may open by default. A connection
# silent for CHANNEL_TIMEOUT_S is closed, looked for every CLEANUP_S.
CONNECTIONS = 500
CHANNEL_TIMEOUT_S = 10
CLEANUP_S = 2


class _Stop(Exception):
    """SIGTERM (systemctl stop): leave the serving loop."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve(config_path: Path | None, listen: str | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C. Starts without any login too: then the pages only
    show, and say that actions need `printstation web passwd USER`."""
    import waitress

    app = create_app(config_path, listen=listen)
    console = app.extensions["printstation"]
    host, port = split_listen(console.listen)
    settings = console.config.settings
    if not console.users.users():
        logs.warning("web.read_only", users_file=settings.web.users_file,
                     note="no logins: actions need `printstation web passwd USER`",
                     problem=console.users.problem)
    try:
        server = waitress.create_server(
            app, host=host, port=port, threads=THREADS, ident="printstation",
            # Forms are small; no request may tie up memory or a socket for long.
            max_request_body_size=1 << 20, connection_limit=CONNECTIONS,
            channel_timeout=CHANNEL_TIMEOUT_S, cleanup_interval=CLEANUP_S,
            clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise Unavailable(f"cannot listen on {console.listen}: {exc.strerror}") from None
    shown = f"[{host}]" if ":" in host else host
    logs.info("web.listening", url=f"http://{shown}:{port}/", config=", ".join(settings.origin),
              journal=settings.journal_path)
    print(f"printstation web: http://{shown}:{port}/ (config: {', '.join(settings.origin)})",
          file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
    logs.info("web.stopped")
    return EXIT_OK
