"""The console's pages, which anyone who reaches it may read (as anyone may run `status`):
the overview, the queue, a job and its page picture, rejected files, invoices, the paper
ledger and calibration; `/api/changes` for live updates and `/healthz` for monitoring.

Every list is one indexed query (spool/console_queries.py) of at most a page of rows, so a
page costs what its rows cost however long the journal is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from printstation.base.errors import StationError
from printstation.base.logins import safe_next
from printstation.config.schema import Invalid, offsets
from printstation.daemon import control
from printstation.daemon import status as report
from printstation.spool import State, console_queries, paper, queries

from .app import console, context, journal, settings, t
from .drawing import RETRY_AFTER_S, Busy

bp = Blueprint("pages", __name__)
PAGE = 50
MAX_TEXT = 100
# The queue actions a job page offers, by the states spool/operations.py takes them from:
# a button only where it can work (the daemon decides all the same).
JOB_ACTIONS = {"hold": ("incoming", "queued", "deferred"), "release": ("held",),
               "requeue": ("deferred", "held"),
               "cancel": ("incoming", "queued", "held", "deferred")}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _seq() -> int:
    conn = journal()
    return console_queries.changed_since(conn, 0) if conn is not None else 0


def _int(name: str) -> int | None:
    """A whole number from the query (a seq to page or poll from); None when not given.
    Anything else (a sign, a space, a superscript digit `²`, which `str.isdigit` takes but
    `int` does not) is a 400 that says so."""
    value = request.args.get(name, "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) < 19):
        abort(400, t("err.bad_number", name=name))
    return int(value)


def _text(name: str) -> str:
    return request.args.get(name, "").strip()[:MAX_TEXT]


@bp.get("/")
def overview() -> str:
    conn = journal()
    doc = report.status(conn, settings(), _now())
    errors = console_queries.last_errors(conn, 10) if conn is not None else []
    return render_template("overview.html", doc=doc, errors=errors, seq=_seq(),
                           problems=[_problems(r["errors"]) for r in errors])


@bp.get("/queue")
def queue() -> str:
    conn = journal()
    state = request.args.get("state") if request.args.get("state") in \
        {s.value for s in State} else None
    printer = _text("printer") or None
    text = _text("q") or None
    before = _int("before")
    rows = console_queries.jobs_page(conn, state=state, printer=printer, text=text,
                                     before_seq=before, limit=PAGE) if conn is not None else []
    more = url_for("pages.queue", state=state, printer=printer, q=text,
                   before=rows[-1]["seq"]) if len(rows) == PAGE else None
    return render_template("queue.html", rows=rows, state=state, printer=printer, text=text,
                           before=before, more=more, states=[s.value for s in State],
                           printers=[p.name for p in settings().printers], seq=_seq())


@bp.get("/jobs/<job_id>")
def job(job_id: str) -> tuple[str, int] | str:
    conn = journal()
    doc = report.job_detail(conn, job_id) if conn is not None else None
    if doc is None:
        return render_template("error.html", message=t("job.missing", id=job_id)), 404
    return render_template("job.html", job=doc, problems=_problems(doc.get("errors")),
                           parties=_parties(queries.job(conn, job_id)["invoice_json"]),
                           actions=[a for a, states in JOB_ACTIONS.items()
                                    if doc["state"] in states], seq=_seq())


@bp.get("/jobs/<job_id>/page.png")
def job_picture(job_id: str) -> Response:
    conn = journal()
    if conn is None:
        abort(404)
    row = queries.job(conn, job_id)
    if row is None:
        abort(404)
    from printstation.daemon import pictures

    ctx, path = context(), settings().journal_path

    def draw() -> bytes:
        # In a drawer's thread (web/drawing.py): a connection of its own, as SQLite
        # connections stay in the thread that opened them.
        found = queries.open_readonly(path)
        if found is None:
            raise KeyError(job_id)
        with contextlib.closing(found) as own:
            return pictures.job_page_png(ctx, own, job_id)

    # A page changes with the job's state (a printed job shows its archived page) and with
    # the configuration (an offset); otherwise it is drawn once.
    key = ("job", job_id, row["state"], row["updated_at"], console().live.generation)
    return _picture(key, draw)


@bp.get("/rejected")
def rejected() -> str:
    conn = journal()
    before = _int("before")
    rows = console_queries.rejected_page(conn, before=before, limit=PAGE) \
        if conn is not None else []
    more = url_for("pages.rejected", before=rows[-1]["seq"]) if len(rows) == PAGE else None
    return render_template("rejected.html", rows=rows, problems=[_problems(r["errors"])
                                                                 for r in rows],
                           before=before, more=more, seq=_seq())


@bp.get("/invoices")
def invoices() -> str:
    conn = journal()
    text, since, until = _text("q"), _text("since"), _text("until")
    bounds = (_utc_day(since), _utc_day(until, 1))
    rows = console_queries.invoice_search(conn, text=text or None, since=bounds[0],
                                          until=bounds[1], limit=PAGE) \
        if conn is not None else []
    return render_template("invoices.html", rows=rows, text=text, since=since, until=until,
                           seq=_seq())


@bp.get("/invoices/<key>")
def invoice(key: str) -> tuple[str, int] | str:
    conn = journal()
    row = queries.invoice(conn, key) if conn is not None else None
    if row is None:
        return render_template("error.html", message=t("inv.missing", key=key)), 404
    return render_template("invoice.html", invoice=row, jobs=queries.jobs_of_invoices(conn, [key]),
                           events=queries.invoice_history(conn, key),
                           printers=[p.name for p in settings().printers], seq=_seq())


@bp.get("/paper")
def paper_page() -> str:
    conn = journal()
    s = settings()
    printer = _text("printer") or None
    summary = paper.summary(conn, printer, s.alerts.low_sheets) if conn is not None else []
    ranges = console_queries.paper_ledger(conn, printer) if conn is not None else []
    return render_template("paper.html", summary=summary, ranges=ranges, printer=printer,
                           printers=s.printers, seq=_seq())


@bp.get("/calibration")
def calibration() -> str:
    s = settings()
    printer = s.printer(_text("printer")) or (s.printers[0] if s.printers else None)
    stock = _text("stock")
    if printer is not None and stock not in printer.stocks:
        stock = printer.stocks[0]
    current = printer.offset_for(stock) if printer is not None else (0.0, 0.0)
    tried = _offset_args()
    picture = url_for("pages.calibration_picture", printer=printer.name, stock=stock,
                      **({"x": f"{tried[0]:g}", "y": f"{tried[1]:g}"} if tried else {})) \
        if printer is not None else None
    return render_template("calibration.html", printers=s.printers, printer=printer,
                           stock=stock, current=current, tried=tried, picture=picture,
                           seq=_seq())


@bp.get("/calibration.png")
def calibration_picture() -> Response:
    s = settings()
    printer = s.printer(_text("printer"))
    stock = _text("stock")
    if printer is None or stock not in printer.stocks:
        abort(404)
    offset = _offset_args()
    if g.get("bad_offset"):
        abort(400)
    from printstation.daemon import pictures

    ctx = context()
    key = ("calibration", printer.name, stock, offset, console().live.generation)
    return _picture(key, lambda: pictures.calibration_png(ctx, printer.name, stock, offset))


@bp.get("/api/changes")
def changes() -> dict[str, Any]:
    """What a page polls every 2 s: the newest event's seq (a page drawn at an older one
    refreshes its rows), the jobs per state when that moved, and a digest of what the
    running daemon says of its printers and sync, which changes without an event."""
    conn = journal()
    since = _int("since")
    seq = _seq()
    counts = console_queries.state_counts(conn) if conn is not None and seq != since else None
    daemon = report.runtime(settings(), _now())
    seen = [[p.get("name"), p.get("up"), p.get("device"), p.get("error")]
            for p in (daemon or {}).get("printers", [])]
    seen.append((daemon or {}).get("sync", {}).get("state") if daemon else None)
    digest = hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()) \
        .hexdigest()[:16]
    return {"seq": seq, "counts": counts, "daemon": digest}


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    """For monitoring: 200 when the journal can be read and the daemon answers."""
    found = {"journal": False, "daemon": False}
    try:
        conn = journal()
        if conn is not None:
            console_queries.changed_since(conn, 0)
            found["journal"] = True
    except Exception as exc:
        found["journal_error"] = str(exc)[:200]
    try:
        control.ask(settings(), "ping", timeout=2.0)
        found["daemon"] = True
    except control.NoDaemon:
        found["daemon_error"] = "not running"
    except (StationError, OSError) as exc:
        found["daemon_error"] = str(exc)[:200]
    return found, 200 if found["journal"] and found["daemon"] else 503


@bp.get("/favicon.ico")
def favicon() -> Response:
    return Response(status=204)  # no icon: browsers ask, and a 404 would fill the log


@bp.get("/lang/<code>")
def language(code: str) -> Response:
    response = redirect(safe_next(request.args.get("next")), 303)
    if code in ("zh", "en"):
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


# -- helpers ------------------------------------------------------------------------

def _problems(errors: str | None) -> list[dict[str, str]]:
    """A job's problems (JSON in the journal), each with code, field, zh and en."""
    try:
        found = json.loads(errors) if errors else []
    except ValueError:
        return []
    if isinstance(found, dict):
        found = [found]
    return [{k: str(p.get(k) or "") for k in ("code", "field", "zh", "en")}
            for p in found if isinstance(p, dict)] if isinstance(found, list) else []


def _parties(invoice_json: str | None) -> dict[str, str]:
    """Seller, buyer and total of the invoice a job read (its journaled JSON), for the page:
    a clerk tells invoices apart by whom they are for."""
    try:
        doc = json.loads(invoice_json) if invoice_json else {}
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    party = {k: doc.get(k) if isinstance(doc.get(k), dict) else {} for k in ("seller", "buyer")}
    return {"seller": str(party["seller"].get("name") or ""),
            "buyer": str(party["buyer"].get("name") or ""), "total": str(doc.get("total") or "")}


def _utc_day(text: str, add_days: int = 0) -> str | None:
    """A local date (YYYY-MM-DD) as the UTC time its day starts (or the next day's, for
    `until`, which includes its day), as the journal stores times."""
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        abort(400, t("err.bad_date", value=text[:20]))
    try:
        start = dt.datetime.combine(day + dt.timedelta(days=add_days), dt.time()).astimezone()
        return start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (OverflowError, ValueError, OSError):
        # The first or last days a date can name (0001-01-01, 9999-12-31): no journal time
        # lies beyond them, so the bound is no bound.
        return None


def _offset_args() -> tuple[float, float] | None:
    """An offset to try from the query (`x`, `y` in mm), checked as the config checks it;
    None when none was given or it is not one."""
    x, y = request.args.get("x", ""), request.args.get("y", "")
    if not x and not y:
        return None
    try:
        return offsets({"s": [Decimal(x or "0"), Decimal(y or "0")]})["s"]
    except (Invalid, ArithmeticError, ValueError):
        # ArithmeticError: decimal's InvalidOperation, and its Overflow (`1e999999999`).
        g.bad_offset = True
        return None


def _picture(key: tuple, draw: Callable[[], bytes]) -> Response:
    try:
        png = console().drawing.get(key, draw)
    except Busy:
        return Response(t("err.busy"), 503, mimetype="text/plain",
                        headers={"Retry-After": str(RETRY_AFTER_S)})
    except KeyError:
        abort(404)
    except StationError as exc:
        return Response(t("err.picture", detail=str(exc)), 503, mimetype="text/plain")
    return Response(png, mimetype="image/png")
