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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from printstation.base import logs
from printstation.headoffice.derive import MAX_FEN
from printstation.headoffice.store import Store

# The columns of an invoice the pages and the CSV show.
INVOICE_COLUMNS = ("station, invoice_key, code, number, kind, date, buyer_name, buyer_tin,"
                   " total, total_fen, printed_at, day, print_count, state, voided_at, job_id")


def totals_sql(fen: bool = True) -> str:
    """One day's (or one group's) count, voided count, the fen of the invoices still
    valid and the count of those without an amount. An amount counts when it is within
    derive's ceiling (MAX_FEN): a row stored before the ceiling came down counts as one
    without an amount, as a new one would, so a sum stays far inside 64 bits. Without
    `fen`, no amount is summed (NULL): the fallback when a sum overflowed all the same."""
    priced = f"total_fen BETWEEN {-MAX_FEN} AND {MAX_FEN}"
    amount = (f"SUM(CASE WHEN state <> 'voided' AND {priced} THEN total_fen ELSE 0 END)"
              if fen else "NULL")
    # `state = 'voided' OR priced` is NULL, not true, for a NULL total_fen: counted.
    return ("COUNT(*) AS printed,"
            " SUM(CASE WHEN state = 'voided' THEN 1 ELSE 0 END) AS voided,"
            f" {amount} AS fen,"
            f" SUM(CASE WHEN state = 'voided' OR {priced} THEN 0 ELSE 1 END) AS unpriced")


def stations_sql(fen: bool = True) -> str:
    return (
        "SELECT s.station, s.acked_through, s.duplicates, s.first_contact, s.last_contact,"
        " s.last_event_at, s.chain_status, s.chain_seq, s.chain_error, s.chain_error_at,"
        " s.report, s.report_at, d.printed, d.voided, d.fen, d.unpriced"
        " FROM stations s LEFT JOIN (SELECT station, " + totals_sql(fen) +
        " FROM invoices WHERE day = ? GROUP BY station) d ON d.station = s.station")


TOTALS = totals_sql()
STATIONS = stations_sql()
PAGE = 50
MAX_TEXT = 100


def _int(value: Any) -> int:
    """A count or a sum of fen as Python int: PostgreSQL's SUM of BIGINT is NUMERIC
    (a Decimal), SQLite's an int, and an empty group's is NULL."""
    return int(value) if value is not None else 0


def _totals(row: dict[str, Any], summed: bool = True) -> dict[str, Any]:
    """The row's counts as ints; its `fen` None when the amounts could not be summed
    (the pages show a marker there instead of a total)."""
    for name in ("printed", "voided", "fen", "unpriced"):
        row[name] = _int(row.get(name))
    if not summed:
        row["fen"] = None
    return row


def overflowed(exc: Exception) -> bool:
    """The database could not add up the fen: SQLite's SUM raises "integer overflow"
    past 64 bits (PostgreSQL sums BIGINT as NUMERIC, and would say "out of range")."""
    text = str(exc).lower()
    from_db = type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg")
    return isinstance(exc, OverflowError) or (
        from_db and ("overflow" in text or "out of range" in text))


def _read_totals(store: Store, sql: Callable[[bool], str], params: Sequence[Any]
                 ) -> list[dict[str, Any]]:
    """The rows of a totals query; if the fen overflow all the same (a group of 92
    million invoices at the ceiling), the same rows without amounts rather than a 500."""
    try:
        return [_totals(r) for r in store.read(sql(True), params)]
    except Exception as exc:
        if not overflowed(exc):
            raise
        logs.warning("dashboard.sum_overflow", error=str(exc)[:200])
    return [_totals(r, summed=False) for r in store.read(sql(False), params)]


def report_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """A station's last outbox report, or None when there is none (or it is not JSON)."""
    try:
        found = json.loads(row["report"]) if row.get("report") else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def stations(store: Store, day: str) -> list[dict[str, Any]]:
    """Every station with its printed totals of China day `day`."""
    return _read_totals(store, lambda fen: stations_sql(fen) + " ORDER BY s.station", (day,))


def station(store: Store, station_id: str, day: str) -> dict[str, Any] | None:
    rows = _read_totals(store, lambda fen: stations_sql(fen) + " WHERE s.station = ?",
                        (day, station_id))
    return rows[0] if rows else None


def station_days(store: Store, station_id: str, since: str) -> list[dict[str, Any]]:
    """The station's totals per China day from `since` on, newest first."""
    return _read_totals(store, lambda fen: (
        "SELECT day, " + totals_sql(fen) + " FROM invoices WHERE station = ? AND day >= ?"
        " GROUP BY day ORDER BY day DESC"), (station_id, since))


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
# next page starts after (keyset paging: no OFFSET scanning a million rows). A print
# whose time is not ISO-8601 gives an invoice without a day (NULL): it is ordered as the
# day '' (last), the same on both backends (PostgreSQL would put NULLs first, SQLite
# last), and the keyset compares the same expression, so paging goes past such rows.
DAY = "COALESCE(day, '')"
ORDER = f" ORDER BY {DAY} DESC, station DESC, invoice_key DESC"


def search_page(store: Store, search: Search, after: tuple[str, str, str] | None = None,
                limit: int = PAGE) -> list[dict[str, Any]]:
    """One page of the search's invoices after the row `(day, station, invoice_key)`;
    the day of a row without one is ''."""
    where, params = search.where()
    if after is not None:
        # The row value (SQLite >= 3.15, PostgreSQL) orders the rows of that one day.
        where += (" AND " if where else " WHERE ") + \
            f"{DAY} <= ? AND ({DAY} < ? OR (station, invoice_key) < (?, ?))"
        params += [after[0], after[0], after[1], after[2]]
    return store.read("SELECT " + INVOICE_COLUMNS + " FROM invoices" + where + ORDER +
                      " LIMIT ?", (*params, limit))


def search_rows(store: Store, search: Search) -> Iterator[dict[str, Any]]:
    """Every invoice the search finds, streamed (for the CSV), oldest day first."""
    where, params = search.where()
    return store.stream("SELECT " + INVOICE_COLUMNS + " FROM invoices" + where +
                        f" ORDER BY {DAY}, station, invoice_key", params)


def daily_sql(since: str, until: str, station_id: str, fen: bool = True
              ) -> tuple[str, list[Any]]:
    terms, params = ["day >= ?", "day <= ?"], [since, until]
    if station_id:
        terms.append("station = ?")
        params.append(station_id)
    return ("SELECT station, day, " + totals_sql(fen) + " FROM invoices WHERE "
            + " AND ".join(terms) + " GROUP BY station, day ORDER BY day DESC, station",
            params)


def daily(store: Store, since: str, until: str, station_id: str = "",
          limit: int = 5000) -> list[dict[str, Any]]:
    """Totals per station and China day, newest day first."""
    def sql(fen: bool) -> str:
        return daily_sql(since, until, station_id, fen)[0] + " LIMIT ?"

    params = daily_sql(since, until, station_id)[1]
    return _read_totals(store, sql, (*params, limit))


def daily_rows(store: Store, since: str, until: str, station_id: str = ""
               ) -> Iterator[dict[str, Any]]:
    """`daily`, streamed for the CSV. If a sum overflows midway, the rest of the rows
    come from the same query without amounts (the groups are unique and ordered, so the
    rows already written are skipped), and the file is still whole."""
    sent = 0
    try:
        for row in store.stream(*daily_sql(since, until, station_id)):
            yield _totals(row)
            sent += 1
        return
    except Exception as exc:
        if not overflowed(exc):
            raise
        logs.warning("dashboard.sum_overflow", error=str(exc)[:200])
    for number, row in enumerate(store.stream(*daily_sql(since, until, station_id, False))):
        if number >= sent:
            yield _totals(row, summed=False)
