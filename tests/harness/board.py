"""Head office's dashboard as its tests meet it: real hash-chained events, stored through a
real `Store.accept` (SQLite or PostgreSQL), and a known set of stations with known
troubles.

- `Chain(station)`: a station's journal as head office receives it: `printed(...)`,
  `voided(...)`, `other(...)` each make the next event, linked by its hash
  (`spool.journal.event_hash`, from `GENESIS`).
- `fill(store, now)`: five stations (`KNOWN`), one of each kind of trouble, with invoices
  of today and yesterday (China time) and their reports; returns what a page must show.
- `set_last_contact(store, station, at)`: a station last heard from at `at` (the store
  stamps real time, and a silent station needs an old one).
- `set_users(path)`: a dashboard login, written as `printstation receiver passwd` writes
  it (`cli/web_commands.passwd`).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from printstation.base import logins
from printstation.headoffice.store import Store
from printstation.spool.journal import GENESIS, event_hash, iso

USER, PASSWORD = "finance.wang", "correct horse 7"
CHINA = dt.timezone(dt.timedelta(hours=8))
BODY = ("seq", "id", "at", "station", "type", "job_id", "invoice_key", "payload")
_ids = itertools.count(1)

OK, CONFLICT, SILENT, BACKLOG = "BJ-CY-001", "SH-PD-002", "GZ-TH-003", "SZ-NS-004"
# A station id made of what would break SQL or a page if it were pasted into either.
HOSTILE = "x'; DROP TABLE invoices;--<script>alert(1)</script>"
FORMULA_BUYER = '=HYPERLINK("http://evil.example","点我")'
SCRIPT_BUYER = "<script>alert('buyer')</script>"
LIKE_BUYER = "50%_off 折扣店"


@dataclass
class Chain:
    """One station's events, each linked to the one before by its hash."""

    station: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_hash(self) -> str:
        return self.events[-1]["hash"] if self.events else GENESIS

    def add(self, kind: str, at: dt.datetime, payload: dict[str, Any],
            invoice_key: str | None = None, job_id: str | None = None,
            prev_hash: str | None = None) -> dict[str, Any]:
        body = {"seq": len(self.events) + 1, "id": f"E{next(_ids):08d}", "at": iso(at),
                "station": self.station, "type": kind, "job_id": job_id,
                "invoice_key": invoice_key, "payload": payload}
        prev = self.last_hash if prev_hash is None else prev_hash
        event = {**body, "prev_hash": prev, "hash": event_hash(prev, body)}
        self.events.append(event)
        return event

    def printed(self, number: str, total: str, at: dt.datetime, buyer: str = "北京某某公司",
                code: str = "1100243130", tin: str = "91110105MA00000001") -> dict[str, Any]:
        invoice = {"code": code, "number": number, "kind": "vat-special",
                   "date": at.astimezone(CHINA).date().isoformat(), "buyer_name": buyer,
                   "buyer_tin": tin}
        return self.add("job.printed", at, {"total": total, "invoice": invoice},
                        invoice_key=f"{code}-{number}", job_id=f"J{number}")

    def voided(self, number: str, at: dt.datetime,
               code: str = "1100243130") -> dict[str, Any]:
        return self.add("invoice.voided", at, {"reason": "开错"},
                        invoice_key=f"{code}-{number}")

    def other(self, at: dt.datetime) -> dict[str, Any]:
        return self.add("job.queued", at, {}, job_id=f"J{next(_ids)}")

    def since(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["seq"] > seq]


def report(last_seq: int, oldest_at: dt.datetime | None, invoices: list[dict[str, Any]],
           offline_used: float | None = None) -> dict[str, Any]:
    """An outbox report as a station sends it (SPEC §11)."""
    doc: dict[str, Any] = {"last_seq": last_seq, "pending": len(invoices),
                           "oldest_at": iso(oldest_at) if oldest_at else None,
                           "printed": len(invoices),
                           "printed_total": "0.00", "invoices": invoices}
    if offline_used is not None:
        doc["offline_used"] = offline_used
    return doc


def unsent(number: str, total: str, at: dt.datetime,
           code: str = "1100243130") -> dict[str, Any]:
    return {"invoice_key": f"{code}-{number}", "number": number, "code": code,
            "total": total, "printed_at": iso(at)}


def fill(store: Store, now: dt.datetime) -> dict[str, Any]:
    """The known stations (see the module's words); returns the facts the tests check."""
    today = now - dt.timedelta(seconds=1)
    yesterday = now - dt.timedelta(days=1)
    # OK: three invoices today (one voided), one yesterday, nothing unsent.
    ok = Chain(OK)
    ok.printed("00010001", "100.10", today)
    ok.printed("00010002", "200.20", today, buyer=FORMULA_BUYER)
    ok.printed("00010003", "0.05", today, buyer=LIKE_BUYER)
    ok.printed("00010004", "999.99", today, buyer="上海某某公司")
    ok.voided("00010004", today)
    ok.printed("00009999", "50.00", yesterday)
    store.accept(OK, ok.events, report(len(ok.events), None, [], offline_used=0.25))
    # CONFLICT: three events held, then a different event 2: the chain is broken there;
    # its report names one invoice held and one that never arrived.
    bad = Chain(CONFLICT)
    bad.printed("00020001", "10.00", today)
    bad.other(today)
    bad.printed("00020002", "20.00", today)
    store.accept(CONFLICT, bad.events)
    forged = Chain(CONFLICT, bad.events[:1])
    forged.printed("00029999", "99.00", today)
    store.accept(CONFLICT, forged.events[1:], report(5, now - dt.timedelta(minutes=10), [
        unsent("00020002", "20.00", today), unsent("00020003", "30.00", today)]))
    # SILENT: all sent, but last heard from three hours ago.
    silent = Chain(SILENT)
    silent.printed("00030001", "1.00", yesterday)
    store.accept(SILENT, silent.events, report(1, None, []))
    set_last_contact(store, SILENT, now - dt.timedelta(hours=3))
    # BACKLOG: heard from now, but 10 events wait at the branch since two hours ago.
    slow = Chain(BACKLOG)
    slow.other(today)
    store.accept(BACKLOG, slow.events, report(11, now - dt.timedelta(hours=2), [
        unsent("00040001", "40.00", now - dt.timedelta(hours=2))], offline_used=0.9))
    # HOSTILE: markup and SQL in the id and the fields, stored as data.
    hostile = Chain(HOSTILE)
    hostile.printed("00050001", "5.00", today, buyer=SCRIPT_BUYER, code="'; --")
    store.accept(HOSTILE, hostile.events, report(1, None, []))
    return {"today": today.astimezone(CHINA).date().isoformat(),
            "yesterday": yesterday.astimezone(CHINA).date().isoformat(),
            "order": [CONFLICT, SILENT, BACKLOG, OK, HOSTILE],
            "missing": {CONFLICT: ["1100243130-00020003"], BACKLOG: ["1100243130-00040001"]}}


def set_last_contact(store: Store, station: str, at: dt.datetime) -> None:
    sql = "UPDATE stations SET last_contact = {m} WHERE station = {m}"
    if store.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(store.path) as conn:  # type: ignore[attr-defined]
            conn.execute(sql.format(m="?"), (iso(at), station))
        return
    import psycopg

    with psycopg.connect(store.url) as conn:  # type: ignore[attr-defined]
        conn.execute(sql.format(m="%s"), (iso(at), station))


def set_users(path: Path, users: dict[str, str] | None = None) -> None:
    """The dashboard's users file, in the station console's format."""
    users = users or {USER: PASSWORD}
    logins.write_users(path, {name: logins.hash_password(pw) for name, pw in users.items()},
                       "# Logins of the head-office dashboard.\n", None)
