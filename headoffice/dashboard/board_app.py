"""The head-office dashboard's Flask application (mounted by the receiver at /dashboard/):
the login every page needs, CSRF on every POST, the page language, and the headers every
answer carries.

It reads head office's database only through the store (`Store.read`/`Store.stream`,
board_queries.py), which never waits behind the receiver's writers. The logins are the
station console's machinery (base/logins.py, base/login_throttle.py): a users file of
scrypt hashes read again when it changes, sessions kept in memory, one CSRF token per
session.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from printstation.base import logins, logs, page_headers
from printstation.base.login_throttle import Limiter
from printstation.headoffice.store import Store

from . import board_format, board_words

# Pages a visitor who is not logged in may see: the login form, its POST, the stylesheet,
# the language switch and the (absent) icon.
OPEN = {"board_login.login_form", "board_login.login", "board_login.language", "static",
        "board_pages.favicon"}


class Board:
    """What the dashboard keeps between requests: the store, the users file, the login
    limiter and its clock."""

    def __init__(self, store: Store, users_file: Path,
                 now: Callable[[], dt.datetime] | None):
        self.store = store
        self.users = logins.UserFile(users_file)
        self.limiter = Limiter()
        self.now = now or (lambda: dt.datetime.now(dt.UTC))


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is `Secure` when the page came over HTTPS (the receiver with
    `--tls-cert`, or a TLS proxy that says so): a browser would not send a Secure cookie
    back over plain HTTP, and head office may run either."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def board() -> Board:
    return current_app.extensions["printstation.board"]


def lang() -> str:
    return g.get("lang", "zh")


def t(msg_id: str, **fields: object) -> str:
    return board_words.t(msg_id, lang(), **fields)


def create_app(store: Store, users_file: Path, secret_file: Path | None, *,
               now: Callable[[], dt.datetime] | None = None) -> Flask:
    """The dashboard over `store`, for the logins in `users_file`. `secret_file` keeps the
    key that signs session cookies (made 0600 on first use); None: a random key per start,
    so a restart logs everyone out. `now` (aware datetime) is the clock of its pages."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=logins.secret_key(secret_file, "--secret-file") if secret_file is not None
        else secrets.token_hex(32).encode(),
        SESSION_COOKIE_NAME="printstation_board",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=logins.LIFETIME_S),
        # Only the login form is ever posted.
        MAX_CONTENT_LENGTH=16 << 10,
    )
    app.session_interface = SessionCookies()
    app.extensions["printstation.board"] = Board(store, users_file, now)
    app.extensions["printstation.sessions"] = logins.Sessions()
    app.jinja_env.autoescape = True  # every template, whatever its name ends with
    app.before_request(_check_request)
    app.after_request(_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
    app.context_processor(_template_names)

    from . import board_export, board_login, board_pages

    app.register_blueprint(board_login.bp)
    app.register_blueprint(board_pages.bp)
    app.register_blueprint(board_export.bp)
    return app


def _check_request() -> Response | tuple[Any, int] | None:
    g.lang = page_headers.chosen_language("board_lang")
    users = board().users.users()
    g.users_exist = bool(users)
    g.user = logins.current_user(users)
    if request.method == "POST" and not logins.csrf_ok():
        logs.warning("dashboard.csrf_refused", path=request.path, addr=request.remote_addr)
        return render_template("error.html", message=t("err.csrf")), 403
    if g.user is None and request.endpoint not in OPEN:
        # Every page but the login needs one; the visitor comes back here afterwards.
        return redirect(url_for("board_login.login_form", next=request.full_path), 303)
    return None


def _headers(response: Response) -> Response:
    # CSV exports are in the page's language too (their column headings are).
    return page_headers.secure(response, lang(), ("text/html", "text/csv"))


def _http_error(exc: HTTPException) -> tuple[Any, int]:
    message = t("err.not_found") if exc.code == 404 else exc.description or exc.name
    return render_template("error.html", message=message), exc.code or 500


def _internal_error(exc: Exception) -> tuple[Any, int]:
    logs.error("dashboard.error", exc_info=True, path=request.path, error=repr(exc)[:300])
    return render_template("error.html", message=t("err.internal")), 500


def _template_names() -> dict[str, Any]:
    language = lang()
    now = board().now()
    return {
        "t": t, "lang": language, "user": g.get("user"), "users_exist": g.get("users_exist"),
        "csrf_token": logins.csrf_token, "china_time": board_format.china_time,
        # A sum of fen is None only when it overflowed: the page says so, not "".
        "yuan": lambda fen: t("total.overflow") if fen is None
        else board_format.yuan(fen, grouped=True),
        "age": lambda at: board_format.age_words(board_format.age_s(at, now), t),
        "ago": lambda seconds: board_format.age_words(seconds, t),
        "state_word": lambda v: t(f"state.{v}") if v in ("printed", "voided") else (v or ""),
    }
