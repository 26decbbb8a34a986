"""Logging in, and the operator actions behind it.

Every action is the CLI's own: the same request on the daemon's control socket
(`daemon/control.py` `change`, carried out by `daemon/control_ops.py`), naming the clerk
logged in, whom the daemon journals as the operator (with `"via": "web"`). The console
itself changes nothing in the journal. A POST has passed the CSRF check before it gets
here (app.py); an action without a login is refused (401, or back to the login page).
What the daemon answered is shown on the page the clerk came from.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from printstation.base import logs
from printstation.base.errors import StationError, Unavailable
from printstation.base.login_throttle import client_address
from printstation.config.schema import Invalid, is_loopback, offsets
from printstation.daemon import control

from . import auth
from .app import console, host_name, settings, t
from .pages import safe_next

bp = Blueprint("operate", __name__)
# Lines of an answer kept for the page: the flash travels in the (signed) cookie.
SHOWN_LINES, LINE_CHARS = 8, 300
QUEUE_ACTIONS = ("hold", "release", "requeue", "cancel")
MAX_IDS = 1000


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", next=safe_next(request.args.get("next")),
                           plain_http=_plain_http_refused())


@bp.post("/login")
def login() -> tuple[str, int, dict[str, str]] | tuple[str, int] | Response:
    name = request.form.get("user", "").strip()[:64]
    password = request.form.get("password", "")[:auth.MAX_PASSWORD]
    back = safe_next(request.form.get("next"))
    limiter = console().limiter
    address = client_address(request.remote_addr)
    wait = limiter.wait_s(name, address)
    if wait > 0:
        # Barred: not even checked, so guessing on gains nothing.
        seconds = math.ceil(wait)
        return (render_template("login.html", next=back, error=t("login.wait", s=seconds),
                                name=name), 429, {"Retry-After": str(seconds)})
    users = console().users.users()
    if auth.check_login(users, name, password):
        limiter.succeeded(name, address)
        auth.log_in(name, users[name], users)
        logs.info("web.login", user=name, addr=request.remote_addr)
        return redirect(back, 303)
    limiter.failed(name, address)
    logs.warning("web.login_failed", user=name, addr=request.remote_addr)
    return render_template("login.html", next=back, error=t("login.wrong"), name=name), 401


@bp.post("/logout")
def logout() -> Response:
    if g.user:
        logs.info("web.logout", user=g.user, addr=request.remote_addr)
    auth.log_out()
    return redirect(url_for("pages.overview"), 303)


@bp.post("/act/queue")
def queue_action() -> Response:
    action = request.form.get("action", "")
    ids = [i.strip() for i in request.form.getlist("ids") if i.strip()]
    if action not in QUEUE_ACTIONS or not ids or len(ids) > MAX_IDS:
        return _refused(t("act.need_ids"))
    return _act("queue", {"action": action, "ids": ids, "note": _field("note")})


@bp.post("/act/resolve")
def resolve() -> Response:
    outcome = request.form.get("outcome")
    if outcome not in ("printed", "spoiled"):
        return _refused(t("act.resolve"))
    return _act("resolve", {"job": _field("job"), "printed": outcome == "printed",
                            "reason": _field("reason")})


@bp.post("/act/void")
def void() -> Response:
    if not _field("reason"):
        return _refused(t("act.need_reason"))
    return _act("void", {"invoice": _field("invoice"), "reason": _field("reason")})


@bp.post("/act/reprint")
def reprint() -> Response:
    if not _field("reason"):
        return _refused(t("act.need_reason"))
    return _act("reprint", {"invoice": _field("invoice"), "reason": _field("reason"),
                            "printer": _field("printer") or None})


@bp.post("/act/paper-load")
def paper_load() -> Response:
    return _act("paper-load", {"printer": _field("printer"), "stock": _field("stock") or None,
                               "code": _field("code"), "first": _field("first"),
                               "last": _field("last")})


@bp.post("/act/paper-spoil")
def paper_spoil() -> Response:
    count = _field("count") or "1"
    # ASCII digits only: `str.isdigit` also takes `²`, which `int` does not.
    if not (count.isascii() and count.isdigit()) or len(count) > 6:
        return _refused(t("act.bad_number", field=t("act.count")))
    if not _field("reason"):
        return _refused(t("act.need_reason"))
    return _act("paper-spoil", {"printer": _field("printer"), "stock": _field("stock") or None,
                                "count": int(count), "reason": _field("reason")})


@bp.post("/act/calibrate")
def calibrate() -> Response:
    """Set a printer's offset for a stock: the CLI's `calibrate --offset` request
    (`set-offset`) for the clerk logged in. The daemon checks, journals and keeps it
    (data_dir/calibration.toml) and prints with it from the next job; the console writes
    nothing. What the console can tell from its own config is said here in the clerk's
    words before anything is sent."""
    s = settings()
    printer = s.printer(_field("printer"))
    name, stock_name = _field("printer"), _field("stock")
    back = url_for("pages.calibration", printer=name, stock=stock_name)
    if printer is None or stock_name not in printer.stocks:
        return _refused(t("cal.choose"), back)
    if g.user is None:
        return _need_login(back)
    x, y = _field("x") or "0", _field("y") or "0"
    try:
        new = offsets({stock_name: [Decimal(x), Decimal(y)]})[stock_name]
    except (Invalid, ArithmeticError, ValueError):
        # ArithmeticError: decimal's InvalidOperation, and its Overflow (`1e999999999`).
        return _refused(t("cal.bad"), back)
    lost = console().config.stocks[stock_name].off_page(*new)
    if lost:
        return _refused(t("cal.off_page", fields=", ".join(lost[:3])), back)
    try:
        reply = control.change(s, "set-offset", {"printer": printer.name, "stock": stock_name,
                                                 "offset": [x, y]}, clerk=g.user)
    except StationError as exc:
        logs.warning("web.action_refused", user=g.user, op="set-offset", error=str(exc)[:200])
        return _refused(str(exc), back)
    logs.info("web.action", user=g.user, op="set-offset", exit=reply.exit)
    if reply.exit:
        return _refused("; ".join(reply.err) or f"exit {reply.exit}", back)
    if isinstance(reply.doc, dict):
        before, after = reply.doc["old"], reply.doc["new"]
        flash(t("cal.saved", printer=printer.name, stock=stock_name,
                old=f"{before[0]:+.1f},{before[1]:+.1f}",
                new=f"{after[0]:+.1f},{after[1]:+.1f}", file=reply.doc["file"]), "ok")
    else:
        flash(t("act.done"), "ok")
    # The page shows the offset in force: the console reads the daemon's file again.
    console().live.current(force=True)
    return redirect(back, 303)


# -- the one path of every action ---------------------------------------------------

def _field(name: str) -> str:
    return request.form.get(name, "").strip()


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("pages.overview"))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or \
        request.headers.get("X-Requested-With") == "fetch"


def _need_login(back: str) -> Response:
    if _wants_json():
        return Response('{"error": "login required"}', 401, mimetype="application/json")
    flash(t("act.need_login"), "error")
    return redirect(url_for("operate.login_form", next=back), 303)


def _refused(message: str, back: str | None = None) -> Response:
    back = back or _back()
    if g.user is None:
        return _need_login(back)
    flash(_line(message), "error")
    return redirect(back, 303)


def _line(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS - 1] + "…"


def _change(op: str, args: dict[str, Any], said_done: bool = True) -> Any:
    """Ask the daemon to act for the clerk; what it said goes in the flash (a silent
    success as "done", unless `said_done` is off). None when the request did not reach it
    (the reason is flashed)."""
    try:
        reply = control.change(settings(), op, args, clerk=g.user)
    except (StationError, Unavailable) as exc:
        logs.warning("web.action_refused", user=g.user, op=op, error=str(exc)[:200])
        flash(_line(str(exc)), "error")
        return None
    logs.info("web.action", user=g.user, op=op, exit=reply.exit)
    lines = [("ok", line) for line in reply.out] + [("error", line) for line in reply.err]
    for category, line in lines[:SHOWN_LINES]:
        flash(_line(line), category)
    if len(lines) > SHOWN_LINES:
        flash(f"… (+{len(lines) - SHOWN_LINES})", "error" if reply.exit else "ok")
    if not lines and (reply.exit or said_done):
        flash(t("act.done") if not reply.exit else f"exit {reply.exit}",
              "error" if reply.exit else "ok")
    return reply


def _act(op: str, args: dict[str, Any]) -> Response:
    back = _back()
    if g.user is None:
        return _need_login(back)
    _change(op, args)
    return redirect(back, 303)


def _plain_http_refused() -> bool:
    """The cookie is sent over HTTPS only and this page came over plain HTTP from another
    machine: say that a login cannot work here, rather than let it fail without a word.
    (Browsers keep a Secure cookie for http://127.0.0.1 and localhost: seen in Chromium.)"""
    return bool(current_app.config["SESSION_COOKIE_SECURE"]) and not request.is_secure \
        and not is_loopback(host_name(request.host))
