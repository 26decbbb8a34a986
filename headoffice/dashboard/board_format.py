"""How the dashboard shows what it read: money as exact yuan, stored UTC times in China
time, ages in words, and each station's health (what is wrong with it, if anything).

Stored times are UTC ISO-8601 with `Z`; head office reads in Beijing time, whatever zone
the server runs in, so the zone is fixed (UTC+8, no daylight saving) rather than local.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

CHINA = dt.timezone(dt.timedelta(hours=8))
HOUR_S = 3600.0
# Ranks of a station's trouble, worst first: the overview lists them in this order.
CHAIN, SILENT, BACKLOG, FINE = 0, 1, 2, 3
PROBLEMS = {CHAIN: "problem.chain", SILENT: "problem.silent", BACKLOG: "problem.backlog",
            FINE: "problem.none"}


def yuan(fen: int | None, grouped: bool = False) -> str:
    """Whole fen as yuan with two decimals, exactly (`123456` -> `1234.56`); with
    `grouped`, thousands separated for a page (`1,234.56`)."""
    if fen is None:
        return ""
    value = Decimal(int(fen)).scaleb(-2)
    return format(value, ",.2f" if grouped else ".2f")


def parse_utc(at: str | None) -> dt.datetime | None:
    """A stored time as an aware datetime in UTC; None when it is not one, or is one
    that cannot be moved to UTC (an offset past year 9999 or before year 1)."""
    if not at or not isinstance(at, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):
        return None


def china_time(at: str | None) -> str:
    """A stored time in China time, to the second; '' when there is none. A time that
    is none, or has no China time (9999-12-31T23:00Z is past year 9999 in China), is
    shown as it was stored (at most 100 characters): a page or a CSV export must not
    fail on one odd event."""
    moment = parse_utc(at)
    try:
        if moment is not None:
            return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    except OverflowError:
        pass
    return at[:100] if isinstance(at, str) else ""


def china_day(now: dt.datetime, days_back: int = 0) -> str:
    return (now.astimezone(CHINA).date() - dt.timedelta(days=days_back)).isoformat()


def age_s(at: str | None, now: dt.datetime) -> float | None:
    moment = parse_utc(at)
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def age_words(seconds: float | None, t: Any) -> str:
    """`3 分钟前` / `3 min ago`; `t` is the page's word function."""
    if seconds is None:
        return t("never")
    if seconds < 5:
        return t("age.now")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return t(f"age.{unit}", n=int(seconds // size))
    return t("age.s", n=int(seconds))


def backlog(row: dict[str, Any], report: dict[str, Any] | None,
            now: dt.datetime) -> dict[str, Any]:
    """The station's backlog from its last report: events pending, the age of the oldest,
    and how old the report is. A report carrying `last_seq` is counted against head
    office's live acked seq, so a batch acknowledged after the report was sent no longer
    shows as pending."""
    if report is None:
        return {"known": False, "pending": None, "oldest_s": None, "report_s": None}
    last_seq = report.get("last_seq")
    if isinstance(last_seq, int) and not isinstance(last_seq, bool):
        pending = max(0, last_seq - int(row.get("acked_through") or 0))
    else:
        found = report.get("pending")
        pending = found if isinstance(found, int) and found >= 0 else 0
    oldest = age_s(report.get("oldest_at"), now) if pending else None
    return {"known": True, "pending": pending, "oldest_s": oldest,
            "report_s": age_s(row.get("report_at"), now)}


def offline_used(report: dict[str, Any] | None) -> float | None:
    """The share of the offline budget used, 0..1, as the station reported it."""
    value = (report or {}).get("offline_used")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(1.0, max(0.0, float(value)))


def health(row: dict[str, Any], back: dict[str, Any], now: dt.datetime) -> list[int]:
    """What is wrong with a station, worst first; `[FINE]` when nothing is."""
    found = []
    if row.get("chain_status") in ("conflict", "bad_hash"):
        found.append(CHAIN)
    contact = age_s(row.get("last_contact"), now)
    if contact is None or contact > HOUR_S:
        found.append(SILENT)
    if back["pending"] and back["oldest_s"] is not None and back["oldest_s"] > HOUR_S:
        found.append(BACKLOG)
    return found or [FINE]


def percent(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.0f}%"


def csv_cell(value: Any) -> str:
    """A cell as text for a spreadsheet: a text starting with = + - @ (or a tab or CR,
    which Excel skips before them) gets a leading apostrophe, so a buyer named
    `=HYPERLINK(...)` is shown, not run."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
