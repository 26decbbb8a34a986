"""The dashboard's pages: every station at a glance, one station, the invoice search and
the daily totals. Each is one or two grouped queries (board_queries.py), so a page costs
the same with 5 stations or 500; what is wrong with a station is worked out here, from
the rows, and the worst comes first.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for

from . import board_format as fmt
from . import board_queries as q
from .board_app import board, t

bp = Blueprint("board_pages", __name__)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DAYS_SHOWN = 30
DAILY_DEFAULT_DAYS = 7
DAILY_ROWS = 2000


def text(name: str) -> str:
    """A filter as typed, trimmed, at most 100 characters."""
    return request.args.get(name, "").strip()[:q.MAX_TEXT]


def date_arg(name: str) -> str:
    """A China date (YYYY-MM-DD) from the query, '' when not given; anything else is a
    400 that says what a date looks like."""
    value = text(name)
    if not value:
        return ""
    try:
        if not DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        abort(400, t("err.bad_date", value=value[:20]))


def search_args() -> q.Search:
    state = text("state")
    if state not in ("", "printed", "voided"):
        abort(400, t("err.bad_state", value=state[:20]))
    return q.Search(number=text("number"), buyer=text("buyer"), station=text("station"),
                    since=date_arg("since"), until=date_arg("until"), state=state)


def daily_range() -> tuple[str, str, str]:
    """(since, until, station) of the daily totals: the last 7 China days by default."""
    now = board().now()
    until = date_arg("until") or fmt.china_day(now)
    since = date_arg("since") or fmt.china_day(now, DAILY_DEFAULT_DAYS - 1)
    return since, until, text("station")


def station_view(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A station's row with what the pages show of it: its report, backlog, offline
    budget, health (worst first) and chain words."""
    report = q.report_of(row)
    back = fmt.backlog(row, report, now)
    problems = fmt.health(row, back, now)
    since = fmt.china_time(row.get("chain_error_at"))
    status = row.get("chain_status") or "ok"
    chain = t(f"chain.{status}", seq=row.get("chain_seq") or "?", since=since) \
        if status in ("conflict", "bad_hash") else t("chain.ok")
    return {**row, "report_doc": report, "backlog": back, "problems": problems,
            "worst": problems[0], "chain_words": chain, "chain_state": status,
            "offline": fmt.percent(fmt.offline_used(report)),
            "contact_s": fmt.age_s(row.get("last_contact"), now),
            "report_old": back["report_s"] is not None and back["report_s"] > fmt.HOUR_S}


@bp.get("/")
def overview() -> str:
    now = board().now()
    today = fmt.china_day(now)
    views = [station_view(r, now) for r in q.stations(board().store, today)]
    views.sort(key=lambda v: (v["worst"], v["station"]))
    totals = {
        "stations": len(views),
        "problems": sum(1 for v in views if v["worst"] != fmt.FINE),
        "printed": sum(v["printed"] for v in views),
        # None (shown as a marker) when one station's amounts could not be summed.
        "fen": None if any(v["fen"] is None for v in views) else sum(v["fen"] for v in views),
        "pending": sum(v["backlog"]["pending"] or 0 for v in views),
    }
    return render_template("overview.html", stations=views, totals=totals, today=today,
                           words=fmt.PROBLEMS)


@bp.get("/stations/<path:station_id>")
def station(station_id: str) -> tuple[str, int] | str:
    store, now = board().store, board().now()
    row = q.station(store, station_id, fmt.china_day(now))
    if row is None:
        return render_template("error.html", message=t("st.unknown", id=station_id)), 404
    view = station_view(row, now)
    report = view["report_doc"] or {}
    unacked = report.get("printed_total")
    return render_template(
        "station.html", s=view, words=fmt.PROBLEMS,
        days=q.station_days(store, station_id, fmt.china_day(now, DAYS_SHOWN - 1)),
        missing=q.missing_invoices(store, row), latest=q.latest_invoices(store, station_id),
        listed=len(report.get("invoices") or []),
        unacked_count=report.get("printed") if isinstance(report.get("printed"), int) else None,
        unacked_total=unacked if isinstance(unacked, str) else None)


@bp.get("/invoices")
def invoices() -> str:
    search = search_args()
    after = None
    # A page after the first names its last row by `after_key`; its `after_day` is empty
    # for an invoice without a day (a print whose time was not ISO-8601).
    if "after_key" in request.args:
        after = (date_arg("after_day"), request.args.get("after_station", "")[:200],
                 request.args.get("after_key", "")[:200])
    rows = q.search_page(board().store, search, after)
    filters = {k: v for k, v in vars(search).items() if v}
    more = url_for("board_pages.invoices", **filters, after_day=rows[-1]["day"] or "",
                   after_station=rows[-1]["station"], after_key=rows[-1]["invoice_key"]) \
        if len(rows) == q.PAGE else None
    return render_template("invoices.html", rows=rows, search=search, more=more,
                           first=url_for("board_pages.invoices", **filters) if after else None,
                           csv=url_for("board_export.invoices_csv", **filters))


@bp.get("/daily")
def daily() -> str:
    since, until, station_id = daily_range()
    rows = q.daily(board().store, since, until, station_id, limit=DAILY_ROWS + 1)
    filters = {k: v for k, v in (("since", since), ("until", until),
                                 ("station", station_id)) if v}
    return render_template("daily.html", rows=rows[:DAILY_ROWS],
                           capped=len(rows) > DAILY_ROWS, since=since, until=until,
                           station=station_id, cap=DAILY_ROWS,
                           csv=url_for("board_export.daily_csv", **filters))


@bp.get("/favicon.ico")
def favicon() -> Response:
    return Response(status=204)  # no icon: browsers ask, and a 404 would fill the log
