"""Every query of the head-office dashboard: portable SQL with `?` placeholders, read
through `Store.read` (a page's rows) or `Store.stream` (a CSV export), never written.

Each page is one or two grouped queries, whatever the number of stations: the overview
is the stations joined to one day's totals grouped by station (index invoices(day));
a station's page reads its own rows through invoices(station, day). Money is summed in
the database as integer fen (`total_fen`), never as text or float; a voided invoice is
counted, but its amount is not in the total.

Every value a user typed travels as a parameter; `LIKE` patterns have their wildcards
escaped, so `%` and `_` in a search are the characters themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from printstation.headoffice.store import Store

# The columns of an invoice the pages and the CSV show.
INVOICE_COLUMNS = ("station, invoice_key, code, number, kind, date, buyer_name, buyer_tin,"
                   " total, total_fen, printed_at, day, print_count, state, voided_at, job_id")
# One day's (or one group's) count, voided count and the fen of the invoices still valid.
TOTALS = ("COUNT(*) AS printed,"
          " SUM(CASE WHEN state = 'voided' THEN 1 ELSE 0 END) AS voided,"
          " SUM(CASE WHEN state = 'voided' THEN 0 ELSE total_fen END) AS fen,"
          " SUM(CASE WHEN state <> 'voided' AND total_fen IS NULL THEN 1 ELSE 0 END)"
          " AS unpriced")
STATIONS = (
    "SELECT s.station, s.acked_through, s.duplicates, s.first_contact, s.last_contact,"
    " s.last_event_at, s.chain_status, s.chain_seq, s.chain_error, s.chain_error_at,"
    " s.report, s.report_at, d.printed, d.voided, d.fen, d.unpriced"
    " FROM stations s LEFT JOIN (SELECT station, " + TOTALS +
    " FROM invoices WHERE day = ? GROUP BY station) d ON d.station = s.station")
PAGE = 50
MAX_TEXT = 100


def _int(value: Any) -> int:
    """A count or a sum of fen as Python int: PostgreSQL's SUM of BIGINT is NUMERIC
    (a Decimal), SQLite's an int, and an empty group's is NULL."""
    return int(value) if value is not None else 0


def _totals(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("printed", "voided", "fen", "unpriced"):
        row[name] = _int(row.get(name))
    return row


def report_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """A station's last outbox report, or None when there is none (or it is not JSON)."""
    try:
        found = json.loads(row["report"]) if row.get("report") else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def stations(store: Store, day: str) -> list[dict[str, Any]]:
    """Every station with its printed totals of China day `day`."""
    return [_totals(r) for r in store.read(STATIONS + " ORDER BY s.station", (day,))]


def station(store: Store, station_id: str, day: str) -> dict[str, Any] | None:
    rows = store.read(STATIONS + " WHERE s.station = ?", (day, station_id))
    return _totals(rows[0]) if rows else None


def station_days(store: Store, station_id: str, since: str) -> list[dict[str, Any]]:
    """The station's totals per China day from `since` on, newest first."""
    return [_totals(r) for r in store.read(
        "SELECT day, " + TOTALS + " FROM invoices WHERE station = ? AND day >= ?"
        " GROUP BY day ORDER BY day DESC", (station_id, since))]


def latest_invoices(store: Store, station_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return store.read("SELECT " + INVOICE_COLUMNS + " FROM invoices WHERE station = ?"
                      " ORDER BY day DESC, printed_at DESC, invoice_key DESC LIMIT ?",
                      (station_id, limit))


def held_keys(store: Store, station_id: str, keys: Sequence[str]) -> set[str]:
    """Which of `keys` (at most a report's 200) head office holds for the station."""
    keys = list(dict.fromkeys(k for k in keys if isinstance(k, str)))
    if not keys:
        return set()
    marks = ", ".join("?" * len(keys))
    rows = store.read(f"SELECT invoice_key FROM invoices WHERE station = ? AND invoice_key"
                      f" IN ({marks})", (station_id, *keys))
    return {r["invoice_key"] for r in rows}


def missing_invoices(store: Store, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The invoices the station's last report names as printed and head office does not
    hold: printed at the branch, not yet at head office."""
    report = report_of(row) or {}
    named = [i for i in report.get("invoices") or [] if isinstance(i, dict)
             and isinstance(i.get("invoice_key"), str)]
    held = held_keys(store, row["station"], [i["invoice_key"] for i in named])
    return [i for i in named if i["invoice_key"] not in held]


@dataclass(frozen=True)
class Search:
    """The invoice search's filters, as typed (trimmed, at most 100 characters each);
    `since`/`until` are China dates (YYYY-MM-DD, checked by the page)."""

    number: str = ""
    buyer: str = ""
    station: str = ""
    since: str = ""
    until: str = ""
    state: str = ""

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (empty when nothing is asked) and its parameters."""
        terms: list[str] = []
        params: list[Any] = []
        if self.number:
            code, dash, number = self.number.rpartition("-")
            if dash and code:
                # `CODE-NUMBER`, as a station's invoice key reads.
                terms.append("code = ? AND number = ?")
                params += [code, number]
            else:
                terms.append("number = ?")
                params.append(self.number)
        if self.buyer:
            terms.append("(LOWER(buyer_name) LIKE ? ESCAPE '!' OR buyer_tin = ?)")
            params += [f"%{like_escape(self.buyer.lower())}%", self.buyer]
        if self.station:
            terms.append("station = ?")
            params.append(self.station)
        if self.since:
            terms.append("day >= ?")
            params.append(self.since)
        if self.until:
            terms.append("day <= ?")
            params.append(self.until)
        if self.state in ("printed", "voided"):
            terms.append("state = ?")
            params.append(self.state)
        return (" WHERE " + " AND ".join(terms)) if terms else "", params


def like_escape(text: str) -> str:
    """`text` as a LIKE pattern matching itself (`!` is the escape character)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


# Newest day first; within a day by station and key, so that a page ends at a row the
# next page starts after (keyset paging: no OFFSET scanning a million rows).
ORDER = " ORDER BY day DESC, station DESC, invoice_key DESC"


def search_page(store: Store, search: Search, after: tuple[str, str, str] | None = None,
                limit: int = PAGE) -> list[dict[str, Any]]:
    """One page of the search's invoices after the row `(day, station, invoice_key)`."""
    where, params = search.where()
    if after is not None:
        # `day <= ?` alone is what an index range can use; the row value (SQLite >= 3.15,
        # PostgreSQL) orders the rows of that one day. Every invoice row has a day: it
        # is made by a print, which has a time.
        where += (" AND " if where else " WHERE ") + \
            "day <= ? AND (day < ? OR (station, invoice_key) < (?, ?))"
        params += [after[0], after[0], after[1], after[2]]
    return store.read("SELECT " + INVOICE_COLUMNS + " FROM invoices" + where + ORDER +
                      " LIMIT ?", (*params, limit))


def search_rows(store: Store, search: Search) -> Iterator[dict[str, Any]]:
    """Every invoice the search finds, streamed (for the CSV), oldest day first."""
    where, params = search.where()
    return store.stream("SELECT " + INVOICE_COLUMNS + " FROM invoices" + where +
                        " ORDER BY day, station, invoice_key", params)


def daily_sql(since: str, until: str, station_id: str) -> tuple[str, list[Any]]:
    terms, params = ["day >= ?", "day <= ?"], [since, until]
    if station_id:
        terms.append("station = ?")
        params.append(station_id)
    return ("SELECT station, day, " + TOTALS + " FROM invoices WHERE " + " AND ".join(terms)
            + " GROUP BY station, day ORDER BY day DESC, station", params)


def daily(store: Store, since: str, until: str, station_id: str = "",
          limit: int = 5000) -> list[dict[str, Any]]:
    """Totals per station and China day, newest day first."""
    sql, params = daily_sql(since, until, station_id)
    return [_totals(r) for r in store.read(sql + " LIMIT ?", (*params, limit))]


def daily_rows(store: Store, since: str, until: str, station_id: str = ""
               ) -> Iterator[dict[str, Any]]:
    sql, params = daily_sql(since, until, station_id)
    return (_totals(r) for r in store.stream(sql, params))
