"""The console's Flask application: configuration that follows its files, the checks every
request passes (host, CSRF, login), the page language, and the headers every answer
carries.

Pages read the journal as the CLI does: one read-only SQLite connection per request,
closed at its end, never a transaction held across requests (`journal()`). The daemon is
never slowed by the console: readers do not block SQLite's WAL writer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from printstation.base import logs, page_headers
from printstation.base.login_throttle import Limiter
from printstation.config import Config, ConfigError, Settings
from printstation.config.loader import load_config_for_reading
from printstation.config.offset_file import state_file
from printstation.config.schema import is_loopback, split_listen
from printstation.daemon import status as report
from printstation.daemon.context import Context
from printstation.spool import queries

from . import auth, words
from .drawing import Drawing


class LiveConfig:
    """The configuration, read again when one of its files changes (an offset set by
    `calibrate`, an edit by IT), looked at no more than once a second. A new config that
    does not load is logged and the one before kept, as the daemon does on reload."""

    def __init__(self, path: Path | None, cwd: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.path, self.cwd, self.clock = path, cwd, clock
        self.config: Config = load_config_for_reading(path, cwd)[0]
        self._signature = self._sign()
        self._checked = clock()
        self._lock = threading.Lock()
        # Counts the configurations read: a picture drawn with an older one is drawn again.
        self.generation = 0

    def _sign(self) -> tuple:
        settings = self.config.settings
        files = [settings.main_file] if settings.main_file else []
        files += sorted(settings.conf_d.glob("*.toml"))
        files += sorted((settings.config_dir / "stocks").glob("*.toml"))
        # The offsets clerks set, which the daemon keeps in its data folder.
        files.append(state_file(settings))
        seen = []
        for file in files:
            try:
                st = file.stat()
            except OSError:
                continue
            seen.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(seen)

    def current(self, force: bool = False) -> Config:
        with self._lock:
            if force or self.clock() - self._checked >= 1.0:
                self._checked = self.clock()
                signature = self._sign()
                if force or signature != self._signature:
                    try:
                        self.config = load_config_for_reading(self.path, self.cwd)[0]
                        self.generation += 1
                    except ConfigError as exc:
                        logs.error("web.config_invalid", error=str(exc).replace("\n", "; "))
                    self._signature = signature
            return self.config


class Console:
    """What the console keeps between requests: the configuration, the clerks' logins,
    the login limiter, the picture drawers, and how it was started."""

    def __init__(self, live: LiveConfig, listen: str, limiter: Limiter):
        self.live = live
        self.listen = listen
        self.limiter = limiter
        self.users = auth.UserFile(live.config.settings.web.users_file)
        self.drawing = Drawing()

    @property
    def config(self) -> Config:
        return self.live.current()


def console() -> Console:
    return current_app.extensions["printstation"]


def settings() -> Settings:
    """The settings as the configuration files say now."""
    return console().config.settings


def context() -> Context:
    """The daemon's view of the configuration, for pictures (daemon/pictures.py)."""
    config = console().config
    return Context(config.settings, config.stocks)


def journal() -> sqlite3.Connection | None:
    """This request's read-only journal connection (None before the daemon's first run)."""
    if "journal" not in g:
        g.journal = queries.open_readonly(settings().journal_path)
    return g.journal


def lang() -> str:
    return g.get("lang", "zh")


def t(msg_id: str, **fields: object) -> str:
    return words.t(msg_id, lang(), **fields)


def local_time(at: str | None) -> str:
    return report.local_time(at) if at else ""


def host_name(host: str) -> str:
    """The name or address of a Host header, without its port and brackets."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _known_host(host: str) -> bool:
    """A name that is this machine, or an address. A page that a foreign web site's name
    is made to point at (DNS rebinding) must not be able to read the queue."""
    name = host_name(host).rstrip(".").lower()
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return name in {socket.gethostname().lower(), socket.getfqdn().lower()}


def create_app(config_path: Path | None, *, listen: str | None = None,
               secret: bytes | None = None, cwd: Path | None = None,
               clock: Callable[[], float] = time.monotonic) -> Flask:
    """The console for the config at `config_path` (None: built-in defaults). `secret`
    signs the session cookies and makes the CSRF tokens (default: `[web] secret_file`,
    made on first use); `clock` (monotonic seconds) times the login limiter and the
    config's re-reading."""
    live = LiveConfig(config_path, cwd, clock)
    web = live.config.settings.web
    listen = listen or web.listen
    host, _ = split_listen(listen)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret if secret is not None else auth.secret_key(web.secret_file),
        SESSION_COOKIE_NAME="printstation_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # Plain HTTP is served on this machine only; anywhere else the cookie must travel
        # over HTTPS (a TLS proxy in front), so a sniffer on the LAN cannot take a login.
        SESSION_COOKIE_SECURE=not is_loopback(host),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=auth.LIFETIME_S),
        MAX_CONTENT_LENGTH=64 << 10,
    )
    app.extensions["printstation"] = Console(live, listen, Limiter(clock))
    app.extensions["printstation.sessions"] = auth.Sessions()
    app.jinja_env.autoescape = True  # every template, whatever its name ends with
    app.before_request(_check_request)
    app.after_request(_headers)
    app.teardown_appcontext(_close_journal)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    app.context_processor(_template_names)

    from . import operate, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(operate.bp)
    return app


def _check_request() -> Response | tuple[Any, int] | None:
    g.lang = page_headers.chosen_language("lang")
    if not _known_host(request.host):
        return render_template("error.html", message=t("err.host")), 400
    users = console().users.users()
    g.users_exist = bool(users)
    g.user = auth.current_user(users)
    if request.method == "POST" and not auth.csrf_ok():
        logs.warning("web.csrf_refused", path=request.path, addr=request.remote_addr)
        return render_template("error.html", message=t("err.csrf")), 403
    return None


def _headers(response: Response) -> Response:
    # The console's script reads the CSRF token from a meta tag: no inline script needed.
    return page_headers.secure(response, lang())


def _close_journal(_: BaseException | None) -> None:
    conn = g.pop("journal", None)
    if conn is not None:
        conn.close()


def _http_error(exc: HTTPException) -> tuple[Any, int]:
    if request.path.startswith("/api/") or request.path == "/healthz":
        return {"error": exc.name, "detail": exc.description}, exc.code or 500
    message = t("err.not_found") if exc.code == 404 else exc.description or exc.name
    return render_template("error.html", message=message), exc.code or 500


def _internal_error(exc: Exception) -> tuple[Any, int]:
    logs.error("web.error", exc_info=True, path=request.path, error=repr(exc)[:300])
    if request.path.startswith("/api/") or request.path == "/healthz":
        return {"error": "internal error"}, 500
    return render_template("error.html", message=t("err.internal")), 500


def _template_names() -> dict[str, Any]:
    language = lang()
    return {
        "t": t, "lang": language, "user": g.get("user"), "users_exist": g.get("users_exist"),
        "csrf_token": auth.csrf_token, "local_time": local_time,
        "state_word": lambda v: words.state(v, language),
        "reason_word": lambda v: words.reason(v, language),
        "said": lambda line: words.said(line, language),
        "sync_word": lambda v: words.sync_state(v, language),
    }
