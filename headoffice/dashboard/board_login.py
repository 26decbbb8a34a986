"""Logging in and out of the dashboard, and the language switch.

The same rules as the station's console (web/operate.py): a barred attempt is not even
checked (429), an unknown name costs the same hash as a known one, a login starts a new
session id, logging out ends it on the server. A POST has passed the CSRF check before
it gets here (app.py).
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from printstation.base import logins, logs
from printstation.base.login_throttle import client_address

from .board_app import board, t

bp = Blueprint("board_login", __name__)


def back_to(target: str | None) -> str:
    """Where to go after logging in: a path inside the dashboard (`next`, as the page
    asking for a login gave it, without the mount point), or the overview."""
    path = logins.safe_next(target, "")
    return request.script_root + path if path else url_for("board_pages.overview")


def logged_name(name: str, users: dict[str, str]) -> str:
    """`name` for the log when it is a login of the users file, else `(invalid)`."""
    return name if name in users and logins.LOGIN_NAME.fullmatch(name) else "(invalid)"


@bp.get("/login")
def login_form() -> str | Response:
    if g.user:
        return redirect(back_to(request.args.get("next")), 303)
    return render_template("login.html", next=logins.safe_next(request.args.get("next"), ""))


@bp.post("/login")
def login() -> tuple[str, int, dict[str, str]] | tuple[str, int] | Response:
    name = request.form.get("user", "").strip()[:64]
    password = request.form.get("password", "")[:logins.MAX_PASSWORD]
    target = logins.safe_next(request.form.get("next"), "")
    limiter = board().limiter
    address = client_address(request.remote_addr)
    wait = limiter.wait_s(name, address)
    if wait > 0:
        # Barred: not even checked, so guessing on gains nothing.
        seconds = math.ceil(wait)
        return (render_template("login.html", next=target, error=t("login.wait", s=seconds),
                                name=name), 429, {"Retry-After": str(seconds)})
    users = board().users.users()
    if logins.check_login(users, name, password):
        limiter.succeeded(name, address)
        logins.log_in(name, users[name], users)
        logs.info("dashboard.login", user=name, addr=request.remote_addr)
        return redirect(back_to(target), 303)
    limiter.failed(name, address)
    # What was typed as the name may be a password (typed in the wrong field): the log
    # names only a login that exists, never anything else that was typed.
    logs.warning("dashboard.login_failed", user=logged_name(name, users),
                 addr=request.remote_addr)
    return render_template("login.html", next=target, error=t("login.wrong"), name=name), 401


@bp.post("/logout")
def logout() -> Response:
    if g.user:
        logs.info("dashboard.logout", user=g.user, addr=request.remote_addr)
    logins.log_out()
    return redirect(url_for("board_login.login_form"), 303)


@bp.get("/lang/<code>")
def language(code: str) -> Response:
    response = redirect(back_to(request.args.get("next")), 303)
    if code in ("zh", "en"):
        response.set_cookie("board_lang", code, max_age=365 * 86400, samesite="Lax",
                            httponly=True, path=request.script_root or "/")
    return response
